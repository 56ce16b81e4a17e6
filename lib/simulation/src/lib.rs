//! A seeded simulation of the whole backbone — the real consumer runtime, trading handlers,
//! monitor and sweep — under the faults of the cloud and the market, checking that no order was
//! placed that nobody intended and none was missed silently.
//!
//! [`simulate`] runs `workflows` trading workflows on one broker account. Invocations run
//! concurrently and interleave at every port call ([`scheduler`]); any of them may die at any
//! port call, before the call or after it took effect, with no clean-up running; writes and
//! PutEvents may take effect and answer with an error. EventBridge delays, duplicates, loses and
//! dead-letters deliveries and replays its archive; Lambda retries and gives up; the follow-up
//! queue redelivers; operators redrive. The broker keeps Alpaca's order lifecycle on the NYSE's
//! calendar: partial fills, cancels, expiry at the close, rejections, replacements, rate limits
//! and lost answers ([`market`]). Then [`invariants`] reads the broker's order log and the event
//! log. The same seed gives the same run.
//!
//! - [`scheduler`]: the deterministic executor and simulation time;
//! - [`world`]: the simulated cloud and the functions wired onto it;
//! - [`adapters`]: the ports' simulated adapters;
//! - [`market`]: the account, its broker, and when workflows start;
//! - [`forger`]: someone who sends forged plans by every path the system has;
//! - [`invariants`]: what must hold.

pub mod adapters;
pub mod dice;
pub mod forger;
pub mod invariants;
pub mod market;
pub mod scheduler;
pub mod world;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use invariants::Violation;

/// The run's size, seed and fault rates (each a probability per call, delivery or pause).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Workflows started.
    pub workflows: usize,
    /// The dice's seed.
    pub seed: u64,
    /// EventBridge delivers again, 0.1 s to 10 min later (also: a start delivered twice).
    pub duplicate: f64,
    /// EventBridge delivers again a day later.
    pub late_duplicate: f64,
    /// A delivery to a trading function is lost without trace.
    pub lost_delivery: f64,
    /// A delivery goes to the rule's dead-letter queue instead.
    pub rule_dead_letter: f64,
    /// A PutEvents call is lost.
    pub publish_failure: f64,
    /// A store call fails before it reaches the table.
    pub store_failure: f64,
    /// A write takes effect and answers with an error.
    pub uncertain_write: f64,
    /// An invocation dies at a pause (each port call has two).
    pub crash: f64,
    /// A port call's answer comes 1 s to 10 min late (a stalled connection, a throttled
    /// sandbox): an invocation it holds up past its Lambda timeout is killed at the deadline,
    /// with no clean-up code running, whatever the call did.
    pub stall: f64,
    /// A broker call fails with a 503.
    pub broker_transient: f64,
    /// A broker call hits the rate limit (429).
    pub rate_limited: f64,
    /// An order is taken but its answer is lost.
    pub lost_answer: f64,
    /// An order is rejected after the broker took it.
    pub rejected: f64,
    /// An order fills in part (and sometimes is canceled after).
    pub partial_fill: f64,
    /// An order rests: taken, never filled (canceled by the plan, or expired at the close).
    pub rests: f64,
    /// A person cancels an order before it fills.
    pub person_cancel: f64,
    /// A person replaces an order.
    pub replaced: f64,
    /// An order fills 5 s to 10 min later.
    pub slow_fill: f64,
    /// A start comes with 1–4 more at the same instant (plans contending for the account).
    pub burst: f64,
    /// A start is a person's (`{}`), not the schedule's.
    pub manual_start: f64,
    /// A day without a session gets a start anyway.
    pub closed_day_start: f64,
    /// A start's allocation is 100% one symbol (a strategy gone wrong): its plan breaks the
    /// order, turnover or daily limits.
    pub concentrated: f64,
    /// A start's allocation includes the symbol outside the stage's buy allow-list
    /// ([`market::BARRED`]); otherwise allocations keep to the others.
    pub barred_symbol: f64,
    /// One operator halt (`alchemiser halt`, later `resume`) per this many workflows, at a
    /// random time, for 1 minute to 3 hours.
    pub workflows_per_halt: usize,
    /// Whether execution reads the stage's halt switch (`TRADING_HALT_PARAMETER`); a test
    /// turns it off to see the invariants catch what follows.
    pub halt_switch_wired: bool,
    /// The stage's declared limits, which the invariants hold the broker's order log to
    /// (execution runs with `execution.limits`, the same unless a test misconfigures it).
    #[serde(skip)]
    pub stage_limits: alchemiser_trading::RiskLimits,
    /// A workflow with a live plan is gone after by a forger, who sends harmful copies of the
    /// plan by every path it has ([`forger`]).
    pub forgery: f64,
    /// Whether the functions and the operator's redrive check who made each event (signed by
    /// a producer of its type, no unsigned source); a test turns it off — unsigned events and
    /// any MAC accepted — to see the invariants catch what follows.
    pub signatures_checked: bool,
    /// One outage of the trading functions' rules per this many workflows, each followed by a
    /// replay of its window.
    pub workflows_per_outage: usize,
    /// How long an outage lasts.
    pub outage: Duration,
    /// Each function's clock is off by up to this much.
    pub clock_skew: Duration,
    /// How often the sweep runs.
    pub sweep_every: Duration,
    /// The oldest workflow that may still trade (the monitor's deadline).
    pub workflow_deadline: Duration,
    /// The oldest plan whose first order may be placed.
    pub max_plan_age: Duration,
    /// How far from what the plan intended a completed trade may be, as a share of the plan's
    /// portfolio value, beyond the plan's drift tolerance (the account may have moved that much
    /// since the plan was made): the planner's 1% minimum trade, and rounding.
    pub on_target_slack: rust_decimal::Decimal,
    /// What the execution function runs with: the stage's defaults, with pre-trade limits
    /// sized to this account so that each trips now and then (a test may misconfigure it to
    /// see the invariants catch what follows).
    #[serde(skip)]
    pub execution: alchemiser_trading::ExecutionSettings,
}

