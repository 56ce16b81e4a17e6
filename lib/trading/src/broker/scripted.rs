//! A broker whose behaviour a test (or the simulation) scripts, over an account kept by another
//! broker (usually a [`super::PaperBroker`]): it keeps its own order book with the order
//! lifecycle Alpaca documents (`docs/notes/alpaca-broker-facts.md`) — an order is taken, then
//! fills at once or later, in one or several parts, or ends canceled, expired at the close of
//! its session, rejected or replaced — and injects the faults real brokers have: errors before
//! anything happened, answers lost after the order was taken, rate limits. What to do with each
//! call is decided for chosen symbols or by a function of the call (the simulation's seeded
//! dice). Fills are executed on the account underneath, so its cash and positions are the truth.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alchemiser_clock::Clock;
use alchemiser_events::{Decimal, Symbol};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::{
    Account, Broker, BrokerError, Holdings, MarketHours, OrderOutcome, OrderRequest, OrderSide,
    OrderStatus, UnsupportedPosition,
};
use crate::market::{MarketClock, TradingDay};

/// How an order that did not fill in full ends, when its script says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Canceled (by a person, or by the broker).
    Cancel,
    /// Expired before the close (a venue's decision).
    Expire,
    /// Rejected by the venue, with the broker's reason.
    Reject(String),
    /// Replaced by an order someone else made.
    Replace,
}

/// What happens to an order after the broker took it, relative to when it was taken (or, for an
/// order taken while the market is closed, to the next open).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderScript {
    /// Fills in time order: after how long, and what share of the order (0–1) fills then.
    pub fills: Vec<(Duration, Decimal)>,
    /// What ends the order if the fills leave some of it open, and after how long.
    pub ending: Option<(Duration, Ending)>,
}

impl OrderScript {
    /// Fills in full at once.
    pub fn immediate() -> Self {
        Self {
            fills: vec![(Duration::ZERO, Decimal::ONE)],
            ending: None,
        }
    }

    /// Fills in full after `delay`.
    pub fn fill_after(delay: Duration) -> Self {
        Self {
            fills: vec![(delay, Decimal::ONE)],
            ending: None,
        }
    }

    /// Taken, and nothing more happens to it until something cancels it or the session closes.
    pub fn rests() -> Self {
        Self::default()
    }
}

/// What a scripted call does instead of (or besides) the real thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Fails with this error; nothing happened at the broker.
    Fail(BrokerError),
    /// The order is taken (and fills at once), but the answer is lost: the caller sees
    /// [`BrokerError::AnswerLost`].
    LostAnswer,
    /// The order is taken and fills in full `after` this long.
    FillAfter(Duration),
    /// The order is taken and follows this script.
    Script(OrderScript),
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
    /// `cancel_order(order_id)`.
    Cancel(&'a str),
    /// `open_orders()` or `orders_since(..)`.
    ListOrders,
    /// `market_clock()` or `trading_days(..)`.
    Calendar,
}

type FaultFn = dyn Fn(Call<'_>) -> Option<Fault> + Send + Sync;

/// A step of an order's life, due at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Fill(Decimal),
    End(Ending),
    CancelRequested,
}

