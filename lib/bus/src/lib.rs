//! The event bus port and its in-memory adapter.
//!
//! [`EventBus`] is the publishing port: what handlers and entry points publish through, and
//! nothing more. Local dispatch belongs to the in-memory side: [`InMemoryBus`] delivers to the
//! [`EventHandler`]s subscribed to it in this process (the default, used by `alchemiser run` and
//! the tests), publishing what they emit until nothing is left, and can forward every event it
//! delivers to another bus (the EventBridge publisher, for hybrid mode) so that the cascade loop
//! lives once. This crate knows nothing of trading.

mod in_memory;
mod report;
mod subscribers;

use std::sync::Arc;

use alchemiser_events::{Event, EventType};
use async_trait::async_trait;

pub use in_memory::InMemoryBus;
pub use report::{error_chain, HandlerError, HandlerFailure, PublishReport, Undelivered};
pub use subscribers::{Subscribers, MAX_IN_PROCESS_CHECKS};

/// Something that reacts to events: the workflow's handlers, recorders, test probes.
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// A short name for reports and logs, e.g. `portfolio`.
    fn name(&self) -> &str;

    /// Handles one event: the events it causes (to be published by the caller), and whether
    /// the handler must look at the event again later (its work is not done yet).
    async fn handle(&self, event: &Event, delivery: &Delivery) -> Result<Handled, HandlerError>;

    /// A word the idempotency key of `event` gets besides the handler and the event id, when
    /// handling it one way must not count as handling it another (a dry run of a replay must
    /// never stand for the live run of the same event).
    fn idempotency_scope(&self, _event: &Event) -> Option<&'static str> {
        None
    }

    /// A name for what handling `event` must have to itself (an account: one plan at a time);
    /// the runtime holds a lease on it while the handler runs.
    fn exclusive_group(&self, _event: &Event) -> Option<String> {
        None
    }

    /// The events that say `event` failed for good (its workflow's WorkflowFailed), published
    /// once the failure is recorded as the dead letter `dead_letter`.
    fn on_permanent_failure(
        &self,
        _event: &Event,
        _reason: &str,
        _dead_letter: &str,
    ) -> Vec<Event> {
        Vec::new()
    }
}

/// Something that starts a chain of events from an input that is not a contract event: a
/// schedule tick, a manual request.
#[async_trait]
pub trait TriggerHandler: Send + Sync {
    /// The trigger's idempotency key, if it carries one (a schedule's execution id): a trigger
    /// delivered twice with the same key is handled once.
    fn trigger_key(&self, payload: &serde_json::Value) -> Option<String>;

    /// Handles one trigger and returns the events it starts, to be published by the caller.
    async fn handle(&self, payload: &serde_json::Value) -> Result<Vec<Event>, HandlerError>;

    /// The events that say the trigger failed for good, published once the failure is recorded
    /// as the dead letter `dead_letter`.
    fn on_permanent_failure(
        &self,
        _payload: &serde_json::Value,
        _reason: &str,
        _dead_letter: &str,
    ) -> Vec<Event> {
        Vec::new()
    }
}

/// What handling an event came to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Handled {
    /// The events it causes, to be published.
    pub events: Vec<Event>,
    /// The handler's work on the event is not done (orders still open, say): deliver the event
    /// to it again after a while, as a follow-up.
    pub check_again: Option<CheckAgain>,
}

impl Handled {
    /// Done: these events, no follow-up.
    pub fn done(events: Vec<Event>) -> Self {
        Self {
            events,
            check_again: None,
        }
    }

    /// Not done: look again after `after`, for the reason `why`.
    pub fn check_again(after: std::time::Duration, why: impl Into<String>) -> Self {
        Self {
            events: Vec::new(),
            check_again: Some(CheckAgain {
                after,
                why: why.into(),
            }),
        }
    }
}

impl From<Vec<Event>> for Handled {
    fn from(events: Vec<Event>) -> Self {
        Self::done(events)
    }
}

/// A handler's request to see an event again later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckAgain {
    /// How long from now.
    pub after: std::time::Duration,
    /// Why, in one line.
    pub why: String,
}

/// How an event reached its handler, beyond the event itself (where it came from is the event's
/// own [`alchemiser_events::Provenance`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// When the invocation handling it times out, if it can: a handler that waits (for fills,
    /// say) stops waiting well before.
    pub deadline: Option<chrono::DateTime<chrono::Utc>>,
    /// The EventBridge `source` it came with, when it came in an envelope.
    pub source: Option<String>,
    /// Which follow-up of the event this is: 0 for its first delivery, n for the n-th time a
    /// handler asked to see it again ([`Handled::check_again`]).
    pub check: u32,
}

impl Delivery {
    /// A delivery without a deadline or envelope (in-process, the CLI, tests).
    pub fn in_process() -> Self {
        Self::default()
    }

    /// A delivery whose handling must end by `deadline`.
    pub fn until(deadline: Option<chrono::DateTime<chrono::Utc>>) -> Self {
        Self {
            deadline,
            ..Self::default()
        }
    }

    /// The same delivery, from `source`.
    pub fn from_source(mut self, source: Option<String>) -> Self {
        self.source = source;
        self
    }

    /// The same delivery, as the `check`-th follow-up.
    pub fn follow_up(mut self, check: u32) -> Self {
        self.check = check;
        self
    }
}

/// Where events are published.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes events and reports, per event, whether it was delivered; never panics and
    /// never drops a failure silently.
    async fn publish(&self, events: Vec<Event>) -> PublishReport;

    /// Why this bus can never take `event` (it is larger than the bus's entries may be), so a
    /// caller can refuse it for good rather than retry it; `None` when it can.
    fn refuses(&self, _event: &Event) -> Option<String> {
        None
    }
}

/// A handler that keeps every event delivered to it, in order: what the CLI prints and what
/// tests inspect. Subscribe it to the types to watch (or to all of `EventType::ALL`).
#[derive(Debug, Default)]
pub struct RecordingHandler(std::sync::Mutex<Vec<Event>>);

impl RecordingHandler {
    /// A recorder that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// A recorder subscribed to every event type of `bus`.
    pub fn on_every_type(bus: &InMemoryBus) -> Arc<Self> {
        let recorder = Arc::new(Self::new());
        for event_type in EventType::ALL {
            bus.subscribe(event_type, recorder.clone());
        }
        recorder
    }

    /// The events recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl EventHandler for RecordingHandler {
    fn name(&self) -> &str {
        "recorder"
    }

    async fn handle(&self, event: &Event, _: &Delivery) -> Result<Handled, HandlerError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
        Ok(Handled::default())
    }
}
