//! The ledger in a local SQLite file (what `alchemiser run` records and the console reads):
//! every kind of entry reads back as it was written, entries once, the fullest summary wins;
//! and the readers' questions (a page of workflows, orders with totals, dead letters, a search
//! by any id) give the same answers from the file as the port's defaults give from memory.

mod common;

use std::sync::Arc;

use alchemiser_events::{Decimal, Event, EventType};
use alchemiser_ledger::model::{DeadLetterDeletion, DeadLetterEntry};
use alchemiser_ledger::store::query::{
    Cursor, OrderQuery, Position, SearchScope, Window, WorkflowQuery,
};
use alchemiser_ledger::{
    summarize, Entry, EventEntry, LedgerStore, MemoryLedger, Monitor, SqliteLedger, WorkflowState,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T14:35:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn file_ledger() -> (SqliteLedger, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = SqliteLedger::open(dir.path().join("nested/ledger.sqlite3")).unwrap();
    (ledger, dir)
}

fn everything() -> Window {
    Window {
        from: start() - TimeDelta::days(365),
        to: start() + TimeDelta::days(365),
    }
}

#[tokio::test]
async fn every_kind_of_entry_reads_back_as_it_was_written() {
    let (ledger, _dir) = file_ledger();
    let mut written = common::one_entry_of_every_kind(start());
    for entry in &written {
        assert!(
            ledger.record("w-every-kind", entry).await.unwrap(),
            "{entry:?}"
        );
    }
    let mut read = ledger.entries("w-every-kind").await.unwrap();
    read.sort_by_key(Entry::key);
    written.sort_by_key(Entry::key);
    let keys = |entries: &[Entry]| entries.iter().map(Entry::key).collect::<Vec<_>>();
    assert_eq!(keys(&read), keys(&written), "an entry did not read back");
    assert_eq!(read, written);
    // And through a second, read-only handle on the same file (the console's).
    let reader = SqliteLedger::open_read_only(ledger.path()).unwrap();
    let mut again = reader.entries("w-every-kind").await.unwrap();
    again.sort_by_key(Entry::key);
    assert_eq!(again, written);
}

#[tokio::test]
async fn entries_are_written_once_and_the_fullest_summary_wins() {
    let (ledger, _dir) = file_ledger();
    let events = alchemiser_testkit::workflow_events("tick-once", start());
    let id = events[0].header().correlation_id.clone();
    let first = Entry::Event(EventEntry::of(&events[0], None, start()));
    assert!(ledger.record(&id, &first).await.unwrap(), "new");
    assert!(!ledger.record(&id, &first).await.unwrap(), "a duplicate");
    let one = summarize(&id, &ledger.entries(&id).await.unwrap()).unwrap();
    ledger.put_summary(&one).await.unwrap();
    let open = ledger
        .open_since(start() - TimeDelta::hours(1))
        .await
        .unwrap();
    assert_eq!(open, vec![one.clone()], "started: open");

    for event in &events[1..] {
        ledger
            .record(&id, &Entry::Event(EventEntry::of(event, None, start())))
            .await
            .unwrap();
    }
    let all = summarize(&id, &ledger.entries(&id).await.unwrap()).unwrap();
    assert_eq!(all.state, WorkflowState::Completed);
    ledger.put_summary(&all).await.unwrap();
    // A late writer with the older view does not win.
    ledger.put_summary(&one).await.unwrap();
    assert_eq!(ledger.summary(&id).await.unwrap(), Some(all.clone()));
    assert!(ledger
        .open_since(start() - TimeDelta::hours(1))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ledger
            .summaries_since(start() - TimeDelta::hours(1))
            .await
            .unwrap(),
        vec![all]
    );
}

#[tokio::test]
async fn a_read_only_handle_changes_nothing_and_a_missing_file_is_not_created() {
    let (ledger, dir) = file_ledger();
    let reader = SqliteLedger::open_read_only(ledger.path()).unwrap();
    let entry = common::one_entry_of_every_kind(start()).remove(0);
    let refused = reader.record("w", &entry).await.unwrap_err();
    assert!(
        alchemiser_bus::error_chain(&refused).contains("readonly"),
        "{refused:?}"
    );
    assert!(ledger.entries("w").await.unwrap().is_empty());
    let missing = dir.path().join("none.sqlite3");
    assert!(SqliteLedger::open_read_only(&missing).is_err());
    assert!(!missing.exists(), "a reader created the file");
}

#[tokio::test]
async fn a_ledger_of_a_newer_layout_is_refused_with_what_to_do() {
    let (ledger, _dir) = file_ledger();
    let path = ledger.path().to_path_buf();
    drop(ledger);
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    drop(connection);
    let error = SqliteLedger::open(&path).unwrap_err();
    let text = alchemiser_bus::error_chain(&error);
    assert!(text.contains("newer alchemiser"), "{text}");
    let error = SqliteLedger::open_read_only(&path).unwrap_err();
    assert!(alchemiser_bus::error_chain(&error).contains("layout version 99"));
}

/// `count` workflows a minute apart: every third fails in execution (a plan rejected by the
/// broker), the rest complete with two orders: a sell of TLT and a buy of SPY, the buy filled
/// 5 bp above its price.
async fn record_workflows(store: Arc<dyn LedgerStore>, count: usize) -> Vec<String> {
    let monitor = Monitor::new(store.clone());
    let mut ids = Vec::new();
    for n in 0..count {
        let at = start() + TimeDelta::minutes(i64::try_from(n).unwrap());
        let mut events = alchemiser_testkit::workflow_events(&format!("tick-{n:03}"), at);
        let Event::TradeExecuted(trade) = &mut events[3] else {
            unreachable!("the fourth event is the trade")
        };
        trade.execution_data = json!({
            "plan_id": format!("plan-{n}"),
            "orders": [
                {"symbol": "TLT", "side": "sell", "qty": "30", "price": "100.00", "status": "FILLED",
                 "order_id": format!("broker-{n}-tlt"), "client_order_id": format!("client-{n}-tlt"),
                 "filled_qty": "30", "fill_price": "100.00"},
                {"symbol": "SPY", "side": "buy", "qty": "5", "price": "500.00", "status": "FILLED",
                 "order_id": format!("broker-{n}-spy"), "filled_qty": "5", "fill_price": "500.25"}
            ]
        })
        .as_object()
        .cloned()
        .unwrap();
        if n % 3 == 2 {
            let failed = alchemiser_testkit::workflow_failed(
                &events[3],
                "execution",
                "broker rejected the order",
                at + TimeDelta::seconds(5),
                json!({}),
            );
            events.truncate(4);
            events.push(failed);
        }
        for event in &events {
            monitor.record(event, None).await.unwrap();
        }
        ids.push(events[0].header().correlation_id.clone());
    }
    ids
}

/// A store to test, named for the assertion messages.
type Named = (&'static str, Arc<dyn LedgerStore>);

fn stores() -> (Vec<Named>, tempfile::TempDir) {
    let (file, dir) = file_ledger();
    (
        vec![
            (
                "memory (the port's defaults)",
                Arc::new(MemoryLedger::new()),
            ),
            ("sqlite", Arc::new(file)),
        ],
        dir,
    )
}

#[tokio::test]
async fn pages_of_workflows_go_back_and_forth_newest_first_in_every_store() {
    let (stores, _dir) = stores();
    for (name, store) in stores {
        let ids = record_workflows(store.clone(), 12).await;
        let query = |position, state| WorkflowQuery {
            started: everything(),
            state,
            position,
            limit: 5,
        };
        let listed = |page: &alchemiser_ledger::store::query::Page<alchemiser_ledger::Summary>| {
            page.items
                .iter()
                .map(|s| s.correlation_id.clone())
                .collect::<Vec<_>>()
        };
        let newest: Vec<String> = ids.iter().rev().cloned().collect();
        let first = store
            .workflows(&query(Position::Newest, None))
            .await
            .unwrap();
        assert_eq!(listed(&first), newest[..5], "{name}");
        assert!(first.newer.is_none(), "{name}");
        let second = store
            .workflows(&query(Position::After(first.older.clone().unwrap()), None))
            .await
            .unwrap();
        assert_eq!(listed(&second), newest[5..10], "{name}");
        let third = store
            .workflows(&query(Position::After(second.older.clone().unwrap()), None))
            .await
            .unwrap();
        assert_eq!(listed(&third), newest[10..], "{name}");
        assert!(third.older.is_none(), "{name}: the last page");
        let back = store
            .workflows(&query(Position::Before(third.newer.clone().unwrap()), None))
            .await
            .unwrap();
        assert_eq!(listed(&back), newest[5..10], "{name}: back one page");
        assert_eq!(back.older, second.older, "{name}");

        let failed = store
            .workflows(&query(Position::Newest, Some(WorkflowState::Failed)))
            .await
            .unwrap();
        let expected: Vec<String> = newest
            .iter()
            .enumerate()
            .filter(|(i, _)| (11 - i) % 3 == 2)
            .map(|(_, id)| id.clone())
            .collect();
        assert_eq!(listed(&failed), expected, "{name}: failed only");

        let window = WorkflowQuery {
            started: Window {
                from: start() + TimeDelta::minutes(3),
                to: start() + TimeDelta::minutes(5),
            },
            ..query(Position::Newest, None)
        };
        let in_window = store.workflows(&window).await.unwrap();
        assert_eq!(
            listed(&in_window),
            [ids[4].clone(), ids[3].clone()],
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_search_finds_a_workflow_by_any_of_its_ids_in_every_store() {
    let (stores, _dir) = stores();
    for (name, store) in stores {
        let ids = record_workflows(store.clone(), 3).await;
        let entries = store.entries(&ids[1]).await.unwrap();
        let event_id = entries
            .iter()
            .find_map(|e| match e {
                Entry::Event(event) if event.event_type == EventType::RebalancePlanned => {
                    Some(event.event_id.clone())
                }
                _ => None,
            })
            .unwrap();
        let plan_id = entries
            .iter()
            .find_map(|e| match e {
                Entry::Event(event) => event
                    .detail
                    .as_ref()?
                    .pointer("/rebalance_plan/plan_id")?
                    .as_str()
                    .map(str::to_owned),
                _ => None,
            })
            .unwrap();
        let within = WorkflowQuery {
            started: everything(),
            state: None,
            position: Position::Newest,
            limit: 50,
        };
        for id in [
            ids[1].as_str(),
            event_id.as_str(),
            plan_id.as_str(),
            "broker-1-spy",
            "client-1-tlt",
        ] {
            let found = store.find(id, &within).await.unwrap();
            assert_eq!(found.workflows, [ids[1].clone()], "{name}: {id}");
        }
        let none = store.find("nothing-has-this-id", &within).await.unwrap();
        assert!(none.workflows.is_empty(), "{name}");
        match none.scope {
            SearchScope::Everything => assert_eq!(name, "sqlite"),
            SearchScope::Window {
                workflows,
                complete,
            } => assert_eq!((workflows, complete), (3, true), "{name}"),
        }
    }
}

#[tokio::test]
async fn orders_are_listed_across_workflows_by_symbol_with_totals_in_every_store() {
    let (stores, _dir) = stores();
    for (name, store) in stores {
        record_workflows(store.clone(), 7).await;
        let query = |symbol: Option<&str>, position| OrderQuery {
            reported: everything(),
            symbol: symbol.map(str::to_owned),
            position,
            limit: 4,
        };
        let all = store.orders(&query(None, Position::Newest)).await.unwrap();
        assert_eq!(all.totals.orders, 14, "{name}");
        assert_eq!(all.totals.filled, 14, "{name}");
        // 7 buys of 5 SPY at 500.25, 7 sells of 30 TLT at 100.
        assert_eq!(all.totals.bought, Decimal::new(1750875, 2), "{name}");
        assert_eq!(all.totals.sold, Decimal::new(21000, 0), "{name}");
        assert_eq!(all.page.items.len(), 4, "{name}");
        assert!(
            all.page.items[0].at >= all.page.items[3].at,
            "{name}: newest first"
        );

        let spy = store
            .orders(&query(Some("spy"), Position::Newest))
            .await
            .unwrap();
        assert_eq!(spy.totals.orders, 7, "{name}");
        assert!(spy.page.items.iter().all(|o| o.symbol == "SPY"), "{name}");
        assert_eq!(spy.page.items[0].slippage_bps(), Some(Decimal::new(5, 0)));
        let rest = store
            .orders(&query(
                Some("SPY"),
                Position::After(spy.page.older.clone().unwrap()),
            ))
            .await
            .unwrap();
        assert_eq!(rest.page.items.len(), 3, "{name}");
        assert!(rest.page.older.is_none(), "{name}");
        let later = store
            .orders(&OrderQuery {
                reported: Window {
                    from: start() + TimeDelta::minutes(5),
                    to: start() + TimeDelta::days(1),
                },
                ..query(None, Position::Newest)
            })
            .await
            .unwrap();
        assert_eq!(later.totals.orders, 4, "{name}: the two last workflows");
    }
}

#[tokio::test]
async fn dead_letters_of_a_window_come_with_their_deletion_in_every_store() {
    let (stores, _dir) = stores();
    for (name, store) in stores {
        let ids = record_workflows(store.clone(), 2).await;
        let letter = |message_id: &str, minutes: i64| DeadLetterEntry {
            message_id: message_id.into(),
            dead_letter_kind: "lambda-on-failure".into(),
            origin: Some("execution".into()),
            event_id: Some("e".into()),
            event_type: Some("RebalancePlanned".into()),
            reason: "<img src=x onerror=alert(1)>".into(),
            sent_at: Some(start() + TimeDelta::minutes(minutes)),
            recorded_at: start() + TimeDelta::minutes(minutes + 1),
            replay: None,
            shadow: false,
            refused: false,
        };
        let monitor_summary = |id: String| {
            let store = store.clone();
            async move {
                let entries = store.entries(&id).await.unwrap();
                store
                    .put_summary(&summarize(&id, &entries).unwrap())
                    .await
                    .unwrap();
            }
        };
        store
            .record(&ids[0], &Entry::DeadLetter(letter("m-old", 0)))
            .await
            .unwrap();
        store
            .record(&ids[1], &Entry::DeadLetter(letter("m-new", 10)))
            .await
            .unwrap();
        store
            .record(
                &ids[1],
                &Entry::DeadLetterDeleted(DeadLetterDeletion {
                    message_id: "m-new".into(),
                    event_id: Some("e".into()),
                    event_type: None,
                    letter_reason: "r".into(),
                    deleted_at: start() + TimeDelta::minutes(20),
                    deleted_by: "arn:aws:iam::000000000000:user/operator".into(),
                    reason: "never redrivable".into(),
                }),
            )
            .await
            .unwrap();
        monitor_summary(ids[0].clone()).await;
        monitor_summary(ids[1].clone()).await;
        let letters = store.dead_letters(&everything()).await.unwrap();
        let listed: Vec<(&str, bool)> = letters
            .iter()
            .map(|r| (r.letter.message_id.as_str(), r.deleted.is_some()))
            .collect();
        assert_eq!(listed, [("m-new", true), ("m-old", false)], "{name}");
        assert_eq!(letters[1].correlation_id, ids[0], "{name}");
        let recent = store
            .dead_letters(&Window {
                from: start() + TimeDelta::minutes(5),
                to: start() + TimeDelta::days(1),
            })
            .await
            .unwrap();
        assert_eq!(recent.len(), 1, "{name}");
        assert_eq!(
            Cursor::of_dead_letter(&recent[0]).id,
            format!("{}\u{1f}m-new", ids[1])
        );
    }
}

#[tokio::test]
async fn a_reader_sees_what_a_writer_records_meanwhile() {
    let (writer, _dir) = file_ledger();
    let reader = SqliteLedger::open_read_only(writer.path()).unwrap();
    assert!(reader
        .summaries_since(start() - TimeDelta::days(1))
        .await
        .unwrap()
        .is_empty());
    let ids = record_workflows(Arc::new(writer.clone()), 2).await;
    let seen = reader
        .summaries_since(start() - TimeDelta::days(1))
        .await
        .unwrap();
    assert_eq!(
        seen.iter().map(|s| &s.correlation_id).collect::<Vec<_>>(),
        ids.iter().collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_started_together_open_and_record_into_a_new_file_in_turn() {
    // As eight `alchemiser run` started at once would: each its own connection to a file none
    // of them has seen before; ten times, as the race is one of timing.
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        let runs: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                tokio::spawn(async move {
                    let ledger = SqliteLedger::open(&path).unwrap_or_else(|e| {
                        panic!("round {round}: {}", alchemiser_bus::error_chain(&e))
                    });
                    record_workflows(Arc::new(ledger), 1).await
                })
            })
            .collect();
        for run in runs {
            assert_eq!(run.await.unwrap().len(), 1, "round {round}");
        }
        let reader = SqliteLedger::open_read_only(&path).unwrap();
        let id = alchemiser_testkit::workflow_events("tick-000", start())[0]
            .header()
            .correlation_id
            .clone();
        assert_eq!(
            reader.entries(&id).await.unwrap().len(),
            5,
            "round {round}: one workflow (the same ids each run), each entry once"
        );
    }
}

#[test]
fn a_page_token_reads_back_and_a_forged_one_is_refused() {
    let cursor = Cursor {
        at: "2026-12-01T14:35:00.000000Z".into(),
        id: "workflow~with~tildes".into(),
    };
    assert_eq!(Cursor::from_token(&cursor.to_token()).unwrap(), cursor);
    for forged in [
        "",
        "no-tilde",
        "2026-12-01T14:35:00Z~id",
        "2026-12-01T14:35:00.000000Z~",
        "yesterday~id",
    ] {
        assert!(Cursor::from_token(forged).is_err(), "{forged}");
    }
}
