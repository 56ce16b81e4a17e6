//! The broker port — what the domain needs from a brokerage, and nothing more — and its
//! adapters: [`PaperBroker`] (a JSON file a person can read), [`AlpacaBroker`] (Alpaca's REST
//! API) and [`ScriptedBroker`] (a real broker with scripted faults, for tests and the simulation).

mod alpaca;
mod paper;
mod read_only;
mod scripted;

pub use alpaca::{AlpacaBroker, AlpacaConfig, MissingKey};
pub use paper::{PaperBroker, PaperBrokerError, PortfolioFile, PortfolioFileError};
pub use read_only::ReadOnlyBroker;
pub use scripted::{Call, Fault, ScriptedBroker, LOST_ANSWER};

use alchemiser_events::{Decimal, Symbol};
use async_trait::async_trait;
use serde::Serialize;
use thiserror::Error;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// Where an order stands. The broker's own vocabulary (Alpaca has eighteen statuses) is mapped
/// onto these by each adapter; anything it cannot map is an error, never a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Filled in full.
    Filled,
    /// Partly filled; the rest may still fill.
    PartiallyFilled,
    /// Accepted by the broker, nothing filled yet.
    Pending,
    /// Canceled before it filled in full (by the broker, the market or a person).
    Canceled,
    /// Expired unfilled (end of its time in force).
    Expired,
    /// Refused by the broker.
    Rejected,
}

impl OrderStatus {
    /// The order can change no more.
    pub fn is_final(self) -> bool {
        !matches!(self, OrderStatus::Pending | OrderStatus::PartiallyFilled)
    }

    /// The broker took the order and it filled or still may.
    pub fn is_working_or_filled(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled | OrderStatus::PartiallyFilled | OrderStatus::Pending
        )
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
        }
    }
}

/// The broker's answer about an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderOutcome {
    /// The broker's order id.
    pub order_id: String,
    /// Where it stands.
    pub status: OrderStatus,
    /// Shares filled so far.
    pub filled_qty: Decimal,
    /// Average fill price, when something filled.
    pub fill_price: Option<Decimal>,
}

/// A broker failure, classified for retries.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BrokerError {
    /// Network trouble, throttling or a broker 5xx: the same call may succeed later. For an
    /// order, also "the outcome is unknown": the retry asks for the same client order id, which
    /// the broker never places twice.
    #[error("broker unavailable (retry later): {0}")]
    Transient(String),
    /// The broker refused the request (bad symbol, insufficient funds, bad credentials): a retry
    /// fails the same way until someone fixes the cause.
    #[error("broker refused the request: {0}")]
    Permanent(String),
}

impl BrokerError {
    /// Whether a retry may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BrokerError::Transient(_))
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
    /// Places a market order.
    async fn place_market_order(&self, order: &OrderRequest) -> Result<OrderOutcome, BrokerError>;
    /// The order placed with `client_order_id`, if the broker has one.
    async fn order(&self, client_order_id: &str) -> Result<Option<OrderOutcome>, BrokerError>;
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
}
