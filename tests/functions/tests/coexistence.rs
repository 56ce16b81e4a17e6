//! Beside the Python system on one bus, wired as the functions wire themselves: every event the
//! Python system really publishes (`examples/python/`) reaches each of its Rust consumers and is
//! handled, not refused; a consumer in shadow mode runs on them, places no order, publishes
//! nothing, and records what it would have emitted — which the diff pairs with the Python
//! system's live result.

use std::sync::Arc;

use alchemiser_bus::{EventHandler, InMemoryBus, RecordingHandler};
use alchemiser_deadletters::MemoryDeadLetterRecorder;
use alchemiser_events::{decode, EventType, HandlerName, ROUTES};
use alchemiser_lambda::idempotency::{IdempotencyStore, InMemoryStore};
use alchemiser_lambda::metrics::Metrics;
use alchemiser_lambda::{handler_service, Adapters, Invoke, Invoker, RunMode};
use alchemiser_ledger::shadow::Verdict;
use alchemiser_ledger::{compare, Entry, LedgerStore, MemoryLedger, Monitor, ShadowRecorder};
use alchemiser_trading::{
    Broker, ExecutionHandler, ExecutionSettings, PaperBroker, PlannerConfig, PortfolioFile,
    PortfolioHandler, ReadOnlyBroker, Workflow,
};
use lambda_runtime::tower::ServiceExt;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;

