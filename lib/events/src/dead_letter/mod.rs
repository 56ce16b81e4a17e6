//! The dead-letter formats: what a function writes to the failure queue when it refuses an event
//! for good ([`FailureRecord`]: the consumer runtime writes it, `alchemiser dlq` and the sweep
//! read it), and how any message of the queue is understood ([`DeadLetter`]: ours, Lambda's
//! on-failure records, EventBridge rule-target dead letters).

mod record;

pub use record::{DeadLetter, DeadLetterKind, NotRedrivable};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A permanent failure, as written to the failure queue: enough to understand and resend it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// The function that refused the event.
    pub function: String,
    /// Why: the field and rule, the unknown type, the bad plan...
    pub reason: String,
    /// `permanent` (kept as a field so consumers of the queue can filter).
    pub error_class: String,
    /// The event's id, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The event's type (`detail-type`), when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_type: Option<String>,
    /// The correlation id, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// When the failure was recorded.
    pub failed_at: DateTime<Utc>,
    /// The invocation payload exactly as received.
    pub event: Value,
}

impl FailureRecord {
    /// Whether a JSON object has the shape of a failure record (its three identifying keys), so a
    /// reader can tell it from the other kinds of dead letter before parsing it.
    pub fn looks_like(object: &serde_json::Map<String, Value>) -> bool {
        ["function", "error_class", "event"]
            .iter()
            .all(|key| object.contains_key(*key))
    }
}
