//! Placing a plan's orders: first make sure the plan is still the one to trade (fresh, and made
//! from the account as it is now), then sells, then — once the sells have filled — buys within the
//! cash they freed.
//!
//! What makes this safe to run again: every order's `client_order_id` derives from the plan, side
//! and symbol, the plan's orders already at the broker are looked up (and not placed again)
//! before anything is placed, and a transient failure stops the plan and asks for a retry instead
//! of being reported as an outcome.

use std::collections::BTreeMap;
use std::time::Duration;

use alchemiser_bus::HandlerError;
use alchemiser_clock::Clock;
use alchemiser_events::{Decimal, PlanItem, RebalancePlan, Symbol, TradeAction};
use chrono::{DateTime, Utc};
use rust_decimal::RoundingStrategy;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::broker::{Broker, BrokerError, Holdings, OrderOutcome, OrderRequest, OrderSide};

/// Share quantities are sent with at most this many decimal places (rounded down, so an order
/// never costs more than planned).
const QTY_PLACES: u32 = 6;
/// Hex characters of the plan's digest in a client order id: 128 bits.
const PLAN_KEY_CHARS: usize = 32;

/// The stage's rules for trading a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionSettings {
    /// Whether plans derived from archive replays may place orders (`ALLOW_REPLAY_EXECUTION`).
    pub allow_replay_execution: bool,
    /// The oldest plan that is still traded (`MAX_PLAN_AGE_SECONDS`).
    pub max_plan_age: Duration,
    /// How far in the future a plan's time may be before it is refused: the clocks of two
    /// functions disagree a little, never by minutes.
    pub max_clock_skew: Duration,
    /// The longest wait for the sells to fill before the buys are sized.
    pub max_fill_wait: Duration,
    /// What is kept of the invocation's time after the wait, for the buys, the record and the
    /// publish.
    pub deadline_reserve: Duration,
    /// The oldest workflow whose plan is still traded (`WORKFLOW_DEADLINE_SECONDS`, the
    /// monitor's deadline): once the sweep has declared a workflow timed out, a plan of it that
    /// arrives late places nothing.
    pub max_workflow_age: Duration,
}

impl Default for ExecutionSettings {
    /// Replays never trade; plans older than 15 minutes are refused (the Lambda retries of a
    /// failed attempt come 1 and 2 minutes later; a plan an hour old describes a market that has
    /// moved); up to 60 s of waiting for fills (the execution function's timeout is 120 s).
    fn default() -> Self {
        Self {
            allow_replay_execution: false,
            max_plan_age: Duration::from_secs(15 * 60),
            max_workflow_age: Duration::from_secs(30 * 60),
            max_clock_skew: Duration::from_secs(60),
            max_fill_wait: Duration::from_secs(60),
            deadline_reserve: Duration::from_secs(20),
        }
    }
}

/// Whether orders are really placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionMode {
    /// Place the orders.
    Live,
    /// Compute the orders and place none (e.g. a plan derived from an archive replay).
    DryRun {
        /// Why this run places nothing.
        reason: String,
    },
}

/// What happened to one planned trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderRecord {
    /// The symbol.
    pub symbol: Symbol,
    /// `buy` or `sell`.
    pub side: OrderSide,
    /// Shares ordered (or that would have been, in a dry run).
    pub qty: Decimal,
    /// Price the quantity was sized at.
    pub price: Decimal,
    /// Idempotency key sent to the broker.
    pub client_order_id: String,
    /// The broker's status (`FILLED`, `PARTIALLY_FILLED`, `PENDING`, `CANCELED`, `EXPIRED`,
    /// `REJECTED`), or `FAILED` (refused), `SKIPPED` (nothing to trade) or `DRY_RUN`.
    pub status: &'static str,
    /// The broker's order id, when placed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Shares filled so far, when placed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filled_qty: Option<Decimal>,
    /// Average fill price, when something filled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fill_price: Option<Decimal>,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl OrderRecord {
    fn placed(&self) -> bool {
        !matches!(self.status, "SKIPPED" | "DRY_RUN")
    }
    fn succeeded(&self) -> bool {
        matches!(self.status, "FILLED" | "PARTIALLY_FILLED" | "PENDING")
    }
    fn failed(&self) -> bool {
        matches!(
            self.status,
            "FAILED" | "SKIPPED" | "CANCELED" | "EXPIRED" | "REJECTED"
        )
    }
    fn pending(&self) -> bool {
        matches!(self.status, "PENDING" | "PARTIALLY_FILLED")
    }
}

