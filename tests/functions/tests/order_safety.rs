//! Orders only as intended, through the functions as they are wired (the consumer runtime over
//! the trading handlers): replays never trade live however many steps later, a result that
//! cannot be recorded is never published, a dry run never stands for the live run, a stored
//! result that no longer decodes is never marked published, and one account runs one plan at a
//! time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use alchemiser_bus::{EventHandler, InMemoryBus, RecordingHandler};
use alchemiser_events::{Event, EventType, HandlerName};
use alchemiser_lambda::idempotency::{
    Claim, IdempotencyStore, InMemoryStore, InterceptedStore, StoreError, StoredResult,
};
use alchemiser_lambda::{
    Adapters, InvocationContext, InvocationError, InvocationOutcome, Invoke, Invoker,
};
use alchemiser_trading::{
    ExecutionHandler, ExecutionSettings, PaperBroker, PlannerConfig, PortfolioFile,
    PortfolioHandler, ScriptedBroker,
};
use chrono::Utc;
use serde_json::{json, Value};

const SIGNAL: &str = include_str!("../../../examples/events/SignalGenerated.eventbridge.json");
const PLAN: &str = include_str!("../../../examples/events/RebalancePlanned.eventbridge.json");

fn example(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The example plan, dated now (so it is fresh).
fn fresh_plan() -> Value {
    let mut plan = example(PLAN);
    let now = Utc::now().to_rfc3339();
    plan["detail"]["timestamp"] = json!(now);
    plan["detail"]["rebalance_plan"]["timestamp"] = json!(now);
    plan
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

struct Function {
    invoker: Invoker,
    published: Arc<RecordingHandler>,
    follow_ups: Arc<alchemiser_lambda::follow_ups::MemoryFollowUps>,
}

fn function(
    name: HandlerName,
    handler: Arc<dyn EventHandler>,
    store: Arc<dyn IdempotencyStore>,
) -> Function {
    let bus = Arc::new(InMemoryBus::new());
    let published = RecordingHandler::on_every_type(&bus);
    let (mut adapters, _) = Adapters::in_memory(bus);
    adapters.store = store;
    let follow_ups = Arc::new(alchemiser_lambda::follow_ups::MemoryFollowUps::new());
    adapters.follow_ups = Some(follow_ups.clone());
    Function {
        invoker: Invoker::new(name, handler, adapters),
        published,
        follow_ups,
    }
}

fn local() -> InvocationContext {
    InvocationContext::local()
}

#[tokio::test]
async fn a_replayed_signal_never_trades_live_two_steps_later() {
    let broker = account();
    let mut signal = example(SIGNAL);
    signal["replay-name"] = json!("after-outage");
    let portfolio = function(
        HandlerName::Portfolio,
        Arc::new(PortfolioHandler::new(
            broker.clone(),
            PlannerConfig::default(),
        )),
        Arc::new(InMemoryStore::new()),
    );
    portfolio.invoker.invoke(signal, &local()).await.unwrap();
    let plans = portfolio.published.events();
    let [Event::RebalancePlanned(plan)] = &plans[..] else {
        panic!("{plans:?}")
    };
    assert_eq!(
        plan.header.provenance().replay_name.as_deref(),
        Some("after-outage"),
        "the plan says it derives from a replay"
    );
    // On the wire, as execution receives it (a fresh delivery, no replay-name of its own).
    let wire = json!({
        "version": "0", "id": "delivery-2", "detail-type": "RebalancePlanned",
        "source": "alchemiser.portfolio", "account": "000000000000",
        "time": Utc::now().to_rfc3339(), "region": "us-east-1", "resources": [],
        "detail": Event::from(plan.clone()).to_value(),
    });
    let execution = function(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(
            broker.clone(),
            ExecutionSettings::default(),
        )),
        Arc::new(InMemoryStore::new()),
    );
    execution.invoker.invoke(wire, &local()).await.unwrap();
    assert!(
        broker.snapshot().unwrap().orders.is_empty(),
        "a replay traded live"
    );
    let outcome = execution.published.events()[0].to_value();
    assert_eq!(outcome["execution_data"]["dry_run"], true);
    assert!(outcome["execution_data"]["dry_run_reason"]
        .as_str()
        .unwrap()
        .contains("after-outage"));
}

#[tokio::test]
async fn a_dry_run_of_a_replay_does_not_stand_for_the_live_run_of_the_same_event() {
    let broker = account();
    let store: Arc<dyn IdempotencyStore> = Arc::new(InMemoryStore::new());
    let execution = function(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(
            broker.clone(),
            ExecutionSettings::default(),
        )),
        store,
    );
    let plan = fresh_plan();
    let mut replayed = plan.clone();
    replayed["replay-name"] = json!("after-outage");
    execution
        .invoker
        .invoke(replayed.clone(), &local())
        .await
        .unwrap();
    assert!(broker.snapshot().unwrap().orders.is_empty());
    // The live delivery of the same event comes after (replays arrive in any order).
    let live = execution
        .invoker
        .invoke(plan.clone(), &local())
        .await
        .unwrap();
    assert!(
        matches!(live, InvocationOutcome::Handled { .. }),
        "{live:?}"
    );
    assert_eq!(
        broker.snapshot().unwrap().orders.len(),
        2,
        "the live run traded"
    );
    // And neither counts twice.
    for delivery in [plan, replayed] {
        let again = execution.invoker.invoke(delivery, &local()).await.unwrap();
        assert!(
            matches!(again, InvocationOutcome::Duplicate { .. }),
            "{again:?}"
        );
    }
}

