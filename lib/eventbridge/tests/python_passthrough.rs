//! Republishing what the Python system published (a `publish --event` of a captured event, a
//! redrive, a drained outbox record) sends it on as it was written: every file of
//! `examples/python/` maps to the PutEvents entry the Python publisher itself built for it, with
//! the same `Detail` down to key order, `null`s and numbers.

use std::path::PathBuf;

use alchemiser_eventbridge::{Entry, Outgoing};
use alchemiser_events::{decode, Provenance};
use serde_json::{json, Value};

fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/python")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(python_dir().join(name)).unwrap()
}

/// The original detail as an order-preserving value (a string detail parsed).
fn original_detail(envelope: &Value) -> Value {
    match &envelope["detail"] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    }
}

#[test]
fn every_python_event_forwards_as_the_python_publisher_sent_it() {
    let entries: Value = serde_json::from_str(&read("putevents-entries.json")).unwrap();
    let entries = entries.as_object().unwrap();
    assert_eq!(entries.len(), 11, "every captured event is checked");
    for (file, sent) in entries {
        let text = read(file);
        let received = decode(text.as_bytes()).unwrap_or_else(|e| panic!("{file}: {e}"));
        let replay = received.replay_name().map(str::to_owned);
        let original = original_detail(&serde_json::from_str(&text).unwrap());
        let outgoing = Outgoing::forward(received);
        let entry =
            Entry::from_outgoing(&outgoing, "alchemiser").unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(entry.source, sent["Source"], "{file}");
        assert_eq!(entry.detail_type, sent["DetailType"], "{file}");
        assert_eq!(json!(entry.resources), sent["Resources"], "{file}");
        let detail: Value = serde_json::from_str(&entry.detail).unwrap();
        if let Some(replay) = replay {
            // The one change: the replay's mark, on the envelope only, goes into the detail.
            assert_eq!(
                detail["metadata"]["provenance"]["replay_name"], replay,
                "{file}"
            );
            let mut without = detail.clone();
            without["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("provenance");
            assert_eq!(without, original, "{file}");
        } else {
            // Byte for byte what the sender wrote, key order included.
            assert_eq!(entry.detail, original.to_string(), "{file}");
        }
    }
}

#[test]
fn absent_metadata_stays_absent_and_null_stays_null() {
    let mut envelope: Value = serde_json::from_str(&read("wf00-2-SignalGenerated.json")).unwrap();
    envelope["detail"]
        .as_object_mut()
        .unwrap()
        .remove("metadata");
    let outgoing = Outgoing::forward(decode(envelope.to_string().as_bytes()).unwrap());
    let entry = Entry::from_outgoing(&outgoing, "alchemiser").unwrap();
    assert!(!entry.detail.contains("\"metadata\""), "{}", entry.detail);
    // The typed event, written anew, leaves it out too (never `"metadata": null`).
    assert!(!outgoing.event.to_json().contains("\"metadata\""));

    // wf00's WorkflowFailed was written with `"metadata": null`: forwarded as written.
    let failed = Outgoing::forward(decode(read("wf00-5-WorkflowFailed.json").as_bytes()).unwrap());
    let entry = Entry::from_outgoing(&failed, "alchemiser").unwrap();
    assert!(
        entry.detail.contains("\"metadata\":null"),
        "{}",
        entry.detail
    );
}

#[test]
fn unknown_fields_and_wide_integers_pass_through() {
    let mut envelope: Value =
        serde_json::from_str(&read("portfolio-stage-WorkflowFailed.json")).unwrap();
    let wide = "123456789012345678901234567890";
    envelope["detail"]["error_details"]["attempt_id"] = serde_json::from_str(wide).unwrap();
    envelope["detail"]["added_in_python_v3"] =
        serde_json::from_str(r#"{"nested": [1, 2.50, "x"]}"#).unwrap();
    let outgoing = Outgoing::forward(decode(envelope.to_string().as_bytes()).unwrap());
    let entry = Entry::from_outgoing(&outgoing, "alchemiser").unwrap();
    assert!(
        entry.detail.contains(&format!("\"attempt_id\":{wide}")),
        "{}",
        entry.detail
    );
    assert!(
        entry
            .detail
            .contains(r#""added_in_python_v3":{"nested":[1,2.50,"x"]}"#),
        "{}",
        entry.detail
    );
}

#[test]
fn a_redrive_adds_its_provenance_creating_metadata_when_the_sender_wrote_none() {
    let mut envelope: Value = serde_json::from_str(&read("wf01-4-TradeExecuted.json")).unwrap();
    envelope["detail"]
        .as_object_mut()
        .unwrap()
        .remove("metadata");
    let outgoing = Outgoing::forward(decode(envelope.to_string().as_bytes()).unwrap())
        .with_provenance(&Provenance {
            redriven_from: Some("m-7".into()),
            ..Provenance::default()
        });
    let entry = Entry::from_outgoing(&outgoing, "alchemiser").unwrap();
    let detail: Value = serde_json::from_str(&entry.detail).unwrap();
    assert_eq!(
        detail["metadata"],
        json!({"provenance": {"redriven_from": "m-7"}})
    );
    assert_eq!(
        detail["execution_data"]["total_trade_value"], "5841.00",
        "what Python consumers read is kept as written"
    );
}

#[test]
fn a_forwarded_event_under_a_source_its_consumers_refuse_is_not_sent() {
    let mut envelope: Value = serde_json::from_str(&read("wf01-3-RebalancePlanned.json")).unwrap();
    envelope["source"] = json!("alchemiser.strategy");
    let outgoing = Outgoing::forward(decode(envelope.to_string().as_bytes()).unwrap());
    let error = Entry::from_outgoing(&outgoing, "alchemiser").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("alchemiser.portfolio_v2.handlers"),
        "{error}"
    );
}
