//! `validate`, `routes` and `schemas` as a user runs them, and an operator command on a machine
//! with no AWS set-up.

use assert_cmd::Command;
use predicates::prelude::*;

fn alchemiser() -> Command {
    Command::cargo_bin("alchemiser").unwrap()
}

/// The CLI as on a machine whose only AWS set-up is what the test gives it: no variable of this
/// process, HOME = `home` (so no ~/.aws of the machine), no instance metadata to ask.
fn alchemiser_at_home(home: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_alchemiser"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
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
    let mut expected: Vec<String> = alchemiser_events::EventType::ALL
        .iter()
        .map(|event_type| format!("{event_type}.schema.json"))
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    assert!(names.contains(&"WorkflowStarted.schema.json".to_owned()));
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
    let output = alchemiser_at_home(home.path())
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

/// A region but no credentials, no SSO anywhere: the hint names what to set, says nothing of
/// SSO, and says `-v` once.
#[test]
fn missing_credentials_get_a_hint_that_fits_and_mentions_v_once() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    std::fs::write(&config, "[profile plain]\nregion = us-east-1\n").unwrap();
    let output = alchemiser_at_home(home.path())
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "plain")
        .args(["dlq", "list", "--stage", "dev"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no AWS credentials"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("sso"), "{stderr}");
    assert_eq!(stderr.matches("-v").count(), 1, "{stderr}");

    // An SSO profile: the hint is the SSO login of that profile.
    std::fs::write(
        &config,
        "[profile trading]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Ops\nregion = us-east-1\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n",
    )
    .unwrap();
    let output = alchemiser_at_home(home.path())
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "trading")
        .args(["dlq", "list", "--stage", "dev"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("aws sso login --profile trading"),
        "{stderr}"
    );
    assert!(stderr.matches("-v").count() <= 1, "{stderr}");
}

/// Standard error that is not a terminal gets no colour codes (logs and errors alike).
#[test]
fn no_colour_codes_when_standard_error_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let output = alchemiser()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("EVENTBRIDGE_DEADLINE_MS", "300")
        .env("EVENTBRIDGE_VERIFY_BUS", "false")
        .env("EVENTBRIDGE_OUTBOX_PATH", dir.path().join("outbox.jsonl"))
        .args(["publish", "--example", "SignalGenerated"])
        .args(["--bus-name", "alchemiser-trading-events-test"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("WARN"), "a log line was expected: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "colour codes: {stderr:?}");
}

/// A window without a unit says which units there are, not the parser's guess.
#[test]
fn a_window_without_a_unit_says_how_to_write_one() {
    let output = alchemiser()
        .args(["workflows", "list", "--stage", "dev", "--since", "24"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("`24` has no unit"), "{stderr}");
    assert!(stderr.contains("24h"), "{stderr}");
    assert!(!stderr.contains("24sec"), "{stderr}");
}

/// What `validate` prints of a hostile event is text: no escape sequence reaches the terminal.
#[test]
fn validate_shows_a_hostile_event_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hostile.json");
    for detail in [
        r#"{"event_type": "Signal\u001b]0;pwned\u0007Generated", "event_id": "x"}"#,
        r#"{"event_type": "SignalGenerated", "event_id": "evt\u001b[2J\r\nvalid SignalGenerated"}"#,
    ] {
        std::fs::write(&file, detail).unwrap();
        let output = alchemiser().arg("validate").arg(&file).output().unwrap();
        assert!(!output.status.success());
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!shown.contains('\u{1b}'), "{shown:?}");
        assert_eq!(shown.trim_end().lines().count(), 1, "{shown:?}");
    }
}
