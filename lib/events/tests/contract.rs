//! The contract against real events from the Python system and against every rule it enforces.

use alchemiser_events::{decode, decode_value, ContractError, Event, EventType};
use serde_json::{json, Value};

const SIGNAL: &str = include_str!("../../../examples/events/SignalGenerated.eventbridge.json");
const PLAN: &str = include_str!("../../../examples/events/RebalancePlanned.eventbridge.json");

fn envelope(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Applies `edit` to the example envelope and returns the decode error.
fn error_after(text: &str, edit: impl FnOnce(&mut Value)) -> ContractError {
    let mut value = envelope(text);
    edit(&mut value);
    decode_value(value).expect_err("the edited event must be rejected")
}

fn assert_error(error: ContractError, field: &str, fragment: &str) {
    let message = error.to_string();
    assert!(
        message.contains(field) && message.contains(fragment),
        "expected an error naming `{field}` with `{fragment}`, got: {message}"
    );
}

#[test]
fn python_examples_decode_and_validate() {
    for (text, expected) in [
        (SIGNAL, EventType::SignalGenerated),
        (PLAN, EventType::RebalancePlanned),
    ] {
        let received = decode(text.as_bytes()).unwrap();
        assert_eq!(received.event.event_type(), expected);
        assert_eq!(received.event.header().correlation_id, "corr-0001");
        let meta = received.envelope.expect("an envelope");
        assert_eq!(meta.resources[0], "correlation:corr-0001");
        assert_eq!(meta.replay_name, None);
    }
}

#[test]
fn examples_round_trip_without_loss() {
    for text in [SIGNAL, PLAN] {
        let original = envelope(text)["detail"].clone();
        let event: Event = serde_json::from_value(original.clone()).unwrap();
        let written = event.to_value();
        let reread: Event = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(reread, event);
        // Decimals keep their exact text; timestamps are rewritten as UTC with `Z`.
        assert_eq!(written["event_type"], original["event_type"]);
        if let Some(items) = original.pointer("/rebalance_plan/items") {
            assert_eq!(written.pointer("/rebalance_plan/items").unwrap(), items);
            assert_eq!(
                written["allocation_comparison"],
                original["allocation_comparison"]
            );
        }
        if original.get("consolidated_portfolio").is_some() {
            assert_eq!(
                written["consolidated_portfolio"]["target_allocations"],
                json!({"SPY": "0.6", "TLT": "0.4"})
            );
            assert_eq!(
                written["consolidated_portfolio"]["timestamp"],
                "2025-11-03T14:34:59.100000Z"
            );
        }
        assert_eq!(written["timestamp"], original["timestamp"]);
    }
}

#[test]
fn detail_may_be_a_json_string_and_replay_name_is_kept() {
    let mut value = envelope(SIGNAL);
    let detail = value["detail"].to_string();
    value["detail"] = Value::String(detail);
    value["replay-name"] = json!("after-outage-2025-11-03");
    let received = decode_value(value).unwrap();
    assert_eq!(received.replay_name(), Some("after-outage-2025-11-03"));
}

#[test]
fn a_bare_detail_is_accepted() {
    let detail = envelope(PLAN)["detail"].to_string();
    let received = decode(detail.as_bytes()).unwrap();
    assert!(received.envelope.is_none());
    assert_eq!(received.event.event_id(), "rebalance-planned-0001");
}

#[test]
fn unknown_fields_are_ignored() {
    let mut value = envelope(PLAN);
    value["detail"]["added_in_python_v3"] = json!({"anything": [1, 2]});
    value["detail"]["rebalance_plan"]["items"][0]["new_field"] = json!(true);
    value["new-envelope-field"] = json!("x");
    assert!(decode_value(value).is_ok());
}

#[test]
fn decimals_are_read_from_numbers_too() {
    let mut value = envelope(SIGNAL);
    value["detail"]["consolidated_portfolio"]["target_allocations"] =
        json!({"SPY": 0.6, "TLT": 0.4});
    let received = decode_value(value).unwrap();
    let Event::SignalGenerated(signal) = received.event else {
        panic!("wrong type")
    };
    let weights = &signal.consolidated_portfolio.target_allocations;
    assert_eq!(
        weights.values().map(|w| w.to_string()).collect::<Vec<_>>(),
        ["0.6", "0.4"]
    );
}

#[test]
fn symbols_are_normalised_to_upper_case() {
    let mut value = envelope(SIGNAL);
    value["detail"]["consolidated_portfolio"]["target_allocations"] =
        json!({"spy": "0.6", "tlt": "0.4"});
    let Event::SignalGenerated(signal) = decode_value(value).unwrap().event else {
        panic!()
    };
    let symbols: Vec<_> = signal
        .consolidated_portfolio
        .target_allocations
        .keys()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(symbols, ["SPY", "TLT"]);
}

#[test]
fn timestamps_with_other_offsets_are_converted_to_utc() {
    let mut value = envelope(SIGNAL);
    value["detail"]["timestamp"] = json!("2025-11-03T09:34:59.12-05:00");
    let event = decode_value(value).unwrap().event;
    assert_eq!(event.to_value()["timestamp"], "2025-11-03T14:34:59.120000Z");
}

// ---- one failing case per rule, with its message ----

#[test]
fn rule_ids_must_not_be_empty() {
    for field in ["event_id", "correlation_id", "causation_id"] {
        let error = error_after(SIGNAL, |v| v["detail"][field] = json!("  "));
        assert_error(error, field, "must not be empty");
    }
}

#[test]
fn rule_ids_refuse_control_characters() {
    // Printed raw, these set a terminal's title or clipboard, or start a fake log line.
    for (field, pointer, bad) in [
        (
            "event_id",
            "/detail/event_id",
            "evt-1\u{1b}]52;c;cm0gLXJmIH4=\u{7}",
        ),
        (
            "correlation_id",
            "/detail/correlation_id",
            "corr-1\r\nINFO forged line",
        ),
        ("causation_id", "/detail/causation_id", "cause\u{9b}31m"),
        ("event_id", "/detail/event_id", "evt-\u{202e}1"),
        (
            "rebalance_plan.plan_id",
            "/detail/rebalance_plan/plan_id",
            "plan\u{1b}[2J",
        ),
    ] {
        let error = error_after(PLAN, |v| *v.pointer_mut(pointer).unwrap() = json!(bad));
        assert_error(error.clone(), field, "control character");
        assert!(
            !error.to_string().contains(bad),
            "the error shows the raw value: {error}"
        );
    }
}

#[test]
fn rule_missing_fields_are_named() {
    let error = error_after(PLAN, |v| {
        v["detail"]
            .as_object_mut()
            .unwrap()
            .remove("trades_required");
    });
    assert_error(error, "RebalancePlanned", "missing field `trades_required`");
    let error = error_after(PLAN, |v| {
        v["detail"]["rebalance_plan"]["items"][1]
            .as_object_mut()
            .unwrap()
            .remove("priority");
    });
    assert_error(error, "rebalance_plan.items[1]", "missing field `priority`");
}

#[test]
fn rule_timestamps_must_carry_a_timezone() {
    let error = error_after(SIGNAL, |v| {
        v["detail"]["timestamp"] = json!("2025-11-03T14:34:59.120000")
    });
    assert_error(error, "timestamp", "no timezone offset");
    let error = error_after(SIGNAL, |v| v["time"] = json!("not a time"));
    assert_error(error, "time", "not an RFC 3339 timestamp");
}

#[test]
fn rule_weights_are_between_zero_and_one() {
    let error = error_after(SIGNAL, |v| {
        v["detail"]["consolidated_portfolio"]["target_allocations"] =
            json!({"SPY": "1.2", "TLT": "-0.2"})
    });
    assert_error(error, "target_allocations", "between 0 and 1");
    let error = error_after(PLAN, |v| {
        v["detail"]["rebalance_plan"]["items"][0]["target_weight"] = json!("1.5")
    });
    assert_error(
        error,
        "rebalance_plan.items[0].target_weight",
        "between 0 and 1 (found 1.5)",
    );
}

#[test]
fn rule_allocations_sum_to_one() {
    let error = error_after(SIGNAL, |v| {
        v["detail"]["consolidated_portfolio"]["target_allocations"] =
            json!({"SPY": "0.6", "TLT": "0.3"})
    });
    assert_error(
        error,
        "consolidated_portfolio.target_allocations",
        "sum to 1 ± 0.01 (they sum to 0.9)",
    );
    // Within tolerance is accepted.
    let mut value = envelope(SIGNAL);
    value["detail"]["consolidated_portfolio"]["target_allocations"] =
        json!({"SPY": "0.6", "TLT": "0.405"});
    assert!(decode_value(value).is_ok());
}

#[test]
fn rule_symbols_are_one_to_ten_characters() {
    let error = error_after(SIGNAL, |v| {
        v["detail"]["consolidated_portfolio"]["target_allocations"] =
            json!({"WAYTOOLONGSYM": "1.0"})
    });
    assert_error(error, "target_allocations", "1–10 characters");
    let error = error_after(PLAN, |v| {
        v["detail"]["rebalance_plan"]["items"][0]["symbol"] = json!("")
    });
    assert_error(error, "rebalance_plan.items[0].symbol", "1–10 characters");
}

#[test]
fn rule_symbols_are_not_duplicated() {
    let raw = SIGNAL.replace(r#""TLT": "0.4""#, r#""spy": "0.4""#);
    let error = decode(raw.as_bytes()).unwrap_err();
    assert_error(error, "target_allocations", "`SPY` appears more than once");
    let error = error_after(PLAN, |v| {
        v["detail"]["rebalance_plan"]["items"][1]["symbol"] = json!("tlt")
    });
    assert_error(
        error,
        "rebalance_plan.items[1].symbol",
        "`TLT` appears in more than one item",
    );
}

#[test]
fn rule_action_is_buy_sell_or_hold() {
    let error = error_after(PLAN, |v| {
        v["detail"]["rebalance_plan"]["items"][0]["action"] = json!("SHORT")
    });
    assert_error(
        error,
        "rebalance_plan.items[0].action",
        "unknown variant `SHORT`",
    );
}

#[test]
fn rule_priority_is_one_to_five() {
    let error = error_after(PLAN, |v| {
        v["detail"]["rebalance_plan"]["items"][0]["priority"] = json!(7)
    });
    assert_error(
        error,
        "rebalance_plan.items[0].priority",
        "between 1 and 5 (found 7)",
    );
}

#[test]
fn rule_plan_items_are_not_empty() {
    let error = error_after(PLAN, |v| v["detail"]["rebalance_plan"]["items"] = json!([]));
    assert_error(error, "rebalance_plan.items", "is empty");
}

#[test]
fn rule_decimals_are_finite_and_sane() {
    for bad in ["NaN", "Infinity", "1e400", "12abc"] {
        let error = error_after(PLAN, |v| {
            v["detail"]["rebalance_plan"]["total_portfolio_value"] = json!(bad)
        });
        assert_error(error, "rebalance_plan.total_portfolio_value", "");
    }
    let error = error_after(PLAN, |v| {
        v["detail"]["rebalance_plan"]["total_portfolio_value"] = json!("1e20")
    });
    assert_error(
        error,
        "rebalance_plan.total_portfolio_value",
        "implausibly large",
    );
    // A JSON number too large for any decimal is rejected, naming the field, never turned
    // into infinity or rounded.
    let raw = PLAN.replace(
        r#""total_trade_value": "5980.00""#,
        r#""total_trade_value": 1e400"#,
    );
    assert_error(
        decode(raw.as_bytes()).unwrap_err(),
        "rebalance_plan.total_trade_value",
        "",
    );
}

#[test]
fn money_given_as_json_numbers_keeps_every_digit() {
    // Through f64 this would be 2940.1234567890124.
    let raw = PLAN.replace(
        r#""trade_amount": "2940.00""#,
        r#""trade_amount": 2940.123456789012345"#,
    );
    let Event::RebalancePlanned(plan) = decode(raw.as_bytes()).unwrap().event else {
        panic!("a plan")
    };
    let buy = &plan.rebalance_plan.items[1];
    assert_eq!(buy.trade_amount.to_string(), "2940.123456789012345");
    // And an integer wider than 64 bits in free-form details passes through unchanged.
    let failed = r#"{"event_type": "WorkflowFailed", "event_id": "wf-1", "correlation_id": "c",
        "causation_id": "c", "timestamp": "2026-12-01T00:00:00Z", "source_module": "portfolio_v2.handlers",
        "workflow_type": "trading", "failure_reason": "x", "failure_step": "portfolio",
        "error_details": {"order": 123456789012345678901234567890}}"#;
    let event = decode(failed.as_bytes()).unwrap().event;
    assert!(
        event
            .to_json()
            .contains(r#""order":123456789012345678901234567890"#),
        "{}",
        event.to_json()
    );
}

#[test]
fn rule_trade_amount_sign_matches_the_action() {
    let error = error_after(PLAN, |v| {
        v["detail"]["rebalance_plan"]["items"][0]["trade_amount"] = json!("3040.00")
    });
    assert_error(
        error,
        "rebalance_plan.items[0].trade_amount",
        "the action is SELL",
    );
}

#[test]
fn rule_detail_type_must_equal_event_type() {
    let error = error_after(SIGNAL, |v| v["detail-type"] = json!("RebalancePlanned"));
    assert!(
        matches!(error, ContractError::DetailTypeMismatch { .. }),
        "{error}"
    );
    assert_error(error, "detail-type", "must be equal");
}

#[test]
fn rule_event_types_must_be_known() {
    let error = error_after(SIGNAL, |v| v["detail-type"] = json!("OrderPlaced"));
    assert_error(error, "detail-type", "unknown event type `OrderPlaced`");
    let error = error_after(SIGNAL, |v| {
        let mut detail = v["detail"].take();
        detail["event_type"] = json!("OrderPlaced");
        *v = detail;
    });
    assert_error(error, "event_type", "unknown event type `OrderPlaced`");
}

#[test]
fn a_differing_nested_correlation_id_is_kept_and_reported_not_fatal() {
    // The Python strategy labels its consolidated portfolio `signal_handler_<time>`: the
    // event's own correlation id is the workflow's.
    let mut value = envelope(SIGNAL);
    value["detail"]["consolidated_portfolio"]["correlation_id"] =
        json!("signal_handler_20261201_192530");
    let received = decode_value(value).unwrap();
    assert_eq!(received.event.header().correlation_id, "corr-0001");
    assert_eq!(
        received.event.nested_correlation_id(),
        Some("signal_handler_20261201_192530")
    );
    assert!(received
        .event
        .to_json()
        .contains("signal_handler_20261201_192530"));
    let plan = decode(PLAN.as_bytes()).unwrap();
    assert_eq!(plan.event.nested_correlation_id(), None);
    // Empty is still refused.
    let error = error_after(PLAN, |v| {
        v["detail"]["rebalance_plan"]["correlation_id"] = json!(" ")
    });
    assert_error(error, "rebalance_plan.correlation_id", "must not be empty");
}

#[test]
fn rule_trades_required_agrees_with_items() {
    let error = error_after(PLAN, |v| v["detail"]["trades_required"] = json!(false));
    assert_error(error, "trades_required", "has BUY or SELL items");
}

#[test]
fn rule_schema_version_is_1_x() {
    let error = error_after(SIGNAL, |v| v["detail"]["schema_version"] = json!("2.0"));
    assert_error(error, "schema_version", "version 1.x only");
}

#[test]
fn not_json_empty_and_non_objects_are_named() {
    assert_eq!(decode(b"  \n").unwrap_err(), ContractError::Empty);
    assert!(decode(b"{not json")
        .unwrap_err()
        .to_string()
        .contains("not valid JSON"));
    assert!(decode(b"[1,2]")
        .unwrap_err()
        .to_string()
        .contains("found an array"));
    let error = error_after(SIGNAL, |v| v["detail"] = json!("[1"));
    assert!(
        error
            .to_string()
            .contains("`detail` is a string but not a JSON object"),
        "{error}"
    );
}

#[test]
fn schemas_exist_for_every_type_and_require_event_type() {
    for (event_type, schema) in alchemiser_events::schemas() {
        assert_eq!(schema["title"], event_type.as_str());
        assert_eq!(
            schema["properties"]["event_type"]["const"],
            event_type.as_str()
        );
        let required = schema["required"].as_array().unwrap();
        for field in [
            "event_type",
            "event_id",
            "correlation_id",
            "causation_id",
            "timestamp",
        ] {
            assert!(
                required.contains(&json!(field)),
                "{event_type} schema must require {field}"
            );
        }
    }
}
