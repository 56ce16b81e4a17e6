//! Every function as its entry point wires it — the consumer runtime running the trading
//! handlers — in-process, through the same tower service lambda_runtime runs: the Python
//! examples, bad input, duplicates, replays, transient dead_letters and metrics.

use std::sync::{Arc, Mutex};

use alchemiser_bus::{
    Delivery, EventBus, EventHandler, Handled, HandlerError, InMemoryBus, PublishReport,
    RecordingHandler, Undelivered,
};
use alchemiser_deadletters::MemoryDeadLetterRecorder;
use alchemiser_events::{Event, HandlerName};
use alchemiser_lambda::idempotency::{IdempotencyConfig, IdempotencyStore, InMemoryStore};
use alchemiser_lambda::metrics::Metrics;
use alchemiser_lambda::{
    handler_service, Adapters, InvocationError, Invoke, Invoker, TriggerInvoker,
};
use alchemiser_ledger::{summarize, LedgerStore, MemoryLedger, Monitor, WorkflowState};
use alchemiser_trading::{
    ExecutionHandler, ExecutionSettings, PaperBroker, PlannerConfig, PortfolioFile,
    PortfolioHandler, StrategyHandler,
};
use async_trait::async_trait;
use lambda_runtime::tower::ServiceExt;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};

/// Execution settings for the captured example plans, which are older than any stage would
/// trade (their age is not what these tests are about).
fn captured() -> ExecutionSettings {
    ExecutionSettings {
        max_plan_age: std::time::Duration::from_secs(100 * 366 * 24 * 3600),
        max_workflow_age: std::time::Duration::from_secs(100 * 366 * 24 * 3600),
        ..ExecutionSettings::default()
    }
}

const SIGNAL: &str = include_str!("../../../examples/events/SignalGenerated.eventbridge.json");
const PLAN: &str = include_str!("../../../examples/events/RebalancePlanned.eventbridge.json");

fn example(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn account() -> Arc<PaperBroker> {
    Arc::new(PaperBroker::in_memory(
        PortfolioFile::from_json(
            r#"{"cash": "0.00", "positions": [
                {"symbol": "SPY", "qty": "30", "price": "100.00"},
                {"symbol": "TLT", "qty": "70", "price": "100.00"}]}"#,
        )
        .unwrap(),
    ))
}

/// An invoker wired like the Lambda, over local adapters, with what it touched kept for asserts.
struct Harness {
    invoker: Arc<dyn Invoke>,
    published: Arc<RecordingHandler>,
    dead_letters: Arc<MemoryDeadLetterRecorder>,
    metrics: Arc<Mutex<Vec<String>>>,
}

fn types(recorder: &RecordingHandler) -> Vec<String> {
    recorder
        .events()
        .iter()
        .map(|e| e.event_type().to_string())
        .collect()
}

fn harness(
    function: HandlerName,
    handler: Arc<dyn EventHandler>,
    store: Arc<dyn IdempotencyStore>,
) -> Harness {
    let bus = Arc::new(InMemoryBus::new());
    let published = RecordingHandler::on_every_type(bus.as_ref());
    harness_on(function, handler, store, bus, published)
}

fn harness_on(
    function: HandlerName,
    handler: Arc<dyn EventHandler>,
    store: Arc<dyn IdempotencyStore>,
    bus: Arc<dyn EventBus>,
    published: Arc<RecordingHandler>,
) -> Harness {
    let dead_letters = Arc::new(MemoryDeadLetterRecorder::default());
    let lines = Arc::new(Mutex::new(Vec::new()));
    let metrics = Metrics::Capture {
        stage: "test".into(),
        function: function.to_string(),
        lines: lines.clone(),
    };
    let adapters = Adapters {
        follow_ups: Some(Arc::new(
            alchemiser_lambda::follow_ups::MemoryFollowUps::new(),
        )),
        authenticity: alchemiser_lambda::signing::Authenticity::in_process(),
        store,
        bus,
        dead_letters: dead_letters.clone(),
        metrics,
        idempotency: IdempotencyConfig::default(),
        clock: alchemiser_clock::system(),
    };
    Harness {
        invoker: Arc::new(Invoker::new(function, handler, adapters)),
        published,
        dead_letters,
        metrics: lines,
    }
}

async fn call(invoker: &Arc<dyn Invoke>, payload: Value) -> Result<Value, InvocationError> {
    handler_service(invoker.clone())
        .oneshot(LambdaEvent::new(payload, Context::default()))
        .await
}

