//! A ledger with every kind of workflow in it, for the console's tests, its benchmark
//! (`examples/seed_ledger.rs`, 10,000 workflows) and the browser test: completed workflows with
//! orders and fills, failures in execution, plans in the dead-letter queue, timeouts, running
//! ones, shadow results, a deleted dead letter — and one workflow whose every field a publisher
//! writes holds markup meant to run in the console.

#![allow(dead_code)] // Each user takes what it needs.

use alchemiser_events::{Event, EventType};
use alchemiser_ledger::model::{
    DeadLetterDeletion, DeadLetterEntry, ShadowEntry, TimeoutEntry, DEAD_LETTER_CHECK,
    TIMEOUT_CHECK,
};
use alchemiser_ledger::{summarize, Entry, EventEntry, LedgerStore, WorkflowState};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Map, Value};

/// Markup that runs a script if a page splices it in as HTML.
pub const XSS: &str = "<img src=x onerror=alert(1)>";
/// A correlation id that would close an attribute and open a script.
pub const HOSTILE_ID: &str = "workflow-\"><script>alert(2)</script>";
/// The message id of the hostile workflow's dead letter (a shell would run what follows `;`).
pub const HOSTILE_MESSAGE_ID: &str = "m-1; rm -rf ~";

/// What kind of workflow the `n`th seeded one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Completed with its orders filled.
    Completed,
    /// Failed in execution: an order rejected.
    FailedInExecution,
    /// Its plan went to the dead-letter queue and the sweep failed it.
    DeadLettered,
    /// The sweep timed it out.
    TimedOut,
    /// Still running.
    Running,
    /// Completed, with a shadow portfolio's result beside the live plan.
    Shadowed,
}

impl Kind {
    /// The kind of the `n`th workflow (a fixed mix: mostly completed).
    pub fn of(n: usize) -> Self {
        match n % 50 {
            7 | 19 | 31 | 43 | 47 => Kind::FailedInExecution,
            11 | 37 => Kind::DeadLettered,
            23 => Kind::TimedOut,
            29 => Kind::Shadowed,
            _ if n == 0 => Kind::Running,
            _ => Kind::Completed,
        }
    }
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// The events of a workflow of `kind` started at `at`, with the correlation id `id`, and the
/// entries besides events it has.
pub fn workflow(n: usize, kind: Kind, id: &str, at: DateTime<Utc>) -> (Vec<Event>, Vec<Entry>) {
    let mut events = alchemiser_testkit::workflow_events(&format!("seed-{n}-{id}"), at);
    for event in &mut events {
        event.header_mut().correlation_id = id.to_owned();
    }
    // Prices wander with n; fills land a few basis points either side.
    let spy = 500 + (n % 40);
    let tlt = 90 + (n % 15);
    let spy_fill = format!("{spy}.{:02}", (n * 7) % 60);
    let tlt_fill = format!("{}.{:02}", tlt - 1, 99 - (n * 3) % 20);
    let filled = json!({
        "plan_id": format!("plan-seed-{n}"),
        "dry_run": false,
        "orders": [
            {"symbol": "TLT", "side": "sell", "qty": "30", "price": format!("{tlt}.00"),
             "client_order_id": format!("cli-{n}-tlt"), "status": "FILLED", "broker_status": "filled",
             "order_id": format!("ord-{n}-tlt"), "filled_qty": "30", "fill_price": tlt_fill},
            {"symbol": "SPY", "side": "buy", "qty": "6", "price": format!("{spy}.00"),
             "client_order_id": format!("cli-{n}-spy"), "status": "FILLED", "broker_status": "filled",
             "order_id": format!("ord-{n}-spy"), "filled_qty": "6", "fill_price": spy_fill}
        ]
    });
    let mut others = Vec::new();
    let fail = |events: &mut Vec<Event>, keep: usize, step: &str, reason: &str, details: Value| {
        let cause = events[keep - 1].clone();
        let seconds = i64::try_from(keep).unwrap_or(0) + 1;
        events.truncate(keep);
        events.push(alchemiser_testkit::workflow_failed(
            &cause,
            step,
            reason,
            at + TimeDelta::seconds(seconds),
            details,
        ));
    };
    match kind {
        Kind::Completed | Kind::Shadowed => {
            if let Event::TradeExecuted(trade) = &mut events[3] {
                trade.execution_data = object(filled);
            }
            if kind == Kind::Shadowed {
                // The Rust portfolio in shadow made the plan the live (Python) owner made.
                others.push(Entry::Shadow(ShadowEntry {
                    handler: "portfolio".into(),
                    cause_event_id: events[1].event_id().to_owned(),
                    recorded_at: at + TimeDelta::seconds(3),
                    events: vec![events[2].to_value()],
                    omitted: None,
                }));
                events[2].header_mut().source_module = "portfolio_v2.handlers".into();
            }
        }
        Kind::FailedInExecution => {
            if let Event::TradeExecuted(trade) = &mut events[3] {
                let mut data = filled;
                data["orders"][1]["status"] = json!("REJECTED");
                data["orders"][1]["broker_status"] = json!("rejected");
                data["orders"][1]["filled_qty"] = json!("0");
                data["orders"][1]
                    .as_object_mut()
                    .map(|o| o.remove("fill_price"));
                data["orders"][1]["error"] =
                    json!("the broker reports the order rejected with 0 of 6 filled");
                trade.execution_data = object(data);
                trade.success = false;
                trade.orders_succeeded = 1;
                trade.failure_reason = Some("buy SPY REJECTED: insufficient buying power".into());
            }
            fail(
                &mut events,
                4,
                "execution",
                "buy SPY REJECTED: insufficient buying power",
                json!({}),
            );
        }
        Kind::DeadLettered => {
            let message_id = format!("msg-{n}");
            others.push(Entry::DeadLetter(DeadLetterEntry {
                message_id: message_id.clone(),
                dead_letter_kind: "lambda-on-failure".into(),
                origin: Some("execution".into()),
                event_id: Some(events[2].event_id().to_owned()),
                event_type: Some("RebalancePlanned".into()),
                reason: "RetriesExhausted after 3 attempt(s): broker unavailable (503)".into(),
                sent_at: Some(at + TimeDelta::minutes(3)),
                recorded_at: at + TimeDelta::minutes(5),
                replay: None,
                shadow: false,
                refused: false,
            }));
            let cause = events[2].clone();
            events.truncate(3);
            let mut failed = alchemiser_testkit::workflow_failed(
                &cause,
                "monitor",
                &format!(
                    "in the dead-letter queue ({message_id}): RetriesExhausted after 3 attempt(s)"
                ),
                at + TimeDelta::minutes(5),
                json!({"check": DEAD_LETTER_CHECK}),
            );
            if let Event::WorkflowFailed(f) = &mut failed {
                f.failure_step = "execution".into();
            }
            events.push(failed);
        }
        Kind::TimedOut => {
            events.truncate(3);
            others.push(Entry::TimedOut(TimeoutEntry {
                at: at + TimeDelta::minutes(31),
                deadline_secs: 1800,
                last_step: WorkflowState::Planned,
            }));
            let cause = events[2].clone();
            events.push(alchemiser_testkit::workflow_failed(
                &cause,
                "monitor",
                "no terminal event within 30m of its start",
                at + TimeDelta::minutes(31),
                json!({"check": TIMEOUT_CHECK}),
            ));
        }
        Kind::Running => events.truncate(2),
    }
    (events, others)
}

/// Records `events` and `others` of workflow `id` and its summary, as the monitor and the
/// sweep would.
pub async fn record(store: &dyn LedgerStore, id: &str, events: &[Event], others: &[Entry]) {
    for event in events {
        let entry = Entry::Event(EventEntry::of(
            event,
            Some(&format!("alchemiser.{}", event.header().source_module)),
            event.header().timestamp.0,
        ));
        store.record(id, &entry).await.expect("recording an event");
    }
    for entry in others {
        store.record(id, entry).await.expect("recording an entry");
    }
    let entries = store.entries(id).await.expect("reading the entries");
    if let Some(summary) = summarize(id, &entries) {
        store
            .put_summary(&summary)
            .await
            .expect("storing the summary");
    }
}

/// Seeds `count` workflows, the last started at `last` and each `spacing` after the one
/// before; returns their correlation ids, oldest first.
pub async fn seed(
    store: &dyn LedgerStore,
    count: usize,
    last: DateTime<Utc>,
    spacing: TimeDelta,
) -> Vec<(String, Kind)> {
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        let back = i32::try_from(count - 1 - n).unwrap_or(i32::MAX);
        let at = last - spacing * back;
        // The newest is the running one (a run in progress is always the latest).
        let kind = if n + 1 == count {
            Kind::Running
        } else {
            Kind::of(n + 1)
        };
        let id = format!("workflow-seed-{n:05}");
        let (events, others) = workflow(n, kind, &id, at);
        record(store, &id, &events, &others).await;
        ids.push((id, kind));
    }
    ids
}

