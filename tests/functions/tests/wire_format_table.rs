//! The README's wire-format table ("Accepted from the Python system, and why") as tests: each
//! row's claim checked on a real event the Python system's own code published
//! (`examples/python/`), through the code the functions run — decode and validate, the functions
//! as they are wired on a stage where Python owns the producers, the forwarding of
//! `publish --event`, `dlq redrive` and `outbox drain`, and the ledger and console that show what
//! was recorded.
//!
//! [`ROWS`] maps each row to its test; `every_row_of_the_readme_table_has_a_test` fails when the
//! README's table and the map disagree, so the table cannot grow a row nobody tested.

use std::sync::Arc;

use alchemiser_bus::InMemoryBus;
use alchemiser_eventbridge::{Entry, Outgoing};
use alchemiser_events::{
    decode_value, Decimal, Event, HandlerName, Language, ReceivedEvent, DEFAULT_SOURCE_PREFIX,
    ROUTES,
};
use alchemiser_lambda::signing::{Authenticity, LocalKeys, Unsigned};
use alchemiser_lambda::{Adapters, InvocationContext, InvocationOutcome, Invoke, Invoker};
use alchemiser_ledger::{summarize, LedgerStore, MemoryLedger, Monitor};
use alchemiser_trading::{PaperBroker, PlannerConfig, PortfolioFile, PortfolioHandler};
use serde_json::{json, Value};

/// Each row of the README's table (its first cell, as written) and the test of its claim.
const ROWS: [(&str, &str); 9] = [
    (
        "`consolidated_portfolio.correlation_id` = `signal_handler_<time>`, not the workflow's",
        "row_nested_correlation_id_of_the_strategy_is_kept_and_the_workflow_is_the_events",
    ),
    (
        "`failure_reason` `\"\"` (`str(e)` of a bare exception)",
        "row_empty_failure_reason_is_accepted_and_shown_as_no_reason_given",
    ),
    (
        "`metadata: null` (its WorkflowFailed from execution)",
        "row_null_metadata_is_accepted_and_forwarded_as_written_never_written_by_rust",
    ),
    (
        "`error_details` of any JSON, integers wider than 64 bits",
        "row_error_details_of_any_json_with_wide_integers_are_kept_exactly",
    ),
    (
        "decimals such as `\"0E+2\"`, timestamps with `+00:00` or another offset",
        "row_exponent_decimals_and_offset_timestamps_are_read_and_naive_ones_refused",
    ),
    (
        "`source_module` values of its own (`portfolio_v2.handlers`)",
        "row_python_source_modules_are_accepted_and_the_envelope_source_decides",
    ),
    (
        "fields the Rust models do not know",
        "row_unknown_fields_are_ignored_when_read_and_kept_when_forwarded",
    ),
    (
        "lower-case symbols",
        "row_lower_case_symbols_are_upper_cased",
    ),
    (
        "correlation ids over 100 characters, `strategy_count` 0",
        "row_long_correlation_ids_and_zero_strategy_count_are_accepted",
    ),
];

