//! The broker port — what the domain needs from a brokerage, and nothing more — and its
//! adapters: [`PaperBroker`] (a JSON file a person can read), [`AlpacaBroker`] (Alpaca's REST
//! API) and [`ScriptedBroker`] (a real broker with scripted faults, for tests and the simulation).

mod alpaca;
mod paper;
mod scripted;

pub use alpaca::{AlpacaBroker, AlpacaConfig, MissingKey};
pub use paper::{PaperBroker, PaperBrokerError, PortfolioFile, PortfolioFileError};
pub use scripted::ScriptedBroker;

use alchemiser_events::{Decimal, Symbol};
use async_trait::async_trait;
use serde::Serialize;
use thiserror::Error;

/// Cash and buying facts of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Settled cash available to buy with.
    pub cash: Decimal,
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
    /// A key derived from the plan and symbol: a broker that sees the same key twice must not
    /// place a second order (Alpaca rejects duplicates; the paper broker returns the first).
    pub client_order_id: String,
}

/// Where an order ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Filled in full.
    Filled,
    /// Accepted by the broker, fill pending.
    Accepted,
}

/// The broker's answer to a placed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderOutcome {
    /// The broker's order id.
    pub order_id: String,
    /// Filled or accepted.
    pub status: OrderStatus,
    /// Shares filled so far.
    pub filled_qty: Decimal,
    /// Average fill price, when filled.
    pub fill_price: Option<Decimal>,
}

/// A broker failure, classified for retries.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BrokerError {
    /// Network trouble, throttling or a broker 5xx: the same call may succeed later.
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
    /// Positions held, with current prices.
    async fn positions(&self) -> Result<Vec<Position>, BrokerError>;
    /// The latest price of a symbol.
    async fn latest_price(&self, symbol: &Symbol) -> Result<Decimal, BrokerError>;
    /// Places a market order.
    async fn place_market_order(&self, order: &OrderRequest) -> Result<OrderOutcome, BrokerError>;
}