#[derive(Debug, Clone)]
struct BookOrder {
    outcome: OrderOutcome,
    /// Steps still to come, in time order.
    steps: Vec<(DateTime<Utc>, Step)>,
    /// The close of the session the order lives in: a day order still open then expires.
    expires_at: Option<DateTime<Utc>>,
    fills: usize,
    /// When it became final.
    finished_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct Book {
    orders: Vec<BookOrder>,
    by_client_id: BTreeMap<String, usize>,
    /// Orders not final yet: the only ones a step can be due for.
    open: std::collections::BTreeSet<usize>,
}

/// One order of the book with when it was taken and when it became final: the broker's order
/// log, as the simulation's invariants read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookEntry {
    /// The order as the broker sees it now.
    pub order: OrderOutcome,
    /// When it became final, if it has.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A scripted broker over `inner`, which keeps the account.
pub struct ScriptedBroker<B> {
    inner: B,
    unsupported: Vec<UnsupportedPosition>,
    failing: Mutex<BTreeMap<Symbol, BrokerError>>,
    faults: Option<Box<FaultFn>>,
    book: Mutex<Book>,
    clock: Arc<dyn Clock>,
    hours: MarketHours,
    order_delay: Duration,
    cancel_delay: Duration,
    orders_sent: AtomicUsize,
}

impl<B: Broker> ScriptedBroker<B> {
    /// Behaves as a broker filling every order at once on `inner`'s account until scripted
    /// otherwise.
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            unsupported: Vec::new(),
            failing: Mutex::new(BTreeMap::new()),
            faults: None,
            book: Mutex::new(Book::default()),
            clock: alchemiser_clock::system(),
            hours: MarketHours::AlwaysOpen,
            order_delay: Duration::ZERO,
            cancel_delay: Duration::ZERO,
            orders_sent: AtomicUsize::new(0),
        }
    }

    /// From now on, orders for `symbol` fail with `error` (before reaching the broker).
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

    /// Order steps are timed by `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The market trades in `hours` (around the clock by default). An order taken while the
    /// market is closed waits for the next open, as Alpaca queues a day order; an order still
    /// open at the close of its session expires.
    pub fn with_market_hours(mut self, hours: MarketHours) -> Self {
        self.hours = hours;
        self
    }

    /// A cancel takes effect `delay` after it was requested (the order may fill meanwhile).
    pub fn with_cancel_delay(mut self, delay: Duration) -> Self {
        self.cancel_delay = delay;
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

    /// Every order in the book, in the order taken, as the broker sees it now.
    pub async fn book(&self) -> Result<Vec<BookEntry>, BrokerError> {
        self.settle().await?;
        Ok(self
            .lock_book()
            .orders
            .iter()
            .map(|o| BookEntry {
                order: o.outcome.clone(),
                finished_at: o.finished_at,
            })
            .collect())
    }

    /// The book's order with `client_order_id`, with when it became final.
    pub async fn book_entry(
        &self,
        client_order_id: &str,
    ) -> Result<Option<BookEntry>, BrokerError> {
        self.settle().await?;
        let book = self.lock_book();
        Ok(book.by_client_id.get(client_order_id).map(|&i| BookEntry {
            order: book.orders[i].outcome.clone(),
            finished_at: book.orders[i].finished_at,
        }))
    }

    fn fault(&self, call: Call<'_>) -> Option<Fault> {
        self.faults.as_ref().and_then(|faults| faults(call))
    }

    fn lock_book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn clock_at(&self, now: DateTime<Utc>) -> Result<MarketClock, BrokerError> {
        match self.hours {
            MarketHours::AlwaysOpen => Ok(MarketClock {
                now,
                is_open: true,
                next_open: now + TimeDelta::days(1),
                next_close: now + TimeDelta::days(1),
            }),
            MarketHours::Nyse => crate::market::NyseCalendar
                .clock(now)
                .map_err(|e| BrokerError::Permanent(e.to_string())),
            MarketHours::NyseRules => crate::market::NyseRules
                .clock(now)
                .map_err(|e| BrokerError::Permanent(e.to_string())),
        }
    }

    /// Applies every step that is due, in time order, executing fills on the account.
    async fn settle(&self) -> Result<(), BrokerError> {
        let now = self.clock.now();
        loop {
            let next = {
                let mut book = self.lock_book();
                next_due(&mut book, now)
            };
            let Some((index, at, step)) = next else {
                return Ok(());
            };
            self.apply(index, at, step).await?;
        }
    }

    async fn apply(&self, index: usize, at: DateTime<Utc>, step: Step) -> Result<(), BrokerError> {
        let (request, fill_price) = {
            let book = self.lock_book();
            let order = &book.orders[index];
            match &step {
                Step::Fill(share) => {
                    let outcome = &order.outcome;
                    let wanted = (outcome.qty * share)
                        .min(outcome.qty - outcome.filled_qty)
                        .normalize();
                    if wanted <= Decimal::ZERO {
                        return Ok(());
                    }
                    let client_order_id = match order.fills {
                        0 => outcome.client_order_id.clone(),
                        n => format!("{}/fill-{}", outcome.client_order_id, n + 1),
                    };
                    (
                        Some(OrderRequest {
                            symbol: outcome.symbol.clone(),
                            side: outcome.side,
                            qty: wanted,
                            client_order_id,
                        }),
                        None::<Decimal>,
                    )
                }
                _ => (None, None),
            }
        };
        let filled = match request {
            Some(request) => Some(self.inner.place_market_order(&request).await),
            None => None,
        };
        let mut book = self.lock_book();
        let finished = {
            let order = &mut book.orders[index];
            let outcome = &mut order.outcome;
            match (step, filled) {
                (Step::Fill(_), Some(Ok(fill))) => {
                    let price = fill.fill_price.or(fill_price).unwrap_or_default();
                    let before = outcome.filled_qty * outcome.fill_price.unwrap_or_default();
                    outcome.filled_qty += fill.filled_qty;
                    if !outcome.filled_qty.is_zero() {
                        outcome.fill_price = Some(
                            ((before + fill.filled_qty * price) / outcome.filled_qty).round_dp(6),
                        );
                    }
                    order.fills += 1;
                    if outcome.filled_qty >= outcome.qty {
                        outcome.status = OrderStatus::Filled;
                        outcome.broker_status = "filled".into();
                        order.steps.clear();
                    } else {
                        outcome.status = OrderStatus::PartiallyFilled;
                        outcome.broker_status = "partially_filled".into();
                    }
                }
                // The account cannot take the fill any more (the cash or the shares went
                // elsewhere meanwhile): the order ends rejected, as at a real broker.
                (Step::Fill(_), Some(Err(BrokerError::Permanent(reason)))) => {
                    finish(order, OrderStatus::Rejected, "rejected");
                    tracing::info!(client_order_id = %order.outcome.client_order_id, %reason, "scripted order rejected at fill time");
                }
                (Step::Fill(share), Some(Err(transient))) => {
                    // Try again on the next call.
                    order.steps.insert(0, (at, Step::Fill(share)));
                    drop(book);
                    return Err(transient);
                }
                (Step::End(Ending::Cancel) | Step::CancelRequested, _) => {
                    finish(order, OrderStatus::Canceled, "canceled");
                }
                (Step::End(Ending::Expire), _) => finish(order, OrderStatus::Expired, "expired"),
                (Step::End(Ending::Reject(_)), _) => {
                    finish(order, OrderStatus::Rejected, "rejected")
                }
                (Step::End(Ending::Replace), _) => {
                    let replacement = format!("replacement-of-{}", order.outcome.order_id);
                    finish(order, OrderStatus::Replaced, "replaced");
                    order.outcome.replaced_by = Some(replacement);
                }
                (Step::Fill(_), None) => {}
            }
            if order.outcome.status.is_final() && order.finished_at.is_none() {
                order.finished_at = Some(at);
            }
            order.outcome.status.is_final()
        };
        if finished {
            book.open.remove(&index);
        }
        Ok(())
    }

    /// Whether the account can take `order` now, counting what open orders already hold (the
    /// broker's buying power): Alpaca refuses such an order at once (HTTP 403).
    async fn check_buying_power(&self, order: &OrderRequest) -> Result<(), BrokerError> {
        let (buys, open_sells) = {
            let book = self.lock_book();
            let mut buys: Vec<(Symbol, Decimal)> = Vec::new();
            let mut sells = Decimal::ZERO;
            for open in book.open.iter().map(|&i| &book.orders[i]) {
                let rest = open.outcome.open_qty();
                match open.outcome.side {
                    OrderSide::Buy => buys.push((open.outcome.symbol.clone(), rest)),
                    OrderSide::Sell if open.outcome.symbol == order.symbol => sells += rest,
                    OrderSide::Sell => {}
                }
            }
            (buys, sells)
        };
        let mut open_buys = Decimal::ZERO;
        for (symbol, rest) in buys {
            open_buys += rest * self.inner.latest_price(&symbol).await?;
        }
        match order.side {
            OrderSide::Buy => {
                let price = self.inner.latest_price(&order.symbol).await?;
                let cash = self.inner.account().await?.cash;
                let cost = order.qty * price;
                if cost > cash - open_buys {
                    return Err(BrokerError::Permanent(format!(
                        "insufficient buying power: buy {} {} costs {cost}, {} available",
                        order.qty,
                        order.symbol,
                        cash - open_buys
                    )));
                }
            }
            OrderSide::Sell => {
                let held = self
                    .inner
                    .holdings()
                    .await?
                    .positions
                    .iter()
                    .find(|p| p.symbol == order.symbol)
                    .map_or(Decimal::ZERO, |p| p.qty);
                if order.qty > held - open_sells {
                    return Err(BrokerError::Permanent(format!(
                        "insufficient qty available for order: sell {} {}, {} available",
                        order.qty,
                        order.symbol,
                        held - open_sells
                    )));
                }
            }
        }
        Ok(())
    }

    /// Takes `order` into the book with `script`, timed from now (or from the next open when
    /// the market is closed).
    async fn take(
        &self,
        order: &OrderRequest,
        script: OrderScript,
    ) -> Result<OrderOutcome, BrokerError> {
        let now = self.clock.now();
        let clock = self.clock_at(now)?;
        let (start, expires_at) = if clock.is_open {
            (now, clock.next_close)
        } else {
            (clock.next_open, clock.next_close)
        };
        let from = |delay: Duration| start + TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX);
        let mut steps: Vec<(DateTime<Utc>, Step)> = script
            .fills
            .iter()
            .map(|(delay, share)| (from(*delay), Step::Fill(*share)))
            .collect();
        if let Some((delay, ending)) = script.ending {
            steps.push((from(delay), Step::End(ending)));
        }
        steps.sort_by_key(|(at, _)| *at);
        let expires_at = match self.hours {
            MarketHours::AlwaysOpen => None,
            MarketHours::Nyse | MarketHours::NyseRules => Some(expires_at),
        };
        let index = {
            let mut book = self.lock_book();
            let index = book.orders.len();
            book.orders.push(BookOrder {
                outcome: OrderOutcome {
                    order_id: format!("scripted-{}", index + 1),
                    client_order_id: order.client_order_id.clone(),
                    symbol: order.symbol.clone(),
                    side: order.side,
                    qty: order.qty,
                    status: OrderStatus::Pending,
                    broker_status: if clock.is_open { "new" } else { "accepted" }.into(),
                    filled_qty: Decimal::ZERO,
                    fill_price: None,
                    submitted_at: Some(now),
                    replaced_by: None,
                },
                steps,
                expires_at,
                fills: 0,
                finished_at: None,
            });
            book.by_client_id
                .insert(order.client_order_id.clone(), index);
            book.open.insert(index);
            index
        };
        self.settle().await?;
        Ok(self.lock_book().orders[index].outcome.clone())
    }

    fn booked(&self, client_order_id: &str) -> Option<OrderOutcome> {
        let book = self.lock_book();
        book.by_client_id
            .get(client_order_id)
            .map(|&i| book.orders[i].outcome.clone())
    }
}

