//! The steps of executing a plan (see the module above): look up what the broker has of it,
//! check, sell, wait for the sells, buy, wait for the buys — each step resumable from the
//! broker's order log.

use std::collections::BTreeMap;
use std::time::Duration;

use alchemiser_bus::HandlerError;
use alchemiser_clock::Clock;
use alchemiser_events::{Decimal, PlanItem, RebalancePlan, TradeAction};
use chrono::{DateTime, Utc};

use super::checks::{
    age_refusal, deadline_refusal, delta, drift_refusal, failed_sell_refusal, order_limit_refusal,
    plan_limit_refusal, DayTally,
};
use super::report::{ExecutionReport, OrderRecord, RecordStatus};
use super::{
    checked, client_order_id, shares, ExecutionMode, ExecutionSettings, PlanOutcome, Refusal, When,
};
use crate::broker::{Account, Broker, BrokerError, Holdings, OrderRequest, OrderSide};
use crate::halt::{HaltError, TradingHalt};
use crate::market::MarketClock;

/// How long to wait after the broker's rate limit before asking again (Alpaca counts requests
/// per minute).
const AFTER_RATE_LIMIT: Duration = Duration::from_secs(60);
/// The shortest gap before a follow-up.
const SHORTEST_CHECK: Duration = Duration::from_secs(5);

/// One execution step of a plan.
pub(super) struct Execution<'a> {
    pub(super) plan: &'a RebalancePlan,
    pub(super) broker: &'a dyn Broker,
    pub(super) halt: &'a dyn TradingHalt,
    pub(super) mode: &'a ExecutionMode,
    pub(super) settings: &'a ExecutionSettings,
    pub(super) clock: &'a dyn Clock,
    pub(super) when: When,
    /// The broker's orders of the day, read once per step before its first order and counted
    /// on with each order the step places.
    pub(super) day: std::sync::Mutex<Option<DayTally>>,
}

/// Why a step stops before the plan is done; `?` turns a broker failure into one.
enum Stop {
    /// The outcome to return now.
    Outcome(PlanOutcome),
    /// A failure that is not the plan's (arithmetic on implausible values).
    Error(HandlerError),
}

impl From<HandlerError> for Stop {
    fn from(error: HandlerError) -> Self {
        Stop::Error(error)
    }
}

type Step<T> = Result<T, Stop>;

