//! Why a plan (or what is left of it) is not traded: each refusal names its check and the numbers
//! that broke it, and says what to do next.

use std::time::Duration;

use alchemiser_events::Decimal;
use chrono::{DateTime, Utc};

/// Why a plan, or the rest of it, is not traded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The plan is older than the stage allows (checked before its first order).
    TooOld {
        /// Its age.
        age: chrono::TimeDelta,
        /// The stage's limit.
        max: Duration,
    },
    /// The plan's workflow is past its deadline: the monitor times it out.
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
    /// The account moved since the plan was made, beyond the plan's tolerance: the changes of
    /// every symbol's value and of the cash, added up, as a share of the plan's portfolio value.
    Drift {
        /// All the changes added up, as a share of the portfolio value.
        moved: Decimal,
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
    /// The market is closed, or about to close (the broker's clock): no order is placed until
    /// it opens.
    MarketClosed {
        /// When it opens next.
        next_open: DateTime<Utc>,
        /// When it closes, when it is still open (too close to the close to place orders).
        closes_at: Option<DateTime<Utc>>,
    },
    /// Other orders of the account are still open (another plan's, or a person's), and the plan
    /// is too old to wait for them any longer.
    AccountBusy {
        /// The open orders, one line each.
        orders: Vec<String>,
    },
    /// The plan had started, lost hold of the account (its execution was interrupted for
    /// longer than its lease), and other orders were placed on the account since: what is left
    /// of it would trade an account it no longer describes.
    Superseded {
        /// The other orders, one line each.
        orders: Vec<String>,
    },
    /// The stage is halted (its kill switch): nothing is placed until an operator resumes it.
    Halted {
        /// What the switch says: why, by whom, since when (or why it cannot be read).
        state: String,
    },
    /// The plan's target weights add up to more than the whole account, beyond its tolerance.
    WeightsOverOne {
        /// The sum of the target weights.
        sum: Decimal,
        /// The plan's `max_drift_tolerance`.
        tolerance: Decimal,
    },
    /// The plan buys more than the account's equity plus what its sells free.
    BuysBeyondMeans {
        /// What the plan buys.
        buys: Decimal,
        /// The account's equity.
        equity: Decimal,
        /// What the plan's sells free.
        sells: Decimal,
    },
    /// An order (or the plan's item for it) is worth more than the stage's limit for one order.
    OrderTooLarge {
        /// `buy SPY`.
        order: String,
        /// Its notional.
        notional: Decimal,
        /// `MAX_ORDER_NOTIONAL`.
        max: Decimal,
    },
    /// The plan turns over more of the account than the stage allows.
    TurnoverTooHigh {
        /// The larger of what it buys and what it sells, as a fraction of the equity.
        turnover: Decimal,
        /// The account's equity.
        equity: Decimal,
        /// `MAX_PLAN_TURNOVER`.
        max: Decimal,
    },
    /// The plan (or its next order) would take the day's buys beyond the stage's limit.
    DailyBuyNotional {
        /// Bought today already (filled, and open buys), from the broker's orders of the day.
        bought: Decimal,
        /// What the plan (or its next order) would add.
        adding: Decimal,
        /// `MAX_DAILY_BUY_NOTIONAL`.
        max: Decimal,
    },
    /// The plan (or its next order) would take the day's orders beyond the stage's limit.
    DailyOrders {
        /// Orders the broker took today already.
        placed: u32,
        /// Orders the plan (or its next order) would add.
        adding: u32,
        /// `MAX_DAILY_ORDERS`.
        max: u32,
    },
    /// The plan's sells that failed are worth more than the stage's threshold: its buys are not
    /// placed.
    FailedSells {
        /// The unfilled value of the failed sells.
        failed: Decimal,
        /// Which (`SPY 1200.00`, ...).
        symbols: Vec<String>,
        /// `MAX_FAILED_SELL_NOTIONAL`.
        max: Decimal,
    },
    /// The plan buys symbols outside the stage's allow-list.
    NotAllowed {
        /// The symbols.
        symbols: Vec<String>,
        /// `BUY_ALLOW_LIST`.
        allowed: Vec<String>,
    },
}

/// A limit a refusal broke: which, set to what, and the number that broke it (for
/// WorkflowFailed's `error_details`, alarms and people).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitBreach {
    /// The stage's setting (`MAX_ORDER_NOTIONAL`, ...), or the plan's own field.
    pub limit: &'static str,
    /// Its value.
    pub configured: String,
    /// The number that broke it.
    pub actual: String,
}