/// A workflow whose every field a publisher writes holds markup: its correlation id, its
/// strategy's name, its failure reason, its dead letter's reason and message id, a deletion's
/// reason. Returns its correlation id.
pub async fn hostile(store: &dyn LedgerStore, at: DateTime<Utc>) -> String {
    let (mut events, _) = workflow(999_999, Kind::Completed, HOSTILE_ID, at);
    if let Event::SignalGenerated(signal) = &mut events[1] {
        signal.consolidated_portfolio.source_strategies = vec![format!("strategy {XSS}")];
    }
    let cause = events[2].clone();
    events.truncate(3);
    events.push(alchemiser_testkit::workflow_failed(
        &cause,
        "execution",
        &format!("broker said {XSS}"),
        at + TimeDelta::seconds(4),
        json!({"check": format!("check {XSS}")}),
    ));
    let others = vec![
        Entry::DeadLetter(DeadLetterEntry {
            message_id: HOSTILE_MESSAGE_ID.into(),
            dead_letter_kind: "function-failure".into(),
            origin: Some(format!("execution {XSS}")),
            event_id: Some(events[2].event_id().to_owned()),
            event_type: Some(EventType::RebalancePlanned.as_str().into()),
            reason: format!("permanent failure: {XSS}"),
            sent_at: Some(at + TimeDelta::seconds(5)),
            recorded_at: at + TimeDelta::seconds(6),
            replay: None,
            shadow: false,
            refused: false,
        }),
        Entry::DeadLetter(DeadLetterEntry {
            message_id: "m-deleted".into(),
            dead_letter_kind: "function-failure".into(),
            origin: Some("portfolio".into()),
            event_id: None,
            event_type: None,
            reason: "malformed".into(),
            sent_at: Some(at + TimeDelta::seconds(5)),
            recorded_at: at + TimeDelta::seconds(6),
            replay: None,
            shadow: false,
            refused: false,
        }),
        Entry::DeadLetterDeleted(DeadLetterDeletion {
            message_id: "m-deleted".into(),
            event_id: None,
            event_type: None,
            letter_reason: "malformed".into(),
            deleted_at: at + TimeDelta::seconds(7),
            deleted_by: "arn:aws:iam::000000000000:user/operator".into(),
            reason: format!("never redrivable {XSS}"),
        }),
    ];
    record(store, HOSTILE_ID, &events, &others).await;
    HOSTILE_ID.to_owned()
}
