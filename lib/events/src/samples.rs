//! Valid sample events of every type with fresh ids: what `alchemiser publish --example` sends,
//! and what the tests and the benchmark publish.

use crate::{decode_value, Event, EventType, HandlerName, Language, Timestamp};
use serde_json::{json, Value};

/// A valid event of `event_type` with a fresh `event_id`, a fresh correlation id (the event
/// starts its own workflow run) and the current time.
pub fn sample_event(event_type: EventType) -> Event {
    let correlation_id = format!("workflow-{}", uuid::Uuid::new_v4());
    let causation_id = format!("cause-{}", uuid::Uuid::new_v4());
    let event_id = format!("{}-{}", event_type.id_prefix(), uuid::Uuid::new_v4());
    let now = Timestamp::now().to_wire();
    let detail = template(event_type, &correlation_id, &causation_id, &event_id, &now);
    match decode_value(detail) {
        Ok(received) => received.event,
        // The templates are valid by construction; a test decodes every one of them.
        Err(error) => unreachable!("sample {event_type} breaks the contract: {error}"),
    }
}

/// A sample event of `event_type` whose `Detail` is padded (in `metadata.padding`) so that the
/// event's JSON is exactly `detail_bytes` long (or its natural length, if that is longer). Used
/// to test the size limits.
pub fn sample_event_with_padding(event_type: EventType, detail_bytes: usize) -> Event {
    let event = sample_event(event_type);
    let with_padding = |pad: usize| -> Option<Event> {
        let mut value = event.to_value();
        let object = value.as_object_mut()?;
        object.insert("metadata".into(), json!({ "padding": "x".repeat(pad) }));
        decode_value(value).ok().map(|received| received.event)
    };
    let Some(empty) = with_padding(0) else {
        return event;
    };
    let base = empty.to_json().len();
    if base >= detail_bytes {
        return empty;
    }
    with_padding(detail_bytes - base).unwrap_or(empty)
}

/// The ids and time a sample's payload repeats (nested models carry the workflow's ids).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SampleIds<'a> {
    /// The workflow's correlation id.
    pub correlation_id: &'a str,
    /// The cause's event id.
    pub causation_id: &'a str,
    /// The wire time of the sample.
    pub now: &'a str,
}

fn template(
    event_type: EventType,
    correlation_id: &str,
    causation_id: &str,
    event_id: &str,
    now: &str,
) -> Value {
    let mut detail = json!({
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "event_id": event_id,
        "event_type": event_type.as_str(),
        "timestamp": now,
        "source_module": sample_producer(event_type),
        "source_component": "alchemiser-publish-example",
        "metadata": {},
        "schema_version": "1.0",
    });
    let payload = crate::event::sample_payload(
        event_type,
        &SampleIds {
            correlation_id,
            causation_id,
            now,
        },
    );
    if let (Some(detail), Value::Object(payload)) = (detail.as_object_mut(), payload) {
        detail.extend(payload);
    }
    detail
}

/// The Rust handler whose events a sample claims to be: the workflow's last Rust producer of the
/// type that is a stage (the sample WorkflowFailed fails in execution, not in the monitor).
fn sample_producer(event_type: EventType) -> &'static str {
    event_type
        .route()
        .producers
        .iter()
        .rfind(|p| p.language == Language::Rust && p.module != HandlerName::Monitor.as_str())
        .map_or(HandlerName::Strategy.as_str(), |p| p.module)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_a_valid_sample_with_fresh_ids() {
        for event_type in EventType::ALL {
            let a = sample_event(event_type);
            let b = sample_event(event_type);
            assert_eq!(a.event_type(), event_type);
            assert_ne!(a.event_id(), b.event_id());
            assert!(a.event_id().starts_with(event_type.id_prefix()));
        }
    }

    #[test]
    fn padding_reaches_the_requested_size() {
        let event = sample_event_with_padding(EventType::TradeExecuted, 5000);
        let length = event.to_json().len();
        assert_eq!(length, 5000);
    }
}
