//! The handler registry: one [`HandlerSpec`] per Rust handler — how Lambda runs it, what it
//! needs from the stack, when a schedule invokes it, whether it can run as a shadow. What it
//! consumes and produces is the routing table's ([`crate::ROUTES`]); the two are exported
//! together in `lib/events/routes.json`, from which the CDK app derives each function's timeout,
//! memory, environment and grants, and the simulation each function's ports and timeout. A
//! handler is one entry of the `handlers!` list here: its name and its spec together.

use std::time::Duration;

use serde::Serialize;

use crate::event::EventType;

/// Everything the stack and the simulation must know about one handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandlerSpec {
    /// The handler (its function is `alchemiser-<name>-<stage>`).
    pub name: HandlerName,
    /// What it does, in a sentence (the function's description).
    pub job: &'static str,
    /// Lambda's timeout of its function.
    pub timeout: Duration,
    /// Lambda's memory of its function, in MB. The Rust handlers peak at a few MB of RSS
    /// (`scripts/bench`): 128 MB, Lambda's smallest useful size, unless a handler needs more.
    pub memory_mb: u32,
    /// What the stack gives it beyond what every function gets (bus, queues, idempotency
    /// table, signing keys): each need brings its environment variables and grants.
    pub needs: &'static [Need],
    /// When a schedule invokes it, if ever.
    pub schedule: Option<Schedule>,
    /// The Python module doing this handler's job in the system being replaced, when there is
    /// one: a stage names who owns such a handler (`rust`, `python` or `shadow`).
    pub python_counterpart: Option<&'static str>,
    /// Why it cannot run as a shadow (`ALCHEMISER_MODE=shadow`), when it cannot: a stage asking
    /// for it fails the synth instead of deploying a function that fails every invocation.
    pub shadow_refusal: Option<&'static str>,
}

/// Something a handler needs from the stack beyond what every function gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Need {
    /// The broker's credentials (read access to the stage's broker secret).
    Broker,
    /// The trading kill switch (read access to its SSM parameter).
    TradingHalt,
    /// Its own queue of order follow-ups (send to it; its messages are delivered back to it).
    OrderFollowUps,
    /// The stage's pre-trade limits and whether replays may trade.
    RiskLimits,
    /// The strategy's target allocation and the time of day it runs.
    StrategyAllocation,
    /// How long a workflow may run before it is timed out.
    WorkflowDeadline,
    /// The workflow ledger, to keep (read and write) it.
    WorkflowLedger,
    /// The dead-letter queue, to read (peek at) it on the sweep.
    DeadLetters,
}

impl Need {
    /// Every need, in the order the stack applies them.
    pub const ALL: [Need; 8] = [
        Need::Broker,
        Need::TradingHalt,
        Need::OrderFollowUps,
        Need::RiskLimits,
        Need::StrategyAllocation,
        Need::WorkflowDeadline,
        Need::WorkflowLedger,
        Need::DeadLetters,
    ];

    /// Its name in `routes.json` and in the CDK app.
    pub const fn as_str(self) -> &'static str {
        match self {
            Need::Broker => "broker",
            Need::TradingHalt => "trading_halt",
            Need::OrderFollowUps => "order_follow_ups",
            Need::RiskLimits => "risk_limits",
            Need::StrategyAllocation => "strategy_allocation",
            Need::WorkflowDeadline => "workflow_deadline",
            Need::WorkflowLedger => "workflow_ledger",
            Need::DeadLetters => "dead_letters",
        }
    }

    /// The environment variables the stack sets for this need: the CDK app's tests check that a
    /// function's environment is exactly the common variables plus those of its needs.
    pub const fn variables(self) -> &'static [&'static str] {
        match self {
            Need::Broker => &["BROKER", "BROKER_SECRET_NAME"],
            Need::TradingHalt => &["TRADING_HALT_PARAMETER"],
            Need::OrderFollowUps => &["FOLLOW_UP_QUEUE_URL"],
            Need::RiskLimits => &[
                "ALLOW_REPLAY_EXECUTION",
                "MAX_ORDER_NOTIONAL",
                "MAX_PLAN_TURNOVER",
                "MAX_DAILY_BUY_NOTIONAL",
                "MAX_DAILY_ORDERS",
                "MAX_FAILED_SELL_NOTIONAL",
                "BUY_ALLOW_LIST",
            ],
            Need::StrategyAllocation => &["STRATEGY_ALLOCATION", "STRATEGY_RUN_AT"],
            Need::WorkflowDeadline => &["WORKFLOW_DEADLINE_SECONDS"],
            Need::WorkflowLedger => &["LEDGER_TABLE_NAME", "LEDGER_RETENTION_DAYS"],
            Need::DeadLetters => &["SHADOW_FUNCTIONS"],
        }
    }
}

