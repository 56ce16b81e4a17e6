//! The broker port — what the domain needs from a brokerage, and nothing more — and its
//! adapters: [`PaperBroker`] (a JSON file a person can read), [`AlpacaBroker`] (Alpaca's REST
//! API) and [`ScriptedBroker`] (a real broker with scripted faults, for tests and the simulation).

mod alpaca;
mod paper;
mod read_only;
mod scripted;

pub use alpaca::{AlpacaBroker, AlpacaConfig, MissingKey};
pub use paper::{
    MarketHours, PaperBroker, PaperBrokerError, PaperOrder, PortfolioFile, PortfolioFileError,
};
pub use read_only::ReadOnlyBroker;
pub use scripted::{BookEntry, Call, Ending, Fault, OrderScript, ScriptedBroker};

use alchemiser_events::{Decimal, Symbol};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::market::{MarketClock, TradingDay};

/// Cash and buying facts of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Settled cash available to buy with.
    pub cash: Decimal,
    /// The account's whole value as the broker states it (Alpaca's `portfolio_value`), when it
    /// states one; otherwise plans use cash plus positions at their prices.
    pub portfolio_value: Option<Decimal>,
}

/// A held position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The symbol held.
    pub symbol: Symbol,
    /// Shares held (fractional allowed).
    pub qty: Decimal,
    /// The latest known price per share.
    pub price: Decimal,
}

/// A position the contract cannot represent (an option's 18-character symbol, say): reported and
/// left alone, never traded, never a reason to stop trading the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnsupportedPosition {
    /// The broker's symbol, as it is.
    pub symbol: String,
    /// Why the contract cannot hold it.
    pub reason: String,
    /// Its market value, when the broker gave one.
    pub market_value: Option<Decimal>,
}

/// What the account holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    /// The positions plans are made of.
    pub positions: Vec<Position>,
    /// Positions left alone (see [`UnsupportedPosition`]).
    pub unsupported: Vec<UnsupportedPosition>,
}

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderSide {
    /// Buy shares.
    Buy,
    /// Sell shares.
    Sell,
}

impl OrderSide {
    /// Lower-case wire name, as Alpaca spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderSide::Buy => "buy",
            OrderSide::Sell => "sell",
        }
    }
}

/// A market order to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    /// What to trade.
    pub symbol: Symbol,
    /// Which way.
    pub side: OrderSide,
    /// Shares (fractional allowed).
    pub qty: Decimal,
    /// A key derived from the plan, side and symbol: a broker that sees the same key twice must
    /// not place a second order (Alpaca rejects duplicates; the paper broker returns the first).
    pub client_order_id: String,
}

/// Where an order stands. Each adapter maps its broker's vocabulary (Alpaca has eighteen
/// statuses, `docs/notes/alpaca-broker-facts.md`) onto these; anything it cannot map is an
/// error, never a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Taken by the broker, nothing filled yet; it may still fill, be canceled or expire
    /// (Alpaca's `new`, `accepted`, `pending_new`, `held`, `done_for_day`, ...).
    Pending,
    /// Partly filled; the rest may still fill, be canceled or expire.
    PartiallyFilled,
    /// Filled in full. Final.
    Filled,
    /// Canceled before it filled in full (by the broker, the market or a person). Final; what
    /// filled before stays filled.
    Canceled,
    /// Expired at the end of its time in force (a day order at the close). Final.
    Expired,
    /// Refused by the broker (buying power, a halted symbol, ...). Final.
    Rejected,
    /// Replaced by another order that someone else made: final for this order; what the
    /// replacement does is not this plan's.
    Replaced,
}

impl OrderStatus {
    /// The order can change no more.
    pub fn is_final(self) -> bool {
        !self.is_open()
    }

    /// The order may still fill (or be canceled, or expire).
    pub fn is_open(self) -> bool {
        matches!(self, OrderStatus::Pending | OrderStatus::PartiallyFilled)
    }

    /// The name written in execution reports (`FILLED`, `PENDING`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Filled => "FILLED",
            OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
            OrderStatus::Pending => "PENDING",
            OrderStatus::Canceled => "CANCELED",
            OrderStatus::Expired => "EXPIRED",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::Replaced => "REPLACED",
        }
    }
}

/// The broker's record of one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderOutcome {
    /// The broker's order id.
    pub order_id: String,
    /// The caller's idempotency key.
    pub client_order_id: String,
    /// The symbol.
    pub symbol: Symbol,
    /// Which way.
    pub side: OrderSide,
    /// Shares ordered.
    pub qty: Decimal,
    /// Where it stands.
    pub status: OrderStatus,
    /// The broker's own word for it (Alpaca's `accepted`, `done_for_day`, ...), for reports.
    pub broker_status: String,
    /// Shares filled so far.
    pub filled_qty: Decimal,
    /// Average fill price, when something filled.
    pub fill_price: Option<Decimal>,
    /// When the broker took it.
    pub submitted_at: Option<DateTime<Utc>>,
    /// The order that replaced it, when it was replaced.
    pub replaced_by: Option<String>,
}

