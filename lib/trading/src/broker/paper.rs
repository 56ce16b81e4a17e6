//! The paper broker: an account kept in a JSON file a person can read and edit, filling market
//! orders at the known price, fractional quantities allowed.
//!
//! File format (also the `--portfolio` input of `alchemiser run`):
//! `{"cash": "0.00", "positions": [{"symbol": "SPY", "qty": "30", "price": "100.00"}],
//!   "prices": {"TLT": "100.00"}}` — `prices` quotes symbols not held. Filled orders are appended
//! under `orders`, which is also how a repeated `client_order_id` is recognised and not filled
//! twice.
//!
//! Market hours: by default the paper market is open around the clock (a paper account trades
//! no money, and a newcomer's first run should trade whatever the hour); with
//! [`MarketHours::Nyse`] it follows the NYSE calendar ([`NyseCalendar`]) and refuses orders while
//! closed, as the simulation and `--at` runs need.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use alchemiser_bus::error_chain;
use alchemiser_clock::Clock;
use alchemiser_events::{Decimal, Symbol, SymbolMap, Timestamp};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::{
    Account, Broker, BrokerError, Holdings, OrderOutcome, OrderRequest, OrderSide, OrderStatus,
    Position,
};
use crate::market::{MarketClock, NyseCalendar, NyseRules, TradingDay};

/// The largest cash balance or position value a paper account may hold (1e15): beyond it the
/// file is a mistake, and bounded values keep every sum and product exact.
const MAX_PAPER_VALUE: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0);

/// The paper account as stored on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortfolioFile {
    /// Cash.
    pub cash: Decimal,
    /// Positions held.
    #[serde(default)]
    pub positions: Vec<PositionEntry>,
    /// Quotes for symbols not held.
    #[serde(default)]
    pub prices: SymbolMap<Decimal>,
    /// Orders filled, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orders: Vec<PaperOrder>,
    /// Where each client order id is in `orders` (kept in step as orders are added; a long-lived
    /// account in the simulation holds hundreds of thousands).
    #[serde(skip)]
    index: OrderIndex,
}

/// Client order id → position in the order log. Not part of the account: two accounts with the
/// same orders are equal whatever their indexes hold.
#[derive(Debug, Clone, Default)]
struct OrderIndex(std::collections::HashMap<String, usize>);

impl PartialEq for OrderIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for OrderIndex {}

/// One position in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionEntry {
    /// The symbol.
    pub symbol: Symbol,
    /// Shares.
    pub qty: Decimal,
    /// Price per share.
    pub price: Decimal,
}

/// A filled paper order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperOrder {
    /// The paper broker's order id.
    pub order_id: String,
    /// The caller's idempotency key.
    pub client_order_id: String,
    /// The symbol.
    pub symbol: Symbol,
    /// `buy` or `sell`.
    pub side: String,
    /// Shares filled.
    pub qty: Decimal,
    /// Fill price.
    pub price: Decimal,
    /// When it was filled.
    pub filled_at: Timestamp,
}

/// Why a portfolio file's text is not a paper account.
#[derive(Debug, Error)]
pub enum PortfolioFileError {
    /// Not JSON of the portfolio's shape.
    #[error("not a portfolio file")]
    Shape(#[source] serde_json::Error),
    /// Well-formed, but a value breaks a rule.
    #[error("`{field}` {rule}")]
    Rule {
        /// The field at fault, e.g. `positions[1].qty`.
        field: String,
        /// The rule it breaks, phrased to follow the field.
        rule: String,
    },
}

fn rule(field: impl Into<String>, rule: impl Into<String>) -> PortfolioFileError {
    PortfolioFileError::Rule {
        field: field.into(),
        rule: rule.into(),
    }
}

impl PortfolioFile {
    /// Parses and checks a portfolio file's text; errors name the field at fault.
    pub fn from_json(text: &str) -> Result<Self, PortfolioFileError> {
        let file: PortfolioFile = serde_json::from_str(text).map_err(PortfolioFileError::Shape)?;
        file.check()?;
        Ok(file)
    }

