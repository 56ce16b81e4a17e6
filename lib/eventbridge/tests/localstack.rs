//! Against LocalStack (run by `scripts/test-publisher-localstack`, which starts it; this target
//! has `test = false`, so plain `cargo test` does not build or run it):
//! - one event of each type reaches an SQS queue through a rule on the `alchemiser.` source
//!   prefix, with the mapped Source, DetailType and Resources, and decodes back to the same event;
//! - a missing bus is a clear error and the events are kept in the outbox (file and SQS), and
//!   `drain` delivers them once the bus exists;
//! - an entry of exactly the request limit (LocalStack's 256 KiB; 1 MiB on AWS) is delivered, and
//!   one byte more is refused before anything is sent.
//!
//! Needs AWS_ENDPOINT_URL (e.g. http://127.0.0.1:4566), credentials and a region in the
//! environment.

use std::time::Duration;

use alchemiser_eventbridge::{
    Entry, EventBridgePublisher, FileOutbox, OutboxConfig, PublisherConfig, CODE_ENTRY_TOO_LARGE,
};
use alchemiser_events::samples::sample_event;
use alchemiser_events::{decode_value, Event, EventType, DEFAULT_SOURCE_PREFIX};
use alchemiser_testkit::{unique, Emulator, EVERY_ALCHEMISER_SOURCE};

fn config(bus: &str, outbox: OutboxConfig) -> PublisherConfig {
    PublisherConfig::default()
        .with_bus_name(bus)
        .with_deadline(Duration::from_secs(20))
        .with_outbox(outbox)
}

fn one_of_each() -> Vec<Event> {
    EventType::ALL.iter().map(|&t| sample_event(t)).collect()
}

#[tokio::test]
async fn each_event_type_arrives_with_the_mapped_fields_and_decodes_back() {
    let mut fixture = Emulator::new().await;
    let bus = unique("alchemiser-it-bus-");
    fixture.bus(&bus).await;
    let (queue_url, queue_arn) = fixture.queue(&unique("alchemiser-it-target-")).await;
    fixture
        .rule_to_queue(
            &bus,
            &unique("alchemiser-it-rule-"),
            EVERY_ALCHEMISER_SOURCE,
            &queue_arn,
        )
        .await;

    let dir = tempfile::tempdir().unwrap();
    let publisher = EventBridgePublisher::new(config(
        &bus,
        OutboxConfig::File(dir.path().join("outbox.jsonl")),
    ));
    let events = one_of_each();
    let report = publisher.publish(events.clone()).await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.delivered.len(), events.len());

    let bodies = fixture
        .receive(&queue_url, events.len(), Duration::from_secs(30))
        .await;
    assert_eq!(bodies.len(), events.len(), "one SQS message per event");
    for body in bodies {
        let received = decode_value(body.clone()).expect("the SQS body is a valid envelope");
        let event = events
            .iter()
            .find(|e| e.event_id() == received.event.event_id())
            .expect("a published event");
        assert_eq!(
            &received.event, event,
            "detail decodes back to the same event"
        );
        let header = event.header();
        let event_type = event.event_type();
        assert_eq!(
            body["source"],
            event_type
                .route()
                .source_of(&header.source_module, DEFAULT_SOURCE_PREFIX)
                .unwrap()
        );
        assert_eq!(body["detail-type"], event_type.as_str());
        assert_eq!(
            body["resources"],
            serde_json::json!([
                format!("correlation:{}", header.correlation_id),
                format!("causation:{}", header.causation_id)
            ])
        );
        let meta = received.envelope.expect("an envelope");
        let skew = (meta.time.0 - header.timestamp.0).num_seconds().abs();
        assert!(
            skew <= 1,
            "envelope time {} vs event time {}",
            meta.time,
            header.timestamp
        );
        println!(
            "ok {:<18} source={} resources={}",
            event_type, body["source"], body["resources"]
        );
    }
    fixture.cleanup().await;
}

