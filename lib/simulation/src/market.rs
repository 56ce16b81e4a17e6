//! The simulated market: one paper account behind a broker with Alpaca's order lifecycle
//! ([`ScriptedBroker`] on the NYSE's sessions) — orders taken, filled at once or late, in parts,
//! or ending canceled, expired at the close, rejected or replaced; calls failing with 503s, 429s
//! and lost answers — and when the workflows start: mostly during sessions, sometimes in bursts
//! (several plans for the account at once), sometimes while the market is closed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alchemiser_events::{Decimal, Symbol};
use alchemiser_trading::{
    BrokerError, Call, Ending, Fault, MarketHours, NyseRules, OrderScript, PaperBroker,
    PortfolioFile, ScriptedBroker, Session,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

use crate::dice::Dice;
use crate::scheduler::{SimClock, SimTime};
use crate::Config;

/// The symbols traded, at their (fixed) prices.
pub const SYMBOLS: [(&str, &str); 6] = [
    ("SPY", "512.30"),
    ("TLT", "91.45"),
    ("QQQ", "438.10"),
    ("IEF", "95.20"),
    ("GLD", "201.75"),
    ("BSV", "77.05"),
];

/// The symbol outside the simulated stage's buy allow-list.
pub const BARRED: &str = "BSV";

/// The simulated stage's pre-trade limits, sized to its account (about 154,000 throughout: the
/// prices are fixed) so that each trips now and then: an order of at most 150,000 (a strategy
/// that puts everything in one symbol breaks it), a plan turning over at most 95% of the equity,
/// 170 orders and 4,000,000 bought per trading day (the busiest days of a run trip them), buys
/// blocked after 500 of failed sells (the simulation's rejections, cancels and expiries trip it),
/// and every symbol but [`BARRED`].
pub fn limits() -> alchemiser_trading::RiskLimits {
    alchemiser_trading::RiskLimits {
        max_order_notional: Decimal::new(150_000, 0),
        max_plan_turnover: Decimal::new(95, 2),
        max_daily_buy_notional: Decimal::new(4_000_000, 0),
        max_daily_orders: 170,
        max_failed_sell_notional: Decimal::new(500, 0),
        buy_allow_list: SYMBOLS
            .iter()
            .filter(|(symbol, _)| *symbol != BARRED)
            .filter_map(|(symbol, _)| Symbol::parse(symbol).ok())
            .collect(),
    }
}

/// The (fixed) price of `symbol`.
pub fn price_of(symbol: &str) -> Option<Decimal> {
    SYMBOLS
        .iter()
        .find(|(s, _)| *s == symbol)
        .and_then(|(_, price)| price.parse().ok())
}

/// The account's cash when the run starts.
const INITIAL_CASH: &str = "50000.00";
/// Fills between two checkpoints of the account.
const CHECKPOINT_EVERY: usize = 512;

/// Cash and shares.
#[derive(Debug, Clone)]
struct Balances {
    cash: Decimal,
    shares: BTreeMap<String, Decimal>,
}

impl Balances {
    fn initial() -> Self {
        Self {
            cash: INITIAL_CASH.parse().expect("a decimal"),
            shares: SYMBOLS
                .iter()
                .take(3)
                .map(|(symbol, _)| ((*symbol).to_owned(), Decimal::ONE_HUNDRED))
                .collect(),
        }
    }

    fn apply(&mut self, fill: &alchemiser_trading::PaperOrder) {
        let value = fill.qty * fill.price;
        let held = self.shares.entry(fill.symbol.to_string()).or_default();
        if fill.side == "buy" {
            self.cash -= value;
            *held += fill.qty;
        } else {
            self.cash += value;
            *held -= fill.qty;
        }
    }
}

/// The account after the first `index` fills of its log.
struct Checkpoint {
    index: usize,
    last_fill: Option<DateTime<Utc>>,
    balances: Balances,
}

/// The account and its broker.
pub struct Market {
    /// The account (cash, positions, the fills' log).
    pub account: Arc<PaperBroker>,
    /// The broker the functions reach (under the simulated ports).
    pub broker: Arc<ScriptedBroker<Arc<PaperBroker>>>,
    /// Faults injected by the broker, by kind.
    pub faults: Arc<Mutex<BTreeMap<&'static str, u64>>>,
    /// What was done to each order (by client order id): `rejected`, `partial_fill`, `rests`,
    /// `canceled`, `replaced`, `slow_fill`.
    pub injected: Arc<Mutex<HashMap<String, &'static str>>>,
    checkpoints: Mutex<Vec<Checkpoint>>,
}

impl Market {
    /// The market of a run.
    pub fn new(config: &Config, dice: Dice, time: SimTime) -> Self {
        let clock: Arc<dyn alchemiser_clock::Clock> = Arc::new(SimClock {
            time,
            offset: TimeDelta::zero(),
        });
        let positions: Vec<Value> = SYMBOLS
            .iter()
            .take(3)
            .map(|(symbol, price)| json!({"symbol": symbol, "qty": "100", "price": price}))
            .collect();
        let prices: serde_json::Map<String, Value> = SYMBOLS
            .iter()
            .map(|(symbol, price)| ((*symbol).to_owned(), json!(price)))
            .collect();
        let file = json!({"cash": INITIAL_CASH, "positions": positions, "prices": prices});
        let account = Arc::new(
            PaperBroker::in_memory(
                PortfolioFile::from_json(&file.to_string()).expect("the simulation's account"),
            )
            .with_clock(clock.clone()),
        );
        let faults: Arc<Mutex<BTreeMap<&'static str, u64>>> = Arc::default();
        let injected: Arc<Mutex<HashMap<String, &'static str>>> = Arc::default();
        let counted = faults.clone();
        let marked = injected.clone();
        let rates = config.clone();
        let broker = ScriptedBroker::new(account.clone())
            .with_clock(clock)
            .with_market_hours(MarketHours::NyseRules)
            .with_cancel_delay(Duration::from_millis(800))
            .with_faults(move |call| {
                let count = |kind: &'static str| {
                    *counted
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(kind)
                        .or_default() += 1;
                };
                let mark = |id: &str, kind: &'static str| {
                    count(kind);
                    marked
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(id.to_owned(), kind);
                };
                let roll = dice.fraction();
                let mut at = 0.0;
                let mut next = |p: f64| {
                    at += p;
                    roll < at
                };
                if next(rates.broker_transient) {
                    count("broker_transient");
                    return Some(Fault::Fail(BrokerError::Transient(
                        "simulated: HTTP 503 Service Unavailable".into(),
                    )));
                }
                if next(rates.rate_limited) {
                    count("rate_limited");
                    return Some(Fault::Fail(BrokerError::RateLimited(
                        "simulated: HTTP 429 rate limit exceeded".into(),
                    )));
                }
                let Call::Place(order) = call else {
                    return None;
                };
                let id = order.client_order_id.as_str();
                let seconds = |low: u64, high: u64| Duration::from_secs(dice.between(low..=high));
                if next(rates.lost_answer) {
                    count("lost_answer");
                    return Some(Fault::LostAnswer);
                }
                if next(rates.rejected) {
                    mark(id, "rejected");
                    return Some(Fault::Script(OrderScript {
                        fills: Vec::new(),
                        ending: Some((
                            seconds(0, 2),
                            Ending::Reject("simulated: insufficient buying power".into()),
                        )),
                    }));
                }
                if next(rates.partial_fill) {
                    mark(id, "partial_fill");
                    let share = Decimal::new(dice.between(20..=80) as i64, 2);
                    let ending = dice.chance(0.5).then(|| (seconds(30, 600), Ending::Cancel));
                    return Some(Fault::Script(OrderScript {
                        fills: vec![(seconds(0, 5), share)],
                        ending,
                    }));
                }
                if next(rates.rests) {
                    mark(id, "rests");
                    return Some(Fault::Script(OrderScript::rests()));
                }
                if next(rates.person_cancel) {
                    mark(id, "canceled");
                    return Some(Fault::Script(OrderScript {
                        fills: Vec::new(),
                        ending: Some((seconds(2, 60), Ending::Cancel)),
                    }));
                }
                if next(rates.replaced) {
                    mark(id, "replaced");
                    return Some(Fault::Script(OrderScript {
                        fills: Vec::new(),
                        ending: Some((seconds(2, 20), Ending::Replace)),
                    }));
                }
                if next(rates.slow_fill) {
                    mark(id, "slow_fill");
                    return Some(Fault::FillAfter(seconds(5, 600)));
                }
                None
            });
        Self {
            account,
            broker: Arc::new(broker),
            faults,
            injected,
            checkpoints: Mutex::new(Vec::new()),
        }
    }

    /// The account's cash at `at`, from its fills (the broker's log).
    pub fn cash_at(&self, at: DateTime<Utc>) -> Decimal {
        self.balances_at(at).cash
    }

    /// Shares of `symbol` the account held at `at`, from its fills (the broker's log).
    pub fn position_at(&self, symbol: &str, at: DateTime<Utc>) -> Decimal {
        self.balances_at(at)
            .shares
            .get(symbol)
            .copied()
            .unwrap_or_default()
    }

    /// The account at `at`: the last checkpoint before it, and the fills since. Checkpoints
    /// are taken every few hundred fills as the log grows, so a question costs a search and a
    /// few hundred steps, never a walk through the whole log.
    fn balances_at(&self, at: DateTime<Utc>) -> Balances {
        self.account
            .read(|file| {
                let mut checkpoints = self.checkpoints.lock().unwrap_or_else(|e| e.into_inner());
                if checkpoints.is_empty() {
                    checkpoints.push(Checkpoint {
                        index: 0,
                        last_fill: None,
                        balances: Balances::initial(),
                    });
                }
                while let Some(last) = checkpoints.last() {
                    if last.index + CHECKPOINT_EVERY > file.orders.len() {
                        break;
                    }
                    let mut balances = last.balances.clone();
                    let end = last.index + CHECKPOINT_EVERY;
                    for order in &file.orders[last.index..end] {
                        balances.apply(order);
                    }
                    let last_fill = Some(file.orders[end - 1].filled_at.0);
                    checkpoints.push(Checkpoint {
                        index: end,
                        last_fill,
                        balances,
                    });
                }
                let from = checkpoints
                    .partition_point(|c| c.last_fill.is_none_or(|last| last <= at))
                    .saturating_sub(1);
                let checkpoint = &checkpoints[from];
                let mut balances = checkpoint.balances.clone();
                for order in file.orders[checkpoint.index..]
                    .iter()
                    .take_while(|o| o.filled_at.0 <= at)
                {
                    balances.apply(order);
                }
                balances
            })
            .unwrap_or_else(|_| Balances::initial())
    }

    /// What was done to the order `client_order_id`, if anything.
    pub fn injected(&self, client_order_id: &str) -> Option<&'static str> {
        self.injected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(client_order_id)
            .copied()
    }
}

