//! The simulation itself: the invariants hold over several seeds with every fault kind
//! injected, a seed replays its run, and a stage misconfigured the way a review found the
//! system (replays trading, day-old plans trading, no pre-trade limits, no halt switch, no
//! check of who made an event) breaks exactly the invariant that says so.

use std::time::Duration;

use alchemiser_simulation::{simulate, Config, Report};
use chrono::{DateTime, Utc};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-05T14:35:00Z")
        .unwrap()
        .to_utc()
}

fn broken(report: &Report) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = report.violations.iter().map(|v| v.invariant).collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_handler_the_routing_table_delivers_to_is_wired() {
    assert_eq!(
        alchemiser_simulation::world::unwired_consumers(),
        vec![],
        "these handlers receive events in the routing table but the simulation builds no \
         function for them: give each an arm in Workflow::handler (lib/trading/src/handlers/mod.rs)"
    );
}

#[test]
fn every_invariant_holds_whatever_the_dice_do() {
    let mut injected: std::collections::BTreeMap<String, u64> = Default::default();
    for seed in [1, 2, 3] {
        let report = simulate(Config::new(400, seed), start());
        assert!(report.passed(), "seed {seed}:\n{report}");
        for (kind, count) in &report.faults {
            *injected.entry(kind.clone()).or_default() += count;
        }
        assert!(
            report
                .forgeries
                .get("workflows_forged")
                .copied()
                .unwrap_or_default()
                > 0,
            "seed {seed}: the forger did not run:\n{report}"
        );
        assert!(report.max_concurrent_invocations > 1, "{report}");
        assert!(report.orders > 0, "{report}");
        assert_eq!(report.states.values().sum::<usize>(), 400, "{report}");
    }
    // The faults did happen, in the three runs together (a rare kind may miss one run's dice):
    // a quiet run would prove nothing.
    for kind in [
        "crash",
        "stall",
        "timeout",
        "uncertain_write",
        "partial_fill",
        "market_closed",
        "canceled",
        "rate_limited",
        "duplicate",
        "lambda_retry",
        "redrive",
        "follow_up",
        "lost_answer",
        "halt",
        "concentrated_plan",
    ] {
        assert!(
            injected.get(kind).copied().unwrap_or_default() > 0,
            "no {kind} injected in seeds 1 to 3: {injected:?}"
        );
    }
}

#[test]
fn a_seed_replays_its_run() {
    let a = simulate(Config::new(150, 42), start());
    let b = simulate(Config::new(150, 42), start());
    assert_eq!(a.faults, b.faults);
    assert_eq!((a.orders, &a.states), (b.orders, &b.states));
    let c = simulate(Config::new(150, 43), start());
    assert_ne!(a.faults, c.faults, "another seed, another run");
}

/// Whether `invariant` breaks in the run of `config(seed)` for one of `seeds`, tried in order: a
/// misconfiguration the dice of one seed may never exercise must be caught by another.
fn caught_by_one_of(seeds: &[u64], config: impl Fn(u64) -> Config, invariant: &str) -> bool {
    seeds.iter().any(|&seed| {
        let report = simulate(config(seed), start());
        let caught = broken(&report).contains(&invariant);
        if !caught {
            eprintln!("seed {seed} did not break {invariant}:\n{report}");
        }
        caught
    })
}

/// Outages often, so that many deliveries come late and replays come before them.
fn outage_prone(workflows: usize, seed: u64) -> Config {
    let mut config = Config::new(workflows, seed);
    config.workflows_per_outage = 40;
    config
}

#[test]
fn replays_that_trade_are_caught() {
    let replays_trade = |seed| {
        let mut config = outage_prone(500, seed);
        config.execution.allow_replay_execution = true;
        // Short outages: their replays come while the workflows are still within their deadline.
        config.outage = Duration::from_secs(10 * 60);
        config.workflows_per_outage = 5;
        config
    };
    assert!(caught_by_one_of(
        &[5, 15, 25],
        replays_trade,
        "orders_from_live_plans"
    ));
}

#[test]
fn day_old_plans_that_trade_are_caught() {
    let day_old_plans_trade = |seed| {
        let mut config = outage_prone(500, seed);
        config.execution.max_plan_age = Duration::from_secs(3 * 24 * 3600);
        config.execution.max_workflow_age = Duration::from_secs(3 * 24 * 3600);
        config
    };
    assert!(caught_by_one_of(
        &[6, 16, 26],
        day_old_plans_trade,
        "fresh_plans_only"
    ));
}

#[test]
fn an_execution_without_the_stages_limits_is_caught() {
    let mut config = Config::new(1500, 8);
    config.execution.limits = alchemiser_trading::RiskLimits::unlimited();
    let report = simulate(config, start());
    let broken = broken(&report);
    for invariant in ["orders_within_the_order_limit", "buys_on_the_allow_list"] {
        assert!(broken.contains(&invariant), "{invariant}: {report}");
    }
}

#[test]
fn an_execution_that_does_not_read_the_halt_switch_is_caught() {
    let mut config = Config::new(1500, 9);
    config.workflows_per_halt = 50;
    config.halt_switch_wired = false;
    let report = simulate(config, start());
    assert!(
        broken(&report).contains(&"nothing_placed_while_halted"),
        "{report}"
    );
    // Wired, the same run holds.
    let mut config = Config::new(1500, 9);
    config.workflows_per_halt = 50;
    let report = simulate(config, start());
    assert!(report.passed(), "{report}");
}

#[test]
fn forged_plans_that_trade_are_caught() {
    // Functions (and the operator's redrive) that take unsigned events and any MAC: the
    // forger's plans trade, and the invariants say which, by which path.
    let mut config = Config::new(300, 11);
    config.forgery = 0.3;
    config.signatures_checked = false;
    let report = simulate(config, start());
    let broken = broken(&report);
    for invariant in [
        "no_order_for_a_forged_plan",
        "nothing_caused_by_a_forgery",
        "forgeries_refused_visibly",
    ] {
        assert!(broken.contains(&invariant), "{invariant}: {report}");
        let first = report.violations.iter().find(|v| v.invariant == invariant);
        println!("{invariant}: {}", first.map_or("", |v| &v.detail));
    }
    // Checked, the same forgeries are all refused, visibly, and none trades.
    let mut config = Config::new(300, 11);
    config.forgery = 0.3;
    let report = simulate(config, start());
    assert!(report.passed(), "{report}");
    for path in alchemiser_simulation::forger::Path::ALL {
        assert!(
            report
                .forgeries
                .get(path.name())
                .copied()
                .unwrap_or_default()
                > 0,
            "no forgery by {}: {report}",
            path.name()
        );
    }
}