#[tokio::test]
async fn portfolio_turns_the_python_signal_into_a_plan_and_publishes_it() {
    let h = harness(
        HandlerName::Portfolio,
        Arc::new(PortfolioHandler::new(account(), PlannerConfig::default())),
        Arc::new(InMemoryStore::new()),
    );
    let response = call(&h.invoker, example(SIGNAL)).await.unwrap();
    assert_eq!(response["status"], "handled");
    assert_eq!(types(&h.published), ["RebalancePlanned"]);
    let plan = h.published.events()[0].clone();
    assert_eq!(plan.header().causation_id, "signal-generated-0001");
    assert_eq!(plan.header().correlation_id, "corr-0001");
}

#[tokio::test]
async fn execution_places_the_python_plan_and_reports_the_outcome() {
    let broker = account();
    let h = harness(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(broker.clone(), captured())),
        Arc::new(InMemoryStore::new()),
    );
    call(&h.invoker, example(PLAN)).await.unwrap();
    assert_eq!(types(&h.published), ["TradeExecuted", "WorkflowCompleted"]);
    assert_eq!(broker.snapshot().unwrap().orders.len(), 2);
}

#[tokio::test]
async fn monitor_records_every_event_in_the_ledger_and_publishes_nothing() {
    let ledger = Arc::new(MemoryLedger::new());
    let monitor = Arc::new(Monitor::new(ledger.clone()));
    let execution = harness(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(account(), captured())),
        Arc::new(InMemoryStore::new()),
    );
    call(&execution.invoker, example(PLAN)).await.unwrap();
    let h = harness(
        HandlerName::Monitor,
        monitor.clone(),
        Arc::new(InMemoryStore::new()),
    );
    let outcome_events = execution.published.events();
    let correlation_id = outcome_events[0].header().correlation_id.clone();
    for event in outcome_events {
        let response = call(&h.invoker, event.to_value()).await.unwrap();
        assert_eq!(response["status"], "handled");
    }
    let entries = ledger.entries(&correlation_id).await.unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let summary = summarize(&correlation_id, &entries).expect("a summary");
    assert_eq!(summary.state, WorkflowState::Completed);
    assert!(types(&h.published).is_empty());
}