    fn check(&self) -> Result<(), PortfolioFileError> {
        if self.cash < Decimal::ZERO {
            return Err(rule(
                "cash",
                format!("is {}: it must not be negative", self.cash),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (index, position) in self.positions.iter().enumerate() {
            if !seen.insert(&position.symbol) {
                return Err(rule(
                    format!("positions[{index}].symbol"),
                    format!("`{}` is listed twice", position.symbol),
                ));
            }
            if position.qty < Decimal::ZERO {
                return Err(rule(
                    format!("positions[{index}].qty"),
                    format!("is {}: it must not be negative", position.qty),
                ));
            }
            if position.price <= Decimal::ZERO {
                return Err(rule(
                    format!("positions[{index}].price"),
                    format!("is {}: it must be positive", position.price),
                ));
            }
            let value = position.qty.checked_mul(position.price);
            if value.is_none_or(|value| value > MAX_PAPER_VALUE) {
                return Err(rule(
                    format!("positions[{index}]"),
                    format!(
                        "is worth {} × {}: a paper position is worth at most {MAX_PAPER_VALUE}",
                        position.qty, position.price
                    ),
                ));
            }
        }
        if let Some((symbol, price)) = self.prices.iter().find(|(_, p)| **p <= Decimal::ZERO) {
            return Err(rule(
                format!("prices.{symbol}"),
                format!("is {price}: it must be positive"),
            ));
        }
        Ok(())
    }

    fn price_of(&self, symbol: &Symbol) -> Option<Decimal> {
        self.positions
            .iter()
            .find(|p| &p.symbol == symbol)
            .map(|p| p.price)
            .or_else(|| self.prices.get(symbol).copied())
    }

    /// Cash plus Σ quantity × price.
    pub fn total_value(&self) -> Decimal {
        self.cash
            + self
                .positions
                .iter()
                .map(|p| p.qty * p.price)
                .sum::<Decimal>()
    }

    /// The order placed with `client_order_id`.
    fn find(&mut self, client_order_id: &str) -> Option<&PaperOrder> {
        if self.index.0.len() != self.orders.len() {
            self.index.0 = self
                .orders
                .iter()
                .enumerate()
                .map(|(i, o)| (o.client_order_id.clone(), i))
                .collect();
        }
        self.index.0.get(client_order_id).map(|&i| &self.orders[i])
    }

    fn fill(&mut self, order: &OrderRequest, at: Timestamp) -> Result<OrderOutcome, BrokerError> {
        if let Some(done) = self.find(&order.client_order_id) {
            tracing::info!(client_order_id = %order.client_order_id, "paper broker: order already filled, returning it");
            return Ok(done.outcome());
        }
        if order.qty <= Decimal::ZERO {
            return Err(BrokerError::Permanent(format!(
                "order quantity for {} is {}: it must be positive",
                order.symbol, order.qty
            )));
        }
        let price = self.price_of(&order.symbol).ok_or_else(|| {
            BrokerError::Permanent(format!(
                "no price for `{}` in the paper account",
                order.symbol
            ))
        })?;
        let cost = order.qty.checked_mul(price).ok_or_else(|| {
            BrokerError::Permanent(format!(
                "order of {} {} at {price} is too large to price",
                order.qty, order.symbol
            ))
        })?;
        match order.side {
            OrderSide::Buy => {
                if cost > self.cash {
                    return Err(BrokerError::Permanent(format!(
                        "insufficient cash to buy {} {}: costs {cost}, cash is {}",
                        order.qty, order.symbol, self.cash
                    )));
                }
                self.cash -= cost;
                match self.positions.iter_mut().find(|p| p.symbol == order.symbol) {
                    Some(position) => position.qty += order.qty,
                    None => {
                        self.prices.remove(&order.symbol);
                        self.positions.push(PositionEntry {
                            symbol: order.symbol.clone(),
                            qty: order.qty,
                            price,
                        });
                    }
                }
            }
            OrderSide::Sell => {
                let index = self
                    .positions
                    .iter()
                    .position(|p| p.symbol == order.symbol)
                    .filter(|&i| self.positions[i].qty >= order.qty)
                    .ok_or_else(|| {
                        BrokerError::Permanent(format!(
                            "insufficient shares to sell {} {}",
                            order.qty, order.symbol
                        ))
                    })?;
                self.cash += cost;
                self.positions[index].qty -= order.qty;
                if self.positions[index].qty.is_zero() {
                    // Keep quoting a symbol we sold out of, so later plans can still price it.
                    let sold_out = self.positions.remove(index);
                    self.prices.insert(sold_out.symbol, sold_out.price);
                }
            }
        }
        let filled = PaperOrder {
            order_id: format!("paper-{}", self.orders.len() + 1),
            client_order_id: order.client_order_id.clone(),
            symbol: order.symbol.clone(),
            side: order.side.as_str().to_owned(),
            qty: order.qty,
            price,
            filled_at: at,
        };
        let outcome = filled.outcome();
        self.index
            .0
            .insert(filled.client_order_id.clone(), self.orders.len());
        self.orders.push(filled);
        self.cash = tidy_money(self.cash);
        Ok(outcome)
    }
}

/// Drops trailing zeros a multiplication added (`3040.000`) while keeping at least cents, without
/// ever rounding away a fraction of a cent: the paper account stays exact.
fn tidy_money(amount: Decimal) -> Decimal {
    let mut tidy = amount.normalize();
    if tidy.scale() < 2 {
        tidy.rescale(2);
    }
    tidy
}

impl PaperOrder {
    fn outcome(&self) -> OrderOutcome {
        OrderOutcome {
            order_id: self.order_id.clone(),
            client_order_id: self.client_order_id.clone(),
            symbol: self.symbol.clone(),
            side: if self.side == OrderSide::Sell.as_str() {
                OrderSide::Sell
            } else {
                OrderSide::Buy
            },
            qty: self.qty,
            status: OrderStatus::Filled,
            broker_status: "filled".into(),
            filled_qty: self.qty,
            fill_price: Some(self.price),
            submitted_at: Some(self.filled_at.0),
            replaced_by: None,
        }
    }
}

/// When the paper market trades.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MarketHours {
    /// Around the clock, every day (the default: a paper account trades no money).
    #[default]
    AlwaysOpen,
    /// The NYSE's sessions ([`NyseCalendar`]); orders are refused while the market is closed.
    Nyse,
    /// The NYSE's sessions by the exchange's rules for any year ([`NyseRules`]): the
    /// simulation's market, whose runs may outlast the years [`NyseCalendar`] knows.
    NyseRules,
}

impl MarketHours {
    fn clock(self, now: DateTime<Utc>) -> Result<MarketClock, BrokerError> {
        match self {
            MarketHours::AlwaysOpen => Ok(MarketClock {
                now,
                is_open: true,
                next_open: now + Duration::days(1),
                next_close: now + Duration::days(1),
            }),
            MarketHours::Nyse => NyseCalendar
                .clock(now)
                .map_err(|e| BrokerError::Permanent(e.to_string())),
            MarketHours::NyseRules => NyseRules
                .clock(now)
                .map_err(|e| BrokerError::Permanent(e.to_string())),
        }
    }

    fn trading_days(self, from: NaiveDate, to: NaiveDate) -> Result<Vec<TradingDay>, BrokerError> {
        match self {
            MarketHours::AlwaysOpen => {
                if to < from {
                    return Ok(Vec::new());
                }
                Ok(from
                    .iter_days()
                    .take_while(|day| *day <= to)
                    .take(NyseCalendar::MAX_RANGE_DAYS as usize)
                    .map(|date| {
                        let open = date.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
                        TradingDay {
                            date,
                            open,
                            close: open + Duration::days(1),
                        }
                    })
                    .collect())
            }
            MarketHours::Nyse => NyseCalendar
                .trading_days(from, to)
                .map_err(|e| BrokerError::Permanent(e.to_string())),
            MarketHours::NyseRules => NyseRules
                .trading_days(from, to)
                .map_err(|e| BrokerError::Permanent(e.to_string())),
        }
    }
}

/// Why a paper account file cannot be used.
#[derive(Debug, Error)]
pub enum PaperBrokerError {
    /// The file cannot be read or written.
    #[error("paper account `{}`: cannot read or write it", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file's content is not a valid portfolio.
    #[error("paper account `{}` is not a valid portfolio file (expected e.g. {{\"cash\": \"0.00\", \"positions\": [{{\"symbol\": \"SPY\", \"qty\": \"30\", \"price\": \"100.00\"}}], \"prices\": {{\"TLT\": \"100.00\"}}}})", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: PortfolioFileError,
    },
}

/// The paper broker. With a file, every operation re-reads the file under an exclusive lock and
/// writes it back atomically, so several processes (one per Lambda environment in local tests)
/// share one account safely.
pub struct PaperBroker {
    state: Mutex<PortfolioFile>,
    path: Option<PathBuf>,
    clock: Arc<dyn Clock>,
    hours: MarketHours,
}

impl PaperBroker {
    /// A paper account held in memory only.
    pub fn in_memory(portfolio: PortfolioFile) -> Self {
        Self {
            state: Mutex::new(portfolio),
            path: None,
            clock: alchemiser_clock::system(),
            hours: MarketHours::default(),
        }
    }

