//! `alchemiser workflows` against a ledger table in moto's DynamoDB, as an operator runs it: the
//! runbook's search finds a workflow by when it reached its state.
//!
//! Needs moto (`test = false`): scripts/test runs it with ALCHEMISER_TEST_DYNAMODB_ENDPOINT.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use alchemiser_bus::{Delivery, EventHandler};
use alchemiser_events::Event;
use alchemiser_ledger::{DynamoDbLedger, LedgerStore, Monitor};
use alchemiser_testkit::{sdk_at, unique, workflow_events, workflow_failed, Emulator};
use chrono::{TimeDelta, Utc};
use serde_json::json;

fn endpoint() -> String {
    std::env::var("ALCHEMISER_TEST_DYNAMODB_ENDPOINT").expect(
        "ALCHEMISER_TEST_DYNAMODB_ENDPOINT is not set: run this test through scripts/test, which starts moto",
    )
}

/// A ledger table of its own in moto, with the monitor that writes it.
struct Ledger {
    table: String,
    monitor: Monitor,
    emulator: Emulator,
}

impl Ledger {
    async fn new() -> Self {
        let sdk = sdk_at(Some(&endpoint())).await;
        let mut emulator = Emulator::with_sdk(&sdk);
        let table = unique("cli-ledger-");
        let store =
            DynamoDbLedger::new(emulator.dynamodb.clone(), &table, Duration::from_secs(3600));
        store.create_table().await.expect("CreateTable");
        emulator.adopt_table(&table);
        let store: Arc<dyn LedgerStore> = Arc::new(store);
        Self {
            table,
            monitor: Monitor::new(store),
            emulator,
        }
    }

    async fn record(&self, events: &[Event]) {
        for event in events {
            self.monitor
                .handle(event, &Delivery::in_process().from_source(None))
                .await
                .expect("recorded");
        }
    }

    /// `alchemiser workflows ARGS --stage e2e --table <this table>`: stdout, stderr, success.
    fn cli(&self, args: &[&str]) -> (String, String, bool) {
        self.cli_of("e2e", args)
    }

    /// `alchemiser workflows ARGS --stage STAGE --table <this table>`: stdout, stderr, success.
    fn cli_of(&self, stage: &str, args: &[&str]) -> (String, String, bool) {
        // ALCHEMISER_BIN: the binary scripts/test built (or another build to compare with).
        let bin = std::env::var("ALCHEMISER_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_alchemiser").to_owned());
        let output = Command::new(bin)
            .arg("workflows")
            .args(args)
            .args(["--stage", stage, "--table", &self.table])
            .env("AWS_ENDPOINT_URL", endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .output()
            .expect("the alchemiser binary runs");
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            output.status.success(),
        )
    }
}

#[tokio::test]
async fn the_runbooks_search_finds_a_workflow_that_failed_in_the_window_though_it_started_before() {
    let ledger = Ledger::new().await;
    let now = Utc::now();
    // Started three hours ago, stalled at its plan, failed ten minutes ago.
    let old = workflow_events(&unique("old-"), now - TimeDelta::hours(3));
    let failed_late = workflow_failed(
        &old[2],
        "execution",
        "broker rejected the order",
        now - TimeDelta::minutes(10),
        json!({"check": "orders"}),
    );
    ledger.record(&old[..3]).await;
    ledger.record(std::slice::from_ref(&failed_late)).await;
    // Failed two hours ago: outside the window whatever its start.
    let earlier = workflow_events(
        &unique("earlier-"),
        now - TimeDelta::hours(2) - TimeDelta::minutes(5),
    );
    let failed_early = workflow_failed(
        &earlier[2],
        "execution",
        "an old failure",
        now - TimeDelta::hours(2),
        json!({}),
    );
    ledger.record(&earlier[..3]).await;
    ledger.record(std::slice::from_ref(&failed_early)).await;

    let (stdout, stderr, ok) = ledger.cli(&["list", "--since", "1h", "--state", "failed"]);
    assert!(ok, "{stderr}");
    let old_id = &old[0].header().correlation_id;
    let earlier_id = &earlier[0].header().correlation_id;
    assert!(stdout.contains(old_id.as_str()), "{stdout}{stderr}");
    assert!(!stdout.contains(earlier_id.as_str()), "{stdout}{stderr}");
    ledger.emulator.cleanup().await;
}

/// The Source each producer publishes with (what the tree's producer column shows).
fn source_of(event: &Event) -> String {
    format!("alchemiser.{}", event.header().source_module)
}

