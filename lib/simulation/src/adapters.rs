//! The simulated cloud's side of the ports. Every call pauses before it reaches its adapter and
//! again after it took effect (the scheduler interleaves and kills tasks at those pauses), costs
//! a round trip of simulation time, and may fail: before anything happened (an outage), or — for
//! writes — after it took effect but with its answer lost.

use std::sync::Arc;
use std::time::Duration;

use alchemiser_bus::{EventBus, PublishReport, Undelivered};
use alchemiser_deadletters::{
    DeadLetterNotRecorded, DeadLetterRecorder, DeadLetters, Held, MemoryDeadLetters, QueueError,
};
use alchemiser_events::{Decimal, Event, FailureRecord, Symbol};
use alchemiser_lambda::follow_ups::{FollowUp, FollowUpError, FollowUps};
use alchemiser_lambda::idempotency::{
    Claim, ClaimRequest, IdempotencyStore, InMemoryStore, Lease, LeaseRequest, StoreError,
    StoredResult,
};
use alchemiser_ledger::{Entry, LedgerError, LedgerStore, MemoryLedger, Summary};
use alchemiser_trading::{
    Account, Broker, BrokerError, Holdings, MarketClock, OrderOutcome, OrderRequest, TradingDay,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::scheduler::pause;
use crate::world::WorldRef;

/// What kind of port a call goes to: how long its round trip takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// DynamoDB (idempotency store, ledger).
    Table,
    /// EventBridge PutEvents.
    Bus,
    /// SQS (dead letters, follow-ups).
    Queue,
    /// The broker's REST API.
    Broker,
}

impl Port {
    fn latency(self) -> (u64, u64) {
        match self {
            Port::Table => (3, 15),
            Port::Bus => (10, 40),
            Port::Queue => (8, 30),
            Port::Broker => (30, 150),
        }
    }
}

/// The gate every simulated call goes through.
#[derive(Clone)]
pub struct Gate {
    world: WorldRef,
}

impl Gate {
    /// A gate onto `world`.
    pub fn new(world: WorldRef) -> Self {
        Self { world }
    }

    /// Half a round trip to `port`.
    fn half(&self, port: Port) -> Duration {
        let (low, high) = port.latency();
        Duration::from_millis(self.world.dice().between(low..=high) / 2)
    }

    /// The second half of a round trip to `port`, after the call took effect: now and then the
    /// answer stalls (counted), long enough that the invocation may run past its deadline.
    fn answer(&self, port: Port) -> Duration {
        let stalled = self.world.dice().chance(self.world.config().stall);
        self.world.count("stall", stalled);
        if stalled {
            Duration::from_secs(self.world.dice().between(1..=600))
        } else {
            self.half(port)
        }
    }

    /// Calls `op` through the gate: pause, maybe fail before, run, pause. With `write`, the call
    /// may take effect and still answer with an error (counted as an uncertain write).
    async fn call<T, E>(
        &self,
        port: Port,
        write: bool,
        fail_before: f64,
        failure: impl FnOnce() -> E,
        op: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        pause(self.half(port)).await;
        if self.world.dice().chance(fail_before) {
            self.world.count("store_failure", port == Port::Table);
            pause(self.half(port)).await;
            return Err(failure());
        }
        let result = op.await;
        let uncertain = write && result.is_ok() && self.world.uncertain();
        pause(self.answer(port)).await;
        if uncertain {
            return Err(failure());
        }
        result
    }
}

/// The idempotency store of a function: DynamoDB with throttles, outages and lost answers.
pub struct SimStore {
    /// The store.
    pub inner: Arc<InMemoryStore>,
    /// The gate.
    pub gate: Gate,
    /// How often a call fails before it reaches the table.
    pub failure: f64,
}

impl SimStore {
    fn error(action: &'static str) -> impl FnOnce() -> StoreError {
        move || {
            StoreError::new(
                action,
                "simulated-table",
                "simulated: the request failed or its answer was lost",
            )
        }
    }
}

#[async_trait]
impl IdempotencyStore for SimStore {
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let op = self.inner.claim(request);
        self.gate
            .call(
                Port::Table,
                true,
                self.failure,
                Self::error("PutItem (claim)"),
                op,
            )
            .await
    }
    async fn complete(
        &self,
        key: &str,
        payload_hash: &str,
        result: &StoredResult,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let op = self.inner.complete(key, payload_hash, result, now);
        self.gate
            .call(
                Port::Table,
                true,
                self.failure,
                Self::error("PutItem (complete)"),
                op,
            )
            .await
    }
    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let op = self.inner.release(key);
        self.gate
            .call(
                Port::Table,
                true,
                self.failure,
                Self::error("DeleteItem (release)"),
                op,
            )
            .await
    }
    async fn acquire_lease(&self, request: &LeaseRequest<'_>) -> Result<Lease, StoreError> {
        let op = self.inner.acquire_lease(request);
        self.gate
            .call(
                Port::Table,
                true,
                self.failure,
                Self::error("PutItem (lease)"),
                op,
            )
            .await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let op = self.inner.release_lease(name, holder);
        self.gate
            .call(
                Port::Table,
                true,
                self.failure,
                Self::error("DeleteItem (lease)"),
                op,
            )
            .await
    }
}