    /// The market trades in `hours`.
    pub fn with_market_hours(mut self, hours: MarketHours) -> Self {
        self.hours = hours;
        self
    }

    /// Fills are timed by `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A paper account kept in `path`.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, PaperBrokerError> {
        let path = path.into();
        let portfolio = read_portfolio(&path)?;
        Ok(Self {
            state: Mutex::new(portfolio),
            path: Some(path),
            clock: alchemiser_clock::system(),
            hours: MarketHours::default(),
        })
    }

    /// The account as it is now.
    pub fn snapshot(&self) -> Result<PortfolioFile, BrokerError> {
        self.with_state(|state| Ok((state.clone(), false)))
    }

    /// Reads the account as it is now without copying it (a long order log is large).
    pub fn read<T>(&self, read: impl FnOnce(&PortfolioFile) -> T) -> Result<T, BrokerError> {
        self.with_state(|state| Ok((read(state), false)))
    }

    /// Runs `operation` on the current state; persists it when the operation says it changed.
    fn with_state<T>(
        &self,
        operation: impl FnOnce(&mut PortfolioFile) -> Result<(T, bool), BrokerError>,
    ) -> Result<T, BrokerError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(path) = &self.path else {
            return operation(&mut state).map(|(value, _)| value);
        };
        let lock = lock_file(path)?;
        *state = read_portfolio(path).map_err(|e| BrokerError::Permanent(error_chain(&e)))?;
        let (value, changed) = operation(&mut state)?;
        if changed {
            write_portfolio(path, &state).map_err(|e| BrokerError::Transient(error_chain(&e)))?;
        }
        drop(lock);
        Ok(value)
    }
}

