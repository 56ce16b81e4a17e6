//! The dead-letter formats: what a function writes to the dead-letter queue when it refuses an
//! event for good ([`FailureRecord`]: the consumer runtime writes it, `alchemiser dlq` and the
//! sweep read it), and how any message of the queue is understood ([`DeadLetter`]: ours, Lambda's
//! on-failure records, EventBridge rule-target dead letters).

mod record;

pub use record::{DeadLetter, DeadLetterKind, NotRedrivable};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The [`FailureRecord::error_class`] of an event refused for good because of what it says.
pub const PERMANENT_CLASS: &str = "permanent";

/// The [`FailureRecord::error_class`] of an event refused for who made it: unsigned, forged,
/// altered, or from another account.
pub const REFUSED_CLASS: &str = "refused";

/// A permanent failure, as a function records it in the dead-letter queue (its dead letter):
/// enough to understand and resend it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// The function that refused the event.
    pub function: String,
    /// Why: the field and rule, the unknown type, the bad plan...
    pub reason: String,
    /// `permanent` (the event cannot be handled) or `refused` (who made it could not be
    /// proven); a field so consumers of the queue can filter.
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
    /// This record, small enough for a queue that takes at most `max_bytes` per message: an event
    /// too large to travel with it is replaced by a note of its size and ids (the event itself
    /// is in the bus's archive: replay its window to handle it again). Never a retry loop on a
    /// record that can never be sent.
    pub fn fitting(&self, max_bytes: usize) -> FailureRecord {
        let size = serde_json::to_string(self).map_or(usize::MAX, |text| text.len());
        if size <= max_bytes {
            return self.clone();
        }
        let mut slim = self.clone();
        slim.event = serde_json::json!({
            "omitted": format!(
                "the event ({size} bytes with its record) is over the dead-letter queue's {max_bytes}-byte messages; \
                 it is in the bus's archive: replay its window to handle it again"
            ),
        });
        const KEPT: usize = 4096;
        if slim.reason.len() > KEPT {
            let mut end = KEPT;
            while !slim.reason.is_char_boundary(end) {
                end -= 1;
            }
            slim.reason = format!("{}… (cut)", &slim.reason[..end]);
        }
        slim
    }

    /// Whether a JSON object has the shape of a failure record (its three identifying keys), so a
    /// reader can tell it from the other kinds of dead letter before parsing it.
    pub fn looks_like(object: &serde_json::Map<String, Value>) -> bool {
        ["function", "error_class", "event"]
            .iter()
            .all(|key| object.contains_key(*key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event_bytes: usize) -> FailureRecord {
        FailureRecord {
            function: "portfolio".into(),
            reason: "the plan is too large".into(),
            error_class: "permanent".into(),
            event_id: Some("signal-generated-1".into()),
            detail_type: Some("SignalGenerated".into()),
            correlation_id: Some("workflow-1".into()),
            failed_at: chrono::Utc::now(),
            event: serde_json::json!({"detail": "x".repeat(event_bytes)}),
        }
    }

    #[test]
    fn a_record_fits_its_queue_keeping_the_ids_and_saying_what_was_left_out() {
        let small = record(1000);
        assert_eq!(
            small.fitting(262_144),
            small,
            "a record that fits is sent whole"
        );
        let large = record(300 * 1024);
        let fitted = large.fitting(262_144);
        assert!(serde_json::to_string(&fitted).unwrap().len() <= 262_144);
        assert_eq!(fitted.event_id, large.event_id);
        assert_eq!(fitted.correlation_id, large.correlation_id);
        assert!(
            fitted.event["omitted"]
                .as_str()
                .unwrap()
                .contains("archive"),
            "{}",
            fitted.event
        );
    }
}