#[tokio::test]
async fn a_missing_bus_keeps_the_events_in_the_outbox_and_drain_delivers_them_once_it_exists() {
    let mut fixture = Emulator::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    let (outbox_queue, _) = fixture.queue(&unique("alchemiser-it-outbox-")).await;

    // File outbox.
    let missing = unique("alchemiser-it-missing-");
    let publisher = EventBridgePublisher::new(config(&missing, OutboxConfig::File(path.clone())));
    let events = one_of_each();
    let report = publisher.publish(events.clone()).await;
    assert!(report.delivered.is_empty());
    assert_eq!(report.undelivered.len(), events.len());
    for item in &report.undelivered {
        assert_eq!(item.code.as_deref(), Some("ResourceNotFoundException"));
        assert!(
            item.reason
                .contains(&format!("event bus `{missing}` does not exist")),
            "{}",
            item.reason
        );
        assert_eq!(item.kept_in, Some(format!("file:{}", path.display())));
    }
    println!("missing bus: {}", report.undelivered[0].reason);
    assert_eq!(FileOutbox::new(&path).read().unwrap().len(), events.len());

    // SQS outbox.
    let sqs_outbox = OutboxConfig::Sqs {
        queue_url: outbox_queue.clone(),
    };
    let publisher = EventBridgePublisher::new(config(&missing, sqs_outbox.clone()));
    let report = publisher.publish(events.clone()).await;
    assert_eq!(report.undelivered.len(), events.len());
    assert!(report
        .undelivered
        .iter()
        .all(|u| u.kept_in.as_deref() == Some(format!("sqs:{outbox_queue}").as_str())));

    // Once the bus exists, both outboxes drain completely.
    fixture.bus(&missing).await;
    let publisher = EventBridgePublisher::new(config(&missing, OutboxConfig::File(path.clone())));
    let drained = publisher
        .drain(&OutboxConfig::File(path.clone()))
        .await
        .unwrap();
    assert_eq!(drained.resent.len(), events.len(), "{drained:?}");
    assert!(drained.remaining.is_empty());
    assert!(FileOutbox::new(&path).read().unwrap().is_empty());
    let drained = publisher.drain(&sqs_outbox).await.unwrap();
    assert_eq!(drained.resent.len(), events.len(), "{drained:?}");
    assert!(drained.remaining.is_empty());
    let left = fixture
        .receive(&outbox_queue, 1, Duration::from_secs(3))
        .await;
    assert!(left.is_empty(), "drained messages are deleted: {left:?}");
    fixture.cleanup().await;
}

/// A WorkflowFailed whose PutEvents entry is exactly `bytes` long.
fn event_of_size(bytes: usize) -> Event {
    let padded = |n: usize| {
        let mut event = sample_event(EventType::WorkflowFailed);
        if let Event::WorkflowFailed(failed) = &mut event {
            failed
                .error_details
                .insert("padding".into(), serde_json::json!("x".repeat(n)));
        }
        event
    };
    let base = Entry::from_event(&padded(0), DEFAULT_SOURCE_PREFIX)
        .unwrap()
        .size();
    let event = padded(bytes - base);
    assert_eq!(
        Entry::from_event(&event, DEFAULT_SOURCE_PREFIX)
            .unwrap()
            .size(),
        bytes
    );
    event
}

#[tokio::test]
async fn an_entry_at_the_limit_is_delivered_and_one_byte_more_is_refused_unsent() {
    const LOCALSTACK_LIMIT: usize = 262_144;
    let mut fixture = Emulator::new().await;
    let bus = unique("alchemiser-it-bus-");
    fixture.bus(&bus).await;
    let dir = tempfile::tempdir().unwrap();
    let publisher = EventBridgePublisher::new(
        config(&bus, OutboxConfig::File(dir.path().join("outbox.jsonl")))
            .with_max_request_bytes(LOCALSTACK_LIMIT),
    );
    let at_limit = event_of_size(LOCALSTACK_LIMIT);
    let report = publisher.publish(vec![at_limit.clone()]).await;
    assert_eq!(report.delivered, [at_limit.event_id()], "{report:?}");

    let requests = publisher.stats().requests;
    let over = event_of_size(LOCALSTACK_LIMIT + 1);
    let report = publisher.publish(vec![over]).await;
    assert_eq!(report.undelivered.len(), 1);
    assert_eq!(
        report.undelivered[0].code.as_deref(),
        Some(CODE_ENTRY_TOO_LARGE)
    );
    assert_eq!(publisher.stats().requests, requests, "nothing was sent");
    fixture.cleanup().await;
}
