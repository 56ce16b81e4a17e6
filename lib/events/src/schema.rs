//! JSON Schema for every event type, generated from the Rust types.

use serde_json::{json, Value};

use crate::event::{payload_schema, EventType};

/// The JSON Schema (draft 2020-12) of one event type's detail.
pub fn schema_for(event_type: EventType) -> Value {
    with_event_type(payload_schema(event_type), event_type)
}

/// Every event type's schema, in workflow order.
pub fn schemas() -> Vec<(EventType, Value)> {
    EventType::ALL
        .into_iter()
        .map(|event_type| (event_type, schema_for(event_type)))
        .collect()
}

/// The payload structs leave `event_type` to the enum tag; the schema states it explicitly.
fn with_event_type(mut schema: Value, event_type: EventType) -> Value {
    if let Some(object) = schema.as_object_mut() {
        object.insert("title".into(), json!(event_type.as_str()));
        object.insert(
            "$id".into(),
            json!(format!(
                "https://alchemiser.events/schemas/{}.json",
                event_type.as_str()
            )),
        );
        if let Some(Value::Object(properties)) = object.get_mut("properties") {
            properties.insert("event_type".into(), json!({ "const": event_type.as_str() }));
        }
        if let Some(Value::Array(required)) = object.get_mut("required") {
            required.insert(0, json!("event_type"));
        }
    }
    schema
}
