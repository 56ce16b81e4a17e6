//! `publish` and `outbox drain` as a user runs them, with EventBridge unreachable (port 1 on
//! 127.0.0.1 refuses connections): events are reported, kept in the outbox, and stay there through a drain
//! that cannot deliver. Delivery itself is tested in lib/eventbridge (fake server) and against
//! LocalStack (scripts/test-publisher-localstack).

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

fn alchemiser(outbox: &Path) -> Command {
    let mut command = Command::cargo_bin("alchemiser").unwrap();
    command
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("EVENTBRIDGE_DEADLINE_MS", "400")
        .env("EVENTBRIDGE_BASE_BACKOFF_MS", "10")
        .env("EVENTBRIDGE_MAX_BACKOFF_MS", "50")
        .env("EVENTBRIDGE_OUTBOX_PATH", outbox)
        .env_remove("EVENTBRIDGE_OUTBOX_QUEUE_URL")
        .env_remove("EVENTBRIDGE_BUS_NAME");
    command
}

fn example(name: &str) -> String {
    format!(
        "{}/../../examples/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn publish_validates_the_file_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"event_type": "SignalGenerated"}"#).unwrap();
    alchemiser(&dir.path().join("outbox.jsonl"))
        .args(["publish", "--event"])
        .arg(&bad)
        .assert()
        .failure()
        .stderr(predicate::str::contains("invalid event in"));
    assert!(
        !dir.path().join("outbox.jsonl").exists(),
        "nothing was published or kept in the outbox"
    );
}

#[test]
fn publish_rejects_bad_configuration_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    alchemiser(&dir.path().join("outbox.jsonl"))
        .env("EVENTBRIDGE_VERIFY_BUS", "maybe")
        .args(["publish", "--example", "SignalGenerated"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("EVENTBRIDGE_VERIFY_BUS=\"maybe\""));
    alchemiser(&dir.path().join("outbox.jsonl"))
        .args(["publish", "--example", "NoSuchType"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("unknown event type"));
    alchemiser(&dir.path().join("outbox.jsonl"))
        .args([
            "publish",
            "--example",
            "SignalGenerated",
            "--batch-size",
            "11",
        ])
        .assert()
        .failure();
}

#[test]
fn unreachable_eventbridge_keeps_events_in_the_outbox_and_drain_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    alchemiser(&outbox)
        .env("EVENTBRIDGE_VERIFY_BUS", "false")
        .args(["publish", "--example", "TradeExecuted", "--count", "3"])
        .args(["--bus-name", "alchemiser-trading-events-test"])
        .assert()
        .failure()
        .stdout(
            predicate::str::is_match(
                r"^delivered=0 failed=3 kept=3 in \d+\.\d\ds \(\d+ events/s\)\n$",
            )
            .unwrap(),
        )
        .stderr(predicate::str::contains("code=ConnectionError"));
    let before = std::fs::read_to_string(&outbox).unwrap();
    assert_eq!(before.lines().count(), 3);
    assert!(
        !before.contains(r#""attempts":0"#),
        "PutEvents was tried: {before}"
    );

    alchemiser(&outbox)
        .args([
            "publish",
            "--event",
            &example("SignalGenerated.eventbridge.json"),
            "--bus-name",
            "alchemiser-trading-events-test",
        ])
        .assert()
        .failure()
        .stdout(predicate::str::contains("delivered=0 failed=1 kept=1"));
    assert_eq!(std::fs::read_to_string(&outbox).unwrap().lines().count(), 4);

    alchemiser(&outbox)
        .args(["outbox", "drain", "--path"])
        .arg(&outbox)
        .assert()
        .failure()
        .stdout(predicate::str::contains(
            "resent=0 set_aside=0 remaining=4 unreadable=0",
        ))
        .stdout(predicate::str::contains(
            "remaining SignalGenerated signal-generated-0001 code=ConnectionError",
        ));
    let text = std::fs::read_to_string(&outbox).unwrap();
    assert_eq!(
        text.lines().count(),
        4,
        "nothing removed that was not delivered"
    );
    let attempts = |text: &str| -> u64 {
        text.lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).unwrap()["attempts"]
                    .as_u64()
                    .unwrap()
            })
            .sum()
    };
    assert!(attempts(&text) >= attempts(&before), "attempts only grow");
    assert!(text.contains("first_failed_at") && text.contains("\"reason\""));
}

#[test]
fn publish_names_its_bus_or_refuses_and_never_keeps_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    // No bus named: no silent default to the dev bus.
    alchemiser(&outbox)
        .args(["publish", "--example", "SignalGenerated"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--stage"))
        .stderr(predicate::str::contains("alchemiser-trading-events-dev").not());
    // No region: the set-up check's one line, nothing sent, nothing kept.
    alchemiser(&outbox)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
        .env("EVENTBRIDGE_BUS_NAME", "alchemiser-trading-events-test")
        .args(["publish", "--example", "SignalGenerated"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no AWS region"))
        .stderr(predicate::str::contains("DispatchFailure").not());
    assert!(
        !outbox.exists(),
        "a configuration error was kept in the outbox"
    );
}

#[test]
fn published_examples_are_marked_as_samples_and_the_command_says_where_they_go() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    // EventBridge unreachable: the event is kept in the outbox, where its detail can be read.
    alchemiser(&outbox)
        .env("EVENTBRIDGE_VERIFY_BUS", "false")
        .args(["publish", "--example", "RebalancePlanned", "--stage", "e2e"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "sample event(s) to alchemiser-trading-events-e2e (stage e2e)",
        ));
    let kept = std::fs::read_to_string(&outbox).unwrap();
    let line: serde_json::Value = serde_json::from_str(kept.lines().next().unwrap()).unwrap();
    let text = line.to_string();
    assert!(
        text.contains(r#"\"provenance\":{\"sample\":true}"#)
            || text.contains(r#""provenance":{"sample":true}"#),
        "{text}"
    );
}