impl Refusal {
    /// A short name for the check that failed: `plan_age`, `workflow_age`, `clock_skew`,
    /// `drift`, `market_closed`, `account_busy`, `superseded`, `halted`, `target_weights`,
    /// `buys_over_equity`, `max_order_notional`, `max_plan_turnover`, `max_daily_buy_notional`,
    /// `max_daily_orders`, `max_failed_sell_notional` or `buy_allow_list`.
    pub fn check(&self) -> &'static str {
        match self {
            Refusal::TooOld { .. } => "plan_age",
            Refusal::WorkflowTooOld { .. } => "workflow_age",
            Refusal::FromTheFuture { .. } => "clock_skew",
            Refusal::Drift { .. } => "drift",
            Refusal::MarketClosed { .. } => "market_closed",
            Refusal::AccountBusy { .. } => "account_busy",
            Refusal::Superseded { .. } => "superseded",
            Refusal::Halted { .. } => "halted",
            Refusal::WeightsOverOne { .. } => "target_weights",
            Refusal::BuysBeyondMeans { .. } => "buys_over_equity",
            Refusal::OrderTooLarge { .. } => "max_order_notional",
            Refusal::TurnoverTooHigh { .. } => "max_plan_turnover",
            Refusal::DailyBuyNotional { .. } => "max_daily_buy_notional",
            Refusal::DailyOrders { .. } => "max_daily_orders",
            Refusal::FailedSells { .. } => "max_failed_sell_notional",
            Refusal::NotAllowed { .. } => "buy_allow_list",
        }
    }

    /// The checks that are the stage's pre-trade limits and its kill switch (each a metric with
    /// an alarm): what [`Refusal::check`] names for them.
    pub const LIMIT_CHECKS: [&'static str; 9] = [
        "halted",
        "target_weights",
        "buys_over_equity",
        "max_order_notional",
        "max_plan_turnover",
        "max_daily_buy_notional",
        "max_daily_orders",
        "max_failed_sell_notional",
        "buy_allow_list",
    ];

    /// The limit this refusal broke, its value and the number that broke it; `None` for the
    /// refusals that are not a limit (age, drift, the market's hours, a busy account).
    pub fn breach(&self) -> Option<LimitBreach> {
        let breach = |limit, configured: String, actual: String| {
            Some(LimitBreach {
                limit,
                configured,
                actual,
            })
        };
        match self {
            Refusal::Halted { state } => {
                breach("TRADING_HALT_PARAMETER", "halted".into(), state.clone())
            }
            Refusal::WeightsOverOne { sum, tolerance } => breach(
                "target weights ≤ 1 + max_drift_tolerance",
                (Decimal::ONE + tolerance).to_string(),
                sum.to_string(),
            ),
            Refusal::BuysBeyondMeans {
                buys,
                equity,
                sells,
            } => breach(
                "buys ≤ equity + sells",
                equity.saturating_add(*sells).round_dp(2).to_string(),
                buys.round_dp(2).to_string(),
            ),
            Refusal::OrderTooLarge { notional, max, .. } => breach(
                "MAX_ORDER_NOTIONAL",
                max.to_string(),
                notional.round_dp(2).to_string(),
            ),
            Refusal::TurnoverTooHigh { turnover, max, .. } => breach(
                "MAX_PLAN_TURNOVER",
                max.to_string(),
                turnover.round_dp(4).to_string(),
            ),
            Refusal::DailyBuyNotional {
                bought,
                adding,
                max,
            } => breach(
                "MAX_DAILY_BUY_NOTIONAL",
                max.to_string(),
                bought.saturating_add(*adding).round_dp(2).to_string(),
            ),
            Refusal::DailyOrders {
                placed,
                adding,
                max,
            } => breach(
                "MAX_DAILY_ORDERS",
                max.to_string(),
                placed.saturating_add(*adding).to_string(),
            ),
            Refusal::FailedSells { failed, max, .. } => breach(
                "MAX_FAILED_SELL_NOTIONAL",
                max.to_string(),
                failed.round_dp(2).to_string(),
            ),
            Refusal::NotAllowed { symbols, allowed } => {
                breach("BUY_ALLOW_LIST", allowed.join(","), symbols.join(","))
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::TooOld { age, max } => write!(
                f,
                "the plan is {} old and the stage starts plans up to {} old (MAX_PLAN_AGE_SECONDS); plan again from a fresh signal",
                human(age.num_seconds()),
                human(i64::try_from(max.as_secs()).unwrap_or(i64::MAX))
            ),
            Refusal::WorkflowTooOld { age, max } => write!(
                f,
                "the plan's workflow started {} ago and workflows end after {} (WORKFLOW_DEADLINE_SECONDS); the workflow is timed out, start a new one",
                human(age.num_seconds()),
                human(i64::try_from(max.as_secs()).unwrap_or(i64::MAX))
            ),
            Refusal::FromTheFuture { ahead } => write!(
                f,
                "the plan is dated {} ahead of this function's clock; check the clocks of the producer",
                human(ahead.num_seconds())
            ),
            Refusal::Drift {
                moved,
                what,
                planned,
                now,
                total,
                tolerance,
            } => write!(
                f,
                "the account moved since the plan was made by {} of the plan's portfolio value {total} in all \
                 (most: {what} was {planned} in the plan and is {now} now), over its max_drift_tolerance of {}; \
                 plan again from the account as it is",
                percent(*moved),
                percent(*tolerance)
            ),
            Refusal::MarketClosed {
                next_open,
                closes_at: None,
            } => write!(
                f,
                "the market is closed (the broker's clock) and opens at {}; start the workflow again while it is open",
                next_open.format("%Y-%m-%dT%H:%M:%SZ")
            ),
            Refusal::MarketClosed {
                next_open,
                closes_at: Some(close),
            } => write!(
                f,
                "the market closes at {} and no order is placed in the last minutes of a session (STOP_BEFORE_CLOSE_SECONDS); \
                 it opens again at {}",
                close.format("%Y-%m-%dT%H:%M:%SZ"),
                next_open.format("%Y-%m-%dT%H:%M:%SZ")
            ),
            Refusal::AccountBusy { orders } => write!(
                f,
                "the account has open orders that are not this plan's ({}), and the plan is too old to wait for them; \
                 look at them at the broker, then start a new workflow",
                orders.join("; ")
            ),
            Refusal::Superseded { orders } => write!(
                f,
                "the plan's execution was interrupted and other orders were placed on the account since its first order ({}); \
                 the rest of the plan would trade an account it no longer describes; start a new workflow",
                orders.join("; ")
            ),
            Refusal::Halted { state } => write!(
                f,
                "trading is halted on this stage ({state}); nothing is placed until `alchemiser resume`"
            ),
            Refusal::WeightsOverOne { sum, tolerance } => write!(
                f,
                "the plan's target weights add up to {sum}, more than 1 plus its max_drift_tolerance of {tolerance}: \
                 the plan contradicts itself; look at the strategy's signal and the planner"
            ),
            Refusal::BuysBeyondMeans { buys, equity, sells } => write!(
                f,
                "the plan buys {} but the account's equity is {} and its sells free {}: the plan contradicts the account; \
                 look at the planner and the account snapshot it used",
                buys.round_dp(2),
                equity.round_dp(2),
                sells.round_dp(2)
            ),
            Refusal::OrderTooLarge { order, notional, max } => write!(
                f,
                "{order} is worth {}, over the stage's MAX_ORDER_NOTIONAL of {max}",
                notional.round_dp(2)
            ),
            Refusal::TurnoverTooHigh { turnover, equity, max } => write!(
                f,
                "the plan turns over {} of the account's equity {} (the larger of its buys and its sells), \
                 over the stage's MAX_PLAN_TURNOVER of {}",
                percent(*turnover),
                equity.round_dp(2),
                percent(*max)
            ),
            Refusal::DailyBuyNotional { bought, adding, max } => write!(
                f,
                "{} was bought today already (the broker's orders of the session) and this would add {}, \
                 over the stage's MAX_DAILY_BUY_NOTIONAL of {max}",
                bought.round_dp(2),
                adding.round_dp(2)
            ),
            Refusal::DailyOrders { placed, adding, max } => write!(
                f,
                "the broker took {placed} orders today already and this would add {adding}, over the stage's MAX_DAILY_ORDERS of {max}"
            ),
            Refusal::FailedSells { failed, symbols, max } => write!(
                f,
                "sells worth {} failed ({}), over the stage's MAX_FAILED_SELL_NOTIONAL of {max}: the plan's buys are not placed",
                failed.round_dp(2),
                symbols.join(", ")
            ),
            Refusal::NotAllowed { symbols, allowed } => write!(
                f,
                "the plan buys {}, not in the stage's BUY_ALLOW_LIST ({})",
                symbols.join(", "),
                allowed.join(", ")
            ),
        }
    }
}

/// A duration in seconds, in a person's words (`1d0h`, `15m0s`).
pub(crate) fn human(seconds: i64) -> String {
    alchemiser_clock::format_duration(chrono::TimeDelta::seconds(seconds.saturating_abs()))
}

/// `part` as a share of `total` (all of it when the total is zero).
pub(crate) fn share(part: Decimal, total: Decimal) -> Decimal {
    part.abs().checked_div(total).unwrap_or(Decimal::ONE)
}

fn percent(fraction: Decimal) -> String {
    let value = fraction
        .checked_mul(Decimal::ONE_HUNDRED)
        .unwrap_or(Decimal::MAX);
    format!("{}%", value.round_dp(2))
}
