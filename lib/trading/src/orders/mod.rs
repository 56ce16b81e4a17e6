//! Placing a plan's orders and following each to its end.
//!
//! A plan is executed in steps, each of which may run in a later invocation than the one before
//! (a follow-up): the checks before its first order (fresh, made from the account as it is, the
//! market open, no other orders open), then the sells, then — once every sell is final — the
//! buys within the cash the sells really freed, then waiting until every order is final. The
//! broker's order log is the truth between steps: every order's `client_order_id` derives from
//! the plan, side and symbol, so each step first looks up what is already at the broker and never
//! places an order twice. A step that cannot go on yet (orders still open, a broker that is
//! briefly unavailable) ends [`PlanOutcome::Pending`] and asks to be run again later; a plan
//! stopped after its first order (its workflow's deadline, the market's close) cancels what is
//! still open and reports what was placed and filled.
//!
//! - `checks`: the checks before the first order, and the limits of every order;
//! - `limits`: the stage's pre-trade limits and how they are read from settings;
//! - `engine`: the steps;
//! - `refusal`: why a plan (or its rest) is not traded;
//! - `report`: what became of each order.

mod checks;
mod engine;
mod limits;
mod refusal;
mod report;

use std::time::Duration;

use alchemiser_bus::HandlerError;
use alchemiser_clock::Clock;
use alchemiser_events::{Decimal, RebalancePlan, Symbol};
use chrono::{DateTime, Utc};
use rust_decimal::RoundingStrategy;
use sha2::{Digest, Sha256};

pub use limits::{RiskLimits, LIMIT_VARIABLES};
pub use refusal::{LimitBreach, Refusal};
pub use report::{ExecutionReport, OrderRecord, RecordStatus};

use crate::broker::{Broker, OrderSide};
use crate::halt::TradingHalt;

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
    /// The oldest plan whose first order is still placed (`MAX_PLAN_AGE_SECONDS`). A plan that
    /// has started is finished within its workflow's deadline instead.
    pub max_plan_age: Duration,
    /// How far in the future a plan's time may be before it is refused: the clocks of two
    /// functions disagree a little, never by minutes.
    pub max_clock_skew: Duration,
    /// The longest one invocation waits for its orders to become final before it asks for a
    /// follow-up instead.
    pub max_fill_wait: Duration,
    /// What is kept of the invocation's time after the wait, for the buys, the record and the
    /// publish.
    pub deadline_reserve: Duration,
    /// The oldest workflow whose plan is still traded (`WORKFLOW_DEADLINE_SECONDS`, the
    /// monitor's deadline): past it, a plan places nothing more and cancels what is open.
    pub max_workflow_age: Duration,
    /// When the first follow-up of a plan with open orders comes; each later one comes twice as
    /// late, up to [`ExecutionSettings::longest_check_interval`].
    pub first_check_after: Duration,
    /// The longest gap between two follow-ups of a plan.
    pub longest_check_interval: Duration,
    /// No order is sent this close to the session's close (`STOP_BEFORE_CLOSE_SECONDS`): a
    /// market order sent in the last seconds may reach the broker after the close, and a day
    /// order is then queued for the next session.
    pub stop_before_close: Duration,
    /// The pre-trade limits checked before the plan's first order and before every order.
    pub limits: RiskLimits,
}

