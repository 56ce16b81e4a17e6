//! The ledger on DynamoDB (moto): entries written once each, summaries replaced only by a
//! summary of more entries, workflows listed by start time through the `by_start` index, and
//! entries too large for an item kept without their bulk instead of failing for ever.
//!
//! Every kind of entry reads back as it was written (and dead letters stored by older versions
//! still read).
//!
//! Run by scripts/test, which starts moto and sets ALCHEMISER_TEST_DYNAMODB_ENDPOINT.

use std::time::Duration;

mod common;

use alchemiser_events::samples::sample_event;
use alchemiser_events::EventType;
use alchemiser_ledger::model::ShadowEntry;
use alchemiser_ledger::{summarize, DynamoDbLedger, Entry, EventEntry, LedgerStore, WorkflowState};
use alchemiser_testkit::{sdk_at, unique, Emulator};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeDelta, Utc};
use common::{one_entry_of_every_kind, OLD_FORM_DEAD_LETTER};

async fn ledger() -> (DynamoDbLedger, Emulator) {
    let (ledger, emulator, _) = ledger_in_table().await;
    (ledger, emulator)
}

/// A ledger in a fresh table, the emulator that cleans it up, and the table's name.
async fn ledger_in_table() -> (DynamoDbLedger, Emulator, String) {
    let endpoint = std::env::var("ALCHEMISER_TEST_DYNAMODB_ENDPOINT").expect(
        "ALCHEMISER_TEST_DYNAMODB_ENDPOINT is not set: run this test through scripts/test, which starts moto",
    );
    let sdk = sdk_at(Some(&endpoint)).await;
    let mut emulator = Emulator::with_sdk(&sdk);
    let table = unique("ledger-test-");
    let ledger = DynamoDbLedger::new(emulator.dynamodb.clone(), &table, Duration::from_secs(3600));
    ledger.create_table().await.expect("CreateTable");
    emulator.adopt_table(&table);
    (ledger, emulator, table)
}

#[tokio::test]
async fn every_kind_of_entry_reads_back_as_it_was_written() {
    let (ledger, emulator) = ledger().await;
    let id = unique("workflow-every-kind-");
    let mut written = one_entry_of_every_kind(Utc::now());
    for entry in &written {
        assert!(ledger.record(&id, entry).await.unwrap(), "{entry:?}");
    }
    let mut read = ledger.entries(&id).await.unwrap();
    read.sort_by_key(Entry::key);
    written.sort_by_key(Entry::key);
    let keys = |entries: &[Entry]| entries.iter().map(Entry::key).collect::<Vec<_>>();
    assert_eq!(keys(&read), keys(&written), "an entry did not read back");
    assert_eq!(read, written);
    emulator.cleanup().await;
}

#[tokio::test]
async fn a_dead_letter_stored_by_an_older_version_still_reads() {
    let (ledger, emulator, table) = ledger_in_table().await;
    let id = unique("workflow-old-form-");
    emulator
        .dynamodb
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S(id.clone()))
        .item("sk", AttributeValue::S("dlq#m-old".into()))
        .item("entry", AttributeValue::S(OLD_FORM_DEAD_LETTER.into()))
        .send()
        .await
        .unwrap();
    let read = ledger.entries(&id).await.unwrap();
    let [Entry::DeadLetter(letter)] = &read[..] else {
        panic!("the old dead letter did not read: {read:?}")
    };
    assert_eq!(letter.message_id, "m-old");
    assert_eq!(letter.dead_letter_kind, "lambda-on-failure");
    assert_eq!(letter.origin.as_deref(), Some("execution"));
    assert_eq!(letter.event_type.as_deref(), Some("RebalancePlanned"));
    emulator.cleanup().await;
}

#[tokio::test]
async fn entries_are_written_once_and_the_fullest_summary_wins() {
    let (ledger, emulator) = ledger().await;
    let started = sample_event(EventType::WorkflowStarted);
    let id = started.header().correlation_id.clone();
    let entry = Entry::Event(EventEntry::of(&started, None, Utc::now()));
    assert!(ledger.record(&id, &entry).await.unwrap(), "new");
    assert!(!ledger.record(&id, &entry).await.unwrap(), "a duplicate");
    let entries = ledger.entries(&id).await.unwrap();
    assert_eq!(entries, vec![entry]);
    let one = summarize(&id, &entries).unwrap();
    ledger.put_summary(&one).await.unwrap();
    let open = ledger
        .open_since(Utc::now() - TimeDelta::hours(1))
        .await
        .unwrap();
    assert!(open.iter().any(|s| s.correlation_id == id), "started: open");

    let mut failed = sample_event(EventType::WorkflowFailed);
    failed.header_mut().correlation_id = id.clone();
    ledger
        .record(
            &id,
            &Entry::Event(EventEntry::of(&failed, None, Utc::now())),
        )
        .await
        .unwrap();
    let two = summarize(&id, &ledger.entries(&id).await.unwrap()).unwrap();
    assert_eq!(two.state, WorkflowState::Failed);
    ledger.put_summary(&two).await.unwrap();
    // A late writer with the older view does not win.
    ledger.put_summary(&one).await.unwrap();
    assert_eq!(ledger.summary(&id).await.unwrap().unwrap(), two);

    let listed = ledger
        .summaries_since(Utc::now() - TimeDelta::hours(1))
        .await
        .unwrap();
    assert!(listed.iter().any(|s| s.correlation_id == id), "{listed:?}");
    let none = ledger
        .summaries_since(Utc::now() + TimeDelta::hours(1))
        .await
        .unwrap();
    assert!(none.iter().all(|s| s.correlation_id != id));
    // Failed: it has left the sparse index of open workflows the sweep reads.
    let open = ledger
        .open_since(Utc::now() - TimeDelta::hours(1))
        .await
        .unwrap();
    assert!(open.iter().all(|s| s.correlation_id != id), "{open:?}");
    emulator.cleanup().await;
}

#[tokio::test]
async fn an_entry_too_large_for_an_item_is_kept_without_its_bulk() {
    let (ledger, emulator) = ledger().await;
    let event = sample_event(EventType::RebalancePlanned);
    let id = event.header().correlation_id.clone();
    let huge = serde_json::Value::String("x".repeat(500 * 1024));
    let shadow = Entry::Shadow(ShadowEntry {
        handler: "portfolio".into(),
        cause_event_id: "signal-1".into(),
        recorded_at: Utc::now(),
        events: vec![huge],
        omitted: None,
    });
    assert!(ledger.record(&id, &shadow).await.unwrap());
    let stored = ledger.entries(&id).await.unwrap();
    let [Entry::Shadow(kept)] = &stored[..] else {
        panic!("{stored:?}")
    };
    assert!(kept.events.is_empty());
    assert!(
        kept.omitted
            .as_deref()
            .unwrap()
            .contains("over the ledger's item size"),
        "{kept:?}"
    );
    emulator.cleanup().await;
}