/// The outcome of executing one plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecutionReport {
    /// One record per BUY or SELL item, in the order executed.
    pub orders: Vec<OrderRecord>,
    /// True when nothing was placed on purpose.
    pub dry_run: bool,
    /// Why this was a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run_reason: Option<String>,
    /// Orders of this plan that an earlier attempt had placed (found, not placed again).
    pub resumed: u32,
}

impl ExecutionReport {
    /// Orders sent to the broker.
    pub fn orders_placed(&self) -> u32 {
        self.count(OrderRecord::placed)
    }
    /// Orders the broker filled or accepted.
    pub fn orders_succeeded(&self) -> u32 {
        self.count(OrderRecord::succeeded)
    }
    fn count(&self, which: impl Fn(&OrderRecord) -> bool) -> u32 {
        u32::try_from(self.orders.iter().filter(|o| which(o)).count()).unwrap_or(u32::MAX)
    }
    /// Symbols whose trade failed or was skipped.
    pub fn failed_symbols(&self) -> Vec<String> {
        self.orders
            .iter()
            .filter(|o| o.failed())
            .map(|o| o.symbol.to_string())
            .collect()
    }
    /// The value of what was ordered at the sizing price: Σ qty × price.
    pub fn total_trade_value(&self) -> Decimal {
        self.orders
            .iter()
            .filter(|o| o.succeeded() || o.status == "DRY_RUN")
            .filter_map(|o| o.qty.checked_mul(o.price))
            .fold(Decimal::ZERO, |sum, value| sum.saturating_add(value))
            .round_dp(2)
    }
    /// A one-line reason when not every trade went through.
    pub fn failure_reason(&self) -> Option<String> {
        let failures: Vec<String> = self
            .orders
            .iter()
            .filter(|o| o.failed())
            .map(|o| {
                format!(
                    "{} {}: {}",
                    o.side.as_str(),
                    o.symbol,
                    o.error.as_deref().unwrap_or("failed")
                )
            })
            .collect();
        (!failures.is_empty()).then(|| failures.join("; "))
    }
}

/// Why a plan is not traded at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The plan is older than the stage allows.
    TooOld {
        /// Its age.
        age: chrono::TimeDelta,
        /// The stage's limit.
        max: Duration,
    },
    /// The plan's workflow started longer ago than its deadline: the monitor times it out.
    WorkflowTooOld {
        /// The workflow's age.
        age: chrono::TimeDelta,
        /// The deadline.
        max: Duration,
    },
    /// The plan is dated in the future, beyond any clock skew.
    FromTheFuture {
        /// How far ahead.
        ahead: chrono::TimeDelta,
    },
    /// The account moved since the plan was made, beyond the plan's tolerance.
    Drift {
        /// The symbol (or `cash`) that moved most.
        what: String,
        /// Its value in the plan.
        planned: Decimal,
        /// Its value now.
        now: Decimal,
        /// The plan's portfolio value.
        total: Decimal,
        /// The plan's `max_drift_tolerance`.
        tolerance: Decimal,
    },
}

