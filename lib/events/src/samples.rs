//! Valid sample events of every type with fresh ids: what `alchemiser publish --example` sends,
//! and what the tests and the benchmark publish.

use crate::{decode_value, Event, EventType, HandlerName, Language, Timestamp};
use serde_json::{json, Value};

/// A valid event of `event_type` with a fresh `event_id`, a fresh correlation id (the event
/// starts its own workflow run) and the current time.
pub fn sample_event(event_type: EventType) -> Event {
    let correlation_id = format!("workflow-{}", uuid::Uuid::new_v4());
    let causation_id = format!("cause-{}", uuid::Uuid::new_v4());
    let event_id = format!("{}-{}", event_type.id_prefix(), uuid::Uuid::new_v4());
    let now = Timestamp::now().to_wire();
    let detail = template(event_type, &correlation_id, &causation_id, &event_id, &now);
    match decode_value(detail) {
        Ok(received) => received.event,
        // The templates are valid by construction; a test decodes every one of them.
        Err(error) => unreachable!("sample {event_type} breaks the contract: {error}"),
    }
}

/// A sample event of `event_type` whose `Detail` is padded (in `metadata.padding`) so that the
/// event's JSON is exactly `detail_bytes` long (or its natural length, if that is longer). Used
/// to test the size limits.
pub fn sample_event_with_padding(event_type: EventType, detail_bytes: usize) -> Event {
    let event = sample_event(event_type);
    let with_padding = |pad: usize| -> Option<Event> {
        let mut value = event.to_value();
        let object = value.as_object_mut()?;
        object.insert("metadata".into(), json!({ "padding": "x".repeat(pad) }));
        decode_value(value).ok().map(|received| received.event)
    };
    let Some(empty) = with_padding(0) else {
        return event;
    };
    let base = empty.to_json().len();
    if base >= detail_bytes {
        return empty;
    }
    with_padding(detail_bytes - base).unwrap_or(empty)
}

fn template(
    event_type: EventType,
    correlation_id: &str,
    causation_id: &str,
    event_id: &str,
    now: &str,
) -> Value {
    let mut detail = json!({
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "event_id": event_id,
        "event_type": event_type.as_str(),
        "timestamp": now,
        "source_module": sample_producer(event_type),
        "source_component": "alchemiser-publish-example",
        "metadata": {},
        "schema_version": "1.0",
    });
    let payload = match event_type {
        EventType::WorkflowStarted => json!({
            "workflow_type": "trading",
            "requested_by": "alchemiser publish --example",
            "configuration": {"paper": true},
        }),
        EventType::SignalGenerated => json!({
            "signals_data": {"klm": {"symbol": "SPY", "action": "BUY", "reasoning": "trend up"}},
            "consolidated_portfolio": {
                "target_allocations": {"SPY": "0.6", "TLT": "0.4"},
                "correlation_id": correlation_id,
                "timestamp": now,
                "strategy_count": 1,
                "source_strategies": ["klm"],
                "schema_version": "1.0.0",
                "constraints": null,
            },
            "signal_count": 1,
        }),
        EventType::RebalancePlanned => json!({
            "rebalance_plan": {
                "schema_version": "1.0",
                "correlation_id": correlation_id,
                "causation_id": causation_id,
                "timestamp": now,
                "plan_id": format!("plan-{}", uuid::Uuid::new_v4()),
                "strategy_id": null,
                "items": [
                    {"symbol": "TLT", "current_weight": "0.7000", "target_weight": "0.4000",
                     "weight_diff": "-0.3000", "target_value": "3960.00", "current_value": "7000.00",
                     "trade_amount": "-3040.00", "action": "SELL", "priority": 2},
                    {"symbol": "SPY", "current_weight": "0.3000", "target_weight": "0.6000",
                     "weight_diff": "0.3000", "target_value": "5940.00", "current_value": "3000.00",
                     "trade_amount": "2940.00", "action": "BUY", "priority": 2}
                ],
                "total_portfolio_value": "10000.00",
                "total_trade_value": "5980.00",
                "max_drift_tolerance": "0.05",
                "execution_urgency": "NORMAL",
                "estimated_duration_minutes": null,
                "metadata": null,
            },
            "allocation_comparison": {
                "target_values": {"SPY": "5940.00", "TLT": "3960.00"},
                "current_values": {"SPY": "3000.00", "TLT": "7000.00"},
                "deltas": {"SPY": "2940.00", "TLT": "-3040.00"},
            },
            "trades_required": true,
        }),
        EventType::TradeExecuted => json!({
            "execution_data": {"orders": [
                {"symbol": "TLT", "side": "sell", "notional": "3040.00", "status": "filled"},
                {"symbol": "SPY", "side": "buy", "notional": "2940.00", "status": "filled"}
            ]},
            "success": true,
            "orders_placed": 2,
            "orders_succeeded": 2,
            "failure_reason": null,
            "failed_symbols": [],
        }),
        EventType::WorkflowCompleted => json!({
            "workflow_type": "trading",
            "workflow_duration_ms": 1234,
            "success": true,
            "summary": {"orders_placed": 2},
        }),
        EventType::WorkflowFailed => json!({
            "workflow_type": "trading",
            "failure_reason": "broker rejected the order: insufficient buying power",
            "failure_step": "execution",
            "error_details": {"symbol": "SPY"},
        }),
    };
    if let (Some(detail), Value::Object(payload)) = (detail.as_object_mut(), payload) {
        detail.extend(payload);
    }
    detail
}

/// The Rust handler whose events a sample claims to be: the workflow's last Rust producer of the
/// type that is a stage (the sample WorkflowFailed fails in execution, not in the monitor).
fn sample_producer(event_type: EventType) -> &'static str {
    event_type
        .route()
        .producers
        .iter()
        .rfind(|p| p.language == Language::Rust && p.module != HandlerName::Monitor.as_str())
        .map_or(HandlerName::Strategy.as_str(), |p| p.module)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_a_valid_sample_with_fresh_ids() {
        for event_type in EventType::ALL {
            let a = sample_event(event_type);
            let b = sample_event(event_type);
            assert_eq!(a.event_type(), event_type);
            assert_ne!(a.event_id(), b.event_id());
            assert!(a.event_id().starts_with(event_type.id_prefix()));
        }
    }

    #[test]
    fn padding_reaches_the_requested_size() {
        let event = sample_event_with_padding(EventType::TradeExecuted, 5000);
        let length = event.to_json().len();
        assert_eq!(length, 5000);
    }
}
