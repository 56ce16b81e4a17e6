//! A broker whose behaviour a test (or the simulation) scripts, over a real one: it counts the
//! orders that reach it, fails the orders of chosen symbols with a chosen error, and can slow
//! orders down — everything else is the inner broker's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use alchemiser_events::{Decimal, Symbol};
use async_trait::async_trait;

use super::{Account, Broker, BrokerError, OrderOutcome, OrderRequest, Position};

/// A scripted broker over `inner` (usually a [`super::PaperBroker`]).
pub struct ScriptedBroker<B> {
    inner: B,
    failing: Mutex<BTreeMap<Symbol, BrokerError>>,
    order_delay: Mutex<Duration>,
    orders_sent: AtomicUsize,
}

impl<B: Broker> ScriptedBroker<B> {
    /// Behaves as `inner` until scripted otherwise.
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            failing: Mutex::new(BTreeMap::new()),
            order_delay: Mutex::new(Duration::ZERO),
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

    /// Orders for `symbol` go through again.
    pub fn heal(&self, symbol: &Symbol) {
        self.failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(symbol);
    }

    /// Every order waits `delay` before it is placed (to widen race windows in tests).
    pub fn with_order_delay(self, delay: Duration) -> Self {
        *self.order_delay.lock().unwrap_or_else(|e| e.into_inner()) = delay;
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
}

#[async_trait]
impl<B: Broker> Broker for ScriptedBroker<B> {
    async fn account(&self) -> Result<Account, BrokerError> {
        self.inner.account().await
    }

    async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        self.inner.positions().await
    }

    async fn latest_price(&self, symbol: &Symbol) -> Result<Decimal, BrokerError> {
        self.inner.latest_price(symbol).await
    }

    async fn place_market_order(&self, order: &OrderRequest) -> Result<OrderOutcome, BrokerError> {
        self.orders_sent.fetch_add(1, Ordering::SeqCst);
        let delay = *self.order_delay.lock().unwrap_or_else(|e| e.into_inner());
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let failure = self
            .failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&order.symbol)
            .cloned();
        match failure {
            Some(error) => Err(error),
            None => self.inner.place_market_order(order).await,
        }
    }
}
