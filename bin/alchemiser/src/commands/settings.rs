//! What `invoke` and `run` share: the stage's execution settings, as flags or the variables the
//! execution Lambda reads (the same parser, so a captured plan is tried against the same limits),
//! a halt to try a plan against, and `--at`, the instant every check, the calendar and the paper
//! market see.

use std::sync::Arc;
use std::time::Duration;

use alchemiser_clock::{Clock, ManualClock};
use alchemiser_trading::{ExecutionSettings, HaltState, MemoryHalt, RiskLimits, RunAt};
use chrono::{DateTime, Utc};

/// The execution settings of a local run.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecutionFlags {
    /// Place orders even for replayed events (what ALLOW_REPLAY_EXECUTION=true does in Lambda).
    #[arg(long)]
    allow_replay_execution: bool,
    /// The oldest plan execution still trades, in seconds (default 900). A captured plan is
    /// usually older: raise it to replay one on a laptop.
    #[arg(long, value_name = "SECONDS", env = "MAX_PLAN_AGE_SECONDS")]
    max_plan_age: Option<u64>,
    /// The oldest workflow execution still trades a plan of, in seconds (default 1800, or
    /// --max-plan-age when that is more: a captured plan's workflow is at least as old as the
    /// plan).
    #[arg(long, value_name = "SECONDS", env = "WORKFLOW_DEADLINE_SECONDS")]
    max_workflow_age: Option<u64>,
    /// No order this close to the session's close, in seconds (default 120).
    #[arg(long, value_name = "SECONDS", env = "STOP_BEFORE_CLOSE_SECONDS")]
    stop_before_close: Option<u64>,
    /// How long one invocation waits for fills, in seconds (default 20).
    #[arg(long, value_name = "SECONDS", env = "MAX_FILL_WAIT_SECONDS")]
    max_fill_wait: Option<u64>,
    /// The largest notional of one order (default 25000).
    #[arg(long, value_name = "AMOUNT", env = "MAX_ORDER_NOTIONAL")]
    max_order_notional: Option<String>,
    /// The largest turnover of one plan, as a fraction of the account's equity (default 1).
    #[arg(long, value_name = "FRACTION", env = "MAX_PLAN_TURNOVER")]
    max_plan_turnover: Option<String>,
    /// The most bought per trading day, from the broker's orders of the day (default 100000).
    #[arg(long, value_name = "AMOUNT", env = "MAX_DAILY_BUY_NOTIONAL")]
    max_daily_buy_notional: Option<String>,
    /// The most orders per trading day (default 40).
    #[arg(long, value_name = "N", env = "MAX_DAILY_ORDERS")]
    max_daily_orders: Option<String>,
    /// Failed sells worth more than this block the plan's buys (default 500).
    #[arg(long, value_name = "AMOUNT", env = "MAX_FAILED_SELL_NOTIONAL")]
    max_failed_sell_notional: Option<String>,
    /// The only symbols ever bought, comma-separated (default: any).
    #[arg(long, value_name = "SYMBOLS", env = "BUY_ALLOW_LIST")]
    buy_allow_list: Option<String>,
    /// Try the run as if the stage were halted, for this reason (`alchemiser halt` sets the
    /// deployed stage's switch).
    #[arg(long, value_name = "REASON")]
    halted: Option<String>,
}

impl ExecutionFlags {
    /// The settings these flags (or variables) give; a bad value is one line naming it.
    pub fn settings(&self) -> anyhow::Result<ExecutionSettings> {
        let defaults = ExecutionSettings::default();
        let limits = RiskLimits::from_settings(|name| match name {
            "MAX_ORDER_NOTIONAL" => self.max_order_notional.clone(),
            "MAX_PLAN_TURNOVER" => self.max_plan_turnover.clone(),
            "MAX_DAILY_BUY_NOTIONAL" => self.max_daily_buy_notional.clone(),
            "MAX_DAILY_ORDERS" => self.max_daily_orders.clone(),
            "MAX_FAILED_SELL_NOTIONAL" => self.max_failed_sell_notional.clone(),
            "BUY_ALLOW_LIST" => self.buy_allow_list.clone(),
            _ => None,
        })?;
        let seconds =
            |flag: Option<u64>, default: Duration| flag.map_or(default, Duration::from_secs);
        let max_plan_age = seconds(self.max_plan_age, defaults.max_plan_age);
        Ok(ExecutionSettings {
            allow_replay_execution: self.allow_replay_execution,
            max_plan_age,
            max_workflow_age: seconds(
                self.max_workflow_age,
                max_plan_age.max(defaults.max_workflow_age),
            ),
            stop_before_close: seconds(self.stop_before_close, defaults.stop_before_close),
            max_fill_wait: seconds(self.max_fill_wait, defaults.max_fill_wait),
            limits,
            ..defaults
        })
    }

    /// The kill switch of the run: halted by `--halted`, else running.
    pub fn halt(&self, at: DateTime<Utc>) -> Arc<MemoryHalt> {
        let halt = Arc::new(MemoryHalt::new());
        if let Some(reason) = &self.halted {
            halt.set(HaltState::halted(reason, "alchemiser --halted", at));
        }
        halt
    }
}

/// `--at TIME` and the strategy's run time.
#[derive(Debug, Clone, clap::Args)]
pub struct TimeFlags {
    /// The instant every check, the calendar and the paper market see (RFC 3339, e.g.
    /// 2026-12-25T20:45:00Z): the paper broker follows the NYSE calendar then, so a captured
    /// event can be tried as of a holiday or an early close.
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    pub at: Option<DateTime<Utc>>,
    /// When the strategy runs (STRATEGY_RUN_AT in Lambda): a scheduled tick (`source`
    /// `aws.scheduler`) is judged against the NYSE calendar, e.g. {"anchor": "close",
    /// "offsetMinutes": 15}. Unset: every tick starts a workflow.
    #[arg(long, value_name = "JSON", env = "STRATEGY_RUN_AT", value_parser = parse_run_at)]
    pub run_at: Option<RunAt>,
}

impl TimeFlags {
    /// The clock of the run (see [`clock_at`]).
    pub fn clock(&self) -> Arc<dyn Clock> {
        clock_at(self.at)
    }
}

/// The clock of a run: stopped at `at` (it moves only as the run waits), else the system's.
pub fn clock_at(at: Option<DateTime<Utc>>) -> Arc<dyn Clock> {
    match at {
        Some(at) => Arc::new(ManualClock::starting_at(at)),
        None => alchemiser_clock::system(),
    }
}

/// Reads `--at`.
pub fn parse_at(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.to_utc())
        .map_err(|e| {
            format!("`{text}` is not an RFC 3339 time ({e}); write e.g. 2026-12-25T20:45:00Z")
        })
}

fn parse_run_at(text: &str) -> Result<RunAt, String> {
    RunAt::from_json(text).map_err(|e| e.to_string())
}
