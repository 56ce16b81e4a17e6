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
}

impl Refusal {
    /// A short name for the check that failed: `plan_age`, `workflow_age`, `clock_skew`,
    /// `drift`, `market_closed`, `account_busy` or `superseded`.
    pub fn check(&self) -> &'static str {
        match self {
            Refusal::TooOld { .. } => "plan_age",
            Refusal::WorkflowTooOld { .. } => "workflow_age",
            Refusal::FromTheFuture { .. } => "clock_skew",
            Refusal::Drift { .. } => "drift",
            Refusal::MarketClosed { .. } => "market_closed",
            Refusal::AccountBusy { .. } => "account_busy",
            Refusal::Superseded { .. } => "superseded",
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