fn read_portfolio(path: &Path) -> Result<PortfolioFile, PaperBrokerError> {
    let text = std::fs::read_to_string(path).map_err(|source| PaperBrokerError::Io {
        path: path.to_owned(),
        source,
    })?;
    PortfolioFile::from_json(&text).map_err(|source| PaperBrokerError::Invalid {
        path: path.to_owned(),
        source,
    })
}

fn write_portfolio(path: &Path, portfolio: &PortfolioFile) -> Result<(), PaperBrokerError> {
    let io = |source| PaperBrokerError::Io {
        path: path.to_owned(),
        source,
    };
    let temporary = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(portfolio).expect("portfolio serialises") + "\n";
    std::fs::write(&temporary, text).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

fn lock_file(path: &Path) -> Result<File, BrokerError> {
    let lock_path = path.with_extension("json.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            BrokerError::Transient(format!("cannot open `{}`: {e}", lock_path.display()))
        })?;
    file.lock().map_err(|e| {
        BrokerError::Transient(format!("cannot lock `{}`: {e}", lock_path.display()))
    })?;
    Ok(file)
}

#[async_trait]
impl Broker for PaperBroker {
    async fn account(&self) -> Result<Account, BrokerError> {
        self.with_state(|state| {
            let account = Account {
                cash: state.cash,
                portfolio_value: None,
            };
            Ok((account, false))
        })
    }

