//! What a publish reports back: delivered events, undelivered ones with their reason, and
//! failures of local handlers.

use alchemiser_events::EventType;
use thiserror::Error;

/// A handler's failure, classified so callers know whether a retry can help.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HandlerError {
    /// The input or the request is wrong: retrying the same event fails again. Record it
    /// (dead-letter queue) and move on.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// A dependency failed (network, throttling, broker 5xx, store unavailable): retrying later
    /// may succeed.
    #[error("transient failure: {0}")]
    Transient(String),
}

impl HandlerError {
    /// A permanent failure whose reason is `error` with its sources (see [`error_chain`]).
    pub fn permanent(error: &dyn std::error::Error) -> Self {
        Self::Permanent(error_chain(error))
    }

    /// A transient failure whose reason is `error` with its sources (see [`error_chain`]).
    pub fn transient(error: &dyn std::error::Error) -> Self {
        Self::Transient(error_chain(error))
    }

    /// Whether a retry of the same event may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, HandlerError::Transient(_))
    }

    /// The reason without its classification prefix.
    pub fn reason(&self) -> &str {
        match self {
            HandlerError::Permanent(reason) | HandlerError::Transient(reason) => reason,
        }
    }
}

/// An event the bus could not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    pub event_type: EventType,
    /// Error code from the transport, e.g. `ThrottlingException`, when there is one.
    pub code: Option<String>,
    /// Why it was not delivered.
    pub reason: String,
    /// Where the event was kept for a later resend (an outbox), if it was.
    pub kept_in: Option<String>,
}

/// A local handler that failed on an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerFailure {
    /// The handler's name.
    pub handler: String,
    /// The event it failed on.
    pub event_id: String,
    /// That event's type.
    pub event_type: EventType,
    /// The failure.
    pub error: HandlerError,
}

/// The outcome of one publish call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Ids of the events delivered, in delivery order.
    pub delivered: Vec<String>,
    /// Events not delivered, with the reason.
    pub undelivered: Vec<Undelivered>,
    /// Local handlers that failed.
    pub handler_failures: Vec<HandlerFailure>,
}

impl PublishReport {
    /// True when every event was delivered and every handler succeeded.
    pub fn is_complete(&self) -> bool {
        self.undelivered.is_empty() && self.handler_failures.is_empty()
    }

    /// Adds another report's entries to this one.
    pub fn merge(&mut self, other: PublishReport) {
        self.delivered.extend(other.delivered);
        self.undelivered.extend(other.undelivered);
        self.handler_failures.extend(other.handler_failures);
    }
}

/// `error` followed by each of its sources, joined with `: ` — one line that keeps the whole
/// story, for reasons written to logs and dead letters (what anyhow's `{:#}` prints).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        // Some errors repeat their source in their own message; print each part once.
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}
