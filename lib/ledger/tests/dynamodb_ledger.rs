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

/// What the console asks a stage's ledger: a page of workflows through the `by_start` index
/// (newest first, back and forth, one state), a search, the orders and dead letters of a window
/// (the port's defaults over the table).
#[tokio::test]
async fn pages_of_workflows_come_from_the_index_newest_first_back_and_forth() {
    use alchemiser_ledger::model::DeadLetterEntry;
    use alchemiser_ledger::store::query::{OrderQuery, Position, Window, WorkflowQuery};
    use alchemiser_ledger::Monitor;
    use std::sync::Arc;

    let (ledger, emulator) = ledger().await;
    let ledger = Arc::new(ledger);
    let monitor = Monitor::new(ledger.clone());
    let start = Utc::now() - TimeDelta::hours(2);
    let mut ids = Vec::new();
    for n in 0..7 {
        let at = start + TimeDelta::minutes(n);
        let mut events = alchemiser_testkit::workflow_events(&unique("tick-"), at);
        if n % 2 == 1 {
            let failed = alchemiser_testkit::workflow_failed(
                &events[2],
                "execution",
                "<img src=x onerror=alert(1)>",
                at + TimeDelta::seconds(3),
                serde_json::json!({}),
            );
            events.truncate(3);
            events.push(failed);
        } else if let alchemiser_events::Event::TradeExecuted(trade) = &mut events[3] {
            trade.execution_data = serde_json::json!({"orders": [
                {"symbol": "SPY", "side": "buy", "qty": "2", "price": "500", "status": "FILLED",
                 "filled_qty": "2", "fill_price": "500.10", "order_id": format!("broker-{n}")}
            ]})
            .as_object()
            .cloned()
            .unwrap();
        }
        for event in &events {
            monitor.record(event, None).await.unwrap();
        }
        ids.push(events[0].header().correlation_id.clone());
    }
    let newest: Vec<String> = ids.iter().rev().cloned().collect();
    let window = Window {
        from: start - TimeDelta::minutes(1),
        to: start + TimeDelta::hours(1),
    };
    let query = |position, state| WorkflowQuery {
        started: window,
        state,
        position,
        limit: 3,
    };
    let listed = |items: &[alchemiser_ledger::Summary]| {
        items
            .iter()
            .map(|s| s.correlation_id.clone())
            .collect::<Vec<_>>()
    };
    let first = ledger
        .workflows(&query(Position::Newest, None))
        .await
        .unwrap();
    assert_eq!(listed(&first.items), newest[..3]);
    let second = ledger
        .workflows(&query(Position::After(first.older.clone().unwrap()), None))
        .await
        .unwrap();
    assert_eq!(listed(&second.items), newest[3..6]);
    let third = ledger
        .workflows(&query(Position::After(second.older.clone().unwrap()), None))
        .await
        .unwrap();
    assert_eq!(listed(&third.items), newest[6..]);
    assert!(third.older.is_none());
    let back = ledger
        .workflows(&query(Position::Before(third.newer.clone().unwrap()), None))
        .await
        .unwrap();
    assert_eq!(listed(&back.items), newest[3..6]);
    let failed = ledger
        .workflows(&query(Position::Newest, Some(WorkflowState::Failed)))
        .await
        .unwrap();
    assert_eq!(
        listed(&failed.items),
        [ids[5].clone(), ids[3].clone(), ids[1].clone()]
    );
    assert!(failed.older.is_none(), "three failed workflows: one page");

    let found = ledger
        .find("broker-4", &query(Position::Newest, None))
        .await
        .unwrap();
    assert_eq!(found.workflows, [ids[4].clone()]);
    let orders = ledger
        .orders(&OrderQuery {
            reported: window,
            symbol: Some("SPY".into()),
            position: Position::Newest,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(orders.totals.orders, 4);
    assert_eq!(orders.page.items.len(), 4);

    ledger
        .record(
            &ids[1],
            &Entry::DeadLetter(DeadLetterEntry {
                message_id: "m-1".into(),
                dead_letter_kind: "lambda-on-failure".into(),
                origin: Some("execution".into()),
                event_id: None,
                event_type: None,
                reason: "RetriesExhausted".into(),
                sent_at: Some(start + TimeDelta::minutes(2)),
                recorded_at: start + TimeDelta::minutes(3),
                replay: None,
                shadow: false,
                refused: false,
            }),
        )
        .await
        .unwrap();
    let entries = ledger.entries(&ids[1]).await.unwrap();
    ledger
        .put_summary(&summarize(&ids[1], &entries).unwrap())
        .await
        .unwrap();
    let letters = ledger.dead_letters(&window).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].correlation_id, ids[1]);
    emulator.cleanup().await;
}
