//! The simulation itself: the invariants hold over several seeds, a seed replays its run, and
//! a stage misconfigured the way the review found the system (replays trading, day-old plans
//! trading) breaks exactly the invariant that says so.

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
    names.dedup();
    names
}

#[tokio::test]
async fn every_invariant_holds_whatever_the_dice_do() {
    for seed in [1, 2, 3] {
        let report = simulate(Config::new(400, seed), start()).await;
        assert!(report.passed(), "seed {seed}:\n{report}");
        // The faults did happen: a quiet run would prove nothing.
        let s = &report.stats;
        assert!(
            s.duplicates > 0 && s.retries > 0 && s.redrives > 0,
            "{report}"
        );
        assert!(
            s.outages > 0 && s.replayed_deliveries > 0 && s.lost_deliveries > 0,
            "{report}"
        );
        assert!(
            s.publish_failures > 0 && s.retries_exhausted > 0,
            "{report}"
        );
        assert!(report.orders > 0, "{report}");
        assert_eq!(report.states.values().sum::<usize>(), 400, "{report}");
    }
}

#[tokio::test]
async fn a_seed_replays_its_run() {
    let a = simulate(Config::new(150, 42), start()).await;
    let b = simulate(Config::new(150, 42), start()).await;
    assert_eq!(a.stats, b.stats);
    assert_eq!((a.orders, &a.states), (b.orders, &b.states));
    let c = simulate(Config::new(150, 43), start()).await;
    assert_ne!(a.stats, c.stats, "another seed, another run");
}

#[tokio::test]
async fn replays_that_trade_are_caught() {
    let mut config = Config::new(500, 5);
    config.execution.allow_replay_execution = true;
    let report = simulate(config, start()).await;
    assert!(
        broken(&report).contains(&"orders_from_live_plans"),
        "{report}"
    );
}

#[tokio::test]
async fn day_old_plans_that_trade_are_caught() {
    let mut config = Config::new(500, 6);
    config.execution.max_plan_age = Duration::from_secs(3 * 24 * 3600);
    config.execution.max_workflow_age = Duration::from_secs(3 * 24 * 3600);
    let report = simulate(config, start()).await;
    assert!(broken(&report).contains(&"fresh_plans_only"), "{report}");
}