impl Refusal {
    /// A short name for the check that failed: `plan_age`, `workflow_age`, `clock_skew` or
    /// `drift`.
    pub fn check(&self) -> &'static str {
        match self {
            Refusal::TooOld { .. } => "plan_age",
            Refusal::WorkflowTooOld { .. } => "workflow_age",
            Refusal::FromTheFuture { .. } => "clock_skew",
            Refusal::Drift { .. } => "drift",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::TooOld { age, max } => write!(
                f,
                "the plan is {} old and the stage trades plans up to {} old (MAX_PLAN_AGE_SECONDS): no order placed; plan again from a fresh signal",
                human(age.num_seconds()),
                human(i64::try_from(max.as_secs()).unwrap_or(i64::MAX))
            ),
            Refusal::WorkflowTooOld { age, max } => write!(
                f,
                "the plan's workflow started {} ago and workflows end after {} (WORKFLOW_DEADLINE_SECONDS): no order placed; the workflow is timed out, start a new one",
                human(age.num_seconds()),
                human(i64::try_from(max.as_secs()).unwrap_or(i64::MAX))
            ),
            Refusal::FromTheFuture { ahead } => write!(
                f,
                "the plan is dated {} ahead of this function's clock: no order placed; check the clocks of the producer",
                human(ahead.num_seconds())
            ),
            Refusal::Drift {
                what,
                planned,
                now,
                total,
                tolerance,
            } => write!(
                f,
                "the account moved since the plan was made: {what} was {planned} in the plan and is {now} now, \
                 {} of the plan's portfolio value {total}, over its max_drift_tolerance of {}: no order placed; \
                 plan again from the account as it is",
                percent(share(*now - *planned, *total)),
                percent(*tolerance)
            ),
        }
    }
}

fn human(seconds: i64) -> String {
    alchemiser_clock::format_duration(chrono::TimeDelta::seconds(seconds.saturating_abs()))
}

fn share(part: Decimal, total: Decimal) -> Decimal {
    part.abs().checked_div(total).unwrap_or(Decimal::ONE)
}

fn percent(fraction: Decimal) -> String {
    let value = fraction
        .checked_mul(Decimal::ONE_HUNDRED)
        .unwrap_or(Decimal::MAX);
    format!("{}%", value.round_dp(2))
}

/// What executing a plan came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanOutcome {
    /// The orders were placed (or would have been, in a dry run).
    Executed(ExecutionReport),
    /// The plan was not traded.
    Refused(Refusal),
}

/// The idempotency key of one order: the first 128 bits of SHA-256 of the plan id (hex), the
/// side and the symbol. Bounded (at most 48 characters; Alpaca allows 128) and unambiguous: the
/// key has a fixed length, the side contains no `-`, and a plan id of any length or content maps
/// to its own key.
pub fn client_order_id(plan_id: &str, side: OrderSide, symbol: &Symbol) -> String {
    let digest = Sha256::digest(plan_id.as_bytes());
    let key: String = digest
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<String>()
        .chars()
        .take(PLAN_KEY_CHARS)
        .collect();
    format!("{key}-{}-{symbol}", side.as_str())
}

/// The plan's trades, and where to place them.
struct Execution<'a> {
    plan: &'a RebalancePlan,
    broker: &'a dyn Broker,
    mode: &'a ExecutionMode,
    settings: &'a ExecutionSettings,
    clock: &'a dyn Clock,
    when: When,
}

/// The times a plan's execution is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    /// When the invocation must be done by, if it has a deadline.
    pub deadline: Option<DateTime<Utc>>,
    /// When the plan's workflow started (the plan's own time when its producer did not say).
    pub workflow_started_at: DateTime<Utc>,
}

/// Executes `plan` with `broker`. `Err` is a transient failure (nothing decided, or the rest of the
/// plan must wait: the retry resumes it) or an arithmetic error; a refused plan and failed orders
/// are outcomes.
pub async fn execute_plan(
    plan: &RebalancePlan,
    broker: &dyn Broker,
    mode: &ExecutionMode,
    settings: &ExecutionSettings,
    clock: &dyn Clock,
    when: When,
) -> Result<PlanOutcome, HandlerError> {
    Execution {
        plan,
        broker,
        mode,
        settings,
        clock,
        when,
    }
    .run()
    .await
}