/// A TradeExecuted of `plan` at `at` whose orders are as the execution function reports them now
/// (and may report them later: a status this version does not know, fields left out).
fn trade_with_orders(plan: &Event, at: chrono::DateTime<Utc>) -> Event {
    let Event::TradeExecuted(mut traded) =
        alchemiser_events::samples::sample_event(alchemiser_events::EventType::TradeExecuted)
    else {
        unreachable!()
    };
    traded.header = alchemiser_events::EventHeader::caused_by(
        plan.header(),
        alchemiser_events::EventType::TradeExecuted,
        "execution",
        alchemiser_events::Timestamp(at),
    );
    let orders = json!([
        {"symbol": "TLT", "side": "sell", "qty": "30.5", "price": "99.70", "status": "FILLED",
         "filled_qty": "30.5", "fill_price": "99.68", "order_id": "o-1", "client_order_id": "c-1"},
        {"symbol": "SPY", "side": "buy", "qty": "10", "price": "594.00", "status": "PARTIALLY_FILLED",
         "filled_qty": "4", "fill_price": "593.90"},
        {"symbol": "QQQ", "side": "buy", "status": "HELD_FOR_REVIEW"},
    ]);
    traded.execution_data.insert("orders".into(), orders);
    traded.into()
}

#[tokio::test]
async fn show_draws_the_tree_with_sources_orders_checks_and_failures_in_causal_order() {
    let ledger = Ledger::new().await;
    let now = Utc::now();
    let started = now - TimeDelta::minutes(30);
    let events = workflow_events(&unique("shown-"), started);
    // Execution refused the plan at +10 s (a stale plan), then a redrive traded it at +60 s
    // and the workflow completed at +65 s.
    let refused = workflow_failed(
        &events[2],
        "execution",
        "the plan is 20m00s old, over MAX_PLAN_AGE_SECONDS",
        started + TimeDelta::seconds(10),
        json!({"check": "plan_age"}),
    );
    let traded = trade_with_orders(&events[2], started + TimeDelta::seconds(60));
    let Event::WorkflowCompleted(mut completed) = events[4].clone() else {
        unreachable!()
    };
    completed.header = alchemiser_events::EventHeader::caused_by(
        traded.header(),
        alchemiser_events::EventType::WorkflowCompleted,
        "execution",
        alchemiser_events::Timestamp(started + TimeDelta::seconds(65)),
    );
    let completed = Event::from(completed);
    for event in events[..3].iter().chain([&refused, &traded, &completed]) {
        ledger
            .monitor
            .handle(
                event,
                &Delivery::in_process().from_source(Some(source_of(event))),
            )
            .await
            .unwrap();
    }
    let id = events[0].header().correlation_id.clone();
    let (text, stderr, ok) = ledger.cli(&["show", &id]);
    assert!(ok, "{stderr}");
    let line_of = |needle: &str| {
        text.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with `{needle}`:\n{text}"))
    };
    // The header: completed after a failure, its last step, the one duration format.
    let header = text.lines().next().unwrap();
    assert!(
        header.contains("completed after a failure") && header.contains("last step completed"),
        "{text}"
    );
    assert!(header.contains("ran 1m05s"), "{text}");
    // Producers by Source; siblings drawn ├─ then └─; the refusal (+10 s) above the branch
    // that completed later.
    assert!(text.contains("alchemiser.portfolio → execution"), "{text}");
    let failed = line_of("WorkflowFailed");
    let done = line_of("WorkflowCompleted");
    assert!(
        failed < done,
        "a WorkflowFailed below a later completion:\n{text}"
    );
    assert!(
        text.lines()
            .nth(failed)
            .unwrap()
            .contains("├─ WorkflowFailed"),
        "{text}"
    );
    assert!(
        text.lines()
            .nth(line_of("TradeExecuted"))
            .unwrap()
            .contains("└─ TradeExecuted"),
        "{text}"
    );
    // The refusal's check, and the orders with their fills (an unknown status as written).
    assert!(text.contains("check plan_age"), "{text}");
    assert!(
        text.contains("SELL TLT 30.5 @ 99.70: FILLED, filled 30.5 @ 99.68 (order o-1)"),
        "{text}"
    );
    assert!(
        text.contains("BUY SPY 10 @ 594.00: PARTIALLY_FILLED, filled 4 @ 593.90"),
        "{text}"
    );
    assert!(text.contains("BUY QQQ: HELD_FOR_REVIEW"), "{text}");
    assert!(!text.contains(" ms"), "one duration format:\n{text}");

    // The diagram: the failure noted over execution, its reason cut between words.
    let (diagram, _, ok) = ledger.cli(&["show", &id, "--mermaid"]);
    assert!(ok);
    let note = diagram
        .lines()
        .find(|l| l.contains("Note over"))
        .unwrap_or_else(|| panic!("{diagram}"));
    assert!(note.contains("Note over execution:"), "{diagram}");
    ledger.emulator.cleanup().await;
}