#[tokio::test]
async fn strategy_starts_one_workflow_per_schedule_tick() {
    let allocation =
        StrategyHandler::from_allocation_json(r#"{"SPY": "0.6", "TLT": "0.4"}"#).unwrap();
    let bus = Arc::new(InMemoryBus::new());
    let published = RecordingHandler::on_every_type(bus.as_ref());
    let adapters = Adapters {
        follow_ups: Some(Arc::new(
            alchemiser_lambda::follow_ups::MemoryFollowUps::new(),
        )),
        authenticity: alchemiser_lambda::signing::Authenticity::in_process(),
        store: Arc::new(InMemoryStore::new()),
        bus,
        dead_letters: Arc::new(MemoryDeadLetterRecorder::default()),
        metrics: Metrics::Off,
        idempotency: IdempotencyConfig::default(),
        clock: alchemiser_clock::system(),
    };
    let invoker: Arc<dyn Invoke> = Arc::new(TriggerInvoker::new(
        "strategy",
        Arc::new(allocation),
        adapters,
    ));
    let tick = json!({"id": "tick-1", "source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}});
    call(&invoker, tick.clone()).await.unwrap();
    let again = call(&invoker, tick).await.unwrap();
    assert_eq!(again["status"], "duplicate");
    assert_eq!(types(&published), ["WorkflowStarted", "SignalGenerated"]);
    // A manual run may override the allocation.
    call(&invoker, json!({"target_allocations": {"GLD": "1.0"}}))
        .await
        .unwrap();
    assert_eq!(types(&published).len(), 4);
}

#[tokio::test]
async fn bad_input_is_a_recorded_permanent_failure_never_a_panic() {
    let cases: Vec<(Value, &str)> = vec![
        (json!("just a string"), "expected a JSON object"),
        (json!({}), "event_type"),
        ({ let mut v = example(SIGNAL); v["detail"]["consolidated_portfolio"]["target_allocations"] = json!({"SPY": "2"}); v }, "between 0 and 1"),
        ({ let mut v = example(SIGNAL); v["detail-type"] = json!("RebalancePlanned"); v }, "must be equal"),
        ({ let mut v = example(SIGNAL); v["detail-type"] = json!("OrderPlaced"); v }, "unknown event type"),
        (example(PLAN), "does not consume RebalancePlanned events; the routing table sends them to: execution, monitor"),
        ({ let mut v = example(SIGNAL); v["source"] = json!("alchemiser.portfolio"); v }, "SignalGenerated from source `alchemiser.portfolio` is not from a producer"),
    ];
    let h = harness(
        HandlerName::Portfolio,
        Arc::new(PortfolioHandler::new(account(), PlannerConfig::default())),
        Arc::new(InMemoryStore::new()),
    );
    for (payload, message) in cases {
        let response = call(&h.invoker, payload.clone())
            .await
            .expect("acknowledged, not retried");
        assert_eq!(response["status"], "permanent_failure_recorded");
        let record = h.dead_letters.records().pop().unwrap();
        assert!(
            record.reason.contains(message),
            "`{}` should mention `{message}`",
            record.reason
        );
        assert_eq!(
            record.event, payload,
            "the dead letter keeps the payload as received"
        );
        assert_eq!(record.error_class, "permanent");
    }
    assert!(types(&h.published).is_empty());
    // Even an event that fails to decode is recorded under the ids it carries.
    let bad_weights = &h.dead_letters.records()[2];
    assert_eq!(
        bad_weights.event_id.as_deref(),
        Some("signal-generated-0001")
    );
    assert_eq!(bad_weights.correlation_id.as_deref(), Some("corr-0001"));
    assert_eq!(bad_weights.detail_type.as_deref(), Some("SignalGenerated"));
}

#[tokio::test]
async fn a_plan_the_broker_cannot_price_is_permanent() {
    let mut signal = example(SIGNAL);
    signal["detail"]["consolidated_portfolio"]["target_allocations"] = json!({"NVDA": "1.0"});
    let h = harness(
        HandlerName::Portfolio,
        Arc::new(PortfolioHandler::new(account(), PlannerConfig::default())),
        Arc::new(InMemoryStore::new()),
    );
    let response = call(&h.invoker, signal).await.unwrap();
    assert_eq!(response["status"], "permanent_failure_recorded");
    assert!(h.dead_letters.records()[0].reason.contains("NVDA"));
}

/// Refuses everything until `fixed` is set: a handler bug that a deploy fixes.
struct Buggy {
    fixed: std::sync::atomic::AtomicBool,
    inner: Arc<dyn EventHandler>,
}

#[async_trait]
impl EventHandler for Buggy {
    fn name(&self) -> &str {
        "buggy"
    }
    async fn handle(&self, event: &Event, delivery: &Delivery) -> Result<Handled, HandlerError> {
        if !self.fixed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(HandlerError::Permanent("plan rejected by a bug".into()));
        }
        self.inner.handle(event, delivery).await
    }
}

#[tokio::test]
async fn a_refused_event_runs_when_redriven_after_the_fix() {
    let broker = account();
    let buggy = Arc::new(Buggy {
        fixed: false.into(),
        inner: Arc::new(ExecutionHandler::new(broker.clone(), captured())),
    });
    let h = harness(
        HandlerName::Execution,
        buggy.clone(),
        Arc::new(InMemoryStore::new()),
    );
    let refused = call(&h.invoker, example(PLAN)).await.unwrap();
    assert_eq!(refused["status"], "permanent_failure_recorded");
    buggy.fixed.store(true, std::sync::atomic::Ordering::SeqCst);
    let redriven = call(&h.invoker, h.dead_letters.records()[0].event.clone())
        .await
        .unwrap();
    assert_eq!(
        redriven["status"], "handled",
        "a permanent failure must not be remembered as done"
    );
    assert_eq!(broker.snapshot().unwrap().orders.len(), 2);
}

/// A handler that fails transiently the first `failures` times.
struct Flaky {
    left: Mutex<u32>,
    inner: Arc<dyn EventHandler>,
}

#[async_trait]
impl EventHandler for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    async fn handle(&self, event: &Event, delivery: &Delivery) -> Result<Handled, HandlerError> {
        {
            let mut left = self.left.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return Err(HandlerError::Transient("broker returned HTTP 503".into()));
            }
        }
        self.inner.handle(event, delivery).await
    }
}

#[tokio::test]
async fn transient_failures_are_returned_for_lambda_to_retry_and_the_retry_runs() {
    let broker = account();
    let h = harness(
        HandlerName::Execution,
        Arc::new(Flaky {
            left: Mutex::new(1),
            inner: Arc::new(ExecutionHandler::new(broker.clone(), captured())),
        }),
        Arc::new(InMemoryStore::new()),
    );
    let error = call(&h.invoker, example(PLAN)).await.unwrap_err();
    assert!(
        matches!(error, InvocationError::Transient(ref m) if m.contains("503")),
        "{error}"
    );
    let diagnostic: lambda_runtime::Diagnostic = error.into();
    assert_eq!(diagnostic.error_type, "Alchemiser.Transient");
    // The claim was released, so Lambda's retry runs the handler at once.
    call(&h.invoker, example(PLAN)).await.unwrap();
    assert_eq!(broker.snapshot().unwrap().orders.len(), 2);
    assert!(h.dead_letters.records().is_empty());
}

