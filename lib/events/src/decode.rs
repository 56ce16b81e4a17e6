//! Decoding what arrives: an EventBridge envelope (with `detail` as an object or a JSON string)
//! or a bare event detail (what a handler behind an input transformer sees).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ContractError;
use crate::event::{Event, EventType};
use crate::primitives::Timestamp;

/// The EventBridge envelope fields other than `detail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeMeta {
    /// Envelope version, `"0"`.
    #[serde(default = "envelope_version")]
    pub version: String,
    /// EventBridge's id for this delivery (differs between an event and its replay).
    pub id: String,
    /// The event type.
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// The producer, e.g. `alchemiser.portfolio`.
    pub source: String,
    /// AWS account id.
    #[serde(default)]
    pub account: String,
    /// When EventBridge received the event.
    pub time: Timestamp,
    /// AWS region.
    #[serde(default)]
    pub region: String,
    /// `correlation:<id>` and `causation:<id>` as the publisher set them.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Set on events replayed from an archive.
    #[serde(
        rename = "replay-name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub replay_name: Option<String>,
}

fn envelope_version() -> String {
    "0".to_owned()
}

/// A whole EventBridge envelope, as delivered to a Lambda or an SQS target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope {
    /// Envelope fields.
    #[serde(flatten)]
    pub meta: EnvelopeMeta,
    /// The event.
    pub detail: Event,
}

/// A decoded, validated event and, when it came in an envelope, the envelope's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    /// The event.
    pub event: Event,
    /// The envelope, absent for a bare detail.
    pub envelope: Option<EnvelopeMeta>,
    /// The detail exactly as the sender wrote it (key order, numbers, unknown fields, absent
    /// fields left absent): what a republish sends on, so that nothing the sender wrote is lost.
    pub detail: Value,
}

impl ReceivedEvent {
    /// The archive replay that delivered this event, if any.
    pub fn replay_name(&self) -> Option<&str> {
        self.envelope.as_ref()?.replay_name.as_deref()
    }
}

/// Decodes and validates raw bytes: an envelope or a bare detail. Never panics.
pub fn decode(input: &[u8]) -> Result<ReceivedEvent, ContractError> {
    if input.trim_ascii().is_empty() {
        return Err(ContractError::Empty);
    }
    let value: Value =
        serde_json::from_slice(input).map_err(|err| ContractError::NotJson(err.to_string()))?;
    decode_value(value)
}

/// Decodes and validates a JSON value: an envelope or a bare detail.
pub fn decode_value(value: Value) -> Result<ReceivedEvent, ContractError> {
    let mut object = into_object(value)?;
    if !looks_like_envelope(&object) {
        let detail = Value::Object(object);
        return Ok(ReceivedEvent {
            event: decode_detail(&detail)?,
            envelope: None,
            detail,
        });
    }
    let detail = object
        .remove("detail")
        .ok_or_else(|| ContractError::Malformed {
            field: "detail".into(),
            message: "missing: an EventBridge envelope carries the event in `detail`".into(),
        })?;
    let meta: EnvelopeMeta = deserialize_at("envelope", &Value::Object(object))?;
    let envelope_type: EventType =
        meta.detail_type
            .parse()
            .map_err(|_| ContractError::UnknownEventType {
                field: "detail-type",
                found: meta.detail_type.clone(),
                known: EventType::known_names(),
            })?;
    let detail = match detail {
        Value::String(text) => serde_json::from_str::<Value>(&text)
            .map_err(|err| ContractError::DetailNotJson(err.to_string()))?,
        other => other,
    };
    let mut event = decode_detail(&detail)?;
    if event.event_type() != envelope_type {
        return Err(ContractError::DetailTypeMismatch {
            envelope: meta.detail_type,
            detail: event.event_type().to_string(),
        });
    }
    // A replay's mark is on the envelope only: put it on the event, where every event caused
    // by this one inherits it.
    if let Some(replay) = &meta.replay_name {
        event
            .header_mut()
            .add_provenance(&crate::Provenance::replayed(replay.clone()));
    }
    Ok(ReceivedEvent {
        event,
        envelope: Some(meta),
        detail,
    })
}

/// Decodes and validates a bare event detail (read in place: nothing of it is copied but what
/// the typed event keeps).
pub(crate) fn decode_detail(value: &Value) -> Result<Event, ContractError> {
    let Value::Object(object) = value else {
        return Err(ContractError::NotAnObject {
            found: kind_of(value),
        });
    };
    let event_type = match object.get("event_type") {
        None => {
            return Err(ContractError::Malformed {
                field: "event_type".into(),
                message: "missing: every event names its type".into(),
            })
        }
        Some(Value::String(name)) => {
            name.parse::<EventType>()
                .map_err(|_| ContractError::UnknownEventType {
                    field: "event_type",
                    found: name.clone(),
                    known: EventType::known_names(),
                })?
        }
        Some(other) => {
            return Err(ContractError::Malformed {
                field: "event_type".into(),
                message: format!("must be a string, found {}", kind_of(other)),
            })
        }
    };
    let event = Event::deserialize_payload(event_type, value)?;
    event.validate()?;
    Ok(event)
}

/// Deserialises with the failing field's path in the error; `root` names the top level.
pub(crate) fn deserialize_at<T: DeserializeOwned>(
    root: &str,
    value: &Value,
) -> Result<T, ContractError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        ContractError::Malformed {
            field: if path == "." { root.to_owned() } else { path },
            message: err.into_inner().to_string(),
        }
    })
}

fn into_object(value: Value) -> Result<Map<String, Value>, ContractError> {
    match value {
        Value::Object(object) => Ok(object),
        other => Err(ContractError::NotAnObject {
            found: kind_of(&other),
        }),
    }
}

fn looks_like_envelope(object: &Map<String, Value>) -> bool {
    object.contains_key("detail-type")
        || (object.contains_key("detail") && !object.contains_key("event_type"))
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
