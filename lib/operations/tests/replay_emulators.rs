//! Against moto and against LocalStack (run by `scripts/test-operations` on both; `test = false`,
//! so plain `cargo test` skips it; LocalStack's StartReplay works with the project's EventBridge
//! provider, `localstack-plugins/alchemiser_localstack/events_replay.py`). A bus, its archive and a rule → SQS
//! target; two events published; the replay started through `Replayer` (archive and bus found
//! by stage, the rule as filter), followed until COMPLETED; both events arrive again with the
//! replay's `replay-name`. With `ALCHEMISER_BIN` set, `alchemiser replay --force --wait` too.
//!
//! Each replay failure is one line saying what it is (no archive, a rule the bus does not have,
//! a name used before), never the SDK's dump.
//!
//! Needs AWS_ENDPOINT_URL (moto, e.g. http://127.0.0.1:5050, or LocalStack), credentials and a
//! region.

use std::time::Duration;

use alchemiser_eventbridge::{EventBridgePublisher, OutboxConfig, PublisherConfig};
use alchemiser_events::samples::sample_event;
use alchemiser_events::{decode_value, EventType};
use alchemiser_operations::{OperationsError, ReplayRequest, ReplayWindow, Replayer, Stage};
mod common;
use alchemiser_testkit::{Emulator, EVERY_ALCHEMISER_SOURCE};
use common::unique_stage;

/// Creates the stage's bus and its archive (as the stack does); returns the bus ARN.
async fn bus_with_archive(emulator: &mut Emulator, stage: &Stage) -> String {
    let bus = stage.bus_name();
    emulator.bus(&bus).await;
    let bus_arn = emulator
        .events
        .describe_event_bus()
        .name(&bus)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    emulator
        .events
        .create_archive()
        .archive_name(stage.archive_name())
        .event_source_arn(&bus_arn)
        .send()
        .await
        .unwrap();
    bus_arn
}

