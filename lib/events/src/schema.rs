//! JSON Schema for every event type, generated from the Rust types.

use schemars::JsonSchema;
use serde_json::{json, Value};

use crate::event::{
    EventType, RebalancePlanned, SignalGenerated, TradeExecuted, WorkflowCompleted, WorkflowFailed,
    WorkflowStarted,
};

/// The JSON Schema (draft 2020-12) of one event type's detail.
pub fn schema_for(event_type: EventType) -> Value {
    let schema = match event_type {
        EventType::WorkflowStarted => payload_schema::<WorkflowStarted>(),
        EventType::SignalGenerated => payload_schema::<SignalGenerated>(),
        EventType::RebalancePlanned => payload_schema::<RebalancePlanned>(),
        EventType::TradeExecuted => payload_schema::<TradeExecuted>(),
        EventType::WorkflowCompleted => payload_schema::<WorkflowCompleted>(),
        EventType::WorkflowFailed => payload_schema::<WorkflowFailed>(),
    };
    with_event_type(schema, event_type)
}

/// Every event type's schema, in workflow order.
pub fn schemas() -> Vec<(EventType, Value)> {
    EventType::ALL
        .into_iter()
        .map(|event_type| (event_type, schema_for(event_type)))
        .collect()
}

fn payload_schema<T: JsonSchema>() -> Value {
    schemars::schema_for!(T).to_value()
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