impl Execution<'_> {
    fn live(&self) -> bool {
        matches!(self.mode, ExecutionMode::Live)
    }

    async fn run(&self) -> Result<PlanOutcome, HandlerError> {
        let (sells, buys): (Vec<&PlanItem>, Vec<&PlanItem>) = self
            .plan
            .items
            .iter()
            .filter(|item| item.action != TradeAction::Hold)
            .partition(|item| item.action == TradeAction::Sell);
        if self.live() {
            if let Some(refusal) = self.age_refusal() {
                return Ok(PlanOutcome::Refused(refusal));
            }
        }
        let placed = self.placed_before(&sells, &buys).await?;
        let holdings = self.broker.holdings().await.map_err(HandlerError::from)?;
        let mut cash = self
            .broker
            .account()
            .await
            .map_err(HandlerError::from)?
            .cash;
        // The account moved since the plan because of the plan itself once an earlier attempt
        // placed some of its orders; the age check above still applies to the rest.
        if self.live() && placed.is_empty() {
            if let Some(refusal) = self.drift_refusal(&holdings, cash)? {
                return Ok(PlanOutcome::Refused(refusal));
            }
        }
        let mut orders = Vec::new();
        for item in sells {
            let held = holdings
                .positions
                .iter()
                .find(|p| p.symbol == item.symbol)
                .map_or(Decimal::ZERO, |p| p.qty);
            let record = self.sell(item, held, &placed).await?;
            if !self.live() && record.status == "DRY_RUN" {
                cash = cash.saturating_add(cost(&record)?);
            }
            orders.push(record);
        }
        if self.live() {
            self.await_fills(&mut orders).await?;
            // The broker is the truth about what the sells freed (fees, partial fills).
            cash = self
                .broker
                .account()
                .await
                .map_err(HandlerError::from)?
                .cash;
        }
        for item in buys {
            let record = self.buy(item, cash, &placed).await?;
            if record.succeeded() || record.status == "DRY_RUN" {
                cash = (cash - cost(&record)?).max(Decimal::ZERO);
            }
            orders.push(record);
        }
        Ok(PlanOutcome::Executed(ExecutionReport {
            orders,
            dry_run: !self.live(),
            dry_run_reason: match self.mode {
                ExecutionMode::DryRun { reason } => Some(reason.clone()),
                ExecutionMode::Live => None,
            },
            resumed: u32::try_from(placed.len()).unwrap_or(u32::MAX),
        }))
    }

    fn age_refusal(&self) -> Option<Refusal> {
        let age = self.clock.now() - self.plan.timestamp.0;
        let skew = chrono::TimeDelta::from_std(self.settings.max_clock_skew).unwrap_or_default();
        if -age > skew {
            return Some(Refusal::FromTheFuture { ahead: -age });
        }
        let max = chrono::TimeDelta::from_std(self.settings.max_plan_age).unwrap_or_default();
        if age > max {
            return Some(Refusal::TooOld {
                age,
                max: self.settings.max_plan_age,
            });
        }
        let workflow_age = self.clock.now() - self.when.workflow_started_at;
        let max = chrono::TimeDelta::from_std(self.settings.max_workflow_age).unwrap_or_default();
        (workflow_age > max).then_some(Refusal::WorkflowTooOld {
            age: workflow_age,
            max: self.settings.max_workflow_age,
        })
    }

    /// Compares what the plan says the account held with what it holds now: the largest change
    /// of any symbol's value (or of the cash), as a share of the plan's portfolio value, must be
    /// within the plan's `max_drift_tolerance`.
    fn drift_refusal(
        &self,
        holdings: &Holdings,
        cash: Decimal,
    ) -> Result<Option<Refusal>, HandlerError> {
        let total = self.plan.total_portfolio_value;
        if total <= Decimal::ZERO {
            return Ok(None);
        }
        let mut planned: BTreeMap<String, Decimal> = BTreeMap::new();
        let mut now: BTreeMap<String, Decimal> = BTreeMap::new();
        for item in &self.plan.items {
            planned.insert(item.symbol.to_string(), item.current_value);
        }
        for position in &holdings.positions {
            let value = checked(position.qty.checked_mul(position.price), || {
                format!(
                    "the value of {} {} at {}",
                    position.qty, position.symbol, position.price
                )
            })?;
            now.insert(position.symbol.to_string(), value);
        }
        let invested = planned
            .values()
            .try_fold(Decimal::ZERO, |sum, value| sum.checked_add(*value));
        let planned_cash = checked(invested, || "the plan's current values".into())?;
        planned.insert("cash".into(), (total - planned_cash).max(Decimal::ZERO));
        now.insert("cash".into(), cash);
        let names: std::collections::BTreeSet<&String> = planned.keys().chain(now.keys()).collect();
        let worst = names
            .into_iter()
            .map(|name| {
                let was = planned.get(name).copied().unwrap_or_default();
                let is = now.get(name).copied().unwrap_or_default();
                (share(is - was, total), name, was, is)
            })
            .max_by(|a, b| a.0.cmp(&b.0));
        Ok(worst
            .filter(|(drift, ..)| *drift > self.plan.max_drift_tolerance)
            .map(|(_, name, was, is)| Refusal::Drift {
                what: name.clone(),
                planned: was,
                now: is.round_dp(2),
                total,
                tolerance: self.plan.max_drift_tolerance,
            }))
    }

    /// The plan's orders an earlier attempt already placed, by client order id.
    async fn placed_before(
        &self,
        sells: &[&PlanItem],
        buys: &[&PlanItem],
    ) -> Result<BTreeMap<String, OrderOutcome>, HandlerError> {
        let mut placed = BTreeMap::new();
        if !self.live() {
            return Ok(placed);
        }
        for item in sells.iter().chain(buys) {
            let id = self.client_order_id(item);
            if let Some(outcome) = self.broker.order(&id).await.map_err(HandlerError::from)? {
                placed.insert(id, outcome);
            }
        }
        Ok(placed)
    }

    fn client_order_id(&self, item: &PlanItem) -> String {
        client_order_id(&self.plan.plan_id, side_of(item), &item.symbol)
    }

    async fn sell(
        &self,
        item: &PlanItem,
        held: Decimal,
        placed: &BTreeMap<String, OrderOutcome>,
    ) -> Result<OrderRecord, HandlerError> {
        if let Some(found) = placed.get(&self.client_order_id(item)) {
            return Ok(self.resumed(item, found));
        }
        let price = match self.price(item).await? {
            Ok(price) => price,
            Err(failed) => return Ok(failed),
        };
        // Selling out of a position sells every share, so no dust is left behind.
        let qty = if item.target_weight.is_zero() {
            held
        } else {
            shares(item.trade_amount.abs(), price)?.min(held)
        };
        self.place(item, qty, price).await
    }

    async fn buy(
        &self,
        item: &PlanItem,
        cash: Decimal,
        placed: &BTreeMap<String, OrderOutcome>,
    ) -> Result<OrderRecord, HandlerError> {
        if let Some(found) = placed.get(&self.client_order_id(item)) {
            return Ok(self.resumed(item, found));
        }
        let price = match self.price(item).await? {
            Ok(price) => price,
            Err(failed) => return Ok(failed),
        };
        let notional = item.trade_amount.min(cash).max(Decimal::ZERO);
        let qty = shares(notional, price)?;
        if qty.is_zero() {
            return Ok(OrderRecord {
                error: Some(format!(
                    "insufficient cash: {cash} available for a {} buy",
                    item.trade_amount
                )),
                ..self.record(item, qty, price, "SKIPPED")
            });
        }
        self.place(item, qty, price).await
    }

    /// The price to size `item` at; a permanent failure is that order's outcome, a transient one
    /// stops the plan.
    async fn price(&self, item: &PlanItem) -> Result<Result<Decimal, OrderRecord>, HandlerError> {
        match self.broker.latest_price(&item.symbol).await {
            Ok(price) => Ok(Ok(price)),
            Err(BrokerError::Transient(reason)) => Err(HandlerError::Transient(reason)),
            Err(error) => Ok(Err(self.failed(item, Decimal::ZERO, Decimal::ZERO, &error))),
        }
    }

    async fn place(
        &self,
        item: &PlanItem,
        qty: Decimal,
        price: Decimal,
    ) -> Result<OrderRecord, HandlerError> {
        if qty <= Decimal::ZERO {
            return Ok(OrderRecord {
                error: Some("nothing to trade at the current price".into()),
                ..self.record(item, Decimal::ZERO, price, "SKIPPED")
            });
        }
        if !self.live() {
            return Ok(self.record(item, qty, price, "DRY_RUN"));
        }
        let request = OrderRequest {
            symbol: item.symbol.clone(),
            side: side_of(item),
            qty,
            client_order_id: self.client_order_id(item),
        };
        match self.broker.place_market_order(&request).await {
            Ok(outcome) => Ok(self.with_outcome(self.record(item, qty, price, ""), &outcome)),
            // The plan stops here; Lambda retries it and the orders placed so far are found by
            // their client order ids, never placed twice.
            Err(BrokerError::Transient(reason)) => Err(HandlerError::Transient(format!(
                "{} {} {} of plan {}: {reason}",
                request.side.as_str(),
                qty,
                item.symbol,
                self.plan.plan_id
            ))),
            Err(error) => Ok(self.failed(item, qty, price, &error)),
        }
    }

    /// Waits (within the invocation's time) until no sell is pending, re-reading each from the
    /// broker; sells still open at the end stop the plan for a retry.
    async fn await_fills(&self, orders: &mut [OrderRecord]) -> Result<(), HandlerError> {
        let started = self.clock.now();
        let mut until =
            started + chrono::TimeDelta::from_std(self.settings.max_fill_wait).unwrap_or_default();
        if let Some(deadline) = self.when.deadline {
            let reserve =
                chrono::TimeDelta::from_std(self.settings.deadline_reserve).unwrap_or_default();
            until = until.min(deadline - reserve);
        }
        let mut poll = Duration::from_millis(500);
        loop {
            let open: Vec<usize> = (0..orders.len()).filter(|&i| orders[i].pending()).collect();
            if open.is_empty() {
                return Ok(());
            }
            let next = self.clock.now() + chrono::TimeDelta::from_std(poll).unwrap_or_default();
            if next > until {
                let symbols: Vec<String> =
                    open.iter().map(|&i| orders[i].symbol.to_string()).collect();
                return Err(HandlerError::Transient(format!(
                    "the sells of plan {} ({}) had not filled after {}s, so the buys cannot be sized yet; \
                     the retry finds them by client order id and waits again",
                    self.plan.plan_id,
                    symbols.join(", "),
                    (self.clock.now() - started).num_seconds()
                )));
            }
            self.clock.sleep(poll).await;
            poll = (poll * 2).min(Duration::from_secs(5));
            for index in open {
                let id = orders[index].client_order_id.clone();
                if let Some(outcome) = self.broker.order(&id).await.map_err(HandlerError::from)? {
                    let record = orders[index].clone();
                    orders[index] = self.with_outcome(record, &outcome);
                }
            }
        }
    }

    fn resumed(&self, item: &PlanItem, found: &OrderOutcome) -> OrderRecord {
        tracing::info!(symbol = %item.symbol, order_id = %found.order_id, "order placed by an earlier attempt; not placed again");
        let price = found.fill_price.unwrap_or_default();
        self.with_outcome(self.record(item, found.filled_qty, price, ""), found)
    }

    fn with_outcome(&self, record: OrderRecord, outcome: &OrderOutcome) -> OrderRecord {
        let error = (!outcome.status.is_working_or_filled())
            .then(|| format!("the broker reports the order {}", outcome.status.as_str()));
        OrderRecord {
            status: outcome.status.as_str(),
            order_id: Some(outcome.order_id.clone()),
            filled_qty: Some(outcome.filled_qty),
            fill_price: outcome.fill_price,
            qty: if record.qty.is_zero() {
                outcome.filled_qty
            } else {
                record.qty
            },
            error,
            ..record
        }
    }

    fn failed(
        &self,
        item: &PlanItem,
        qty: Decimal,
        price: Decimal,
        error: &BrokerError,
    ) -> OrderRecord {
        tracing::warn!(symbol = %item.symbol, side = side_of(item).as_str(), %error, "order failed");
        OrderRecord {
            error: Some(error.to_string()),
            ..self.record(item, qty, price, "FAILED")
        }
    }

    fn record(
        &self,
        item: &PlanItem,
        qty: Decimal,
        price: Decimal,
        status: &'static str,
    ) -> OrderRecord {
        OrderRecord {
            symbol: item.symbol.clone(),
            side: side_of(item),
            qty,
            price,
            client_order_id: self.client_order_id(item),
            status,
            order_id: None,
            filled_qty: None,
            fill_price: None,
            error: None,
        }
    }
}