impl OrderOutcome {
    /// What filled, at the fill price: Σ filled × average price (zero when nothing filled).
    pub fn filled_value(&self) -> Option<Decimal> {
        match self.fill_price {
            Some(price) => self.filled_qty.checked_mul(price),
            None => Some(Decimal::ZERO),
        }
    }

    /// Shares still open: ordered minus filled, while the order may still fill; zero once final.
    pub fn open_qty(&self) -> Decimal {
        if self.status.is_open() {
            (self.qty - self.filled_qty).max(Decimal::ZERO)
        } else {
            Decimal::ZERO
        }
    }
}

/// A broker failure, classified once, where it was seen, for what a caller may do next.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BrokerError {
    /// Network trouble before the request was taken, or a broker 5xx: nothing happened; the
    /// same call may succeed later.
    #[error("broker unavailable (retry later): {0}")]
    Transient(String),
    /// The broker's rate limit (HTTP 429): nothing happened; retry after a pause.
    #[error("broker rate limit reached (retry later): {0}")]
    RateLimited(String),
    /// The request was sent but its answer was lost (a timeout, a dropped connection): it may
    /// have taken effect. For an order, the retry asks for its client order id, which the
    /// broker never places twice.
    #[error("the broker's answer was lost; the request may have taken effect: {0}")]
    AnswerLost(String),
    /// The broker refused the request (bad symbol, insufficient funds, bad credentials): a retry
    /// fails the same way until someone fixes the cause.
    #[error("broker refused the request: {0}")]
    Permanent(String),
}

impl BrokerError {
    /// Whether a retry may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, BrokerError::Permanent(_))
    }
}

/// What the domain needs from a brokerage.
#[async_trait]
pub trait Broker: Send + Sync {
    /// Cash available.
    async fn account(&self) -> Result<Account, BrokerError>;
    /// Positions held, with current prices, and those left alone.
    async fn holdings(&self) -> Result<Holdings, BrokerError>;
    /// The latest price of a symbol.
    async fn latest_price(&self, symbol: &Symbol) -> Result<Decimal, BrokerError>;
    /// Places a market order (time in force: the day).
    async fn place_market_order(&self, order: &OrderRequest) -> Result<OrderOutcome, BrokerError>;
    /// The order placed with `client_order_id`, if the broker has one.
    async fn order(&self, client_order_id: &str) -> Result<Option<OrderOutcome>, BrokerError>;
    /// Asks the broker to cancel the order `order_id`. The cancel takes effect at the broker's
    /// pace (and the order may fill first): follow the order with [`Broker::order`] until it is
    /// final. Canceling an order that is already final is not an error.
    async fn cancel_order(&self, order_id: &str) -> Result<(), BrokerError>;
    /// Every order of the account that may still fill.
    async fn open_orders(&self) -> Result<Vec<OrderOutcome>, BrokerError>;
    /// Every order of the account submitted at or after `since`, in any state.
    async fn orders_since(&self, since: DateTime<Utc>) -> Result<Vec<OrderOutcome>, BrokerError>;
    /// The market clock now.
    async fn market_clock(&self) -> Result<MarketClock, BrokerError>;
    /// The trading days from `from` to `to` (New York dates, both included).
    async fn trading_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TradingDay>, BrokerError>;
}

/// A shared broker is a broker (so a [`ScriptedBroker`] can wrap one that others use too).
#[async_trait]
impl<B: Broker + ?Sized> Broker for std::sync::Arc<B> {
    async fn account(&self) -> Result<Account, BrokerError> {
        (**self).account().await
    }
    async fn holdings(&self) -> Result<Holdings, BrokerError> {
        (**self).holdings().await
    }
    async fn latest_price(&self, symbol: &Symbol) -> Result<Decimal, BrokerError> {
        (**self).latest_price(symbol).await
    }
    async fn place_market_order(&self, order: &OrderRequest) -> Result<OrderOutcome, BrokerError> {
        (**self).place_market_order(order).await
    }
    async fn order(&self, client_order_id: &str) -> Result<Option<OrderOutcome>, BrokerError> {
        (**self).order(client_order_id).await
    }
    async fn cancel_order(&self, order_id: &str) -> Result<(), BrokerError> {
        (**self).cancel_order(order_id).await
    }
    async fn open_orders(&self) -> Result<Vec<OrderOutcome>, BrokerError> {
        (**self).open_orders().await
    }
    async fn orders_since(&self, since: DateTime<Utc>) -> Result<Vec<OrderOutcome>, BrokerError> {
        (**self).orders_since(since).await
    }
    async fn market_clock(&self) -> Result<MarketClock, BrokerError> {
        (**self).market_clock().await
    }
    async fn trading_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TradingDay>, BrokerError> {
        (**self).trading_days(from, to).await
    }
}
