//! A broker whose behaviour a test (or the simulation) scripts, over a real one: it counts the
//! orders that reach it, and injects the faults real brokers have — errors before anything
//! happened, timeouts after the order was in fact placed, rejections, fills that come late —
//! either for chosen symbols or from a function of each call (the simulation's seeded dice).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alchemiser_clock::Clock;
use alchemiser_events::{Decimal, Symbol};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    Account, Broker, BrokerError, Holdings, OrderOutcome, OrderRequest, OrderStatus,
    UnsupportedPosition,
};

/// How the error of an order whose answer was lost ends: the broker has the order.
pub const LOST_ANSWER: &str = "the request timed out (the broker may have the order)";

/// What a scripted call does instead of (or besides) the real thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Fails with this error; nothing happened at the broker.
    Fail(BrokerError),
    /// The order is placed, but the answer is lost: the caller sees a transient error (a
    /// timeout after the broker took the order).
    LostAnswer,
    /// The order is accepted and fills `after` this long (on the scripted clock).
    FillAfter(Duration),
}

/// One call the broker receives, for a fault function to decide on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call<'a> {
    /// `account()`.
    Account,
    /// `holdings()`.
    Holdings,
    /// `latest_price(symbol)`.
    LatestPrice(&'a Symbol),
    /// `place_market_order(order)`.
    Place(&'a OrderRequest),
    /// `order(client_order_id)`.
    Lookup(&'a str),
}

type FaultFn = dyn Fn(Call<'_>) -> Option<Fault> + Send + Sync;

struct Pending {
    request: OrderRequest,
    fills_at: DateTime<Utc>,
}

/// A scripted broker over `inner` (usually a [`super::PaperBroker`]).
pub struct ScriptedBroker<B> {
    inner: B,
    unsupported: Vec<UnsupportedPosition>,
    failing: Mutex<BTreeMap<Symbol, BrokerError>>,
    faults: Option<Box<FaultFn>>,
    pending: Mutex<Vec<Pending>>,
    /// Late orders the broker underneath refused when they came due, by client order id.
    rejected: Mutex<BTreeMap<String, String>>,
    clock: Arc<dyn Clock>,
    order_delay: Duration,
    orders_sent: AtomicUsize,
}

impl<B: Broker> ScriptedBroker<B> {
    /// Behaves as `inner` until scripted otherwise.
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            unsupported: Vec::new(),
            failing: Mutex::new(BTreeMap::new()),
            faults: None,
            pending: Mutex::new(Vec::new()),
            rejected: Mutex::new(BTreeMap::new()),
            clock: alchemiser_clock::system(),
            order_delay: Duration::ZERO,
            orders_sent: AtomicUsize::new(0),
        }
    }

    /// From now on, orders for `symbol` fail with `error` (before reaching the inner broker).
    pub fn fail_orders_for(self, symbol: Symbol, error: BrokerError) -> Self {
        self.failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(symbol, error);
        self
    }

    /// The account also holds `position`, which the contract cannot represent (an option, say).
    pub fn also_holding(mut self, position: UnsupportedPosition) -> Self {
        self.unsupported.push(position);
        self
    }

    /// Orders for `symbol` go through again.
    pub fn heal(&self, symbol: &Symbol) {
        self.failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(symbol);
    }

    /// Every call is first shown to `faults`, which may answer with a [`Fault`].
    pub fn with_faults(
        mut self,
        faults: impl Fn(Call<'_>) -> Option<Fault> + Send + Sync + 'static,
    ) -> Self {
        self.faults = Some(Box::new(faults));
        self
    }

    /// Late fills are timed by `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Every order waits `delay` (on the system timer) before it is placed, to widen race
    /// windows in tests.
    pub fn with_order_delay(mut self, delay: Duration) -> Self {
        self.order_delay = delay;
        self
    }

    /// Orders that reached this broker, failed ones included.
    pub fn orders_sent(&self) -> usize {
        self.orders_sent.load(Ordering::SeqCst)
    }

    /// The broker underneath.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    fn fault(&self, call: Call<'_>) -> Option<Fault> {
        self.faults.as_ref().and_then(|faults| faults(call))
    }

    /// Applies the late fills that are due. A late order the broker underneath refuses (the
    /// shares or the cash went elsewhere meanwhile) ends rejected, as at a real broker: the
    /// order's status says so, no other call fails because of it.
    async fn settle(&self) -> Result<(), BrokerError> {
        let now = self.clock.now();
        let due: Vec<OrderRequest> = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let (due, waiting) = pending.drain(..).partition(|p| p.fills_at <= now);
            *pending = waiting;
            due.into_iter().map(|p: Pending| p.request).collect()
        };
        for request in due {
            match self.inner.place_market_order(&request).await {
                Ok(_) => {}
                Err(BrokerError::Permanent(reason)) => {
                    self.rejected
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(request.client_order_id.clone(), reason);
                }
                Err(transient) => return Err(transient),
            }
        }
        Ok(())
    }

    fn pending_outcome(&self, client_order_id: &str) -> Option<OrderOutcome> {
        if self
            .rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(client_order_id)
        {
            return Some(OrderOutcome {
                order_id: format!("late-{client_order_id}"),
                status: OrderStatus::Rejected,
                filled_qty: Decimal::ZERO,
                fill_price: None,
            });
        }
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending
            .iter()
            .find(|p| p.request.client_order_id == client_order_id)
            .map(|p| OrderOutcome {
                order_id: format!("pending-{}", p.request.client_order_id),
                status: OrderStatus::Pending,
                filled_qty: Decimal::ZERO,
                fill_price: None,
            })
    }
}