fn side_of(item: &PlanItem) -> OrderSide {
    match item.action {
        TradeAction::Sell => OrderSide::Sell,
        _ => OrderSide::Buy,
    }
}

fn checked(value: Option<Decimal>, what: impl FnOnce() -> String) -> Result<Decimal, HandlerError> {
    value.ok_or_else(|| {
        HandlerError::Permanent(format!(
            "{} overflows exact decimal arithmetic: the values are implausible; check the plan and the account",
            what()
        ))
    })
}

/// What an order costs at the price it was sized at (or filled at).
fn cost(record: &OrderRecord) -> Result<Decimal, HandlerError> {
    let price = record.fill_price.unwrap_or(record.price);
    checked(record.qty.checked_mul(price), || {
        format!("the cost of {} {} at {price}", record.qty, record.symbol)
    })
}

fn shares(notional: Decimal, price: Decimal) -> Result<Decimal, HandlerError> {
    if price <= Decimal::ZERO {
        return Ok(Decimal::ZERO);
    }
    let qty = checked(notional.checked_div(price), || {
        format!("sizing an order of {notional} at a price of {price}")
    })?;
    Ok(qty
        .round_dp_with_strategy(QTY_PLACES, RoundingStrategy::ToZero)
        .normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_order_ids_are_bounded_and_do_not_collide() {
        let sym = |s: &str| Symbol::parse(s).unwrap();
        // `plan-7-BRK` + `B` against `plan-7` + `BRK-B`: once equal, now distinct.
        let a = client_order_id("plan-7-BRK", OrderSide::Buy, &sym("B"));
        let b = client_order_id("plan-7", OrderSide::Buy, &sym("BRK-B"));
        assert_ne!(a, b);
        let long_plan = "portfolio_v2_".to_owned() + &"x".repeat(300);
        let id = client_order_id(&long_plan, OrderSide::Sell, &sym("ABCDEFGHIJ"));
        assert!(id.len() <= 48 && id.len() <= 128, "{id}");
        assert_eq!(
            id,
            client_order_id(&long_plan, OrderSide::Sell, &sym("ABCDEFGHIJ"))
        );
        assert_ne!(
            id,
            client_order_id(&long_plan, OrderSide::Buy, &sym("ABCDEFGHIJ"))
        );
    }

    #[test]
    fn absurd_prices_are_an_error_not_a_panic() {
        let tiny = Decimal::new(1, 28);
        let error = shares(Decimal::MAX, tiny).unwrap_err();
        assert!(error.reason().contains("overflows"), "{error}");
        assert!(error.reason().contains(&tiny.to_string()), "{error}");
    }
}