/// When the workflows start, with how many start at that instant: during the NYSE's sessions
/// (from twenty minutes before the open to five minutes after the close, so some find the
/// market closed), now and then on a weekend or holiday, sometimes several at once.
pub fn start_times(
    config: &Config,
    dice: &Dice,
    start: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, usize)> {
    let mut starts = Vec::new();
    let mut total = 0;
    let mut date = start.date_naive();
    while total < config.workflows {
        match NyseRules.session(date) {
            Session::Open(day) => {
                let mut at = day.open - TimeDelta::minutes(20);
                let end = day.close + TimeDelta::minutes(5);
                if at < start {
                    at = start;
                }
                loop {
                    at += TimeDelta::from_std(
                        dice.duration(Duration::from_secs(30), Duration::from_secs(600)),
                    )
                    .unwrap_or_default();
                    if at > end || total >= config.workflows {
                        break;
                    }
                    let burst = if dice.chance(config.burst) {
                        dice.between(2..=5) as usize
                    } else {
                        1
                    };
                    total += burst;
                    starts.push((at, burst));
                }
            }
            Session::Closed { .. } if dice.chance(config.closed_day_start) => {
                let at = date.and_hms_opt(15, 0, 0).expect("a time").and_utc();
                if at >= start {
                    total += 1;
                    starts.push((at, 1));
                }
            }
            Session::Closed { .. } => {}
        }
        date = date.succ_opt().expect("a next day");
    }
    starts
}

/// A symbol of the table.
pub fn symbol(name: &str) -> Symbol {
    Symbol::parse(name).expect("a known symbol")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone};

    #[test]
    fn a_run_gets_every_workflow_it_asks_for_whatever_the_years_it_spans() {
        // Starting in the last weeks the paper broker's calendar knows, 5,000 workflows run
        // into years it does not: the simulated market goes on by the exchange's rules rather
        // than stopping the starts short (it once stopped at 70,801 of 100,000, silently).
        let config = Config::new(5_000, 7);
        let start = Utc.with_ymd_and_hms(2028, 12, 1, 14, 0, 0).unwrap();
        let starts = start_times(&config, &Dice::new(7), start);
        let planned: usize = starts.iter().map(|(_, burst)| burst).sum();
        assert!(
            planned >= config.workflows,
            "{planned} of {} starts",
            config.workflows
        );
        assert!(starts.last().is_some_and(|(at, _)| at.year() > 2028));
    }
}
