//! The follow-up port: a durable timer that delivers an event to a function again after a
//! while, when its handler's work on it is not done (a plan whose orders are still open). In
//! Lambda it is an SQS queue with a delivery delay and an event source mapping to the function
//! (`FOLLOW_UP_QUEUE_URL`): the message survives a crashed invocation, comes back after its
//! visibility timeout when the invocation fails, and goes to the dead-letter queue after a few
//! failed receives. In process, the caller runs the follow-ups it was asked for.
//!
//! The message carries the event as it was first delivered, so the follow-up goes through the
//! same checks as the first delivery (decoding, routing, authenticity, idempotency).

mod memory;
mod sqs;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

pub use memory::MemoryFollowUps;
pub use sqs::SqsFollowUps;

/// SQS delays a message by 15 minutes at most.
pub const LONGEST_DELAY: Duration = Duration::from_secs(15 * 60);

/// The most follow-ups one event gets: past it, the runtime records a permanent failure rather
/// than look again forever.
pub const MAX_FOLLOW_UPS: u32 = 500;

/// What a follow-up says besides the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpNote {
    /// The function that asked for it.
    pub function: String,
    /// Which follow-up of the event this is (1 for the first).
    pub check: u32,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// Why it was asked for, in one line.
    #[serde(default)]
    pub why: String,
}

/// One follow-up: the note and the event's payload as first delivered. Its JSON is the SQS
/// message body: `{"follow_up": {...}, "event": <the EventBridge envelope>}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUp {
    /// What the follow-up says.
    pub follow_up: FollowUpNote,
    /// The payload the function first received.
    pub event: Value,
}

impl FollowUp {
    /// Whether `payload` is a follow-up (an object with exactly the keys `follow_up` and
    /// `event`); anything else is an event itself.
    pub fn is_one(payload: &Value) -> bool {
        payload.as_object().is_some_and(|object| {
            object.len() == 2 && object.contains_key("follow_up") && object.contains_key("event")
        })
    }

    /// The follow-up `payload` is (see [`FollowUp::is_one`]), taking its event without a copy;
    /// an unreadable note gives the payload back with the error.
    pub fn from_payload(payload: Value) -> Result<Self, (Value, serde_json::Error)> {
        let note = match payload.get("follow_up").map(FollowUpNote::deserialize) {
            Some(Ok(note)) => note,
            Some(Err(error)) => return Err((payload, error)),
            None => {
                let error = serde::de::Error::missing_field("follow_up");
                return Err((payload, error));
            }
        };
        let Value::Object(mut object) = payload else {
            unreachable!("a value with a key is an object")
        };
        Ok(Self {
            follow_up: note,
            event: object.remove("event").unwrap_or(Value::Null),
        })
    }

    /// How long from `now` until it is due.
    pub fn delay(&self, now: DateTime<Utc>) -> Duration {
        (self.follow_up.due_at - now).to_std().unwrap_or_default()
    }
}

/// A follow-up could not be scheduled: the invocation fails, and its retry asks again.
#[derive(Debug, Error)]
#[error("could not schedule a follow-up in {location}; check the queue and the role's sqs:SendMessage permission")]
pub struct FollowUpError {
    /// Where it was going.
    pub location: String,
    /// What went wrong.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Schedules follow-ups.
#[async_trait]
pub trait FollowUps: Send + Sync {
    /// Delivers `follow_up` to its function when it is due (at the earliest); an error means it
    /// was NOT scheduled.
    async fn schedule(&self, follow_up: &FollowUp) -> Result<(), FollowUpError>;
    /// Where follow-ups go, for messages.
    fn location(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_follow_up_reads_back_and_nothing_else_is_taken_for_one() {
        let follow_up = FollowUp {
            follow_up: FollowUpNote {
                function: "execution".into(),
                check: 3,
                due_at: "2026-12-01T14:36:00Z".parse().unwrap(),
                why: "orders still open".into(),
            },
            event: json!({"detail-type": "RebalancePlanned", "detail": {"event_id": "e"}}),
        };
        let wire = serde_json::to_value(&follow_up).unwrap();
        assert!(FollowUp::is_one(&wire));
        assert_eq!(FollowUp::from_payload(wire).unwrap(), follow_up);
        // An event that happens to have a field called `event` is an event.
        assert!(!FollowUp::is_one(
            &json!({"event": {}, "detail": {}, "follow_up": 1})
        ));
        assert!(!FollowUp::is_one(&json!({"event_id": "x"})));
        // A follow-up with a broken note is an error, not an event, and keeps its payload.
        let broken = json!({"follow_up": {"check": "x"}, "event": {}});
        assert!(FollowUp::is_one(&broken));
        let (payload, _) = FollowUp::from_payload(broken.clone()).unwrap_err();
        assert_eq!(payload, broken);
        assert_eq!(
            follow_up.delay("2026-12-01T14:35:30Z".parse().unwrap()),
            Duration::from_secs(30)
        );
    }
}
