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
    Claim, ClaimRequest, IdempotencyStore, InMemoryStore, Lease, LeaseRequest, StoreError,
    StoredResult,
};
use alchemiser_lambda::{
    Adapters, InvocationContext, InvocationError, InvocationOutcome, Invoke, Invoker,
};
use alchemiser_trading::{
    ExecutionHandler, ExecutionSettings, PaperBroker, PlannerConfig, PortfolioFile,
    PortfolioHandler, ScriptedBroker,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
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
    Function {
        invoker: Invoker::new(name, handler, adapters),
        published,
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
struct FlakyRecords {
    inner: InMemoryStore,
    failures: AtomicUsize,
}

#[async_trait]
impl IdempotencyStore for FlakyRecords {
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
        self.inner.claim(request).await
    }
    async fn complete(
        &self,
        key: &str,
        hash: &str,
        result: &StoredResult,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StoreError::new("PutItem (complete)", "table", "throttled"));
        }
        self.inner.complete(key, hash, result, now).await
    }
    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.inner.release(key).await
    }
    async fn acquire_lease(&self, request: &LeaseRequest<'_>) -> Result<Lease, StoreError> {
        self.inner.acquire_lease(request).await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(name, holder).await
    }
}

#[tokio::test]
async fn a_result_that_cannot_be_recorded_is_not_published_and_the_retry_plans_the_same() {
    let store = Arc::new(FlakyRecords {
        inner: InMemoryStore::new(),
        failures: AtomicUsize::new(1),
    });
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
struct UnreadableRecord {
    inner: InMemoryStore,
}

#[async_trait]
impl IdempotencyStore for UnreadableRecord {
    async fn claim(&self, _: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
        Ok(Claim::Completed(StoredResult {
            events: vec![json!({"event_type": "TradeExecuted", "orders_placed": "many"})],
            published: false,
        }))
    }
    async fn complete(
        &self,
        k: &str,
        h: &str,
        r: &StoredResult,
        n: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.complete(k, h, r, n).await?;
        panic!("a record whose events were not published was marked: {r:?}")
    }
    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.inner.release(key).await
    }
    async fn acquire_lease(&self, request: &LeaseRequest<'_>) -> Result<Lease, StoreError> {
        self.inner.acquire_lease(request).await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(name, holder).await
    }
}

#[tokio::test]
async fn a_stored_result_that_no_longer_decodes_is_never_marked_published() {
    let execution = function(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(
            account(),
            ExecutionSettings::default(),
        )),
        Arc::new(UnreadableRecord {
            inner: InMemoryStore::new(),
        }),
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
    let refused = second.invoker.invoke(other_plan.clone(), &local()).await;
    assert!(
        matches!(refused, Err(InvocationError::Transient(ref m)) if m.contains("execution#broker-account") && m.contains("one at a time")),
        "{refused:?}"
    );
    assert!(matches!(
        running.await.unwrap(),
        Ok(InvocationOutcome::Handled { .. })
    ));
    // Lambda's retry comes after the first plan finished: the lease is free, and the second
    // plan (now stale against the account the first one moved) is judged on its own.
    let retried = second.invoker.invoke(other_plan, &local()).await.unwrap();
    assert!(matches!(retried, InvocationOutcome::Handled { .. }));
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