/// The earliest due step of any order (removing it), or an expiry at a session's close.
fn next_due(book: &mut Book, now: DateTime<Utc>) -> Option<(usize, DateTime<Utc>, Step)> {
    let mut best: Option<(DateTime<Utc>, usize, bool)> = None;
    for &index in &book.open {
        let order = &book.orders[index];
        let step_at = order.steps.first().map(|(at, _)| *at);
        // An order still open at its session's close expires then (a day order).
        let candidates = [(step_at, false), (order.expires_at, true)];
        for (at, expiry) in candidates {
            let Some(at) = at.filter(|at| *at <= now) else {
                continue;
            };
            if best.is_none_or(|(b, ..)| at < b) {
                best = Some((at, index, expiry));
            }
        }
    }
    let (at, index, expiry) = best?;
    let order = &mut book.orders[index];
    if expiry {
        order.steps.clear();
        return Some((index, at, Step::End(Ending::Expire)));
    }
    let (at, step) = order.steps.remove(0);
    Some((index, at, step))
}

fn finish(order: &mut BookOrder, status: OrderStatus, word: &str) {
    order.outcome.status = status;
    order.outcome.broker_status = word.into();
    order.steps.clear();
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
        if let Some(first) = self.booked(&order.client_order_id) {
            return Ok(first);
        }
        if let Some(first) = self.inner.order(&order.client_order_id).await? {
            return Ok(first);
        }
        if order.qty <= Decimal::ZERO {
            return Err(BrokerError::Permanent(format!(
                "order quantity for {} is {}: it must be positive",
                order.symbol, order.qty
            )));
        }
        let fault = self.fault(Call::Place(order));
        if let Some(Fault::Fail(error)) = fault {
            return Err(error);
        }
        self.check_buying_power(order).await?;
        let (script, lost) = match fault {
            Some(Fault::LostAnswer) => (OrderScript::immediate(), true),
            Some(Fault::FillAfter(delay)) => (OrderScript::fill_after(delay), false),
            Some(Fault::Script(script)) => (script, false),
            _ => (OrderScript::immediate(), false),
        };
        let outcome = self.take(order, script).await?;
        if lost {
            return Err(BrokerError::AnswerLost(format!(
                "{} {} {}: the request timed out (the broker may have the order)",
                order.side.as_str(),
                order.qty,
                order.symbol
            )));
        }
        Ok(outcome)
    }

    async fn order(&self, client_order_id: &str) -> Result<Option<OrderOutcome>, BrokerError> {
        failed(self.fault(Call::Lookup(client_order_id)))?;
        self.settle().await?;
        match self.booked(client_order_id) {
            Some(found) => Ok(Some(found)),
            None => self.inner.order(client_order_id).await,
        }
    }

    async fn cancel_order(&self, order_id: &str) -> Result<(), BrokerError> {
        failed(self.fault(Call::Cancel(order_id)))?;
        self.settle().await?;
        let at = self.clock.now() + TimeDelta::from_std(self.cancel_delay).unwrap_or_default();
        let booked = {
            let mut book = self.lock_book();
            match book
                .orders
                .iter_mut()
                .find(|o| o.outcome.order_id == order_id)
            {
                Some(order) => {
                    if order.outcome.status.is_open() {
                        let position = order.steps.partition_point(|(step_at, _)| *step_at <= at);
                        order.steps.insert(position, (at, Step::CancelRequested));
                    }
                    true
                }
                None => false,
            }
        };
        if booked {
            return self.settle().await;
        }
        self.inner.cancel_order(order_id).await
    }

    async fn open_orders(&self) -> Result<Vec<OrderOutcome>, BrokerError> {
        failed(self.fault(Call::ListOrders))?;
        self.settle().await?;
        let mut open: Vec<OrderOutcome> = {
            let book = self.lock_book();
            book.open
                .iter()
                .map(|&i| book.orders[i].outcome.clone())
                .collect()
        };
        open.extend(self.inner.open_orders().await?);
        Ok(open)
    }

    async fn orders_since(&self, since: DateTime<Utc>) -> Result<Vec<OrderOutcome>, BrokerError> {
        failed(self.fault(Call::ListOrders))?;
        self.settle().await?;
        // The account's log first, the book after: an order booked in between is then in the
        // book's answer, and its fills, if already in the log, are left out below.
        let logged = self.inner.orders_since(since).await?;
        let book = self.lock_book();
        // Taken in time order: the first one at or after `since` starts the answer.
        let first = book
            .orders
            .partition_point(|o| o.outcome.submitted_at.is_some_and(|at| at < since));
        let mut orders: Vec<OrderOutcome> = book.orders[first..]
            .iter()
            .map(|o| o.outcome.clone())
            .collect();
        // The account's own log holds the fills of booked orders: leave those out. Looked up in
        // the book's index (a copy of every id ever booked cost each question the whole
        // history: a long simulation grew quadratic in its orders).
        let booked = |id: &str| {
            let base = id.split("/fill-").next().unwrap_or(id);
            book.by_client_id.contains_key(base)
        };
        orders.extend(logged.into_iter().filter(|o| !booked(&o.client_order_id)));
        Ok(orders)
    }

    async fn market_clock(&self) -> Result<MarketClock, BrokerError> {
        failed(self.fault(Call::Calendar))?;
        self.clock_at(self.clock.now())
    }

    async fn trading_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TradingDay>, BrokerError> {
        failed(self.fault(Call::Calendar))?;
        match self.hours {
            MarketHours::AlwaysOpen => self.inner.trading_days(from, to).await,
            MarketHours::Nyse => crate::market::NyseCalendar
                .trading_days(from, to)
                .map_err(|e| BrokerError::Permanent(e.to_string())),
            MarketHours::NyseRules => crate::market::NyseRules
                .trading_days(from, to)
                .map_err(|e| BrokerError::Permanent(e.to_string())),
        }
    }
}