/// An in-memory store whose `complete` fails the first `failures` times.
fn flaky_records(failures: usize) -> InterceptedStore {
    let failures = AtomicUsize::new(failures);
    InterceptedStore::new().on_complete(move |_| {
        failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
            .then(|| Err(StoreError::new("PutItem (complete)", "table", "throttled")))
    })
}

#[tokio::test]
async fn a_result_that_cannot_be_recorded_is_not_published_and_the_retry_plans_the_same() {
    let store = Arc::new(flaky_records(1));
    let portfolio = function(
        HandlerName::Portfolio,
        Arc::new(PortfolioHandler::new(account(), PlannerConfig::default())),
        store,
    );
    let error = portfolio
        .invoker
        .invoke(example(SIGNAL), &local())
        .await
        .unwrap_err();
    assert!(
        matches!(error, InvocationError::Transient(ref m) if m.contains("could not be recorded, so nothing was published")),
        "{error}"
    );
    assert!(portfolio.published.events().is_empty(), "published anyway");
    // Lambda's retry plans again: the same plan id and event id, so nothing downstream doubles.
    portfolio
        .invoker
        .invoke(example(SIGNAL), &local())
        .await
        .unwrap();
    let first = portfolio.published.events()[0].clone();
    let replanned = function(
        HandlerName::Portfolio,
        Arc::new(PortfolioHandler::new(account(), PlannerConfig::default())),
        Arc::new(InMemoryStore::new()),
    );
    replanned
        .invoker
        .invoke(example(SIGNAL), &local())
        .await
        .unwrap();
    let second = replanned.published.events()[0].clone();
    assert_eq!(first.event_id(), second.event_id());
    let plan_id = |e: &Event| match e {
        Event::RebalancePlanned(p) => p.rebalance_plan.plan_id.clone(),
        _ => unreachable!(),
    };
    assert_eq!(plan_id(&first), plan_id(&second));
}

/// A store whose one completed record holds an event no version of the contract reads.
fn unreadable_record() -> InterceptedStore {
    InterceptedStore::new()
        .on_claim(|_| {
            Some(Ok(Claim::Completed(StoredResult {
                events: vec![json!({"event_type": "TradeExecuted", "orders_placed": "many"})],
                published: false,
                follow_up: None,
            })))
        })
        .on_complete(|r| panic!("a record whose events were not published was marked: {r:?}"))
}