/// Removes what the test made: the stage's archive, then everything the emulator fixture made
/// (best effort).
async fn remove_stage(emulator: Emulator, stage: &Stage) {
    let _ = emulator
        .events
        .delete_archive()
        .archive_name(stage.archive_name())
        .send()
        .await;
    emulator.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_redelivers_archived_events_with_replay_name() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "set AWS_ENDPOINT_URL to moto or LocalStack (scripts/test-operations does)"
    );
    let sdk = alchemiser_aws::load_sdk_config().await;
    let mut emulator = Emulator::with_sdk(&sdk);
    let stage = unique_stage("rp");
    let bus = stage.bus_name();
    let bus_arn = bus_with_archive(&mut emulator, &stage).await;
    let (queue_url, queue_arn) = emulator.queue(&format!("ops-replay-{stage}")).await;
    let rule = format!("alchemiser-all-to-queue-{stage}");
    emulator
        .rule_to_queue(&bus, &rule, EVERY_ALCHEMISER_SOURCE, &queue_arn)
        .await;

    let window_start = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let sent = vec![
        sample_event(EventType::SignalGenerated),
        sample_event(EventType::TradeExecuted),
    ];
    let outbox = std::env::temp_dir().join(format!("ops-replay-{stage}.jsonl"));
    let publisher = EventBridgePublisher::new(
        PublisherConfig::default()
            .with_bus_name(&bus)
            .with_outbox(OutboxConfig::File(outbox)),
    );
    let report = publisher.publish(sent.clone()).await;
    assert!(report.is_complete(), "{report:?}");
    let originals = emulator
        .receive(&queue_url, 2, Duration::from_secs(20))
        .await;
    assert_eq!(originals.len(), 2, "{originals:?}");
    assert!(originals.iter().all(|b| b.get("replay-name").is_none()));

    // The window ends now: only --force accepts that.
    let now = chrono::Utc::now() + chrono::TimeDelta::seconds(1);
    assert!(ReplayWindow::new(window_start, now, now, false).is_err());
    let request = ReplayRequest {
        stage: stage.clone(),
        window: ReplayWindow::new(window_start, now, now, true).unwrap(),
        rules: vec![rule.clone()],
        name: stage.replay_name(chrono::Utc::now()),
    };
    let replayer = Replayer::new(&sdk);
    let started = replayer.start(&request).await.unwrap();
    assert_eq!(started.bus_arn, bus_arn);
    assert!(started.archive_arn.ends_with(&stage.archive_name()));
    assert_eq!(started.filter_arns.len(), 1);
    assert!(
        started.filter_arns[0].ends_with(&rule),
        "{:?}",
        started.filter_arns
    );
    let mut seen = Vec::new();
    let status = replayer
        .wait(
            &started.name,
            Duration::from_millis(200),
            Duration::from_secs(30),
            |s| seen.push(s.state.clone()),
        )
        .await
        .unwrap();
    assert_eq!(status.state, "COMPLETED");
    assert_eq!(status.progress_permille(), 1000);
    assert!(!seen.is_empty());

    let replayed = emulator
        .receive(&queue_url, 2, Duration::from_secs(20))
        .await;
    assert_eq!(replayed.len(), 2, "{replayed:?}");
    let mut ids = Vec::new();
    for body in replayed {
        assert_eq!(body["replay-name"], started.name.as_str(), "{body}");
        let received = decode_value(body).unwrap();
        assert_eq!(received.replay_name(), Some(started.name.as_str()));
        ids.push(received.event.event_id().to_owned());
    }
    ids.sort();
    let mut want: Vec<String> = sent.iter().map(|e| e.event_id().to_owned()).collect();
    want.sort();
    assert_eq!(ids, want);

    // The same name twice is refused with advice.
    let error = replayer.start(&request).await.unwrap_err();
    assert!(error.to_string().contains("--name"), "{error}");

    // The CLI, when the script gave us its path.
    if let Ok(bin) = std::env::var("ALCHEMISER_BIN") {
        let output = std::process::Command::new(bin)
            .args(["replay", "--stage", stage.as_str(), "--from"])
            .arg(window_start.to_rfc3339())
            .args([
                "--to",
                &chrono::Utc::now().to_rfc3339(),
                "--force",
                "--wait",
            ])
            .args(["--rules", &rule, "--name", &format!("cli-{stage}")])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("ALLOW_REPLAY_EXECUTION=true"), "{stdout}");
        assert!(
            stdout.contains(&format!("replay cli-{stage} COMPLETED")),
            "{stdout}"
        );
        let again = emulator
            .receive(&queue_url, 2, Duration::from_secs(20))
            .await;
        assert_eq!(again.len(), 2);
        assert!(again
            .iter()
            .all(|b| b["replay-name"] == format!("cli-{stage}").as_str()));
    }

    remove_stage(emulator, &stage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_of_a_stage_without_archive_says_what_to_check() {
    let sdk = alchemiser_aws::load_sdk_config().await;
    let stage = unique_stage("none");
    let now = chrono::Utc::now();
    let request = ReplayRequest {
        stage: stage.clone(),
        window: ReplayWindow::new(
            now - chrono::TimeDelta::hours(2),
            now - chrono::TimeDelta::hours(1),
            now,
            false,
        )
        .unwrap(),
        rules: Vec::new(),
        name: stage.replay_name(now),
    };
    let error = Replayer::new(&sdk).start(&request).await.unwrap_err();
    assert!(
        matches!(error, OperationsError::NoArchive { .. }),
        "{error}"
    );
    let text = error.to_string();
    assert!(text.contains(&stage.archive_name()), "{text}");
    assert!(text.contains(&format!("scripts/deploy {stage}")), "{text}");
}

/// Runs `alchemiser replay` for `stage` over the last two hours with `args`; its exit status
/// and standard error.
fn replay_cli(stage: &Stage, args: &[&str]) -> (bool, String) {
    let now = chrono::Utc::now();
    let from = (now - chrono::TimeDelta::hours(2)).to_rfc3339();
    let to = (now - chrono::TimeDelta::hours(1)).to_rfc3339();
    let mut all = vec![
        "replay",
        "--stage",
        stage.as_str(),
        "--from",
        &from,
        "--to",
        &to,
    ];
    all.extend_from_slice(args);
    let (_, stderr, code) = common::cli(&all);
    (code == Some(0), stderr)
}

/// One line saying what failed, without the SDK's debug dump.
fn assert_one_clear_line(stderr: &str, says: &str, not: &str) {
    let error: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("error:"))
        .collect();
    assert_eq!(error.len(), 1, "{stderr}");
    assert!(error[0].contains(says), "{stderr}");
    assert!(!error[0].contains(not), "{stderr}");
    for dump in ["ServiceError", "raw: Response", "DispatchFailure", "{"] {
        assert!(!stderr.contains(dump), "an SDK dump: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_replay_failure_is_reported_as_what_it_is() {
    let sdk = alchemiser_aws::load_sdk_config().await;
    let mut emulator = Emulator::with_sdk(&sdk);
    let stage = unique_stage("rf");
    // No archive, no bus: the stage is not deployed.
    let (ok, stderr) = replay_cli(&stage, &[]);
    assert!(!ok);
    assert_one_clear_line(&stderr, "has no event archive", "rule");

    bus_with_archive(&mut emulator, &stage).await;
    // A rule the bus does not have is not a missing archive.
    let (ok, stderr) = replay_cli(&stage, &["--rules", "alchemiser-no-such-rule"]);
    assert!(!ok);
    assert_one_clear_line(
        &stderr,
        "no rule `alchemiser-no-such-rule` on bus",
        "archive",
    );
    assert!(stderr.contains("aws events list-rules"), "{stderr}");
    // A name used before: said so, with what to do.
    let name = format!("again-{stage}");
    let (ok, stderr) = replay_cli(&stage, &["--name", &name]);
    assert!(ok, "{stderr}");
    let (ok, stderr) = replay_cli(&stage, &["--name", &name]);
    assert!(!ok);
    assert_one_clear_line(&stderr, "already", "archive");
    assert!(stderr.contains("--name"), "{stderr}");

    remove_stage(emulator, &stage).await;
}