    async fn holdings(&self) -> Result<Holdings, BrokerError> {
        self.with_state(|state| {
            let positions = state
                .positions
                .iter()
                .map(|p| Position {
                    symbol: p.symbol.clone(),
                    qty: p.qty,
                    price: p.price,
                })
                .collect();
            Ok((
                Holdings {
                    positions,
                    unsupported: Vec::new(),
                },
                false,
            ))
        })
    }

    async fn latest_price(&self, symbol: &Symbol) -> Result<Decimal, BrokerError> {
        self.with_state(|state| {
            let price = state.price_of(symbol).ok_or_else(|| {
                BrokerError::Permanent(format!(
                    "no price for `{symbol}` in the paper account (add it under `prices`)"
                ))
            })?;
            Ok((price, false))
        })
    }

    async fn place_market_order(&self, order: &OrderRequest) -> Result<OrderOutcome, BrokerError> {
        let now = self.clock.now();
        let at = Timestamp(now);
        let clock = self.hours.clock(now)?;
        self.with_state(|state| {
            if !clock.is_open && state.find(&order.client_order_id).is_none() {
                return Err(BrokerError::Permanent(format!(
                    "the paper market is closed (NYSE hours): {} {} {} not placed; it opens at {}",
                    order.side.as_str(),
                    order.qty,
                    order.symbol,
                    clock.next_open
                )));
            }
            let before = state.orders.len();
            let outcome = state.fill(order, at)?;
            Ok((outcome, state.orders.len() != before))
        })
    }

    async fn order(&self, client_order_id: &str) -> Result<Option<OrderOutcome>, BrokerError> {
        self.with_state(|state| {
            let found = state.find(client_order_id).map(PaperOrder::outcome);
            Ok((found, false))
        })
    }

    /// Paper orders fill when placed: canceling one changes nothing.
    async fn cancel_order(&self, order_id: &str) -> Result<(), BrokerError> {
        self.with_state(|state| {
            if state.orders.iter().any(|o| o.order_id == order_id) {
                Ok(((), false))
            } else {
                Err(BrokerError::Permanent(format!(
                    "the paper account has no order {order_id}"
                )))
            }
        })
    }

    async fn open_orders(&self) -> Result<Vec<OrderOutcome>, BrokerError> {
        Ok(Vec::new())
    }

    async fn orders_since(&self, since: DateTime<Utc>) -> Result<Vec<OrderOutcome>, BrokerError> {
        self.with_state(|state| {
            // Filled in time order: the first one at or after `since` starts the answer.
            let first = state.orders.partition_point(|o| o.filled_at.0 < since);
            let orders = state.orders[first..]
                .iter()
                .map(PaperOrder::outcome)
                .collect();
            Ok((orders, false))
        })
    }

    async fn market_clock(&self) -> Result<MarketClock, BrokerError> {
        self.hours.clock(self.clock.now())
    }

    async fn trading_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TradingDay>, BrokerError> {
        self.hours.trading_days(from, to)
    }
}
