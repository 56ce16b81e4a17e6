//! A broker that reads and never trades: what a shadow consumer gets. It sees the same account
//! and prices as the live owner, and every order it would place is refused here, whatever the
//! handler above it decides (the shadow execution also runs in dry run: this is the second lock).

use async_trait::async_trait;
use rust_decimal::Decimal;

use alchemiser_events::Symbol;

use chrono::{DateTime, NaiveDate, Utc};

use super::{Account, Broker, BrokerError, Holdings, OrderOutcome, OrderRequest};
use crate::market::{MarketClock, TradingDay};

/// Reads through to `inner`; refuses every order.
pub struct ReadOnlyBroker<B> {
    inner: B,
}

impl<B: Broker> ReadOnlyBroker<B> {
    /// Reads from `inner`.
    pub fn new(inner: B) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl<B: Broker> Broker for ReadOnlyBroker<B> {
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
        Err(BrokerError::Permanent(format!(
            "read-only broker: the {} order for {} was not placed (a shadow consumer never trades)",
            order.side.as_str(),
            order.symbol
        )))
    }
    async fn order(&self, client_order_id: &str) -> Result<Option<OrderOutcome>, BrokerError> {
        self.inner.order(client_order_id).await
    }
    async fn cancel_order(&self, order_id: &str) -> Result<(), BrokerError> {
        Err(BrokerError::Permanent(format!(
            "read-only broker: order {order_id} was not canceled (a shadow consumer never trades)"
        )))
    }
    async fn open_orders(&self) -> Result<Vec<OrderOutcome>, BrokerError> {
        self.inner.open_orders().await
    }
    async fn orders_since(&self, since: DateTime<Utc>) -> Result<Vec<OrderOutcome>, BrokerError> {
        self.inner.orders_since(since).await
    }
    async fn market_clock(&self) -> Result<MarketClock, BrokerError> {
        self.inner.market_clock().await
    }
    async fn trading_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TradingDay>, BrokerError> {
        self.inner.trading_days(from, to).await
    }
}