impl Config {
    /// The default fault rates for `workflows` workflows and `seed`.
    pub fn new(workflows: usize, seed: u64) -> Self {
        let execution = alchemiser_trading::ExecutionSettings {
            limits: market::limits(),
            ..alchemiser_trading::ExecutionSettings::default()
        };
        Self {
            workflows,
            seed,
            duplicate: 0.05,
            late_duplicate: 0.005,
            lost_delivery: 0.003,
            rule_dead_letter: 0.003,
            publish_failure: 0.01,
            store_failure: 0.005,
            uncertain_write: 0.003,
            crash: 0.0008,
            stall: 0.0003,
            broker_transient: 0.01,
            rate_limited: 0.005,
            lost_answer: 0.02,
            rejected: 0.005,
            partial_fill: 0.01,
            rests: 0.005,
            person_cancel: 0.003,
            replaced: 0.002,
            slow_fill: 0.04,
            burst: 0.08,
            manual_start: 0.05,
            closed_day_start: 0.3,
            concentrated: 0.03,
            barred_symbol: 0.02,
            workflows_per_halt: 400,
            halt_switch_wired: true,
            forgery: 0.02,
            signatures_checked: true,
            stage_limits: market::limits(),
            workflows_per_outage: 250,
            outage: Duration::from_secs(30 * 60),
            clock_skew: Duration::from_secs(20),
            sweep_every: Duration::from_secs(
                60 * u64::from(alchemiser_events::SWEEP_EVERY_MINUTES),
            ),
            workflow_deadline: execution.max_workflow_age,
            max_plan_age: execution.max_plan_age,
            on_target_slack: rust_decimal::Decimal::new(15, 3),
            execution,
        }
    }
}

/// What a run did and whether the invariants held.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The settings.
    pub config: Config,
    /// Workflows started (checked).
    pub workflows: usize,
    /// Live events put on the bus.
    pub events_published: usize,
    /// Invocations run (every function, retries and follow-ups included).
    pub invocations: u64,
    /// Orders the broker took.
    pub orders: usize,
    /// Faults injected, by kind (`crash`, `uncertain_write`, `partial_fill`, `market_closed`,
    /// `canceled`, `expired`, `rate_limited`, ...), and what the market did to orders.
    pub faults: BTreeMap<String, u64>,
    /// The forger's plans by path, and what refused them (dead letters of the functions, the
    /// operator's redrive).
    pub forgeries: BTreeMap<String, u64>,
    /// The most invocations running at once.
    pub max_concurrent_invocations: usize,
    /// Workflows by final state in the ledger.
    pub states: BTreeMap<String, usize>,
    /// Failed workflows by why: the refusal's check, else the failing step.
    pub failures: BTreeMap<String, usize>,
    /// Simulation time covered, in hours.
    pub simulated_hours: f64,
    /// Wall time of the run, in seconds.
    pub wall_seconds: f64,
    /// Broken invariants (the first ones; none on a good run).
    pub violations: Vec<Violation>,
    /// How many invariants were broken in all.
    pub violation_count: usize,
}

impl Report {
    /// True when every invariant held.
    pub fn passed(&self) -> bool {
        self.violation_count == 0
    }
}