/// The bus of one function: a PutEvents call that is sometimes lost, sometimes takes effect and
/// answers with an error, and otherwise hands every event to the simulated EventBridge.
pub struct SimBus {
    /// The world.
    pub world: WorldRef,
    /// The gate.
    pub gate: Gate,
    /// The publishing function.
    pub function: &'static str,
}

#[async_trait]
impl EventBus for SimBus {
    async fn publish(&self, events: Vec<Event>) -> PublishReport {
        let undelivered = |events: &[Event], reason: &str| PublishReport {
            undelivered: events
                .iter()
                .map(|event| Undelivered {
                    event_id: event.event_id().to_owned(),
                    event_type: event.event_type(),
                    code: Some("ConnectionError".into()),
                    reason: reason.into(),
                    kept_in: None,
                })
                .collect(),
            ..PublishReport::default()
        };
        pause(self.gate.half(Port::Bus)).await;
        if self.world.publish_lost() {
            pause(self.gate.half(Port::Bus)).await;
            return undelivered(&events, "simulated: the PutEvents call was lost");
        }
        let mut report = PublishReport::default();
        for event in &events {
            report.delivered.push(event.event_id().to_owned());
            self.world.put_event(self.function, event.clone(), None);
        }
        let uncertain = self.world.uncertain();
        pause(self.gate.answer(Port::Bus)).await;
        if uncertain {
            return undelivered(
                &events,
                "simulated: PutEvents took the events but its answer was lost",
            );
        }
        report
    }
}

/// Permanent failures are recorded in the dead-letter queue, as the SQS recorder sends them.
pub struct SimDeadLetterRecorder {
    /// The world.
    pub world: WorldRef,
    /// The gate.
    pub gate: Gate,
}

#[async_trait]
impl DeadLetterRecorder for SimDeadLetterRecorder {
    async fn record(&self, letter: &FailureRecord) -> Result<String, DeadLetterNotRecorded> {
        let world = self.world.clone();
        let op = async move { Ok::<_, DeadLetterNotRecorded>(world.record_permanent(letter)) };
        self.gate
            .call(
                Port::Queue,
                true,
                0.0,
                || DeadLetterNotRecorded {
                    location: "simulated dead-letter queue".into(),
                    source: "simulated: SendMessage's answer was lost".into(),
                },
                op,
            )
            .await
    }
    fn location(&self) -> String {
        "simulated dead-letter queue".into()
    }
}

/// The execution function's follow-up queue.
pub struct SimFollowUps {
    /// The world.
    pub world: WorldRef,
    /// The gate.
    pub gate: Gate,
}

#[async_trait]
impl FollowUps for SimFollowUps {
    async fn schedule(&self, follow_up: &FollowUp) -> Result<(), FollowUpError> {
        let world = self.world.clone();
        let op = async move {
            world.enqueue_follow_up(follow_up);
            Ok::<_, FollowUpError>(())
        };
        self.gate
            .call(
                Port::Queue,
                true,
                0.0,
                || FollowUpError {
                    location: "simulated follow-up queue".into(),
                    source: "simulated: SendMessage's answer was lost".into(),
                },
                op,
            )
            .await
    }
    fn location(&self) -> String {
        "simulated follow-up queue".into()
    }
}

/// The workflow ledger the monitor keeps (DynamoDB).
pub struct SimLedger {
    /// The ledger.
    pub inner: Arc<MemoryLedger>,
    /// The gate.
    pub gate: Gate,
    /// How often a call fails before it reaches the table.
    pub failure: f64,
}

fn ledger_error() -> LedgerError {
    LedgerError::new(
        "PutItem",
        "simulated-ledger",
        "simulated: the request failed or its answer was lost",
    )
}

