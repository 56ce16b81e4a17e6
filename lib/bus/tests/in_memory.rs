//! Behaviour of the in-memory bus: delivery, cascades, failure isolation and counting.

use std::sync::{Arc, Mutex};

use alchemiser_bus::{Delivery, EventBus, EventHandler, Handled, HandlerError, InMemoryBus};
use alchemiser_events::{
    Event, EventHeader, EventType, Timestamp, WorkflowCompleted, WorkflowStarted,
};
use async_trait::async_trait;

fn started() -> Event {
    WorkflowStarted {
        header: EventHeader::start_workflow(
            EventType::WorkflowStarted,
            "test",
            Timestamp::now(),
            None,
        ),
        workflow_type: "trading".into(),
        requested_by: "test".into(),
        configuration: Default::default(),
    }
    .into()
}

fn completed_after(cause: &Event) -> Event {
    WorkflowCompleted {
        header: EventHeader::caused_by(
            cause.header(),
            EventType::WorkflowCompleted,
            "test",
            Timestamp::now(),
        ),
        workflow_type: "trading".into(),
        workflow_duration_ms: 1,
        success: true,
        summary: Default::default(),
    }
    .into()
}

/// Records what it sees; optionally answers each event with a completion, or fails.
struct Probe {
    name: &'static str,
    seen: Mutex<Vec<EventType>>,
    behaviour: Behaviour,
}

enum Behaviour {
    Record,
    Complete,
    Fail,
    EchoForever,
}

impl Probe {
    fn new(name: &'static str, behaviour: Behaviour) -> Arc<Self> {
        Arc::new(Self {
            name,
            seen: Mutex::new(Vec::new()),
            behaviour,
        })
    }
    fn seen(&self) -> Vec<EventType> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait]
impl EventHandler for Probe {
    fn name(&self) -> &str {
        self.name
    }
    async fn handle(&self, event: &Event, _: &Delivery) -> Result<Handled, HandlerError> {
        self.seen.lock().unwrap().push(event.event_type());
        let events = match self.behaviour {
            Behaviour::Record => Ok(vec![]),
            Behaviour::Complete => Ok(vec![completed_after(event)]),
            Behaviour::Fail => Err(HandlerError::Transient("broker unreachable".into())),
            Behaviour::EchoForever => Ok(vec![started()]),
        };
        events.map(Handled::from)
    }
}

#[tokio::test]
async fn delivers_to_subscribers_and_publishes_what_they_emit() {
    let bus = InMemoryBus::new();
    let completer = Probe::new("completer", Behaviour::Complete);
    let recorder = Probe::new("recorder", Behaviour::Record);
    bus.subscribe(EventType::WorkflowStarted, completer.clone());
    bus.subscribe(EventType::WorkflowCompleted, recorder.clone());

    let report = bus.publish(vec![started()]).await;

    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.delivered.len(), 2);
    assert_eq!(completer.seen(), vec![EventType::WorkflowStarted]);
    assert_eq!(recorder.seen(), vec![EventType::WorkflowCompleted]);
    assert_eq!(bus.published_count(), 2);
}

#[tokio::test]
async fn a_failing_handler_does_not_stop_the_others_and_is_reported() {
    let bus = InMemoryBus::new();
    let failing = Probe::new("failing", Behaviour::Fail);
    let recorder = Probe::new("recorder", Behaviour::Record);
    bus.subscribe(EventType::WorkflowStarted, failing.clone());
    bus.subscribe(EventType::WorkflowStarted, recorder.clone());

    let event = started();
    let report = bus.publish(vec![event.clone()]).await;

    assert_eq!(recorder.seen(), vec![EventType::WorkflowStarted]);
    assert_eq!(report.handler_failures.len(), 1);
    let failure = &report.handler_failures[0];
    assert_eq!(failure.handler, "failing");
    assert_eq!(failure.event_id, event.event_id());
    assert!(failure.error.is_retryable());
    assert!(!report.is_complete());
}

#[tokio::test]
async fn events_nobody_subscribed_to_are_still_counted_as_delivered() {
    let bus = InMemoryBus::new();
    let report = bus.publish(vec![started(), started()]).await;
    assert_eq!(report.delivered.len(), 2);
    assert_eq!(bus.published_count(), 2);
}

#[tokio::test]
async fn a_runaway_cascade_is_stopped_and_reported() {
    let bus = InMemoryBus::with_cascade_limit(50);
    bus.subscribe(
        EventType::WorkflowStarted,
        Probe::new("echo", Behaviour::EchoForever),
    );

    let report = bus.publish(vec![started()]).await;

    assert_eq!(report.delivered.len(), 50);
    assert_eq!(report.undelivered.len(), 1);
    assert_eq!(report.undelivered[0].code.as_deref(), Some("CascadeLimit"));
}
