//! The README's wire-format table ("Accepted from the Python system, and why") as tests: each
//! row's claim checked on a real event the Python system's own code published
//! (`examples/python/`), through the code the functions run — decode and validate, the monitor
//! function as it is wired on a stage where Python owns the producers, the ledger and the
//! console that show what it recorded.

use std::sync::Arc;

use alchemiser_bus::InMemoryBus;
use alchemiser_events::{decode_value, HandlerName};
use alchemiser_lambda::signing::{Authenticity, LocalKeys, Unsigned};
use alchemiser_lambda::{Adapters, InvocationContext, InvocationOutcome, Invoke, Invoker};
use alchemiser_ledger::{summarize, LedgerStore, MemoryLedger, Monitor};
use serde_json::{json, Value};

/// A file of `examples/python/`: events exactly as the Python system publishes them.
fn python(name: &str) -> Value {
    let path = format!(
        "{}/../../examples/python/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The Python sources a stage accepts unsigned events from when Python owns every producer it
/// can own (what `UNSIGNED_SOURCES` holds on such a stage).
fn python_sources() -> Unsigned {
    Unsigned::FromSources(
        HandlerName::ALL
            .into_iter()
            .filter_map(HandlerName::python_counterpart)
            .map(|module| format!("alchemiser.{module}"))
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
        view.failure.expect("the console's page shows the failure").reason,
        "(no reason given)"
    );
}