impl Serialize for Need {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// When a schedule invokes a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// On market days, at the time the stage's `strategyRunAt` sets (before the close or after
    /// the open); the handler itself asks the broker's calendar whether the market is open.
    MarketDays,
    /// Every `minutes` minutes, whatever the day.
    Every {
        /// The interval.
        minutes: u32,
    },
}

/// How long a workflow may run without a terminal event before the monitor's sweep times it
/// out and execution stops trading its plans (`WORKFLOW_DEADLINE_SECONDS` overrides it; the
/// stage config's `workflowDeadlineMinutes` sets it per stage, defaulting to this).
pub const DEFAULT_WORKFLOW_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// How often the monitor's sweep runs.
pub const SWEEP_EVERY_MINUTES: u32 = 5;

/// Defines, from one list, the handlers: [`HandlerName`] (its variants, [`HandlerName::ALL`],
/// [`HandlerName::as_str`]) and [`HANDLERS`], the spec of each. A handler is one entry — its name,
/// its function's name and its spec — so none can lack a spec or have two.
macro_rules! handlers {
    ($( $(#[$doc:meta])* $name:ident => $function:literal { $($field:ident: $value:expr),* $(,)? } )*) => {
        /// The workflow's Rust handlers; each runs as one Lambda function.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum HandlerName {
            $( $(#[$doc])* $name, )*
        }

        impl HandlerName {
            /// Every handler, in workflow order.
            pub const ALL: [HandlerName; [$($function),*].len()] = [$(HandlerName::$name),*];

            /// The handler's name, which is also its module in `Source` and its function's name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( HandlerName::$name => $function, )*
                }
            }
        }

        /// The registry, in workflow order (the order of [`HandlerName::ALL`]).
        pub const HANDLERS: [HandlerSpec; [$($function),*].len()] = [
            $( HandlerSpec { name: HandlerName::$name, $($field: $value),* }, )*
        ];
    };
}

handlers! {
    /// Emits `WorkflowStarted` and `SignalGenerated` from a target allocation.
    Strategy => "strategy" {
        job: "Starts a workflow: WorkflowStarted and SignalGenerated from a target allocation",
        // One or two HTTP calls, well under a second when warm; 30 s leaves room for a slow
        // data API and a cold start without letting a hang run for minutes.
        timeout: Duration::from_secs(30),
        memory_mb: 128,
        // It reads the broker's calendar to decide whether a scheduled tick is today's run:
        // Alpaca has no read-only keys, so its code wraps the broker in one refusing orders.
        needs: &[Need::Broker, Need::TradingHalt, Need::StrategyAllocation],
        schedule: Some(Schedule::MarketDays),
        python_counterpart: Some("strategy_v2.handlers"),
        shadow_refusal: Some(
            "the strategy starts workflows instead of consuming the live owner's events, so there \
             is nothing to shadow (functions/src/bin/strategy.rs refuses ALCHEMISER_MODE=shadow); give it \
             the owner \"rust\" or \"python\"",
        ),
    }
    /// `SignalGenerated` → `RebalancePlanned`.
    Portfolio => "portfolio" {
        job: "Plans the rebalance: SignalGenerated to RebalancePlanned",
        // Reads positions and the account from the broker: a few broker calls.
        timeout: Duration::from_secs(30),
        memory_mb: 128,
        needs: &[Need::Broker],
        schedule: None,
        python_counterpart: Some("portfolio_v2.handlers"),
        shadow_refusal: None,
    }
    /// `RebalancePlanned` → `TradeExecuted` → `WorkflowCompleted` | `WorkflowFailed`.
    Execution => "execution" {
        job: "Trades a plan: RebalancePlanned to TradeExecuted and WorkflowCompleted or WorkflowFailed",
        // Places orders and waits for the broker to acknowledge or fill them, with the broker's
        // own retries on 5xx/429: the slowest handler by far. Still short enough that a hung
        // broker call ends (and is retried or dead-lettered) long before the next market day.
        timeout: Duration::from_secs(120),
        memory_mb: 128,
        needs: &[
            Need::Broker,
            Need::TradingHalt,
            Need::OrderFollowUps,
            Need::RiskLimits,
            Need::WorkflowDeadline,
        ],
        schedule: None,
        python_counterpart: Some("execution_v2.handlers"),
        shadow_refusal: None,
    }
    /// Keeps the workflow ledger from every event; times out stalled workflows.
    Monitor => "monitor" {
        job: "Keeps the workflow ledger from every event and times out stalled workflows",
        // AWS calls only, a handful per workflow.
        timeout: Duration::from_secs(30),
        memory_mb: 128,
        needs: &[
            Need::WorkflowDeadline,
            Need::WorkflowLedger,
            Need::DeadLetters,
        ],
        schedule: Some(Schedule::Every {
            minutes: SWEEP_EVERY_MINUTES,
        }),
        // It only observes, so it always runs; no Python module does its job.
        python_counterpart: None,
        shadow_refusal: None,
    }
}

impl HandlerName {
    /// This handler's spec in the registry.
    pub const fn spec(self) -> &'static HandlerSpec {
        // `handlers!` lists the variants and the specs in the same order.
        &HANDLERS[self as usize]
    }

    /// Whether this handler needs `need` from the stack.
    pub fn needs(self, need: Need) -> bool {
        self.spec().needs.contains(&need)
    }
}

