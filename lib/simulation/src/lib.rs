//! A seeded simulation of the whole backbone — the real consumer runtime, trading handlers,
//! monitor and sweep — under the faults of the cloud, checking after every run that no order
//! was placed that nobody intended and none was missed silently.
//!
//! [`simulate`] runs `workflows` trading workflows on one paper account through simulated
//! EventBridge (delays, duplicates seconds to a day apart, lost deliveries, deliveries to the
//! dead-letter queue, archive replays), Lambda (two retries a minute and two minutes apart,
//! then the on-failure destination), an operator redriving dead letters minutes or a day later,
//! an idempotency store and PutEvents that fail now and then, a broker that fails calls, loses
//! the answers to orders it placed and fills late, and clocks that disagree. Then it checks the
//! invariants ([`invariants`]). The same seed gives the same run.
//!
//! - [`world`]: the simulated cloud and the event loop;
//! - [`adapters`]: the ports' simulated adapters;
//! - [`invariants`]: what must hold.

#![warn(missing_docs)]

pub mod adapters;
pub mod invariants;
pub mod world;

use std::fmt;
use std::time::{Duration, Instant};

use alchemiser_ledger::{summarize, LedgerStore};
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use invariants::Violation;
pub use world::Stats;

/// The run's size, seed and fault rates (each a probability per call or delivery).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Workflows started.
    pub workflows: usize,
    /// The dice's seed.
    pub seed: u64,
    /// EventBridge delivers again, 0.1 s to 10 min later.
    pub duplicate: f64,
    /// EventBridge delivers again a day later.
    pub late_duplicate: f64,
    /// A delivery to a trading function is lost without trace.
    pub lost_delivery: f64,
    /// A delivery goes to the rule's dead-letter queue instead.
    pub rule_dead_letter: f64,
    /// A PutEvents call is lost.
    pub publish_failure: f64,
    /// An idempotency-store call fails.
    pub store_failure: f64,
    /// A broker call fails (503).
    pub broker_transient: f64,
    /// An order is placed but its answer is lost.
    pub lost_answer: f64,
    /// An order fills 5–90 s later.
    pub slow_fill: f64,
    /// One outage of the trading functions' rules per this many workflows, each followed by a
    /// replay of its window.
    pub workflows_per_outage: usize,
    /// How long an outage lasts.
    pub outage: Duration,
    /// Each function's clock is off by up to this much.
    pub clock_skew: Duration,
    /// How often the sweep runs.
    pub sweep_every: Duration,
    /// The rule the invariants hold orders to: the oldest workflow that may still trade (the
    /// monitor's deadline).
    pub workflow_deadline: Duration,
    /// The rule the invariants hold orders to: the oldest plan that may still trade.
    pub max_plan_age: Duration,
    /// What the execution function runs with (the stage's defaults; a test may misconfigure it
    /// to see the invariants catch what follows).
    #[serde(skip)]
    pub execution: alchemiser_trading::ExecutionSettings,
}

impl Config {
    /// The default fault rates for `workflows` workflows and `seed`.
    pub fn new(workflows: usize, seed: u64) -> Self {
        let execution = alchemiser_trading::ExecutionSettings::default();
        Self {
            workflows,
            seed,
            duplicate: 0.05,
            late_duplicate: 0.005,
            lost_delivery: 0.003,
            rule_dead_letter: 0.003,
            publish_failure: 0.01,
            store_failure: 0.01,
            broker_transient: 0.02,
            lost_answer: 0.02,
            slow_fill: 0.03,
            workflows_per_outage: 250,
            outage: Duration::from_secs(30 * 60),
            clock_skew: Duration::from_secs(20),
            sweep_every: Duration::from_secs(300),
            workflow_deadline: execution.max_workflow_age,
            max_plan_age: execution.max_plan_age,
            execution,
        }
    }
}

/// What a run did and whether the invariants held.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The settings.
    pub config: Config,
    /// The counts.
    pub stats: Stats,
    /// Orders that reached the broker.
    pub orders: usize,
    /// Workflows by final state in the ledger.
    pub states: std::collections::BTreeMap<String, usize>,
    /// Failed workflows by why: the refusal's check, else the failing step.
    pub failures: std::collections::BTreeMap<String, usize>,
    /// Simulation time covered, in hours.
    pub simulated_hours: f64,
    /// Wall time of the run, in seconds.
    pub wall_seconds: f64,
    /// Broken invariants (none on a good run).
    pub violations: Vec<Violation>,
}

impl Report {
    /// True when every invariant held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Runs the simulation from `start` (simulation time) and checks the invariants.
pub async fn simulate(config: Config, start: DateTime<Utc>) -> Report {
    let began = Instant::now();
    let world = world::World::new(config.clone(), start);
    world.run().await;
    let violations = invariants::check(&world).await;
    let snapshot = world.snapshot();
    let mut states = std::collections::BTreeMap::new();
    let mut failures = std::collections::BTreeMap::new();
    for published in &snapshot.published {
        if let alchemiser_events::Event::WorkflowFailed(failed) = &published.event {
            let why = failed
                .error_details
                .get("check")
                .and_then(|c| c.as_str())
                .unwrap_or(&failed.failure_step)
                .to_owned();
            *failures.entry(why).or_insert(0) += 1;
        }
        if let alchemiser_events::Event::WorkflowStarted(started) = &published.event {
            let id = &started.header.correlation_id;
            let entries = world.ledger.entries(id).await.unwrap_or_default();
            let state = summarize(id, &entries).map_or("unknown", |s| s.state.as_str());
            *states.entry(state.to_owned()).or_insert(0) += 1;
        }
    }
    Report {
        config,
        stats: snapshot.stats,
        orders: snapshot.sent.len(),
        states,
        failures,
        simulated_hours: world.elapsed().num_seconds() as f64 / 3600.0,
        wall_seconds: began.elapsed().as_secs_f64(),
        violations,
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        writeln!(
            f,
            "simulated {} workflows (seed {}) over {:.1} h of simulation time in {:.1} s",
            s.workflows, self.config.seed, self.simulated_hours, self.wall_seconds
        )?;
        writeln!(
            f,
            "  events published {}, invocations {}, orders placed {}",
            s.events_published, s.invocations, self.orders
        )?;
        writeln!(
            f,
            "  faults: {} duplicates ({} a day late), {} lost deliveries, {} to the rule DLQ, {} lost PutEvents, {} Lambda retries ({} exhausted)",
            s.duplicates, s.late_duplicates, s.lost_deliveries, s.rule_dead_letters, s.publish_failures, s.retries, s.retries_exhausted
        )?;
        writeln!(
            f,
            "  operations: {} outages each replayed ({} replays, {} deliveries), {} redrives, {} sweeps",
            s.outages, s.replays, s.replayed_deliveries, s.redrives, s.sweeps
        )?;
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
        if self.violations.is_empty() {
            writeln!(f, "invariants: all held")
        } else {
            writeln!(f, "invariants: {} VIOLATION(S)", self.violations.len())?;
            for violation in self.violations.iter().take(20) {
                writeln!(f, "  {}: {}", violation.invariant, violation.detail)?;
            }
            Ok(())
        }
    }
}