impl Default for ExecutionSettings {
    /// Replays never trade; plans older than 15 minutes are not started (the Lambda retries of a
    /// failed attempt come 1 and 2 minutes later; a plan an hour old describes a market that has
    /// moved); up to 20 s of waiting for fills in one invocation (market orders of liquid funds
    /// fill in well under a second), then follow-ups 15 s, 30 s, 60 s and every 2 minutes after,
    /// until the workflow's 30-minute deadline.
    fn default() -> Self {
        Self {
            allow_replay_execution: false,
            max_plan_age: Duration::from_secs(15 * 60),
            max_workflow_age: alchemiser_events::DEFAULT_WORKFLOW_DEADLINE,
            max_clock_skew: Duration::from_secs(60),
            max_fill_wait: Duration::from_secs(20),
            deadline_reserve: Duration::from_secs(20),
            first_check_after: Duration::from_secs(15),
            longest_check_interval: Duration::from_secs(120),
            stop_before_close: Duration::from_secs(120),
            limits: RiskLimits::default(),
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

/// The times a plan's execution is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    /// When the invocation must be done by, if it has a deadline.
    pub deadline: Option<DateTime<Utc>>,
    /// When the plan's workflow started (the plan's own time when its producer did not say).
    pub workflow_started_at: DateTime<Utc>,
    /// Which follow-up of the plan this is (0: its first delivery).
    pub check: u32,
}

/// What executing a plan came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanOutcome {
    /// Every order of the plan is final (or none was placed, in a dry run): report it.
    Executed(ExecutionReport),
    /// The plan, or what was left of it, is not traded; every order it placed before is final
    /// (canceled where it was open), and the report says what they did.
    Refused {
        /// Why.
        refusal: Refusal,
        /// What the plan placed before (empty when it had not started).
        report: ExecutionReport,
    },
    /// Not done: orders are still open, or the broker could not answer. Run again later; the
    /// plan keeps the account meanwhile.
    Pending {
        /// What stands so far.
        report: ExecutionReport,
        /// When to look again.
        after: Duration,
        /// Why, in one line.
        reason: String,
    },
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

/// Where a plan is executed: the broker, the stage's kill switch and the clock.
#[derive(Clone, Copy)]
pub struct Venue<'a> {
    /// The account's broker.
    pub broker: &'a dyn Broker,
    /// The stage's kill switch, read before the plan's checks and before every order.
    pub halt: &'a dyn TradingHalt,
    /// The time every check sees.
    pub clock: &'a dyn Clock,
}

/// Executes (or goes on executing) `plan` at `venue`. `Err` is a transient failure before
/// anything of the plan could be looked up, or an arithmetic error; refusals, failed orders and
/// orders still open are outcomes.
pub async fn execute_plan(
    plan: &RebalancePlan,
    venue: Venue<'_>,
    mode: &ExecutionMode,
    settings: &ExecutionSettings,
    when: When,
) -> Result<PlanOutcome, HandlerError> {
    engine::Execution {
        plan,
        broker: venue.broker,
        halt: venue.halt,
        mode,
        settings,
        clock: venue.clock,
        when,
        day: std::sync::Mutex::new(None),
    }
    .run()
    .await
}

pub(crate) fn checked(
    value: Option<Decimal>,
    what: impl FnOnce() -> String,
) -> Result<Decimal, HandlerError> {
    value.ok_or_else(|| {
        HandlerError::Permanent(format!(
            "{} overflows exact decimal arithmetic: the values are implausible; check the plan and the account",
            what()
        ))
    })
}

/// Whole shares (to six places, rounded down) that `notional` buys at `price`.
pub(crate) fn shares(notional: Decimal, price: Decimal) -> Result<Decimal, HandlerError> {
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
        // Pinned: a change of the derivation would let a retry place a second order.
        assert_eq!(
            client_order_id("plan-1", OrderSide::Buy, &sym("SPY")),
            "e26d9cd1dae99fe1f83a87da2f873a25-buy-SPY"
        );
    }

    #[test]
    fn absurd_prices_are_an_error_not_a_panic() {
        let tiny = Decimal::new(1, 28);
        let error = shares(Decimal::MAX, tiny).unwrap_err();
        assert!(error.reason().contains("overflows"), "{error}");
        assert!(error.reason().contains(&tiny.to_string()), "{error}");
    }

    #[test]
    fn shares_round_down_to_six_places() {
        let qty = shares("100".parse().unwrap(), "3".parse().unwrap()).unwrap();
        assert_eq!(qty.to_string(), "33.333333");
        assert_eq!(
            shares("1".parse().unwrap(), Decimal::ZERO).unwrap(),
            Decimal::ZERO
        );
    }
}
