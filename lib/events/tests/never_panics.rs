//! Whatever arrives, the decoder answers with a value or an error, never a panic.

use alchemiser_events::{decode, decode_value};
use proptest::prelude::*;
use serde_json::Value;

const PLAN: &str = include_str!("../../../examples/events/RebalancePlanned.eventbridge.json");

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("SignalGenerated"),
            Just("RebalancePlanned"),
            Just("1e99"),
            Just("NaN")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("event_type".to_string()),
                    Just("detail".to_string()),
                    Just("detail-type".to_string()),
                    Just("items".to_string()),
                    "[a-z_]{1,10}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(value in arbitrary_json()) {
        let _ = decode_value(value);
    }

    /// Real events with one field replaced by arbitrary JSON: deep paths get exercised.
    #[test]
    fn mutated_real_events_never_panic(pointer_index in 0usize..12, replacement in arbitrary_json()) {
        let pointers = [
            "/detail/event_type", "/detail/timestamp", "/detail/rebalance_plan/items",
            "/detail/rebalance_plan/items/0", "/detail/rebalance_plan/items/0/trade_amount",
            "/detail/rebalance_plan/items/0/symbol", "/detail/allocation_comparison/deltas",
            "/detail/rebalance_plan/total_portfolio_value", "/detail-type", "/detail",
            "/detail/metadata", "/resources",
        ];
        let mut value: Value = serde_json::from_str(PLAN).unwrap();
        if let Some(slot) = value.pointer_mut(pointers[pointer_index]) {
            *slot = replacement;
        }
        let _ = decode_value(value);
    }
}
