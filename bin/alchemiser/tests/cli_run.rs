//! `alchemiser run` as a user runs it on a fresh clone.

use alchemiser_events::{decode, Event};
use assert_cmd::Command;
use predicates::prelude::*;

/// The CLI, recording its runs in a ledger under the test build's scratch folder (not in the
/// package's directory, where a run records by default).
fn alchemiser() -> Command {
    let mut command = Command::cargo_bin("alchemiser").unwrap();
    command.env(
        "ALCHEMISER_LEDGER",
        concat!(env!("CARGO_TARGET_TMPDIR"), "/cli-run-ledger.sqlite3"),
    );
    command
}

#[test]
fn runs_a_whole_workflow_with_no_arguments() {
    alchemiser().arg("run").assert().success().stdout(
        predicate::str::contains("WorkflowCompleted")
            .and(predicate::str::contains("TLT      SELL"))
            .and(predicate::str::contains("2/2 orders succeeded")),
    );
}

#[test]
fn json_output_is_the_causation_chain_in_wire_format() {
    let output = alchemiser().args(["run", "--json"]).output().unwrap();
    assert!(output.status.success());
    let events: Vec<Event> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            decode(line.as_bytes())
                .expect("every line is a valid event")
                .event
        })
        .collect();
    let types: Vec<_> = events.iter().map(|e| e.event_type().as_str()).collect();
    assert_eq!(
        types,
        [
            "WorkflowStarted",
            "SignalGenerated",
            "RebalancePlanned",
            "TradeExecuted",
            "WorkflowCompleted"
        ]
    );
    let correlation = &events[0].header().correlation_id;
    for pair in events.windows(2) {
        assert_eq!(&pair[1].header().correlation_id, correlation);
        assert_eq!(pair[1].header().causation_id, pair[0].header().event_id);
    }
}

#[test]
fn a_portfolio_file_is_updated_and_a_second_run_holds() {
    let dir = tempfile::tempdir().unwrap();
    let portfolio = dir.path().join("portfolio.json");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/portfolio.json"),
        &portfolio,
    )
    .unwrap();
    let path = portfolio.to_str().unwrap();
    alchemiser()
        .args(["run", "--portfolio", path])
        .assert()
        .success();
    let account: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&portfolio).unwrap()).unwrap();
    assert_eq!(account["cash"], "100.00");
    assert_eq!(account["orders"].as_array().unwrap().len(), 2);

    alchemiser()
        .args(["run", "--portfolio", path])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("0/0 orders succeeded").and(predicate::str::contains("HOLD")),
        );
}

#[test]
fn a_custom_allocation_buys_a_symbol_not_held() {
    let dir = tempfile::tempdir().unwrap();
    let allocation = dir.path().join("allocation.json");
    std::fs::write(&allocation, r#"{"spy": "0.5", "gld": "0.5"}"#).unwrap();
    alchemiser()
        .args(["run", "--allocation", allocation.to_str().unwrap()])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("GLD      BUY").and(predicate::str::contains("TLT      SELL")),
        );
}

#[test]
fn bad_inputs_fail_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("allocation", r#"{"SPY": "0.6", "TLT": "0.3"}"#, "sum to 1"),
        (
            "allocation",
            r#"{"SPY": "lots"}"#,
            "not a target allocation",
        ),
        ("allocation", "", "not valid JSON"),
        (
            "portfolio",
            r#"{"cash": "0", "positions": [{"symbol": "SPY", "qty": "-1", "price": "1"}]}"#,
            "must not be negative",
        ),
    ];
    for (flag, content, message) in cases {
        let file = dir.path().join(format!("{flag}.json"));
        std::fs::write(&file, content).unwrap();
        alchemiser()
            .args(["run", &format!("--{flag}"), file.to_str().unwrap()])
            .assert()
            .failure()
            .stderr(
                predicate::str::contains(message).and(predicate::str::contains("panicked").not()),
            );
    }
    // A target the paper account has no price for is a failed workflow, not a crash.
    let allocation = dir.path().join("unpriced.json");
    std::fs::write(&allocation, r#"{"NVDA": "1.0"}"#).unwrap();
    alchemiser()
        .args(["run", "--allocation", allocation.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no price for `NVDA`"));
}