impl Execution<'_> {
    pub(super) async fn run(&self) -> Result<PlanOutcome, HandlerError> {
        let (sells, buys): (Vec<&PlanItem>, Vec<&PlanItem>) = self
            .plan
            .items
            .iter()
            .filter(|item| item.action != TradeAction::Hold)
            .partition(|item| item.action == TradeAction::Sell);
        let outcome = match self.mode {
            ExecutionMode::DryRun { reason } => self.dry_run(&sells, &buys, reason).await,
            ExecutionMode::Live => self.live(&sells, &buys).await,
        };
        match outcome {
            Ok(outcome) | Err(Stop::Outcome(outcome)) => Ok(outcome),
            Err(Stop::Error(error)) => Err(error),
        }
    }

    fn client_order_id(&self, item: &PlanItem) -> String {
        client_order_id(&self.plan.plan_id, side_of(item), &item.symbol)
    }

    fn record(
        &self,
        item: &PlanItem,
        qty: Decimal,
        price: Decimal,
        status: RecordStatus,
    ) -> OrderRecord {
        OrderRecord {
            symbol: item.symbol.clone(),
            side: side_of(item),
            qty,
            price,
            client_order_id: self.client_order_id(item),
            status,
            broker_status: None,
            order_id: None,
            filled_qty: None,
            fill_price: None,
            error: None,
        }
    }

    /// The report of `records` (one per item, in the plan's order: sells, then buys).
    fn report(&self, records: &[OrderRecord], resumed: usize) -> ExecutionReport {
        ExecutionReport {
            orders: records.to_vec(),
            dry_run: false,
            dry_run_reason: None,
            resumed: u32::try_from(resumed).unwrap_or(u32::MAX),
        }
    }

    /// When the next follow-up comes: later with each one, never past the workflow's deadline
    /// (where the plan stops and cancels what is open).
    fn next_check(&self) -> Duration {
        let doubling = 2u32.saturating_pow(self.when.check.min(16));
        let backoff = self
            .settings
            .first_check_after
            .saturating_mul(doubling)
            .min(self.settings.longest_check_interval);
        let deadline = self.when.workflow_started_at + delta(self.settings.max_workflow_age);
        let left = (deadline - self.clock.now()).to_std().unwrap_or_default();
        backoff.min(left).max(SHORTEST_CHECK)
    }

    fn pending(&self, records: &[OrderRecord], resumed: usize, reason: String) -> Stop {
        Stop::Outcome(PlanOutcome::Pending {
            report: self.report(records, resumed),
            after: self.next_check(),
            reason,
        })
    }

    /// A broker failure in the middle of a step: the step ends pending (the plan keeps the
    /// account, and the follow-up looks up what the broker did); a refusal is the caller's.
    fn broker_failed(&self, error: BrokerError, records: &[OrderRecord], resumed: usize) -> Stop {
        let after = match &error {
            BrokerError::RateLimited(_) => AFTER_RATE_LIMIT,
            _ => self.next_check(),
        };
        tracing::warn!(plan_id = %self.plan.plan_id, %error, "broker call failed; checking again later");
        Stop::Outcome(PlanOutcome::Pending {
            report: self.report(records, resumed),
            after,
            reason: format!("{error}; the plan goes on at its next check"),
        })
    }

    async fn live(&self, sells: &[&PlanItem], buys: &[&PlanItem]) -> Step<PlanOutcome> {
        let items: Vec<&PlanItem> = sells.iter().chain(buys).copied().collect();
        // What the broker has of this plan already (an earlier attempt's orders).
        let mut records: Vec<OrderRecord> = Vec::with_capacity(items.len());
        for item in &items {
            records.push(self.record(item, Decimal::ZERO, Decimal::ZERO, RecordStatus::NotPlaced));
        }
        let mut resumed = 0;
        let mut first_submitted: Option<DateTime<Utc>> = None;
        for (index, item) in items.iter().enumerate() {
            match self.broker.order(&self.client_order_id(item)).await {
                Ok(Some(order)) => {
                    if let Some(at) = order.submitted_at {
                        first_submitted = Some(first_submitted.map_or(at, |first| first.min(at)));
                    }
                    tracing::info!(symbol = %item.symbol, order_id = %order.order_id, status = order.status.as_str(), "order placed by an earlier step; not placed again");
                    records[index] = records[index].clone().with_order(&order);
                    resumed += 1;
                }
                Ok(None) => {}
                Err(error) => return Err(self.broker_failed(error, &records, resumed)),
            }
        }
        let started = resumed > 0;
        // Halted: a plan not started places nothing; a started one with orders still open stops
        // and cancels them. (A started plan with nothing open goes on: every order it would
        // still place is checked against the switch in `place`, and one that has nothing left
        // to place is not failed for a halt that changed nothing.)
        if !started || records.iter().any(|r| r.status.is_open()) {
            if let Some(refusal) = self.halted(&records, resumed).await? {
                return self.stop(refusal, records, resumed).await;
            }
        }
        let now = self.clock.now();
        let market = self
            .broker
            .market_clock()
            .await
            .map_err(|e| self.broker_failed(e, &records, resumed))?;
        if started {
            if let Some(refusal) =
                deadline_refusal(self.when.workflow_started_at, self.settings, now)
            {
                return self.stop(refusal, records, resumed).await;
            }
            let others = self
                .orders_since_first(&records, first_submitted)
                .await
                .map_err(|e| self.broker_failed(e, &records, resumed))?;
            if !others.is_empty() {
                return self
                    .stop(Refusal::Superseded { orders: others }, records, resumed)
                    .await;
            }
        } else {
            let busy = self
                .other_open_orders()
                .await
                .map_err(|e| self.broker_failed(e, &records, resumed))?;
            if let Some(refusal) =
                age_refusal(self.plan, self.when.workflow_started_at, self.settings, now)
            {
                let refusal = match refusal {
                    Refusal::TooOld { .. } if !busy.is_empty() => {
                        Refusal::AccountBusy { orders: busy }
                    }
                    other => other,
                };
                return self.stop(refusal, records, resumed).await;
            }
            if let Some(refusal) = self.closed(&market) {
                return self.stop(refusal, records, resumed).await;
            }
            if !busy.is_empty() {
                return Err(self.pending(
                    &records,
                    resumed,
                    format!(
                        "the account has open orders that are not this plan's ({}); waiting for them before the first order",
                        busy.join("; ")
                    ),
                ));
            }
            let holdings = self
                .broker
                .holdings()
                .await
                .map_err(|e| self.broker_failed(e, &records, resumed))?;
            let account = self
                .broker
                .account()
                .await
                .map_err(|e| self.broker_failed(e, &records, resumed))?;
            if let Some(refusal) = drift_refusal(self.plan, &holdings, account.cash)? {
                return self.stop(refusal, records, resumed).await;
            }
            // The plan as a whole, against the stage's limits: refused whole before its first
            // order rather than traded in part (sells without their buys leave the account in a
            // state no strategy asked for).
            if !items.is_empty() {
                let day = self.tally(&records, resumed).await?;
                let equity = equity(&account, &holdings)?;
                if let Some(refusal) =
                    plan_limit_refusal(self.plan, &items, &self.settings.limits, equity, day)?
                {
                    return self.stop(refusal, records, resumed).await;
                }
            }
        }

        // The sells.
        let sell_count = sells.len();
        if records[..sell_count].iter().any(|r| !r.placed()) {
            if let Some(refusal) = self.closed(&market) {
                return self.stop(refusal, records, resumed).await;
            }
            let holdings = self
                .broker
                .holdings()
                .await
                .map_err(|e| self.broker_failed(e, &records, resumed))?;
            for (index, item) in sells.iter().enumerate() {
                if records[index].placed() {
                    continue;
                }
                let held = holdings
                    .positions
                    .iter()
                    .find(|p| p.symbol == item.symbol)
                    .map_or(Decimal::ZERO, |p| p.qty);
                records[index] = self.sell(item, held, &records, resumed).await?;
            }
        }
        self.await_final(&mut records[..sell_count], resumed)
            .await?;
        if records[..sell_count].iter().any(|r| r.status.is_open()) {
            return Err(self.pending(
                &records,
                resumed,
                format!(
                    "sells of plan {} still open ({}); the buys are sized once they are final",
                    self.plan.plan_id,
                    open_symbols(&records[..sell_count])
                ),
            ));
        }

        // The buys, within the cash the account really has.
        if records[sell_count..].iter().any(|r| !r.placed()) {
            if let Some(refusal) =
                failed_sell_refusal(&records[..sell_count], sells, &self.settings.limits)?
            {
                return self.stop(refusal, records, resumed).await;
            }
            let market = self
                .broker
                .market_clock()
                .await
                .map_err(|e| self.broker_failed(e, &records, resumed))?;
            if let Some(refusal) = self.closed(&market) {
                return self.stop(refusal, records, resumed).await;
            }
            let mut cash = self
                .broker
                .account()
                .await
                .map_err(|e| self.broker_failed(e, &records, resumed))?
                .cash;
            // Buys an earlier step placed that have not filled yet will still take their cash;
            // what filled already left the account's cash.
            for record in records[sell_count..].iter().filter(|r| r.status.is_open()) {
                let open = record.qty - record.filled_qty.unwrap_or_default();
                let price = self
                    .broker
                    .latest_price(&record.symbol)
                    .await
                    .map_err(|e| self.broker_failed(e, &records, resumed))?;
                cash -= checked(open.checked_mul(price), || {
                    format!("the cost of {open} {} at {price}", record.symbol)
                })?;
            }
            for (offset, item) in buys.iter().enumerate() {
                let index = sell_count + offset;
                if records[index].placed() {
                    continue;
                }
                let record = self.buy(item, cash, &records, resumed).await?;
                if record.placed() {
                    cash -= checked(record.qty.checked_mul(record.price), || {
                        format!(
                            "the cost of {} {} at {}",
                            record.qty, record.symbol, record.price
                        )
                    })?;
                }
                records[index] = record;
            }
        }
        self.await_final(&mut records, resumed).await?;
        if records.iter().any(|r| r.status.is_open()) {
            return Err(self.pending(
                &records,
                resumed,
                format!(
                    "orders of plan {} still open ({}); following them until they are final",
                    self.plan.plan_id,
                    open_symbols(&records)
                ),
            ));
        }
        Ok(PlanOutcome::Executed(self.report(&records, resumed)))
    }

    /// Whether new orders must wait: the market is closed, or closes within the stage's margin
    /// (an order sent in the last seconds could reach the broker after the close, where a day
    /// order is queued for the next session). Read from the broker's own clock, so the
    /// function's clock skew does not matter.
    fn closed(&self, market: &MarketClock) -> Option<Refusal> {
        let margin = delta(self.settings.stop_before_close);
        if market.is_open && market.next_close - market.now > margin {
            return None;
        }
        Some(Refusal::MarketClosed {
            next_open: market.next_open,
            closes_at: market.is_open.then_some(market.next_close),
        })
    }

    /// Orders of the account that are not this plan's, placed since the plan's first order, one
    /// line each (the broker's log is the truth of who traded the account meanwhile).
    async fn orders_since_first(
        &self,
        records: &[OrderRecord],
        first: Option<DateTime<Utc>>,
    ) -> Result<Vec<String>, BrokerError> {
        let mine: Vec<&str> = records.iter().map(|r| r.client_order_id.as_str()).collect();
        let Some(first) = first else {
            return Ok(Vec::new());
        };
        Ok(self
            .broker
            .orders_since(first)
            .await?
            .into_iter()
            .filter(|order| !mine.contains(&order.client_order_id.as_str()))
            .map(|order| {
                format!(
                    "{} {} {} ({}, {})",
                    order.side.as_str(),
                    order.qty.normalize(),
                    order.symbol,
                    order.broker_status,
                    order.client_order_id
                )
            })
            .collect())
    }

    /// Orders of the account that may still fill and are not this plan's, one line each.
    async fn other_open_orders(&self) -> Result<Vec<String>, BrokerError> {
        let mine: Vec<String> = self
            .plan
            .items
            .iter()
            .filter(|item| item.action != TradeAction::Hold)
            .map(|item| self.client_order_id(item))
            .collect();
        Ok(self
            .broker
            .open_orders()
            .await?
            .into_iter()
            .filter(|order| !mine.contains(&order.client_order_id))
            .map(|order| {
                format!(
                    "{} {} {} ({}, {})",
                    order.side.as_str(),
                    order.qty.normalize(),
                    order.symbol,
                    order.broker_status,
                    order.client_order_id
                )
            })
            .collect())
    }

    /// The plan stops here: what it placed and is still open is canceled; once every order of
    /// it is final, the refusal is the outcome (pending until then).
    async fn stop(
        &self,
        refusal: Refusal,
        mut records: Vec<OrderRecord>,
        resumed: usize,
    ) -> Step<PlanOutcome> {
        tracing::warn!(plan_id = %self.plan.plan_id, check = refusal.check(), %refusal, "plan stopped");
        for record in records.iter_mut().filter(|r| !r.placed()) {
            record.status = RecordStatus::NotPlaced;
            record.error = Some(format!("not placed: {} ({})", refusal.check(), refusal));
        }
        let open: Vec<String> = records
            .iter()
            .filter(|r| r.status.is_open())
            .filter_map(|r| r.order_id.clone())
            .collect();
        for order_id in &open {
            tracing::warn!(plan_id = %self.plan.plan_id, order_id, "canceling an open order of a stopped plan");
            self.broker
                .cancel_order(order_id)
                .await
                .map_err(|e| self.broker_failed(e, &records, resumed))?;
        }
        if !open.is_empty() {
            self.await_final(&mut records, resumed).await?;
            if records.iter().any(|r| r.status.is_open()) {
                return Err(self.pending(
                    &records,
                    resumed,
                    format!(
                        "plan {} stopped ({}); canceling its open orders ({})",
                        self.plan.plan_id,
                        refusal.check(),
                        open_symbols(&records)
                    ),
                ));
            }
        }
        Ok(PlanOutcome::Refused {
            refusal,
            report: self.report(&records, resumed),
        })
    }

    /// [`Execution::stop`] from inside a step that holds only a view of the records.
    async fn stopped(&self, refusal: Refusal, records: &[OrderRecord], resumed: usize) -> Stop {
        match self.stop(refusal, records.to_vec(), resumed).await {
            Ok(outcome) => Stop::Outcome(outcome),
            Err(stop) => stop,
        }
    }

    /// The kill switch: halted (or holding a value nobody can read: fail closed) is a refusal;
    /// a switch that cannot be reached leaves the step pending, placing nothing.
    async fn halted(&self, records: &[OrderRecord], resumed: usize) -> Step<Option<Refusal>> {
        match self.halt.state().await {
            Ok(state) if state.halted => Ok(Some(Refusal::Halted {
                state: state.describe(),
            })),
            Ok(_) => Ok(None),
            Err(error @ HaltError::Invalid { .. }) => Ok(Some(Refusal::Halted {
                state: error.to_string(),
            })),
            Err(error @ HaltError::Unavailable(_)) => {
                tracing::warn!(plan_id = %self.plan.plan_id, %error, "halt switch unreadable; placing nothing");
                Err(self.pending(
                    records,
                    resumed,
                    format!("{error}; no order is placed until it answers"),
                ))
            }
        }
    }

    /// The broker's orders of today, counted (once per step; then counted on by
    /// [`Execution::place`]). Today starts at midnight New York time rather than at the
    /// session's open: an order queued before the open (a person's, at Alpaca) trades in the
    /// session and counts, and no calendar call is needed.
    async fn tally(&self, records: &[OrderRecord], resumed: usize) -> Step<DayTally> {
        if let Some(day) = *self.day.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(day);
        }
        let now = self.clock.now();
        let since = crate::schedule::new_york_midnight(now);
        let orders = self
            .broker
            .orders_since(since)
            .await
            .map_err(|e| self.broker_failed(e, records, resumed))?;
        let mut latest = BTreeMap::new();
        for symbol in DayTally::unpriced(&orders) {
            let price = self
                .broker
                .latest_price(&symbol)
                .await
                .map_err(|e| self.broker_failed(e, records, resumed))?;
            latest.insert(symbol, price);
        }
        let day = DayTally::of(&orders, &latest)?;
        *self.day.lock().unwrap_or_else(|e| e.into_inner()) = Some(day);
        Ok(day)
    }

    async fn sell(
        &self,
        item: &PlanItem,
        held: Decimal,
        records: &[OrderRecord],
        resumed: usize,
    ) -> Step<OrderRecord> {
        let price = match self.price(item, records, resumed).await? {
            Ok(price) => price,
            Err(failed) => return Ok(failed),
        };
        // Selling out of a position sells every share, so no dust is left behind.
        let qty = if item.target_weight.is_zero() {
            held
        } else {
            shares(item.trade_amount.abs(), price)?.min(held)
        };
        if qty <= Decimal::ZERO {
            return Ok(OrderRecord {
                error: Some(format!(
                    "nothing to sell: the account holds {} {}",
                    held.normalize(),
                    item.symbol
                )),
                ..self.record(item, Decimal::ZERO, price, RecordStatus::NotNeeded)
            });
        }
        self.place(item, qty, price, records, resumed).await
    }

    async fn buy(
        &self,
        item: &PlanItem,
        cash: Decimal,
        records: &[OrderRecord],
        resumed: usize,
    ) -> Step<OrderRecord> {
        let price = match self.price(item, records, resumed).await? {
            Ok(price) => price,
            Err(failed) => return Ok(failed),
        };
        let notional = item.trade_amount.min(cash).max(Decimal::ZERO);
        let qty = shares(notional, price)?;
        if qty.is_zero() {
            return Ok(OrderRecord {
                error: Some(format!(
                    "insufficient cash: {} available for a {} buy",
                    cash.max(Decimal::ZERO).round_dp(2),
                    item.trade_amount
                )),
                ..self.record(item, qty, price, RecordStatus::Skipped)
            });
        }
        self.place(item, qty, price, records, resumed).await
    }

    /// The price to size `item` at; the broker refusing to price it is that order's outcome, a
    /// broker that cannot answer stops the step.
    async fn price(
        &self,
        item: &PlanItem,
        records: &[OrderRecord],
        resumed: usize,
    ) -> Step<Result<Decimal, OrderRecord>> {
        match self.broker.latest_price(&item.symbol).await {
            Ok(price) => Ok(Ok(price)),
            Err(BrokerError::Permanent(reason)) => Ok(Err(self.failed(
                item,
                Decimal::ZERO,
                Decimal::ZERO,
                &BrokerError::Permanent(reason),
            ))),
            Err(error) => Err(self.broker_failed(error, records, resumed)),
        }
    }

    async fn place(
        &self,
        item: &PlanItem,
        qty: Decimal,
        price: Decimal,
        records: &[OrderRecord],
        resumed: usize,
    ) -> Step<OrderRecord> {
        let side = side_of(item);
        // Before every order: the kill switch, then the stage's limits with the day's orders
        // as the broker has them. A trip here stops the plan: what is open is canceled.
        if let Some(refusal) = self.halted(records, resumed).await? {
            return Err(self.stopped(refusal, records, resumed).await);
        }
        let notional = checked(qty.checked_mul(price), || {
            format!("the notional of {qty} {} at {price}", item.symbol)
        })?;
        let mut day = self.tally(records, resumed).await?;
        if let Some(refusal) =
            order_limit_refusal(side, &item.symbol, notional, &self.settings.limits, day)
        {
            return Err(self.stopped(refusal, records, resumed).await);
        }
        let request = OrderRequest {
            symbol: item.symbol.clone(),
            side,
            qty,
            client_order_id: self.client_order_id(item),
        };
        let placed = self.broker.place_market_order(&request).await;
        if placed.is_ok() {
            day.add(match side {
                OrderSide::Buy => notional,
                OrderSide::Sell => Decimal::ZERO,
            });
            *self.day.lock().unwrap_or_else(|e| e.into_inner()) = Some(day);
        }
        match placed {
            Ok(order) => Ok(self
                .record(item, qty, price, RecordStatus::Pending)
                .with_order(&order)),
            Err(BrokerError::Permanent(reason)) => {
                Ok(self.failed(item, qty, price, &BrokerError::Permanent(reason)))
            }
            // The step stops here; the follow-up finds the order by its client order id if the
            // broker took it, and never places it twice.
            Err(error) => Err(self.broker_failed(error, records, resumed)),
        }
    }

    /// Waits (within the invocation's time) until none of `records` is open, re-reading each
    /// open one from the broker.
    async fn await_final(&self, records: &mut [OrderRecord], resumed: usize) -> Step<()> {
        let until = self.wait_until();
        let mut poll = Duration::from_millis(500);
        loop {
            let open: Vec<usize> = (0..records.len())
                .filter(|&i| records[i].status.is_open())
                .collect();
            if open.is_empty() {
                return Ok(());
            }
            if self.clock.now() + delta(poll) > until {
                return Ok(());
            }
            self.clock.sleep(poll).await;
            poll = (poll * 2).min(Duration::from_secs(5));
            for index in open {
                let id = records[index].client_order_id.clone();
                match self.broker.order(&id).await {
                    Ok(Some(order)) => records[index] = records[index].clone().with_order(&order),
                    Ok(None) => {}
                    Err(error) => return Err(self.broker_failed(error, records, resumed)),
                }
            }
        }
    }

    /// How long this invocation may wait for fills: the stage's wait, and never into the time
    /// kept for recording and publishing.
    fn wait_until(&self) -> DateTime<Utc> {
        let until = self.clock.now() + delta(self.settings.max_fill_wait);
        match self.when.deadline {
            Some(deadline) => until.min(deadline - delta(self.settings.deadline_reserve)),
            None => until,
        }
    }

    /// What the orders would have been: nothing is looked up or placed; the buys are sized from
    /// the cash plus what the sells would free.
    async fn dry_run(
        &self,
        sells: &[&PlanItem],
        buys: &[&PlanItem],
        reason: &str,
    ) -> Step<PlanOutcome> {
        let broker_down = |error: BrokerError| {
            Stop::Error(HandlerError::Transient(format!(
                "dry run of plan {}: {error}",
                self.plan.plan_id
            )))
        };
        let holdings = self.broker.holdings().await.map_err(broker_down)?;
        let mut cash = self.broker.account().await.map_err(broker_down)?.cash;
        let mut orders = Vec::new();
        for item in sells.iter().chain(buys) {
            let price = match self.broker.latest_price(&item.symbol).await {
                Ok(price) => price,
                Err(BrokerError::Permanent(reason)) => {
                    orders.push(self.failed(
                        item,
                        Decimal::ZERO,
                        Decimal::ZERO,
                        &BrokerError::Permanent(reason),
                    ));
                    continue;
                }
                Err(error) => return Err(broker_down(error)),
            };
            let qty = match side_of(item) {
                OrderSide::Sell => {
                    let held = holdings
                        .positions
                        .iter()
                        .find(|p| p.symbol == item.symbol)
                        .map_or(Decimal::ZERO, |p| p.qty);
                    let qty = if item.target_weight.is_zero() {
                        held
                    } else {
                        shares(item.trade_amount.abs(), price)?.min(held)
                    };
                    cash += checked(qty.checked_mul(price), || {
                        format!("the proceeds of {qty} {} at {price}", item.symbol)
                    })?;
                    qty
                }
                OrderSide::Buy => {
                    let qty = shares(item.trade_amount.min(cash).max(Decimal::ZERO), price)?;
                    cash -= checked(qty.checked_mul(price), || {
                        format!("the cost of {qty} {} at {price}", item.symbol)
                    })?;
                    qty
                }
            };
            orders.push(self.record(item, qty, price, RecordStatus::DryRun));
        }
        Ok(PlanOutcome::Executed(ExecutionReport {
            orders,
            dry_run: true,
            dry_run_reason: Some(reason.to_owned()),
            resumed: 0,
        }))
    }

    fn failed(
        &self,
        item: &PlanItem,
        qty: Decimal,
        price: Decimal,
        error: &BrokerError,
    ) -> OrderRecord {
        tracing::warn!(symbol = %item.symbol, side = side_of(item).as_str(), %error, "order refused by the broker");
        OrderRecord {
            error: Some(error.to_string()),
            ..self.record(item, qty, price, RecordStatus::Failed)
        }
    }
}

/// The account's equity: the broker's own figure when it states one, else cash plus positions.
fn equity(account: &Account, holdings: &Holdings) -> Result<Decimal, HandlerError> {
    if let Some(value) = account.portfolio_value {
        return Ok(value);
    }
    holdings.positions.iter().try_fold(account.cash, |sum, p| {
        checked(
            p.qty.checked_mul(p.price).and_then(|v| sum.checked_add(v)),
            || format!("the value of {} {}", p.qty, p.symbol),
        )
    })
}

fn side_of(item: &PlanItem) -> OrderSide {
    match item.action {
        TradeAction::Sell => OrderSide::Sell,
        _ => OrderSide::Buy,
    }
}

fn open_symbols(records: &[OrderRecord]) -> String {
    records
        .iter()
        .filter(|r| r.status.is_open())
        .map(|r| {
            format!(
                "{} {} {}",
                r.side.as_str(),
                r.symbol,
                r.broker_status.as_deref().unwrap_or("open")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
