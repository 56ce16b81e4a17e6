//! The stage's limits, its halt and the market calendar from the command line: `invoke` and
//! `run` take the execution settings (flags or the Lambda's variables) and `--at`; `halt` and
//! `resume` make the set-up check every operator command makes.

use assert_cmd::Command;
use predicates::prelude::*;

fn alchemiser() -> Command {
    let mut command = Command::cargo_bin("alchemiser").unwrap();
    // A developer's shell may hold the Lambda's variables: these tests set what they mean.
    for variable in [
        "MAX_ORDER_NOTIONAL",
        "MAX_PLAN_TURNOVER",
        "MAX_DAILY_BUY_NOTIONAL",
        "MAX_DAILY_ORDERS",
        "MAX_FAILED_SELL_NOTIONAL",
        "BUY_ALLOW_LIST",
        "STRATEGY_RUN_AT",
        "MAX_PLAN_AGE_SECONDS",
        "WORKFLOW_DEADLINE_SECONDS",
        "STOP_BEFORE_CLOSE_SECONDS",
        "MAX_FILL_WAIT_SECONDS",
    ] {
        command.env_remove(variable);
    }
    // Runs record in a ledger under the test build's scratch folder, not the package's.
    command.env(
        "ALCHEMISER_LEDGER",
        concat!(env!("CARGO_TARGET_TMPDIR"), "/cli-limits-ledger.sqlite3"),
    );
    command
}

fn plan() -> String {
    format!(
        "{}/../../examples/events/RebalancePlanned.eventbridge.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The example plan's time: tried `--at` it, the plan is fresh.
const PLAN_MADE: &str = "2025-11-03T14:35:01Z";

fn failed_check(stdout: &[u8]) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(stdout);
    let failed: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event_type"] == "WorkflowFailed")
        .collect();
    assert_eq!(failed.len(), 1, "{stdout}");
    failed[0]["error_details"].clone()
}

/// `alchemiser invoke execution --json --at PLAN_MADE --event <the example plan>`.
fn invoke_plan() -> Command {
    let mut command = alchemiser();
    command.args([
        "invoke",
        "execution",
        "--json",
        "--at",
        PLAN_MADE,
        "--event",
        &plan(),
    ]);
    command
}

#[test]
fn invoke_execution_tries_a_captured_plan_against_the_stages_limits() {
    // As a flag: 2 orders against a limit of 1.
    let details = failed_check(
        &invoke_plan()
            .args(["--max-daily-orders", "1"])
            .output()
            .unwrap()
            .stdout,
    );
    assert_eq!(details["check"], "max_daily_orders");
    assert_eq!(details["configured"], "1");
    assert_eq!(details["actual"], "2");
    // As the Lambda's variable: the sell of 3,040 against 3,000.
    let details = failed_check(
        &invoke_plan()
            .env("MAX_ORDER_NOTIONAL", "3000")
            .output()
            .unwrap()
            .stdout,
    );
    assert_eq!(details["limit"], "MAX_ORDER_NOTIONAL");
    assert_eq!(details["actual"], "3040.00");
    // Within them, it trades (--at: the plan is fresh and the NYSE is open).
    invoke_plan()
        .args(["--max-daily-orders", "2", "--max-order-notional", "3040"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "\"event_type\":\"WorkflowCompleted\"",
        ));
}

#[test]
fn a_bad_limit_is_one_line_naming_the_variable() {
    alchemiser()
        .args(["invoke", "execution", "--event", &plan()])
        .args(["--max-order-notional", "1e5"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "MAX_ORDER_NOTIONAL=`1e5` is not valid: a decimal number",
        ));
}

#[test]
fn invoke_execution_halted_places_nothing_and_names_the_halt() {
    let output = invoke_plan()
        .args(["--halted", "incident 42"])
        .output()
        .unwrap();
    let details = failed_check(&output.stdout);
    assert_eq!(details["check"], "halted");
    assert_eq!(details["orders_placed"], 0);
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("incident 42"),
        "the reason is in the failure"
    );
}

#[test]
fn at_a_holiday_the_paper_market_is_closed() {
    // The plan's own time of day, on Christmas Day 2025: fresh, but the NYSE is closed.
    let output = alchemiser()
        .args([
            "invoke",
            "execution",
            "--json",
            "--at",
            "2025-12-25T14:35:01Z",
        ])
        .args(["--max-plan-age", "10000000", "--event", &plan()])
        .output()
        .unwrap();
    let details = failed_check(&output.stdout);
    assert_eq!(details["check"], "market_closed");
    let output = alchemiser()
        .args(["run", "--json", "--at", "2026-12-25T15:00:00Z"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(failed_check(&output.stdout)["check"], "market_closed");
    // A weekday afternoon: the whole workflow trades.
    alchemiser()
        .args(["run", "--at", "2026-12-01T20:00:00Z"])
        .assert()
        .success();
}

#[test]
fn a_scheduled_tick_on_christmas_starts_no_workflow_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let tick = dir.path().join("tick.json");
    std::fs::write(
        &tick,
        r#"{"id": "tick-xmas", "source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}"#,
    )
    .unwrap();
    let path = tick.to_str().unwrap();
    alchemiser()
        .args([
            "invoke",
            "strategy",
            "--event",
            path,
            "--at",
            "2026-12-25T20:45:00Z",
        ])
        .env(
            "STRATEGY_RUN_AT",
            r#"{"anchor": "close", "offsetMinutes": 15}"#,
        )
        .assert()
        .success()
        .stdout(predicate::str::contains("WorkflowStarted").not())
        .stderr(predicate::str::contains(
            "no workflow started: market closed: Christmas Day",
        ));
    // The day before at 15:45 New York time: today's run.
    alchemiser()
        .args([
            "invoke",
            "strategy",
            "--event",
            path,
            "--at",
            "2026-12-24T17:45:00Z",
        ])
        .args(["--run-at", r#"{"anchor": "close", "offsetMinutes": 15}"#])
        .assert()
        .success()
        .stdout(predicate::str::contains("WorkflowStarted"));
}

#[test]
fn halt_and_resume_make_the_set_up_check_first() {
    for args in [
        vec!["halt", "--stage", "dev", "--reason", "test"],
        vec!["resume", "--stage", "dev"],
    ] {
        let home = tempfile::tempdir().unwrap();
        let output = alchemiser()
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .args(&args)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with("error: no AWS region"),
            "{args:?}: {stderr}"
        );
    }
    // A halt says why.
    alchemiser()
        .args(["halt", "--stage", "dev"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--reason"));
    alchemiser()
        .args(["halt", "--stage", "Dev", "--reason", "x"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("lowercase"));
}
