//! A whole workflow's events, as the tests of the ledger and of the operator commands need
//! them: started → signal → plan → trade → completed, with the times a test chooses.

use alchemiser_events::samples::sample_event;
use alchemiser_events::{
    Event, EventHeader, EventType, Timestamp, TradeExecuted, WorkflowCompleted, WorkflowFailed,
    WorkflowStarted,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};

/// The five events of one workflow started by `trigger` (its correlation id derives from it) at
/// `started_at`: WorkflowStarted at +0 s, SignalGenerated +1 s, RebalancePlanned +2 s,
/// TradeExecuted +4 s (two orders filled), WorkflowCompleted +5 s, each caused by the one before.
pub fn workflow_events(trigger: &str, started_at: DateTime<Utc>) -> Vec<Event> {
    let at = |seconds: i64| Timestamp(started_at + TimeDelta::seconds(seconds));
    let started = WorkflowStarted {
        header: EventHeader::start_workflow(
            EventType::WorkflowStarted,
            "strategy",
            at(0),
            Some(trigger),
        ),
        workflow_type: "trading".into(),
        requested_by: "test".into(),
        configuration: Default::default(),
    };
    let Event::SignalGenerated(mut signal) = sample_event(EventType::SignalGenerated) else {
        unreachable!("a sample SignalGenerated")
    };
    signal.header = EventHeader::caused_by(
        &started.header,
        EventType::SignalGenerated,
        "strategy",
        at(1),
    );
    let Event::RebalancePlanned(mut plan) = sample_event(EventType::RebalancePlanned) else {
        unreachable!("a sample RebalancePlanned")
    };
    plan.header = EventHeader::caused_by(
        &signal.header,
        EventType::RebalancePlanned,
        "portfolio",
        at(2),
    );
    let traded = TradeExecuted {
        header: EventHeader::caused_by(&plan.header, EventType::TradeExecuted, "execution", at(4)),
        execution_data: Default::default(),
        success: true,
        orders_placed: 2,
        orders_succeeded: 2,
        failure_reason: None,
        failed_symbols: vec![],
    };
    let completed = WorkflowCompleted {
        header: EventHeader::caused_by(
            &traded.header,
            EventType::WorkflowCompleted,
            "execution",
            at(5),
        ),
        workflow_type: "trading".into(),
        workflow_duration_ms: 5000,
        success: true,
        summary: Default::default(),
    };
    vec![
        started.into(),
        signal.into(),
        plan.into(),
        traded.into(),
        completed.into(),
    ]
}

/// A WorkflowFailed of `cause`'s workflow, published by `step` at `at`, with `details` as its
/// `error_details`.
pub fn workflow_failed(
    cause: &Event,
    step: &str,
    reason: &str,
    at: DateTime<Utc>,
    details: Value,
) -> Event {
    WorkflowFailed {
        header: EventHeader::caused_by(
            cause.header(),
            EventType::WorkflowFailed,
            step,
            Timestamp(at),
        ),
        workflow_type: "trading".into(),
        failure_reason: reason.into(),
        failure_step: step.into(),
        error_details: match details {
            Value::Object(map) => map,
            _ => Map::new(),
        },
    }
    .into()
}
