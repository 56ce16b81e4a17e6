//! The simulated cloud's side of the ports: a bus that hands events to the simulated
//! EventBridge, an idempotency store with outages, a failure sink that is the dead-letter
//! queue, a broker that writes down every order that reaches it, and clocks that disagree.

use std::sync::{Arc, Mutex};

use alchemiser_bus::{EventBus, PublishReport, Undelivered};
use alchemiser_clock::Clock;
use alchemiser_deadletters::MemoryDeadLetters;
use alchemiser_events::{DeadLetter, Decimal, Event, FailureRecord, Symbol};
use alchemiser_lambda::failures::{FailureSink, SinkError};
use alchemiser_lambda::idempotency::{
    Claim, ClaimRequest, IdempotencyStore, InMemoryStore, Lease, LeaseRequest, StoreError,
    StoredResult,
};
use alchemiser_trading::{
    Account, Broker, BrokerError, Holdings, OrderOutcome, OrderRequest, LOST_ANSWER,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::world::{Dice, Shared};

/// A clock `offset` ahead of (or behind) the simulation's: each function's machine has its own.
pub struct OffsetClock {
    /// The simulation's clock.
    pub inner: Arc<dyn Clock>,
    /// How far this machine's clock is off.
    pub offset: chrono::TimeDelta,
}

#[async_trait]
impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        self.inner.now() + self.offset
    }
    async fn sleep(&self, duration: std::time::Duration) {
        self.inner.sleep(duration).await;
    }
}

/// The bus of one function: a publish either fails as a whole (the PutEvents call is lost) or
/// hands every event to the simulated EventBridge.
pub struct SimBus {
    /// The world.
    pub shared: Arc<Mutex<Shared>>,
    /// The publishing function.
    pub function: &'static str,
}

#[async_trait]
impl EventBus for SimBus {
    async fn publish(&self, events: Vec<Event>) -> PublishReport {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = PublishReport::default();
        if shared.dice.chance(shared.config.publish_failure) {
            shared.stats.publish_failures += 1;
            report.undelivered = events
                .iter()
                .map(|event| Undelivered {
                    event_id: event.event_id().to_owned(),
                    event_type: event.event_type(),
                    code: Some("ConnectionError".into()),
                    reason: "simulated: the PutEvents call was lost".into(),
                    parked_at: None,
                })
                .collect();
            return report;
        }
        for event in events {
            report.delivered.push(event.event_id().to_owned());
            shared.put_event(self.function, event, None);
        }
        report
    }
}

/// An idempotency store that is sometimes unavailable (a DynamoDB throttle or outage): the
/// call fails, nothing changes.
pub struct FlakyStore {
    /// The store underneath.
    pub inner: InMemoryStore,
    /// Shared dice.
    pub dice: Dice,
    /// How often a call fails.
    pub failure: f64,
}

impl FlakyStore {
    fn outage(&self, action: &'static str) -> Result<(), StoreError> {
        if self.dice.chance(self.failure) {
            Err(StoreError::new(
                action,
                "simulated-table",
                "simulated: ProvisionedThroughputExceededException",
            ))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl IdempotencyStore for FlakyStore {
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
        self.outage("PutItem (claim)")?;
        self.inner.claim(request).await
    }
    async fn complete(
        &self,
        key: &str,
        payload_hash: &str,
        result: &StoredResult,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.outage("PutItem (complete)")?;
        self.inner.complete(key, payload_hash, result, now).await
    }
    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.outage("DeleteItem (release)")?;
        self.inner.release(key).await
    }
    async fn acquire_lease(&self, request: &LeaseRequest<'_>) -> Result<Lease, StoreError> {
        self.outage("PutItem (lease)")?;
        self.inner.acquire_lease(request).await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.outage("DeleteItem (lease)")?;
        self.inner.release_lease(name, holder).await
    }
}

/// Permanent failures go to the dead-letter queue, as the SQS failure sink sends them.
pub struct DeadLetterSink {
    /// The queue.
    pub queue: Arc<MemoryDeadLetters>,
    /// The world (for message ids and the time).
    pub shared: Arc<Mutex<Shared>>,
}

#[async_trait]
impl FailureSink for DeadLetterSink {
    async fn record(&self, failure: &FailureRecord) -> Result<String, SinkError> {
        let body = serde_json::to_string(failure).unwrap_or_default();
        let (id, now) = {
            let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            shared.stats.permanent_failures += 1;
            shared
                .permanent
                .push(format!("{}: {}", failure.function, failure.reason));
            (shared.next_message_id(), shared.clock.now())
        };
        self.queue.push(DeadLetter::parse(
            id.clone(),
            body,
            Default::default(),
            Some(now),
            Some(1),
        ));
        Ok(id)
    }
    fn location(&self) -> String {
        "simulated dead-letter queue".into()
    }
}

/// One order that reached the broker, and what was being handled when it did.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The order's idempotency key (derived from plan, side and symbol).
    pub client_order_id: String,
    /// Symbol and side.
    pub symbol: Symbol,
    /// `buy` or `sell`.
    pub side: &'static str,
    /// When (simulation time).
    pub at: DateTime<Utc>,
    /// The delivery being handled: its event id, whether it was a replay, the plan's time.
    pub during: Option<crate::world::Handling>,
}

/// Writes down every order submission the broker underneath accepted — answered, or placed with
/// its answer lost — so that a second submission of one client order id is seen even where the
/// broker would return the first order for it. A submission refused before it reached the broker
/// (a 503) is not one.
pub struct AuditedBroker<B> {
    /// The broker underneath.
    pub inner: B,
    /// The world.
    pub shared: Arc<Mutex<Shared>>,
}

#[async_trait]
impl<B: Broker> Broker for AuditedBroker<B> {
    async fn account(&self) -> Result<Account, BrokerError> {
        self.inner.account().await
    }
    async fn holdings(&self) -> Result<Holdings, BrokerError> {
        self.inner.holdings().await
    }
    async fn latest_price(&self, symbol: &Symbol) -> Result<Decimal, BrokerError> {
        self.inner.latest_price(symbol).await
    }
    async fn place_market_order(&self, order: &OrderRequest) -> Result<OrderOutcome, BrokerError> {
        let outcome = self.inner.place_market_order(order).await;
        let reached = match &outcome {
            Ok(_) | Err(BrokerError::Permanent(_)) => true,
            Err(BrokerError::Transient(reason)) => reason.ends_with(LOST_ANSWER),
        };
        if reached {
            let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            let sent = Sent {
                client_order_id: order.client_order_id.clone(),
                symbol: order.symbol.clone(),
                side: order.side.as_str(),
                at: shared.clock.now(),
                during: shared.handling.clone(),
            };
            shared.sent.push(sent);
        }
        outcome
    }
    async fn order(&self, client_order_id: &str) -> Result<Option<OrderOutcome>, BrokerError> {
        self.inner.order(client_order_id).await
    }
}
