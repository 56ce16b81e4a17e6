//! The publisher's promises against a fake EventBridge on 127.0.0.1: a missing bus, oversized
//! entries, an outbox that cannot be written, giving up within the deadline, draining, hybrid
//! mode and the factory.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alchemiser_bus::{Delivery, EventBus, EventHandler, Handled, HandlerError, InMemoryBus};
use alchemiser_eventbridge::{
    bus_from_lookup, configured_bus, ConfiguredBus, FileOutbox, OutboxConfig, OutboxLine,
    PublisherConfig, CODE_ENTRY_TOO_LARGE,
};
use alchemiser_events::samples::{sample_event, sample_event_with_padding};
use alchemiser_events::{decode_value, Event, EventType};
use async_trait::async_trait;
use support::{FakeEventBridge, Faults, POISON};

fn quick(outbox: &std::path::Path) -> PublisherConfig {
    PublisherConfig::default()
        .with_bus_name("test-bus")
        .with_max_attempts(4)
        .with_deadline(Duration::from_secs(3))
        .with_backoff(Duration::from_millis(2), Duration::from_millis(20))
        .with_timeouts(Duration::from_secs(2), Duration::from_millis(300))
        .with_outbox(OutboxConfig::File(outbox.to_owned()))
}

fn all_types() -> Vec<Event> {
    EventType::ALL.iter().map(|&t| sample_event(t)).collect()
}

/// How many events `all_types` gives.
const TYPES: usize = EventType::ALL.len();

fn outbox_records(path: &std::path::Path) -> Vec<alchemiser_eventbridge::OutboxRecord> {
    FileOutbox::new(path)
        .read()
        .unwrap()
        .into_iter()
        .filter_map(|line| match line {
            OutboxLine::Record(record) => Some(*record),
            OutboxLine::Unreadable(_) => None,
        })
        .collect()
}

#[tokio::test]
async fn all_event_types_are_delivered_with_the_mapped_fields() {
    let server = FakeEventBridge::start(Faults::none()).await;
    let dir = tempfile::tempdir().unwrap();
    let publisher = server.publisher(quick(&dir.path().join("o.jsonl")));
    let events = all_types();
    let report = publisher.publish(events.clone()).await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.delivered.len(), TYPES);
    let record = server.record.lock().unwrap();
    assert_eq!(record.describe_calls, 1);
    assert_eq!(
        record.put_requests, 1,
        "one small event of each type fits one request"
    );
    for event in &events {
        assert_eq!(record.accepted.get(event.event_id()), Some(&1));
    }
    assert!(outbox_records(&dir.path().join("o.jsonl")).is_empty());
}