#[tokio::test]
async fn a_running_workflow_shows_how_long_it_has_been_running() {
    let ledger = Ledger::new().await;
    let started = Utc::now() - TimeDelta::minutes(3) - TimeDelta::seconds(37);
    let events = workflow_events(&unique("running-"), started);
    ledger.record(&events[..1]).await;
    let id = events[0].header().correlation_id.clone();
    let (text, stderr, ok) = ledger.cli(&["show", &id]);
    assert!(ok, "{stderr}");
    let header = text.lines().next().unwrap();
    assert!(header.contains("running 3m3"), "{text}");
    let (list, _, _) = ledger.cli(&["list", "--since", "1h"]);
    let line = list
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(line.contains("running 3m3"), "{list}");
    ledger.emulator.cleanup().await;
}

#[tokio::test]
async fn show_lists_a_workflows_dead_letter_with_the_commands_for_it() {
    let ledger = Ledger::new().await;
    let events = workflow_events(&unique("lettered-"), Utc::now() - TimeDelta::minutes(5));
    ledger.record(&events[..3]).await;
    let id = events[0].header().correlation_id.clone();
    let sdk = sdk_at(Some(&endpoint())).await;
    let store = DynamoDbLedger::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &ledger.table,
        Duration::from_secs(3600),
    );
    let letter = alchemiser_ledger::Entry::DeadLetter(alchemiser_ledger::model::DeadLetterEntry {
        message_id: "9f1c-m".into(),
        dead_letter_kind: "lambda-on-failure".into(),
        origin: Some("execution".into()),
        event_id: Some(events[2].event_id().into()),
        event_type: Some("RebalancePlanned".into()),
        reason: "RetriesExhausted after 3 attempt(s)".into(),
        sent_at: Some(Utc::now()),
        recorded_at: Utc::now(),
        replay: None,
        shadow: false,
        refused: false,
    });
    store.record(&id, &letter).await.unwrap();
    let (text, stderr, ok) = ledger.cli(&["show", &id]);
    assert!(ok, "{stderr}");
    assert!(
        text.contains("dead letter 9f1c-m (lambda-on-failure, execution)"),
        "{text}"
    );
    assert!(
        text.contains("alchemiser dlq redrive 9f1c-m --stage e2e"),
        "{text}"
    );
    ledger.emulator.cleanup().await;
}

#[tokio::test]
async fn the_list_says_whether_the_stage_is_halted_by_whom_and_why() {
    let ledger = Ledger::new().await;
    let stage = unique("halt-");
    let (_, stderr, ok) = ledger.cli_of(&stage, &["list", "--since", "1h"]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "trading on stage {stage}: the halt switch cannot be read"
        )),
        "a stage without a switch: {stderr}"
    );
    let ssm = aws_sdk_ssm::Client::new(&sdk_at(Some(&endpoint())).await);
    let halted = json!({"halted": true, "reason": "INCIDENT-7: broker misbehaving", "by": "arn:aws:iam::1:user/ops", "at": "2026-12-07T15:00:00Z"});
    ssm.put_parameter()
        .name(format!("/alchemiser/{stage}/trading-halt"))
        .value(halted.to_string())
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("PutParameter in moto");
    let (_, stderr, ok) = ledger.cli_of(&stage, &["list", "--since", "1h", "--json"]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "trading on stage {stage} is halted since 2026-12-07T15:00:00Z by arn:aws:iam::1:user/ops: INCIDENT-7: broker misbehaving (resume: `alchemiser resume --stage {stage}`)"
        )),
        "{stderr}"
    );
    ssm.put_parameter()
        .name(format!("/alchemiser/{stage}/trading-halt"))
        .value(r#"{"halted": false}"#)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("PutParameter in moto");
    let (_, stderr, _) = ledger.cli_of(&stage, &["list", "--since", "1h"]);
    assert!(
        stderr.contains(&format!("trading on stage {stage}: running (not halted)")),
        "{stderr}"
    );
}