#[async_trait]
impl LedgerStore for SimLedger {
    async fn record(&self, correlation_id: &str, entry: &Entry) -> Result<bool, LedgerError> {
        let op = self.inner.record(correlation_id, entry);
        self.gate
            .call(Port::Table, true, self.failure, ledger_error, op)
            .await
    }
    async fn entries(&self, correlation_id: &str) -> Result<Vec<Entry>, LedgerError> {
        let op = self.inner.entries(correlation_id);
        self.gate
            .call(Port::Table, false, self.failure, ledger_error, op)
            .await
    }
    async fn put_summary(&self, summary: &Summary) -> Result<(), LedgerError> {
        let op = self.inner.put_summary(summary);
        self.gate
            .call(Port::Table, true, self.failure, ledger_error, op)
            .await
    }
    async fn summary(&self, correlation_id: &str) -> Result<Option<Summary>, LedgerError> {
        let op = self.inner.summary(correlation_id);
        self.gate
            .call(Port::Table, false, self.failure, ledger_error, op)
            .await
    }
    async fn summaries_since(&self, since: DateTime<Utc>) -> Result<Vec<Summary>, LedgerError> {
        let op = self.inner.summaries_since(since);
        self.gate
            .call(Port::Table, false, self.failure, ledger_error, op)
            .await
    }
    async fn open_since(&self, since: DateTime<Utc>) -> Result<Vec<Summary>, LedgerError> {
        let op = self.inner.open_since(since);
        self.gate
            .call(Port::Table, false, self.failure, ledger_error, op)
            .await
    }
}

/// The dead-letter queue as the sweep reads it.
pub struct SimDeadLetters {
    /// The queue.
    pub inner: Arc<MemoryDeadLetters>,
    /// The gate.
    pub gate: Gate,
}

fn queue_error() -> QueueError {
    QueueError {
        action: "ReceiveMessage",
        queue: "simulated dead-letter queue".into(),
        source: "simulated: the request failed".into(),
    }
}

#[async_trait]
impl DeadLetters for SimDeadLetters {
    fn location(&self) -> String {
        self.inner.location()
    }
    async fn hold_page(&self, max: usize, visibility: Duration) -> Result<Vec<Held>, QueueError> {
        let op = self.inner.hold_page(max, visibility);
        self.gate
            .call(Port::Queue, false, 0.0, queue_error, op)
            .await
    }
    async fn hold_all(&self, visibility: Duration) -> Result<Vec<Held>, QueueError> {
        let op = self.inner.hold_all(visibility);
        self.gate
            .call(Port::Queue, false, 0.0, queue_error, op)
            .await
    }
    async fn release(&self, held: &[Held]) {
        pause(self.gate.half(Port::Queue)).await;
        self.inner.release(held).await;
    }
    async fn delete(&self, held: &Held) -> Result<(), QueueError> {
        let op = self.inner.delete(held);
        self.gate
            .call(Port::Queue, true, 0.0, queue_error, op)
            .await
    }
}

/// The broker as the functions reach it: every call a round trip, and every order submission
/// the broker took written down with what was being handled then (the broker's order log, the
/// invariants' source of truth). A submission refused before it reached the broker is not one.
pub struct SimBroker<B> {
    /// The broker underneath.
    pub inner: B,
    /// The world.
    pub world: WorldRef,
    /// The gate.
    pub gate: Gate,
}

impl<B: Broker> SimBroker<B> {
    async fn read<T>(
        &self,
        op: impl std::future::Future<Output = Result<T, BrokerError>>,
    ) -> Result<T, BrokerError> {
        pause(self.gate.half(Port::Broker)).await;
        let result = op.await;
        pause(self.gate.answer(Port::Broker)).await;
        result
    }
}

#[async_trait]
impl<B: Broker> Broker for SimBroker<B> {
    async fn account(&self) -> Result<Account, BrokerError> {
        self.read(self.inner.account()).await
    }
    async fn holdings(&self) -> Result<Holdings, BrokerError> {
        self.read(self.inner.holdings()).await
    }
    async fn latest_price(&self, symbol: &Symbol) -> Result<Decimal, BrokerError> {
        self.read(self.inner.latest_price(symbol)).await
    }
    async fn place_market_order(&self, order: &OrderRequest) -> Result<OrderOutcome, BrokerError> {
        pause(self.gate.half(Port::Broker)).await;
        let outcome = self.inner.place_market_order(order).await;
        let reached = match &outcome {
            Ok(_) | Err(BrokerError::AnswerLost(_)) => true,
            Err(_) => false,
        };
        if reached {
            self.world.order_sent(order);
        }
        pause(self.gate.answer(Port::Broker)).await;
        outcome
    }
    async fn order(&self, client_order_id: &str) -> Result<Option<OrderOutcome>, BrokerError> {
        self.read(self.inner.order(client_order_id)).await
    }
    async fn cancel_order(&self, order_id: &str) -> Result<(), BrokerError> {
        self.read(self.inner.cancel_order(order_id)).await
    }
    async fn open_orders(&self) -> Result<Vec<OrderOutcome>, BrokerError> {
        self.read(self.inner.open_orders()).await
    }
    async fn orders_since(&self, since: DateTime<Utc>) -> Result<Vec<OrderOutcome>, BrokerError> {
        self.read(self.inner.orders_since(since)).await
    }
    async fn market_clock(&self) -> Result<MarketClock, BrokerError> {
        self.read(self.inner.market_clock()).await
    }
    async fn trading_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TradingDay>, BrokerError> {
        self.read(self.inner.trading_days(from, to)).await
    }
}
