//! `alchemiser invoke` runs a function's code path on a captured event.

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

fn example_text(name: &str) -> String {
    std::fs::read_to_string(example(name)).unwrap()
}

/// A captured plan is older than any stage trades: its age is allowed explicitly.
const ANY_AGE: &str = "3153600000";

#[test]
fn a_captured_plan_is_refused_as_stale_unless_its_age_is_allowed() {
    let output = alchemiser()
        .args([
            "invoke",
            "execution",
            "--json",
            "--event",
            &example("RebalancePlanned.eventbridge.json"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert_eq!(lines[0]["event_type"], "WorkflowFailed");
    assert_eq!(lines[0]["error_details"]["check"], "plan_age");
    let reason = lines[0]["failure_reason"].as_str().unwrap();
    assert!(reason.contains("MAX_PLAN_AGE_SECONDS"), "{reason}");
}

#[test]
fn execution_on_the_python_plan_prints_the_events_it_publishes() {
    let output = alchemiser()
        .args([
            "invoke",
            "execution",
            "--json",
            "--max-plan-age",
            ANY_AGE,
            "--event",
            &example("RebalancePlanned.eventbridge.json"),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["event_type"], "TradeExecuted");
    assert_eq!(lines[0]["causation_id"], "rebalance-planned-0001");
    assert_eq!(lines[0]["orders_placed"], 2);
    assert_eq!(lines[1]["event_type"], "WorkflowCompleted");
}

#[test]
fn a_replayed_plan_is_a_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(example("RebalancePlanned.eventbridge.json")).unwrap(),
    )
    .unwrap();
    event["replay-name"] = "after-outage".into();
    let path = dir.path().join("replayed.json");
    std::fs::write(&path, event.to_string()).unwrap();
    alchemiser()
        .args([
            "invoke",
            "execution",
            "--json",
            "--event",
            path.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains(r#""dry_run":true"#).and(predicate::str::contains("DRY_RUN")),
        );
}

#[test]
fn a_sample_plan_is_a_dry_run_even_when_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(example("RebalancePlanned.eventbridge.json")).unwrap(),
    )
    .unwrap();
    event["detail"]["metadata"]["provenance"] = serde_json::json!({"sample": true});
    let path = dir.path().join("sample.json");
    std::fs::write(&path, event.to_string()).unwrap();
    alchemiser()
        .args([
            "invoke",
            "execution",
            "--json",
            "--max-plan-age",
            ANY_AGE,
            "--event",
            path.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains(r#""dry_run":true"#)
                .and(predicate::str::contains("sample"))
                .and(predicate::str::contains(r#""orders_placed":0"#)),
        );
}

#[test]
fn the_wrong_function_or_bad_input_fails_clearly() {
    alchemiser()
        .args([
            "invoke",
            "execution",
            "--event",
            &example("SignalGenerated.eventbridge.json"),
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "the routing table sends them to: portfolio, monitor",
        ));
    // A plan that claims to come from the strategy is refused, whatever its detail says.
    let forged = example_text("RebalancePlanned.eventbridge.json").replace(
        "\"source\": \"alchemiser.portfolio\"",
        "\"source\": \"alchemiser.strategy\"",
    );
    assert!(forged.contains("alchemiser.strategy"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forged.json");
    std::fs::write(&path, forged).unwrap();
    alchemiser()
        .args([
            "invoke",
            "execution",
            "--max-plan-age",
            "4000000000",
            "--event",
            path.to_str().unwrap(),
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "RebalancePlanned from source `alchemiser.strategy` is not from a producer",
        ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.json");
    std::fs::write(
        &path,
        "{\"detail-type\": \"SignalGenerated\", \"detail\": 7}",
    )
    .unwrap();
    alchemiser()
        .args(["invoke", "portfolio", "--event", path.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("permanent failure")
                .and(predicate::str::contains("panicked").not()),
        );
    alchemiser()
        .args([
            "invoke",
            "trader",
            "--event",
            &example("SignalGenerated.eventbridge.json"),
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("unknown handler `trader`"));
}

#[test]
fn the_strategy_starts_a_workflow_from_a_schedule_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tick.json");
    std::fs::write(&path, r#"{"id": "tick-1", "source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}"#).unwrap();
    alchemiser()
        .args(["invoke", "strategy", "--event", path.to_str().unwrap()])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("WorkflowStarted")
                .and(predicate::str::contains("SignalGenerated")),
        );
}

/// The example plan with a signature made by a stage's KMS key (its MAC is made up: a laptop has
/// neither the key nor the right to use it).
fn plan_signed_by_a_stage() -> String {
    let mut envelope: serde_json::Value =
        serde_json::from_str(&example_text("RebalancePlanned.eventbridge.json")).unwrap();
    envelope["detail"]["metadata"]["signature"] = serde_json::json!({
        "signer": "portfolio",
        "key_id": "arn:aws:kms:us-east-1:111122223333:key/0f2c6a40-1111-2222-3333-444455556666",
        "alg": "HMAC_SHA_256",
        "mac": "c2lnbmVkIGJ5IGEgc3RhZ2U="
    });
    let path = std::env::temp_dir().join(format!("stage-signed-plan-{}.json", std::process::id()));
    std::fs::write(&path, envelope.to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn a_plan_signed_by_a_stage_is_refused_locally_with_what_to_do_and_runs_with_its_signature_removed()
{
    let plan = plan_signed_by_a_stage();
    alchemiser()
        .args([
            "invoke",
            "execution",
            "--max-plan-age",
            ANY_AGE,
            "--event",
            &plan,
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("permanent failure"))
        .stderr(predicate::str::contains("--stage STAGE"))
        .stderr(predicate::str::contains("--ignore-signature"));
    let output = alchemiser()
        .args([
            "invoke",
            "execution",
            "--json",
            "--ignore-signature",
            "--max-plan-age",
            ANY_AGE,
            "--event",
            &plan,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("signature was removed"), "{stderr}");
    let types: Vec<String> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event_type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(types, ["TradeExecuted", "WorkflowCompleted"], "{stdout}");
    std::fs::remove_file(plan).ok();
}