#[tokio::test]
async fn duplicates_in_sequence_and_concurrently_place_orders_once() {
    let broker = account();
    let h = harness(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(broker.clone(), captured())),
        Arc::new(InMemoryStore::new()),
    );
    let (first, second, third) = tokio::join!(
        call(&h.invoker, example(PLAN)),
        call(&h.invoker, example(PLAN)),
        call(&h.invoker, example(PLAN))
    );
    let results = [first, second, third];
    let handled = results
        .iter()
        .filter(|r| matches!(r, Ok(v) if v["status"] == "handled"))
        .count();
    assert_eq!(handled, 1, "{results:?}");
    for _ in 0..3 {
        let response = call(&h.invoker, example(PLAN)).await.unwrap();
        assert_eq!(response["status"], "duplicate");
    }
    assert_eq!(broker.snapshot().unwrap().orders.len(), 2);
    assert_eq!(types(&h.published), ["TradeExecuted", "WorkflowCompleted"]);
    let duplicates = h
        .metrics
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("DuplicatesSkipped"))
        .count();
    assert!(duplicates >= 3);
}

#[tokio::test]
async fn replays_are_dry_runs_unless_the_stage_allows_them() {
    let mut replay = example(PLAN);
    replay["replay-name"] = json!("after-outage");
    let broker = account();
    let h = harness(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(broker.clone(), captured())),
        Arc::new(InMemoryStore::new()),
    );
    call(&h.invoker, replay.clone()).await.unwrap();
    assert!(broker.snapshot().unwrap().orders.is_empty());
    let executed = h.published.events()[0].to_value();
    assert_eq!(executed["execution_data"]["dry_run"], true);
    assert!(executed["execution_data"]["orders"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["status"] == "DRY_RUN"));
}

/// A bus that delivers nothing and cannot keep it in the outbox either: an outage of EventBridge and the outbox.
struct LostBus;

#[async_trait]
impl EventBus for LostBus {
    async fn publish(&self, events: Vec<Event>) -> PublishReport {
        PublishReport {
            undelivered: events
                .iter()
                .map(|e| Undelivered {
                    event_id: e.event_id().to_owned(),
                    event_type: e.event_type(),
                    code: Some("ConnectionError".into()),
                    reason: "EventBridge and the outbox are down".into(),
                    kept_in: None,
                })
                .collect(),
            ..PublishReport::default()
        }
    }
}

#[tokio::test]
async fn a_completed_but_unpublished_event_is_published_by_the_next_delivery() {
    let store: Arc<dyn IdempotencyStore> = Arc::new(InMemoryStore::new());
    let broker = account();
    let handler: Arc<dyn EventHandler> =
        Arc::new(ExecutionHandler::new(broker.clone(), captured()));
    // The first delivery records its result, then cannot publish: it fails for Lambda to retry.
    let down = harness_on(
        HandlerName::Execution,
        handler.clone(),
        store.clone(),
        Arc::new(LostBus),
        Arc::new(RecordingHandler::new()),
    );
    let error = call(&down.invoker, example(PLAN)).await.unwrap_err();
    assert!(
        matches!(error, InvocationError::Transient(ref m) if m.contains("neither delivered nor kept in the outbox")),
        "{error}"
    );
    assert_eq!(broker.snapshot().unwrap().orders.len(), 2);
    // The retry finds the stored result and publishes it without running the handler again.
    let h = harness(HandlerName::Execution, handler, store);
    let response = call(&h.invoker, example(PLAN)).await.unwrap();
    assert_eq!(response, json!({"status": "duplicate", "republished": 2}));
    assert_eq!(
        broker.snapshot().unwrap().orders.len(),
        2,
        "the handler did not run again"
    );
    assert_eq!(types(&h.published), ["TradeExecuted", "WorkflowCompleted"]);
}

#[tokio::test]
async fn metrics_are_embedded_metric_format_lines() {
    let h = harness(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(account(), captured())),
        Arc::new(InMemoryStore::new()),
    );
    call(&h.invoker, example(PLAN)).await.unwrap();
    call(&h.invoker, json!({"not": "an event"})).await.unwrap();
    let lines = h.metrics.lock().unwrap().clone();
    let documents: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let handled = documents
        .iter()
        .find(|d| d.get("EventsHandled").is_some())
        .unwrap();
    assert_eq!(handled["OrdersPlaced"], 2);
    assert_eq!(handled["stage"], "test");
    assert_eq!(handled["function"], "execution");
    let directive = &handled["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "Alchemiser/EventBridge");
    assert_eq!(directive["Dimensions"], json!([["stage", "function"]]));
    let names: Vec<&str> = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "EventsHandled",
            "HandlerLatencyMs",
            "OrdersPlaced",
            "OrdersFailed"
        ]
    );
    assert!(handled["_aws"]["Timestamp"].as_i64().unwrap() > 1_600_000_000_000);
    let failure = documents
        .iter()
        .find(|d| d.get("Failures").is_some())
        .unwrap();
    assert_eq!(failure["failure_class"], "permanent");
    assert_eq!(
        failure["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([
            ["stage", "function"],
            ["stage", "function", "failure_class"]
        ])
    );
}