fn failed(fault: Option<Fault>) -> Result<(), BrokerError> {
    match fault {
        Some(Fault::Fail(error)) => Err(error),
        _ => Ok(()),
    }
}

#[async_trait]
impl<B: Broker> Broker for ScriptedBroker<B> {
    async fn account(&self) -> Result<Account, BrokerError> {
        failed(self.fault(Call::Account))?;
        self.settle().await?;
        self.inner.account().await
    }

    async fn holdings(&self) -> Result<Holdings, BrokerError> {
        failed(self.fault(Call::Holdings))?;
        self.settle().await?;
        let mut holdings = self.inner.holdings().await?;
        holdings
            .unsupported
            .extend(self.unsupported.iter().cloned());
        Ok(holdings)
    }

    async fn latest_price(&self, symbol: &Symbol) -> Result<Decimal, BrokerError> {
        failed(self.fault(Call::LatestPrice(symbol)))?;
        self.inner.latest_price(symbol).await
    }

    async fn place_market_order(&self, order: &OrderRequest) -> Result<OrderOutcome, BrokerError> {
        self.orders_sent.fetch_add(1, Ordering::SeqCst);
        if !self.order_delay.is_zero() {
            tokio::time::sleep(self.order_delay).await;
        }
        let symbol_failure = self
            .failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&order.symbol)
            .cloned();
        if let Some(error) = symbol_failure {
            return Err(error);
        }
        self.settle().await?;
        // The same client order id twice: the first order stands (as at a real broker).
        if let Some(pending) = self.pending_outcome(&order.client_order_id) {
            return Ok(pending);
        }
        match self.fault(Call::Place(order)) {
            Some(Fault::Fail(error)) => Err(error),
            Some(Fault::LostAnswer) => {
                self.inner.place_market_order(order).await?;
                Err(BrokerError::Transient(format!(
                    "{} {} {}: {LOST_ANSWER}",
                    order.side.as_str(),
                    order.qty,
                    order.symbol
                )))
            }
            Some(Fault::FillAfter(delay))
                if self.inner.order(&order.client_order_id).await?.is_none() =>
            {
                let fills_at = self.clock.now() + delay;
                self.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Pending {
                        request: order.clone(),
                        fills_at,
                    });
                Ok(self
                    .pending_outcome(&order.client_order_id)
                    .expect("just added"))
            }
            _ => self.inner.place_market_order(order).await,
        }
    }

    async fn order(&self, client_order_id: &str) -> Result<Option<OrderOutcome>, BrokerError> {
        failed(self.fault(Call::Lookup(client_order_id)))?;
        self.settle().await?;
        if let Some(pending) = self.pending_outcome(client_order_id) {
            return Ok(Some(pending));
        }
        self.inner.order(client_order_id).await
    }
}
