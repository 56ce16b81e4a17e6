//! `validate`, `routes` and `schemas` as a user runs them, and an operator command on a machine
//! with no AWS set-up.

use assert_cmd::Command;
use predicates::prelude::*;

fn alchemiser() -> Command {
    Command::cargo_bin("alchemiser").unwrap()
}

fn example(name: &str) -> String {
    format!(
        "{}/../../examples/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn validate_accepts_the_python_examples() {
    alchemiser()
        .args(["validate", &example("RebalancePlanned.eventbridge.json")])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "valid RebalancePlanned event_id=rebalance-planned-0001 correlation_id=corr-0001",
        ));
}

#[test]
fn validate_reads_standard_input() {
    let text = std::fs::read_to_string(example("SignalGenerated.eventbridge.json")).unwrap();
    alchemiser()
        .args(["validate", "-"])
        .write_stdin(text)
        .assert()
        .success()
        .stdout(predicate::str::contains("valid SignalGenerated"));
}

#[test]
fn validate_rejects_bad_files_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("empty.json", "".to_string(), "input is empty"),
        ("text.json", "hello".to_string(), "not valid JSON"),
        ("array.json", "[]".to_string(), "found an array"),
        (
            "binary.json",
            String::from_utf8_lossy(&[0xff, 0x00, 0x13]).into_owned(),
            "not valid JSON",
        ),
        (
            "unknown.json",
            r#"{"event_type": "OrderPlaced", "event_id": "x"}"#.to_string(),
            "unknown event type `OrderPlaced`",
        ),
        (
            "missing.json",
            r#"{"event_type": "WorkflowFailed", "event_id": "x"}"#.to_string(),
            "missing field",
        ),
    ];
    for (name, content, message) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        alchemiser()
            .args(["validate", path.to_str().unwrap()])
            .assert()
            .failure()
            .code(1)
            .stderr(
                predicate::str::contains(message).and(predicate::str::contains("panicked").not()),
            );
    }
}

#[test]
fn validate_names_a_missing_file() {
    alchemiser()
        .args(["validate", "/nonexistent/event.json"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "cannot read `/nonexistent/event.json`",
        ));
}

#[test]
fn routes_json_is_the_checked_in_file() {
    let checked_in = std::fs::read_to_string(format!(
        "{}/../../lib/events/routes.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    alchemiser()
        .args(["routes", "--json"])
        .env_remove("EVENTBRIDGE_SOURCE_PREFIX")
        .assert()
        .success()
        .stdout(checked_in);
}

#[test]
fn routes_follow_the_source_prefix() {
    alchemiser()
        .args(["routes", "--json"])
        .env("EVENTBRIDGE_SOURCE_PREFIX", "acme")
        .assert()
        .success()
        .stdout(predicate::str::contains(r#""source": "acme.portfolio""#));
}

#[test]
fn schemas_writes_one_file_per_event_type() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("schemas");
    alchemiser()
        .args(["schemas", "--out", out.to_str().unwrap()])
        .assert()
        .success();
    let mut names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "RebalancePlanned.schema.json",
            "SignalGenerated.schema.json",
            "TradeExecuted.schema.json",
            "WorkflowCompleted.schema.json",
            "WorkflowFailed.schema.json",
            "WorkflowStarted.schema.json"
        ]
    );
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("TradeExecuted.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(schema["properties"]["event_type"]["const"], "TradeExecuted");
}

/// No region, no credentials, no AWS config files: the operator gets the one line that says
/// what to set, not the SDK's warnings about each provider it tried (instance metadata, ...).
#[test]
fn an_operator_command_without_aws_setup_says_what_to_set_in_one_line() {
    let home = tempfile::tempdir().unwrap();
    let output = alchemiser()
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .args(["dlq", "list", "--stage", "dev"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines.len() <= 2 && lines[0].starts_with("error: no AWS region"),
        "{stderr}"
    );
}