impl HandlerSpec {
    /// The environment variables its needs bring (see [`Need::variables`]).
    pub fn variables(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.needs
            .iter()
            .flat_map(|need| need.variables().iter().copied())
    }
}

/// One handler's spec as `routes.json` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandlerSpecDocument {
    /// The handler.
    pub handler: HandlerName,
    /// What it does.
    pub job: &'static str,
    /// Lambda's timeout, in seconds.
    pub timeout_seconds: u64,
    /// Lambda's memory, in MB.
    pub memory_mb: u32,
    /// What it needs from the stack.
    pub needs: Vec<Need>,
    /// The environment variables those needs bring.
    pub variables: Vec<&'static str>,
    /// When a schedule invokes it; `null` when none does.
    pub schedule: Option<Schedule>,
    /// The Python module doing its job; `null` when there is none.
    pub python_counterpart: Option<&'static str>,
    /// Why it cannot run as a shadow; `null` when it can.
    pub shadow_refusal: Option<&'static str>,
    /// The event types routed to it.
    pub consumes: Vec<EventType>,
    /// The event types it publishes.
    pub produces: Vec<EventType>,
}

impl From<&HandlerSpec> for HandlerSpecDocument {
    fn from(spec: &HandlerSpec) -> Self {
        Self {
            handler: spec.name,
            job: spec.job,
            timeout_seconds: spec.timeout.as_secs(),
            memory_mb: spec.memory_mb,
            needs: spec.needs.to_vec(),
            variables: spec.variables().collect(),
            schedule: spec.schedule,
            python_counterpart: spec.python_counterpart,
            shadow_refusal: spec.shadow_refusal,
            consumes: spec.name.consumes().collect(),
            produces: spec.name.produces().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_handler_has_its_own_spec_in_workflow_order() {
        let names: Vec<_> = HANDLERS.iter().map(|spec| spec.name).collect();
        assert_eq!(names, HandlerName::ALL.to_vec());
        for handler in HandlerName::ALL {
            assert_eq!(
                handler.spec().name,
                handler,
                "{handler} points at another spec"
            );
        }
    }

    #[test]
    fn timeouts_fit_lambda_and_the_event_age() {
        for spec in &HANDLERS {
            let seconds = spec.timeout.as_secs();
            assert!(
                (1..=900).contains(&seconds),
                "{}: Lambda allows 1 to 900 s, not {seconds}",
                spec.name
            );
            assert!(
                (128..=10_240).contains(&spec.memory_mb),
                "{}: Lambda memory {}",
                spec.name,
                spec.memory_mb
            );
        }
    }

    #[test]
    fn no_two_needs_set_one_variable() {
        let mut seen = BTreeSet::new();
        for need in Need::ALL {
            for variable in need.variables() {
                assert!(seen.insert(*variable), "{variable} is set by two needs");
            }
        }
    }

    #[test]
    fn a_handler_that_can_trade_is_stopped_by_the_kill_switch() {
        // Whatever places orders or starts workflows reads the switch: a handler that needs the
        // broker's order path must also need the halt, or halting would not stop it.
        for spec in &HANDLERS {
            if spec.needs.contains(&Need::RiskLimits) || spec.schedule == Some(Schedule::MarketDays)
            {
                assert!(
                    spec.needs.contains(&Need::TradingHalt),
                    "{} trades or starts workflows without the kill switch",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn the_document_carries_consumed_and_produced_types() {
        let execution = HandlerSpecDocument::from(HandlerName::Execution.spec());
        assert_eq!(execution.consumes, vec![EventType::RebalancePlanned]);
        for produced in [
            EventType::TradeExecuted,
            EventType::WorkflowCompleted,
            EventType::WorkflowFailed,
        ] {
            assert!(execution.produces.contains(&produced), "{produced}");
        }
        assert!(!execution.produces.contains(&EventType::RebalancePlanned));
        assert_eq!(execution.timeout_seconds, 120);
        assert!(execution.variables.contains(&"FOLLOW_UP_QUEUE_URL"));
    }
}