/// A file of `examples/python/`: events exactly as the Python system publishes them.
fn python(name: &str) -> Value {
    let path = format!(
        "{}/../../examples/python/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The sources a stage accepts unsigned events from when Python owns the strategy, portfolio and
/// execution (what `UNSIGNED_SOURCES` holds there): every Python producer's in the routing table.
fn python_sources() -> Unsigned {
    Unsigned::FromSources(
        ROUTES
            .iter()
            .flat_map(|route| route.producers)
            .filter(|producer| producer.language == Language::Python)
            .map(|producer| producer.source(DEFAULT_SOURCE_PREFIX))
            .collect(),
    )
}

/// The monitor function as it is wired, recording into `ledger`.
fn monitor(ledger: &Arc<MemoryLedger>) -> Invoker {
    let (mut adapters, _) = Adapters::in_memory(Arc::new(InMemoryBus::new()));
    adapters.authenticity = Authenticity::local(
        LocalKeys::from_secret(b"the stage's signing secret".to_vec()),
        python_sources(),
    );
    Invoker::new(
        HandlerName::Monitor,
        Arc::new(Monitor::new(ledger.clone())),
        adapters,
    )
}

/// Delivers `payload` to `function`; panics with the refusal's reason unless it was handled.
async fn handled(function: &Invoker, payload: Value) {
    let outcome = function
        .invoke(payload, &InvocationContext::local())
        .await
        .expect("the invocation answers");
    assert!(
        matches!(outcome, InvocationOutcome::Handled { .. }),
        "not handled: {outcome:?}"
    );
}

/// Row "`failure_reason` `""` (`str(e)` of a bare exception)": accepted; the ledger shows
/// "(no reason given)".
#[tokio::test]
async fn row_empty_failure_reason_is_accepted_and_shown_as_no_reason_given() {
    let mut failed = python("wf00-5-WorkflowFailed.json");
    failed["detail"]["failure_reason"] = json!("");
    let correlation_id = failed["detail"]["correlation_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let received = decode_value(failed.clone()).expect("decoded and validated");
    assert_eq!(received.detail["failure_reason"], json!(""), "kept as sent");

    let ledger = Arc::new(MemoryLedger::new());
    handled(&monitor(&ledger), failed).await;
    let entries = ledger.entries(&correlation_id).await.unwrap();
    let summary = summarize(&correlation_id, &entries).expect("the workflow is in the ledger");
    let failure = summary.failure.clone().expect("the workflow failed");
    assert_eq!(failure.step, "trade_execution");
    assert_eq!(failure.reason, "(no reason given)");
    let outcomes: Vec<String> = entries
        .iter()
        .filter_map(|entry| match entry {
            alchemiser_ledger::Entry::Event(event) => event.outcome.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        outcomes,
        ["failed at trade_execution: (no reason given)"],
        "the event's line in `workflows show`"
    );
    let view = alchemiser_console::WorkflowView::of(summary, &entries, None);
    assert_eq!(
        view.failure
            .expect("the console's page shows the failure")
            .reason,
        "(no reason given)"
    );
}

/// The PutEvents entry `publish --event`, `dlq redrive` and `outbox drain` send for `received`:
/// its detail as the sender wrote it, under its envelope's `Source`.
fn forwarded(received: ReceivedEvent) -> Value {
    let entry = Entry::from_outgoing(&Outgoing::forward(received), DEFAULT_SOURCE_PREFIX)
        .expect("a producer of its type sent it");
    serde_json::from_str(&entry.detail).expect("the entry's detail is JSON")
}

/// The portfolio function as it is wired, over the account the Python planner saw for wf00.
fn portfolio() -> Invoker {
    let account = python("wf00-account.json").to_string();
    let broker = Arc::new(PaperBroker::in_memory(
        PortfolioFile::from_json(&account).expect("the captured account reads"),
    ));
    let (mut adapters, _) = Adapters::in_memory(Arc::new(InMemoryBus::new()));
    adapters.authenticity = Authenticity::local(
        LocalKeys::from_secret(b"the stage's signing secret".to_vec()),
        python_sources(),
    );
    Invoker::new(
        HandlerName::Portfolio,
        Arc::new(PortfolioHandler::new(broker, PlannerConfig::default())),
        adapters,
    )
}

/// What `function` answered for `payload`.
async fn outcome(function: &Invoker, payload: Value) -> InvocationOutcome {
    function
        .invoke(payload, &InvocationContext::local())
        .await
        .expect("the invocation answers")
}

fn correlation_of(envelope: &Value) -> String {
    envelope["detail"]["correlation_id"]
        .as_str()
        .expect("a correlation id")
        .to_owned()
}

/// Row "`consolidated_portfolio.correlation_id` = `signal_handler_<time>`": accepted; the event's
/// own correlation id is the workflow's; the nested one is kept and logged.
#[tokio::test]
async fn row_nested_correlation_id_of_the_strategy_is_kept_and_the_workflow_is_the_events() {
    let signal = python("wf00-2-SignalGenerated.json");
    let workflow = correlation_of(&signal);
    let nested = signal["detail"]["consolidated_portfolio"]["correlation_id"].clone();
    assert_eq!(
        nested,
        json!("signal_handler_20261201_192530"),
        "the real label"
    );

    let received = decode_value(signal.clone()).expect("accepted");
    assert_eq!(received.event.header().correlation_id, workflow);
    // What the invocation's log span carries as `nested_correlation_id`.
    assert_eq!(
        received.event.nested_correlation_id(),
        Some("signal_handler_20261201_192530")
    );
    assert_eq!(
        forwarded(received)["consolidated_portfolio"]["correlation_id"],
        nested,
        "kept when forwarded"
    );

    // The portfolio function plans for the workflow, not for the label.
    let InvocationOutcome::Handled { emitted, .. } = outcome(&portfolio(), signal).await else {
        panic!("the portfolio function did not handle the Python signal")
    };
    let [Event::RebalancePlanned(plan)] = emitted.as_slice() else {
        panic!("not one plan: {emitted:?}")
    };
    assert_eq!(plan.header.correlation_id, workflow);
    assert_eq!(plan.rebalance_plan.correlation_id, workflow);
}

/// Row "`metadata: null` (its WorkflowFailed from execution)": accepted, and forwarded as
/// written; the Rust side never writes `null`.
#[tokio::test]
async fn row_null_metadata_is_accepted_and_forwarded_as_written_never_written_by_rust() {
    let failed = python("wf00-5-WorkflowFailed.json");
    assert_eq!(failed["detail"]["metadata"], Value::Null, "the real event");

    let received = decode_value(failed.clone()).expect("accepted");
    assert_eq!(received.event.header().metadata, None);
    let written = received.event.to_value();
    assert!(
        written.get("metadata").is_none(),
        "the Rust side wrote metadata: {written}"
    );
    let sent = forwarded(received);
    assert_eq!(sent, failed["detail"], "forwarded as written");
    assert_eq!(sent["metadata"], Value::Null);

    let ledger = Arc::new(MemoryLedger::new());
    handled(&monitor(&ledger), failed.clone()).await;
    assert!(summarize(
        &correlation_of(&failed),
        &ledger.entries(&correlation_of(&failed)).await.unwrap()
    )
    .expect("recorded")
    .failure
    .is_some());
}

/// Row "`error_details` of any JSON, integers wider than 64 bits": accepted and kept exactly.
#[tokio::test]
async fn row_error_details_of_any_json_with_wide_integers_are_kept_exactly() {
    let mut failed = python("wf00-5-WorkflowFailed.json");
    // What a Python stage may put there: any JSON, Python's unbounded integers included.
    let wide: Value = serde_json::from_str(
        r#"{"order_id": 340282366920938463463374607431768211457, "attempts": [1, 2.50, null],
            "broker": {"code": -18446744073709551617, "body": "rate limited"}}"#,
    )
    .expect("JSON");
    failed["detail"]["error_details"]["context"] = wide.clone();

    let received = decode_value(failed.clone()).expect("accepted");
    let Event::WorkflowFailed(event) = &received.event else {
        panic!("not a WorkflowFailed")
    };
    assert_eq!(event.error_details["context"], wide);
    let text = received.event.to_json();
    for digits in [
        "340282366920938463463374607431768211457",
        "-18446744073709551617",
        "2.50",
    ] {
        assert!(text.contains(digits), "{digits} changed in {text}");
    }
    assert_eq!(forwarded(received), failed["detail"], "forwarded exactly");

    let ledger = Arc::new(MemoryLedger::new());
    handled(&monitor(&ledger), failed).await;
}

/// Row "decimals such as `"0E+2"`, timestamps with `+00:00` or another offset": accepted;
/// offsets converted to UTC; a timestamp without offset is refused.
#[tokio::test]
async fn row_exponent_decimals_and_offset_timestamps_are_read_and_naive_ones_refused() {
    let plan = python("wf00-3-RebalancePlanned.json");
    let instant = plan["detail"]["timestamp"].clone();
    assert_eq!(
        instant,
        json!("2026-12-01T19:25:30.455590Z"),
        "the real event"
    );

    for (written, offset) in [
        ("2026-12-01T19:25:30.455590+00:00", "+00:00"),
        ("2026-12-01T14:25:30.455590-05:00", "New York's"),
    ] {
        let mut edited = plan.clone();
        edited["detail"]["timestamp"] = json!(written);
        // How pydantic writes some zero decimals.
        edited["detail"]["rebalance_plan"]["items"][0]["current_value"] = json!("0E+2");
        let received = decode_value(edited.clone()).unwrap_or_else(|e| panic!("{offset}: {e}"));
        let Event::RebalancePlanned(event) = &received.event else {
            panic!("not a plan")
        };
        assert_eq!(event.rebalance_plan.items[0].current_value, Decimal::ZERO);
        assert_eq!(
            received.event.to_value()["timestamp"],
            instant,
            "{offset} converted to UTC"
        );
        assert_eq!(
            forwarded(received)["rebalance_plan"]["items"][0]["current_value"],
            json!("0E+2"),
            "forwarded as written"
        );
        let ledger = Arc::new(MemoryLedger::new());
        handled(&monitor(&ledger), edited).await;
    }

    let mut naive = plan.clone();
    naive["detail"]["timestamp"] = json!("2026-12-01T19:25:30.455590");
    let error = decode_value(naive).expect_err("its instant is unknown");
    assert!(
        error.to_string().contains("timestamp"),
        "the refusal names the field: {error}"
    );
}

/// Row "`source_module` values of its own (`portfolio_v2.handlers`)": accepted; the envelope's
/// `Source` identifies the producer and must be a known producer of the type.
#[tokio::test]
async fn row_python_source_modules_are_accepted_and_the_envelope_source_decides() {
    let plan = python("wf00-3-RebalancePlanned.json");
    assert_eq!(
        plan["detail"]["source_module"],
        json!("portfolio_v2.handlers")
    );
    assert_eq!(plan["source"], json!("alchemiser.portfolio_v2.handlers"));

    let received = decode_value(plan.clone()).expect("accepted");
    assert_eq!(forwarded(received), plan["detail"]);
    let ledger = Arc::new(MemoryLedger::new());
    handled(&monitor(&ledger), plan.clone()).await;

    // The same event from a source no producer of the type uses is refused, by the functions
    // and by the forwarding commands.
    let mut elsewhere = plan;
    elsewhere["source"] = json!("alchemiser.portfolio_v2");
    let InvocationOutcome::RecordedFailure { reason, .. } =
        outcome(&monitor(&Arc::new(MemoryLedger::new())), elsewhere.clone()).await
    else {
        panic!("a plan from an unknown source was handled")
    };
    assert!(
        reason.contains("source `alchemiser.portfolio_v2`"),
        "the refusal names the source: {reason}"
    );
    let received = decode_value(elsewhere).expect("the event itself is valid");
    assert!(
        Entry::from_outgoing(&Outgoing::forward(received), DEFAULT_SOURCE_PREFIX).is_err(),
        "forwarded under a source its consumers refuse"
    );
}

/// Row "fields the Rust models do not know": ignored when read, kept when forwarded.
#[tokio::test]
async fn row_unknown_fields_are_ignored_when_read_and_kept_when_forwarded() {
    for file in [
        "wf00-1-WorkflowStarted.json",
        "wf00-2-SignalGenerated.json",
        "wf00-3-RebalancePlanned.json",
        "wf00-4-TradeExecuted.json",
        "wf00-5-WorkflowFailed.json",
        "wf01-5-WorkflowCompleted.json",
    ] {
        // The Rust models know every field of the captured events: add one, as a later
        // version of the Python models might.
        let mut event = python(file);
        event["detail"]["added_by_a_later_python_version"] = json!({"kept": [1, null]});
        let received = decode_value(event.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
        let read = received.event.to_value();
        assert!(
            read.get("added_by_a_later_python_version").is_none(),
            "{file}: the Rust model kept a field it does not know: {read}"
        );
        assert_eq!(
            forwarded(received),
            event["detail"],
            "{file}: forwarded as written"
        );
        let ledger = Arc::new(MemoryLedger::new());
        handled(&monitor(&ledger), event).await;
    }
}

/// Row "lower-case symbols": upper-cased, as the Python models do.
#[tokio::test]
async fn row_lower_case_symbols_are_upper_cased() {
    let mut signal = python("wf00-2-SignalGenerated.json");
    let allocations = signal["detail"]["consolidated_portfolio"]["target_allocations"]
        .as_object()
        .expect("allocations")
        .clone();
    signal["detail"]["consolidated_portfolio"]["target_allocations"] = Value::Object(
        allocations
            .into_iter()
            .map(|(symbol, weight)| (symbol.to_lowercase(), weight))
            .collect(),
    );
    let received = decode_value(signal.clone()).expect("accepted");
    let Event::SignalGenerated(event) = &received.event else {
        panic!("not a signal")
    };
    let symbols: Vec<&str> = event
        .consolidated_portfolio
        .target_allocations
        .keys()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(symbols, ["BIL", "BTAL", "SOXL", "SPY", "UVXY", "XLF"]);

    let mut plan = python("wf00-3-RebalancePlanned.json");
    plan["detail"]["rebalance_plan"]["items"][0]["symbol"] = json!("bil");
    let received = decode_value(plan).expect("accepted");
    let Event::RebalancePlanned(event) = &received.event else {
        panic!("not a plan")
    };
    assert_eq!(event.rebalance_plan.items[0].symbol.as_str(), "BIL");

    // The portfolio function plans in upper case.
    let InvocationOutcome::Handled { emitted, .. } = outcome(&portfolio(), signal).await else {
        panic!("the portfolio function did not handle the lower-case signal")
    };
    let [Event::RebalancePlanned(planned)] = emitted.as_slice() else {
        panic!("not one plan: {emitted:?}")
    };
    assert!(planned
        .rebalance_plan
        .items
        .iter()
        .all(|item| item.symbol.as_str() == item.symbol.as_str().to_uppercase()));
}

/// Row "correlation ids over 100 characters, `strategy_count` 0": accepted.
#[tokio::test]
async fn row_long_correlation_ids_and_zero_strategy_count_are_accepted() {
    let mut signal = python("wf00-2-SignalGenerated.json");
    let long = format!("workflow-{}", "0123456789".repeat(15));
    assert!(long.len() > 100);
    signal["detail"]["correlation_id"] = json!(long);
    signal["detail"]["consolidated_portfolio"]["strategy_count"] = json!(0);
    signal["resources"][0] = json!(format!("correlation:{long}"));

    let received = decode_value(signal.clone()).expect("accepted");
    let Event::SignalGenerated(event) = &received.event else {
        panic!("not a signal")
    };
    assert_eq!(event.header.correlation_id, long);
    assert_eq!(event.consolidated_portfolio.strategy_count, 0);

    let ledger = Arc::new(MemoryLedger::new());
    handled(&monitor(&ledger), signal).await;
    assert!(summarize(&long, &ledger.entries(&long).await.unwrap()).is_some());
}

/// The rows of the README's table, by their first cell.
fn readme_rows() -> Vec<String> {
    let path = format!("{}/../../README.md", env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = readme
        .lines()
        .skip_while(|line| !line.starts_with("**Accepted from the Python system, and why**"));
    assert!(
        lines.next().is_some(),
        "the README has no wire-format table"
    );
    lines
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2) // its header and the line under it
        .map(|row| {
            row.trim_start_matches('|')
                .split(" | ")
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .collect()
}

#[test]
fn every_row_of_the_readme_table_has_a_test() {
    let rows = readme_rows();
    assert!(
        rows.len() >= ROWS.len(),
        "the table was not found: {rows:?}"
    );
    let this_file = include_str!("wire_format_table.rs");
    for row in &rows {
        let Some((_, test)) = ROWS.iter().find(|(cell, _)| cell == row) else {
            panic!(
                "the README's wire-format table has a row without a test: {row}\n\
                 write the row's test in tests/functions/tests/wire_format_table.rs and add \
                 the row to ROWS"
            )
        };
        assert!(
            this_file.contains(&format!("async fn {test}()"))
                || this_file.contains(&format!("fn {test}()")),
            "ROWS names {test} for \"{row}\", but there is no such test"
        );
    }
    for (cell, test) in ROWS {
        assert!(
            rows.iter().any(|row| row == cell),
            "ROWS maps \"{cell}\" to {test}, but the README's table has no such row (reworded? \
             check the test still tests what the row says, then update ROWS)"
        );
    }
}