/// Runs the simulation from `start` (simulation time) and checks the invariants.
pub fn simulate(config: Config, start: DateTime<Utc>) -> Report {
    let began = Instant::now();
    let world = world::WorldRef::new(config.clone(), start);
    world.plan_run(start);
    let mut executor = scheduler::Executor::new(
        world::WorldRef::time_of(&world),
        config.seed.rotate_left(17),
        config.crash,
    );
    world.run(&mut executor);
    world.prune_all();
    let across = invariants::check_run(&world);
    let mut checked = world.checked();
    checked.record(across);
    let executed = executor.stats();
    let mut faults: BTreeMap<String, u64> = world
        .faults()
        .into_iter()
        .map(|(kind, n)| (kind.to_owned(), n))
        .collect();
    for (kind, n) in world
        .market
        .faults
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        *faults.entry((*kind).to_owned()).or_default() += n;
    }
    let book = world::at_once(world.market.broker.book()).unwrap_or_default();
    for entry in &book {
        let kind = match entry.order.status {
            alchemiser_trading::OrderStatus::Canceled => "canceled",
            alchemiser_trading::OrderStatus::Expired => "expired",
            alchemiser_trading::OrderStatus::Rejected => "rejected_orders",
            alchemiser_trading::OrderStatus::Replaced => "replaced_orders",
            _ => continue,
        };
        *faults.entry(kind.to_owned()).or_default() += 1;
    }
    let partly = book
        .iter()
        .filter(|e| !e.order.filled_qty.is_zero() && e.order.filled_qty < e.order.qty)
        .count() as u64;
    faults.insert(
        "partial_fill".into(),
        partly.max(*faults.get("partial_fill").unwrap_or(&0)),
    );
    faults.insert(
        "market_closed".into(),
        checked
            .failures
            .get("market_closed")
            .copied()
            .unwrap_or_default() as u64,
    );
    faults.insert("crash".into(), executed.crashes);
    faults.insert("timeout".into(), executed.timeouts);
    for kind in [
        "uncertain_write",
        "rate_limited",
        "canceled",
        "expired",
        "partial_fill",
        "market_closed",
    ] {
        faults.entry(kind.to_owned()).or_default();
    }
    let invocations = executed.tasks;
    Report {
        config,
        workflows: checked.workflows,
        events_published: checked.events_published,
        invocations,
        orders: book.len(),
        faults,
        forgeries: world.forger.summary(),
        max_concurrent_invocations: executed.max_concurrent,
        states: checked.states,
        failures: checked.failures,
        simulated_hours: (world.now() - start).num_seconds() as f64 / 3600.0,
        wall_seconds: began.elapsed().as_secs_f64(),
        violations: checked.violations,
        violation_count: checked.violation_count,
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulated {} workflows (seed {}) over {:.1} h of simulation time in {:.1} s",
            self.workflows, self.config.seed, self.simulated_hours, self.wall_seconds
        )?;
        writeln!(
            f,
            "  events published {}, invocations {} (at most {} at once), orders taken {}",
            self.events_published, self.invocations, self.max_concurrent_invocations, self.orders
        )?;
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        writeln!(f, "  faults: {}", faults.join(", "))?;
        let forgeries: Vec<String> = self
            .forgeries
            .iter()
            .map(|(what, n)| format!("{what} {n}"))
            .collect();
        writeln!(f, "  forgeries: {}", forgeries.join(", "))?;
        let states: Vec<String> = self
            .states
            .iter()
            .map(|(state, n)| format!("{state} {n}"))
            .collect();
        writeln!(f, "  workflows: {}", states.join(", "))?;
        let failures: Vec<String> = self
            .failures
            .iter()
            .map(|(why, n)| format!("{why} {n}"))
            .collect();
        writeln!(
            f,
            "  WorkflowFailed published, by check or step: {}",
            failures.join(", ")
        )?;
        if self.passed() {
            writeln!(f, "invariants: all held")
        } else {
            writeln!(f, "invariants: {} VIOLATION(S)", self.violation_count)?;
            // The first ones, and the first of each invariant broken.
            let mut shown: Vec<&str> = Vec::new();
            for (n, violation) in self.violations.iter().enumerate() {
                if n >= 20 && shown.contains(&violation.invariant) {
                    continue;
                }
                shown.push(violation.invariant);
                writeln!(f, "  {}: {}", violation.invariant, violation.detail)?;
            }
            if let Some(traced) = self.violations.iter().find(|v| !v.trace.is_empty()) {
                writeln!(
                    f,
                    "trace of the first workflow that broke an invariant ({}):",
                    traced.invariant
                )?;
                for line in &traced.trace {
                    writeln!(f, "    {line}")?;
                }
            }
            Ok(())
        }
    }
}