#[tokio::test]
async fn a_stored_result_that_no_longer_decodes_is_never_marked_published() {
    let execution = function(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(
            account(),
            ExecutionSettings::default(),
        )),
        Arc::new(unreadable_record()),
    );
    let error = execution
        .invoker
        .invoke(fresh_plan(), &local())
        .await
        .unwrap_err();
    assert!(
        matches!(error, InvocationError::Transient(ref m) if m.contains("no longer decodes") && m.contains("nothing was published")),
        "{error}"
    );
    assert!(execution.published.events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_runs_one_plan_at_a_time() {
    // Two different plans for the same account, delivered together: the second waits.
    let broker =
        Arc::new(ScriptedBroker::new(account()).with_order_delay(Duration::from_millis(200)));
    let store: Arc<dyn IdempotencyStore> = Arc::new(InMemoryStore::new());
    let first = Arc::new(function(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(
            broker.clone(),
            ExecutionSettings::default(),
        )),
        store.clone(),
    ));
    let second = Arc::new(function(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(
            broker.clone(),
            ExecutionSettings::default(),
        )),
        store,
    ));
    let mut other_plan = fresh_plan();
    other_plan["detail"]["event_id"] = json!("rebalance-planned-0002");
    other_plan["detail"]["rebalance_plan"]["plan_id"] = json!("plan-0002");
    let running = {
        let first = first.clone();
        tokio::spawn(async move { first.invoker.invoke(fresh_plan(), &local()).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiting = second.invoker.invoke(other_plan.clone(), &local()).await;
    assert!(
        matches!(waiting, Ok(InvocationOutcome::Deferred { ref why, .. }) if why.contains("execution#broker-account") && why.contains("one at a time")),
        "{waiting:?}"
    );
    assert!(matches!(
        running.await.unwrap(),
        Ok(InvocationOutcome::Handled { .. })
    ));
    // Its follow-up comes after the first plan finished: the lease is free, and the second
    // plan (now stale against the account the first one moved) is judged on its own.
    let [follow_up] = &second.follow_ups.take()[..] else {
        panic!("one follow-up")
    };
    assert_eq!(follow_up.follow_up.check, 1);
    let mut due = follow_up.clone();
    due.follow_up.due_at = chrono::Utc::now();
    let retried = second
        .invoker
        .invoke(serde_json::to_value(&due).unwrap(), &local())
        .await
        .unwrap();
    assert!(
        matches!(retried, InvocationOutcome::Handled { .. }),
        "{retried:?}"
    );
    let types: Vec<EventType> = second
        .published
        .events()
        .iter()
        .map(Event::event_type)
        .collect();
    assert_eq!(
        types,
        [EventType::WorkflowFailed],
        "refused for drift, not traded on the same cash"
    );
}

/// Defect 2 (issue 20): a plan whose sells have not filled yet holds the account until every
/// one of its orders is final; another plan for the account must not trade meanwhile.
#[tokio::test]
async fn a_half_done_plan_keeps_the_account_until_its_orders_are_final() {
    let broker = Arc::new(
        ScriptedBroker::new(account()).with_faults(|call| match call {
            alchemiser_trading::Call::Place(order) if order.symbol.as_str() == "TLT" => Some(
                alchemiser_trading::Fault::FillAfter(Duration::from_secs(3600)),
            ),
            _ => None,
        }),
    );
    let settings = ExecutionSettings {
        max_fill_wait: Duration::from_millis(100),
        ..ExecutionSettings::default()
    };
    let store: Arc<dyn IdempotencyStore> = Arc::new(InMemoryStore::new());
    let first = function(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(broker.clone(), settings.clone())),
        store.clone(),
    );
    let second = function(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(broker.clone(), settings)),
        store,
    );
    // The first plan sells TLT (which does not fill) and cannot size its buys yet.
    let _ = first.invoker.invoke(fresh_plan(), &local()).await;
    let sent = broker.orders_sent();
    assert_eq!(sent, 1, "the first plan placed its sell");
    // Another plan for the account arrives now: it must not trade while the first is open.
    let mut other_plan = fresh_plan();
    other_plan["detail"]["event_id"] = json!("rebalance-planned-0002");
    other_plan["detail"]["rebalance_plan"]["plan_id"] = json!("plan-0002");
    let _ = second.invoker.invoke(other_plan, &local()).await;
    assert_eq!(
        broker.orders_sent(),
        sent,
        "a second plan traded while the first still had an open order"
    );
}

/// Defect 6 (issue 20): a replayed delivery of a signal handled before the live one must not
/// make the live delivery a duplicate (the workflow would get only a dry-run plan).
#[tokio::test]
async fn a_replay_handled_first_does_not_swallow_the_live_delivery() {
    let broker = account();
    let portfolio = function(
        HandlerName::Portfolio,
        Arc::new(PortfolioHandler::new(
            broker.clone(),
            PlannerConfig::default(),
        )),
        Arc::new(InMemoryStore::new()),
    );
    let mut replayed = example(SIGNAL);
    replayed["replay-name"] = json!("after-outage");
    portfolio.invoker.invoke(replayed, &local()).await.unwrap();
    let live = portfolio
        .invoker
        .invoke(example(SIGNAL), &local())
        .await
        .unwrap();
    assert!(
        matches!(live, InvocationOutcome::Handled { .. }),
        "the live delivery was skipped: {live:?}"
    );
    let plans = portfolio.published.events();
    assert!(
        plans
            .iter()
            .any(|e| matches!(e, Event::RebalancePlanned(p) if p.header.provenance().is_live())),
        "no live plan: {plans:?}"
    );
}

/// Defect 8 (issue 20): a manual start without an id, delivered twice by Lambda (same request
/// id), starts one workflow.
#[tokio::test]
async fn a_manual_start_delivered_twice_starts_one_workflow() {
    let strategy =
        alchemiser_trading::StrategyHandler::from_allocation_json(r#"{"SPY": "1.0"}"#).unwrap();
    let bus = Arc::new(InMemoryBus::new());
    let published = RecordingHandler::on_every_type(&bus);
    let (adapters, _) = Adapters::in_memory(bus);
    let invoker = alchemiser_lambda::TriggerInvoker::new("strategy", Arc::new(strategy), adapters);
    let context = InvocationContext {
        request_id: "8f6c1e0a-request".into(),
        ..InvocationContext::default()
    };
    invoker.invoke(json!({}), &context).await.unwrap();
    invoker.invoke(json!({}), &context).await.unwrap();
    let started = published
        .events()
        .iter()
        .filter(|e| e.event_type() == EventType::WorkflowStarted)
        .count();
    assert_eq!(started, 1, "one manual request started {started} workflows");
}