#[tokio::test]
async fn a_missing_bus_is_a_clear_error_and_the_events_are_kept_in_the_outbox() {
    let server = FakeEventBridge::start(Faults {
        bus_exists: false,
        ..Faults::none()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.jsonl");
    let publisher = server.publisher(quick(&path));
    let report = publisher.publish(all_types()).await;
    assert!(report.delivered.is_empty());
    assert_eq!(report.undelivered.len(), TYPES);
    for item in &report.undelivered {
        assert_eq!(item.code.as_deref(), Some("ResourceNotFoundException"));
        assert!(
            item.reason.contains("event bus `test-bus` does not exist"),
            "{}",
            item.reason
        );
        assert_eq!(
            item.kept_in.as_deref(),
            Some(format!("file:{}", path.display()).as_str())
        );
    }
    assert_eq!(
        server.record.lock().unwrap().put_requests,
        0,
        "nothing sent to a missing bus"
    );
    let kept = outbox_records(&path);
    assert_eq!(kept.len(), TYPES);
    assert!(kept
        .iter()
        .all(|r| r.code.as_deref() == Some("ResourceNotFoundException")));
}

#[tokio::test]
async fn an_oversized_entry_is_rejected_before_sending_and_the_others_go() {
    let server = FakeEventBridge::start(Faults::none()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.jsonl");
    let publisher = server.publisher(quick(&path).with_max_request_bytes(4096));
    let big = sample_event_with_padding(EventType::TradeExecuted, 5000);
    let mut events = all_types();
    events.insert(2, big.clone());
    let report = publisher.publish(events).await;
    assert_eq!(report.delivered.len(), TYPES);
    assert_eq!(report.undelivered.len(), 1);
    let item = &report.undelivered[0];
    assert_eq!(item.event_id, big.event_id());
    assert_eq!(item.code.as_deref(), Some(CODE_ENTRY_TOO_LARGE));
    assert!(
        item.reason.contains(big.event_id()) && item.reason.contains("4096"),
        "{}",
        item.reason
    );
    let record = server.record.lock().unwrap();
    assert!(!record.seen.contains_key(big.event_id()), "never sent");
    assert!(record.put_requests >= 2, "4 KiB limit splits the rest");
    assert_eq!(outbox_records(&path)[0].event_id, big.event_id());
}

#[tokio::test]
async fn requests_in_flight_are_bounded_by_max_in_flight() {
    let server = FakeEventBridge::start(Faults {
        delay: Duration::from_millis(20),
        ..Faults::none()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    for in_flight in [1, 4] {
        server.record.lock().unwrap().max_in_flight = 0;
        // No attempt may time out: a given-up request could still be counted at the server.
        let config = quick(&dir.path().join("o.jsonl"))
            .with_max_in_flight(in_flight)
            .with_deadline(Duration::from_secs(30))
            .with_timeouts(Duration::from_secs(20), Duration::from_secs(5));
        let publisher = server.publisher(config);
        let events: Vec<Event> = (0..200)
            .map(|_| sample_event(EventType::SignalGenerated))
            .collect();
        let report = publisher.publish(events).await;
        assert_eq!(report.delivered.len(), 200, "{report:?}");
        assert_eq!(publisher.stats().requests, 20, "ten entries per request");
        assert_eq!(
            server.record.lock().unwrap().max_in_flight,
            in_flight,
            "twenty requests with {in_flight} in flight"
        );
    }
}

#[tokio::test]
async fn batch_size_one_sends_one_entry_per_request() {
    let server = FakeEventBridge::start(Faults::none()).await;
    let dir = tempfile::tempdir().unwrap();
    let publisher = server.publisher(quick(&dir.path().join("o.jsonl")).with_batch_size(1));
    let report = publisher.publish(all_types()).await;
    assert!(report.is_complete());
    let record = server.record.lock().unwrap();
    assert_eq!(record.put_requests, TYPES as u64);
    assert_eq!(record.max_entries, 1);
}

#[tokio::test]
async fn persistent_throttling_gives_up_within_the_deadline_and_keeps_the_events() {
    let server = FakeEventBridge::start(Faults {
        throttle_request: 1.0,
        ..Faults::none()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.jsonl");
    let config = quick(&path)
        .with_max_attempts(100)
        .with_deadline(Duration::from_millis(800))
        .with_backoff(Duration::from_millis(10), Duration::from_millis(100));
    let publisher = server.publisher(config);
    let started = Instant::now();
    let report = publisher.publish(all_types()).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report.undelivered.len(), TYPES);
    for item in &report.undelivered {
        assert_eq!(item.code.as_deref(), Some("ThrottlingException"));
        assert!(item.reason.contains("deadline"), "{}", item.reason);
    }
    assert!(
        server.record.lock().unwrap().put_requests > 2,
        "it did retry"
    );
    let kept = outbox_records(&path);
    assert!(kept.iter().all(|r| r.attempts > 1));
}

#[tokio::test]
async fn max_attempts_bounds_the_resends() {
    let server = FakeEventBridge::start(Faults {
        entry_internal: 1.0,
        ..Faults::none()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let publisher = server.publisher(quick(&dir.path().join("o.jsonl")).with_max_attempts(3));
    let report = publisher
        .publish(vec![sample_event(EventType::WorkflowStarted)])
        .await;
    assert_eq!(
        report.undelivered[0].code.as_deref(),
        Some("InternalFailure")
    );
    assert!(report.undelivered[0]
        .reason
        .contains("gave up after 3 attempts"));
    assert_eq!(server.record.lock().unwrap().put_requests, 3);
}

#[tokio::test]
async fn an_outbox_that_cannot_be_written_is_reported_loudly() {
    let server = FakeEventBridge::start(Faults {
        bus_exists: false,
        ..Faults::none()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let publisher = server.publisher(quick(&blocker.join("outbox.jsonl")));
    let report = publisher
        .publish(vec![sample_event(EventType::SignalGenerated)])
        .await;
    let item = &report.undelivered[0];
    assert_eq!(item.kept_in, None);
    assert!(item.reason.contains("NOT kept"), "{}", item.reason);
    assert!(
        item.reason.contains("does not exist"),
        "keeps the original reason: {}",
        item.reason
    );
    assert_eq!(publisher.stats().not_kept, 1);
}

#[tokio::test]
async fn drain_resends_the_outbox_and_keeps_the_events_that_fail_again() {
    let server = FakeEventBridge::start(Faults {
        bus_exists: false,
        ..Faults::none()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.jsonl");
    let mut events = all_types();
    let mut poison = sample_event(EventType::WorkflowFailed).to_value();
    poison["metadata"] = serde_json::json!({ "inject": POISON });
    let poison = decode_value(poison).unwrap().event;
    events.push(poison.clone());
    let report = server.publisher(quick(&path)).publish(events.clone()).await;
    assert_eq!(report.undelivered.len(), TYPES + 1);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"garbage line\n"))
        .unwrap();

    server.set_faults(Faults::none());
    let publisher = server.publisher(quick(&path));
    let drained = publisher
        .drain(&OutboxConfig::File(path.clone()))
        .await
        .unwrap();
    assert_eq!(drained.resent.len(), TYPES);
    assert_eq!(drained.remaining.len(), 1);
    assert_eq!(drained.remaining[0].event_id, poison.event_id());
    assert_eq!(drained.remaining[0].code.as_deref(), Some(POISON));
    assert_eq!(drained.unreadable, 1);
    let left = FileOutbox::new(&path).read().unwrap();
    assert_eq!(left.len(), 2, "the poison record and the garbage line stay");
    let kept = left
        .iter()
        .find_map(|line| match line {
            OutboxLine::Record(record) => Some(record),
            OutboxLine::Unreadable(_) => None,
        })
        .expect("the poison record stays");
    assert_eq!(kept.event_id, poison.event_id());
    assert_eq!(kept.attempts, 1, "one send during the drain");
    assert_eq!(kept.code.as_deref(), Some(POISON));
    assert!(left.contains(&OutboxLine::Unreadable("garbage line".into())));
    let record = server.record.lock().unwrap();
    for event in &events[..TYPES] {
        assert_eq!(record.accepted.get(event.event_id()), Some(&1));
    }
}

struct Planner {
    calls: Mutex<u32>,
}

#[async_trait]
impl EventHandler for Planner {
    fn name(&self) -> &str {
        "planner-probe"
    }
    async fn handle(&self, _: &Event, _: &Delivery) -> Result<Handled, HandlerError> {
        *self.calls.lock().unwrap() += 1;
        Ok(vec![sample_event(EventType::RebalancePlanned)].into())
    }
}

#[tokio::test]
async fn hybrid_mode_runs_local_handlers_and_publishes_what_they_emit() {
    let server = FakeEventBridge::start(Faults::none()).await;
    let dir = tempfile::tempdir().unwrap();
    let publisher = Arc::new(server.publisher(quick(&dir.path().join("o.jsonl"))));
    let planner = Arc::new(Planner {
        calls: Mutex::new(0),
    });

    let hybrid = InMemoryBus::forwarding_to(publisher.clone());
    hybrid.subscribe(EventType::SignalGenerated, planner.clone());
    let report = hybrid
        .publish(vec![sample_event(EventType::SignalGenerated)])
        .await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(
        report.delivered.len(),
        2,
        "the signal and the plan it caused"
    );
    assert_eq!(hybrid.published_count(), 2);
    assert_eq!(*planner.calls.lock().unwrap(), 1);

    // The publisher alone is remote only: nothing to subscribe to, nothing runs locally.
    let remote_only: Arc<dyn EventBus> = publisher;
    let report = remote_only
        .publish(vec![sample_event(EventType::SignalGenerated)])
        .await;
    assert_eq!(report.delivered.len(), 1);
    assert_eq!(
        *planner.calls.lock().unwrap(),
        1,
        "no local delivery without hybrid mode"
    );
    assert_eq!(server.record.lock().unwrap().accepted.len(), 3);
}

#[tokio::test]
async fn the_factory_picks_the_bus_from_use_eventbridge() {
    let lookup = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    };
    // Default: in-memory, which delivers to local handlers.
    let configured = configured_bus(lookup(&[])).unwrap();
    let ConfiguredBus::InMemory(local) = &configured else {
        panic!("the default is the in-memory bus")
    };
    let planner = Arc::new(Planner {
        calls: Mutex::new(0),
    });
    local.subscribe(EventType::SignalGenerated, planner.clone());
    let report = configured
        .bus()
        .publish(vec![sample_event(EventType::SignalGenerated)])
        .await;
    assert!(report.is_complete());
    assert_eq!(*planner.calls.lock().unwrap(), 1);
    assert_eq!(local.published_count(), 2);

    for value in ["false", "0", "FALSE"] {
        let pairs: &'static [(&str, &str)] = Box::leak(Box::new([("USE_EVENTBRIDGE", value)]));
        assert!(bus_from_lookup(lookup(pairs)).is_ok());
    }
    // EventBridge: no AWS call is made until the first publish.
    assert!(bus_from_lookup(lookup(&[("USE_EVENTBRIDGE", "True")])).is_ok());
    assert!(matches!(
        configured_bus(lookup(&[("USE_EVENTBRIDGE", "True")])).unwrap(),
        ConfiguredBus::EventBridge(_)
    ));
    let hybrid = configured_bus(lookup(&[
        ("USE_EVENTBRIDGE", "1"),
        ("EVENTBRIDGE_LOCAL_HANDLERS", "1"),
    ]))
    .unwrap();
    assert!(matches!(hybrid, ConfiguredBus::Hybrid { .. }));
    assert!(hybrid.local().is_some(), "hybrid mode has local handlers");

    let error = bus_from_lookup(lookup(&[("USE_EVENTBRIDGE", "maybe")]))
        .err()
        .unwrap();
    let text = error.to_string();
    assert!(
        text.contains("USE_EVENTBRIDGE") && text.contains("\"maybe\""),
        "{text}"
    );
    assert!(text.contains("true, false, 1 or 0"), "{text}");
    let error = bus_from_lookup(lookup(&[
        ("USE_EVENTBRIDGE", "true"),
        ("EVENTBRIDGE_MAX_REQUEST_BYTES", "big"),
    ]))
    .err()
    .unwrap();
    assert!(error.to_string().contains("EVENTBRIDGE_MAX_REQUEST_BYTES"));
}