fn python(name: &str) -> Value {
    let path = format!(
        "{}/../../examples/python/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn account(name: &str) -> Arc<PaperBroker> {
    let text = python(name).to_string();
    Arc::new(PaperBroker::in_memory(
        PortfolioFile::from_json(&text).unwrap(),
    ))
}

/// The captured events are hours old; their age is not what these tests are about.
fn captured() -> ExecutionSettings {
    let long = std::time::Duration::from_secs(100 * 366 * 24 * 3600);
    ExecutionSettings {
        max_plan_age: long,
        max_workflow_age: long,
        ..ExecutionSettings::default()
    }
}

/// An invoker as `run_function` builds it for `mode`, over local adapters: a shadow's bus is
/// the ledger's recorder, a live one's an in-memory bus whose events are kept.
fn invoker(
    function: HandlerName,
    handler: Arc<dyn EventHandler>,
    mode: RunMode,
    ledger: &Arc<MemoryLedger>,
    store: Arc<dyn IdempotencyStore>,
) -> (Arc<dyn Invoke>, Arc<RecordingHandler>) {
    let memory = Arc::new(InMemoryBus::new());
    let published = RecordingHandler::on_every_type(memory.as_ref());
    let bus: Arc<dyn alchemiser_bus::EventBus> = match mode {
        RunMode::Live => memory,
        RunMode::Shadow => Arc::new(ShadowRecorder::new(ledger.clone(), function)),
    };
    let (mut adapters, _) = Adapters::in_memory(bus);
    adapters.store = store;
    adapters.dead_letters = Arc::new(MemoryDeadLetterRecorder::default());
    adapters.metrics = Metrics::Off;
    let invoker = Invoker::new(function, handler, adapters);
    let invoker = match mode.key_scope() {
        Some(scope) => invoker.with_key_scope(scope),
        None => invoker,
    };
    (Arc::new(invoker), published)
}

async fn status(invoker: &Arc<dyn Invoke>, payload: Value) -> Value {
    let response = handler_service(invoker.clone())
        .oneshot(LambdaEvent::new(payload, Context::default()))
        .await
        .unwrap();
    response["status"].clone()
}

const FILES: [&str; 11] = [
    "wf00-1-WorkflowStarted.json",
    "wf00-2-SignalGenerated.json",
    "wf00-3-RebalancePlanned.json",
    "wf00-4-TradeExecuted.json",
    "wf00-5-WorkflowFailed.json",
    "wf01-2-SignalGenerated.detail-string.json",
    "wf01-3-RebalancePlanned.json",
    "wf01-3-RebalancePlanned.replayed.json",
    "wf01-4-TradeExecuted.json",
    "wf01-5-WorkflowCompleted.json",
    "portfolio-stage-WorkflowFailed.json",
];

#[tokio::test]
async fn every_python_event_is_handled_by_each_of_its_rust_consumers() {
    let mut deliveries = 0;
    for file in FILES {
        let payload = python(file);
        let event_type = decode(payload.to_string().as_bytes())
            .unwrap()
            .event
            .event_type();
        let workflow_account = if file.starts_with("wf00") {
            "wf00-account.json"
        } else {
            "wf01-account.json"
        };
        let route = ROUTES.iter().find(|r| r.event_type == event_type).unwrap();
        for &consumer in route.consumers {
            let ledger = Arc::new(MemoryLedger::new());
            let handler = Workflow::new(
                account(workflow_account),
                PlannerConfig::default(),
                captured(),
                |_| alchemiser_clock::system(),
                Arc::new(Monitor::new(ledger.clone())),
            )
            .handler(consumer)
            .unwrap_or_else(|| {
                panic!("{consumer} consumes {event_type} but Workflow has no handler of it")
            });
            let (invoker, _) = invoker(
                consumer,
                handler,
                RunMode::Live,
                &ledger,
                Arc::new(InMemoryStore::new()),
            );
            assert_eq!(
                status(&invoker, payload.clone()).await,
                "handled",
                "{file} → {consumer}"
            );
            deliveries += 1;
        }
    }
    assert_eq!(
        deliveries, 16,
        "11 to the monitor, 3 plans to execution, 2 signals to portfolio"
    );
}

#[tokio::test]
async fn a_shadow_portfolio_publishes_nothing_and_its_plan_matches_the_python_one() {
    let ledger = Arc::new(MemoryLedger::new());
    let broker = account("wf01-account.json");
    let portfolio = PortfolioHandler::new(
        Arc::new(ReadOnlyBroker::new(broker.clone())),
        PlannerConfig::default(),
    );
    let (shadow, published) = invoker(
        HandlerName::Portfolio,
        Arc::new(portfolio),
        RunMode::Shadow,
        &ledger,
        Arc::new(InMemoryStore::new()),
    );
    let signal = python("wf01-2-SignalGenerated.detail-string.json");
    assert_eq!(status(&shadow, signal.clone()).await, "handled");
    assert!(published.events().is_empty(), "a shadow published live");
    // A duplicate delivery records nothing new.
    assert_eq!(status(&shadow, signal).await, "duplicate");

    // The monitor records the Python system's live events of the workflow.
    let monitor = Monitor::new(ledger.clone());
    let (live_monitor, _) = invoker(
        HandlerName::Monitor,
        Arc::new(monitor),
        RunMode::Live,
        &ledger,
        Arc::new(InMemoryStore::new()),
    );
    for file in FILES
        .iter()
        .filter(|f| f.starts_with("wf01") && !f.contains("replayed"))
    {
        assert_eq!(status(&live_monitor, python(file)).await, "handled");
    }
    let correlation_id = "df792339-0ef2-40cf-b2a1-60c0cd24867d";
    let entries = ledger.entries(correlation_id).await.unwrap();
    let shadows = entries
        .iter()
        .filter(|e| matches!(e, Entry::Shadow(_)))
        .count();
    assert_eq!(shadows, 1);
    let comparisons = compare(correlation_id, &entries);
    assert_eq!(comparisons.len(), 1);
    assert_eq!(
        comparisons[0].verdict,
        Verdict::Match,
        "{:?}",
        comparisons[0].differences
    );
    assert_eq!(comparisons[0].event_type, EventType::RebalancePlanned);

    // Had Python planned another amount, the diff says which field, with both values.
    let mut changed = python("wf01-3-RebalancePlanned.json");
    let item = &mut changed["detail"]["rebalance_plan"]["items"][0];
    assert_eq!(item["symbol"], "BSV");
    item["trade_amount"] = Value::String("5000.00".into());
    let other = Arc::new(MemoryLedger::new());
    for entry in entries
        .iter()
        .filter(|e| !matches!(e, Entry::Event(x) if x.event_type == EventType::RebalancePlanned))
    {
        other.record(correlation_id, entry).await.unwrap();
    }
    let (other_monitor, _) = invoker(
        HandlerName::Monitor,
        Arc::new(Monitor::new(other.clone())),
        RunMode::Live,
        &other,
        Arc::new(InMemoryStore::new()),
    );
    assert_eq!(status(&other_monitor, changed).await, "handled");
    let comparisons = compare(
        correlation_id,
        &other.entries(correlation_id).await.unwrap(),
    );
    assert_eq!(comparisons[0].verdict, Verdict::Mismatch);
    let fields: Vec<&str> = comparisons[0]
        .differences
        .iter()
        .map(|d| d.field.as_str())
        .collect();
    assert!(fields.contains(&"BSV.trade_amount"), "{fields:?}");
    let difference = comparisons[0]
        .differences
        .iter()
        .find(|d| d.field == "BSV.trade_amount")
        .unwrap();
    assert_eq!(
        (difference.shadow.as_str(), difference.live.as_str()),
        ("5841.00", "5000.00")
    );
}

#[tokio::test]
async fn a_shadow_execution_places_no_order_and_the_live_run_of_the_same_plan_still_trades() {
    let ledger = Arc::new(MemoryLedger::new());
    let broker = account("wf01-account.json");
    let store: Arc<dyn IdempotencyStore> = Arc::new(InMemoryStore::new());
    let read_only: Arc<dyn Broker> = Arc::new(ReadOnlyBroker::new(broker.clone()));
    let (shadow, published) = invoker(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(read_only, captured()).in_shadow()),
        RunMode::Shadow,
        &ledger,
        store.clone(),
    );
    let plan = python("wf01-3-RebalancePlanned.json");
    assert_eq!(status(&shadow, plan.clone()).await, "handled");
    assert!(published.events().is_empty(), "a shadow published live");
    assert!(
        broker.snapshot().unwrap().orders.is_empty(),
        "a shadow traded"
    );

    let (live_monitor, _) = invoker(
        HandlerName::Monitor,
        Arc::new(Monitor::new(ledger.clone())),
        RunMode::Live,
        &ledger,
        Arc::new(InMemoryStore::new()),
    );
    assert_eq!(
        status(&live_monitor, python("wf01-4-TradeExecuted.json")).await,
        "handled"
    );
    let correlation_id = "df792339-0ef2-40cf-b2a1-60c0cd24867d";
    let comparisons = compare(
        correlation_id,
        &ledger.entries(correlation_id).await.unwrap(),
    );
    assert_eq!(comparisons.len(), 1);
    assert_eq!(comparisons[0].event_type, EventType::TradeExecuted);
    assert_eq!(
        comparisons[0].verdict,
        Verdict::Match,
        "{:?}",
        comparisons[0].differences
    );

    // The shadow's handling is its own: switched to live on the same idempotency table, the
    // execution function still trades the plan.
    let (live, live_published) = invoker(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(broker.clone(), captured())),
        RunMode::Live,
        &ledger,
        store,
    );
    assert_eq!(status(&live, plan).await, "handled");
    assert_eq!(broker.snapshot().unwrap().orders.len(), 1);
    assert_eq!(live_published.events().len(), 2);
}
