//! The typed events and their wire format (snake_case fields, decimals as strings, UTC `Z`
//! timestamps), as the Python system writes them: what every event shares here, each payload in
//! a module of its own with its rules and its sample.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ContractError, ParseError};
use crate::primitives::Timestamp;

// One module per event type: its payload, route, step, rules and sample.
mod rebalance_planned;
mod signal_generated;
mod trade_executed;
mod workflow_completed;
mod workflow_failed;
mod workflow_started;

pub use rebalance_planned::*;
pub use signal_generated::*;
pub use trade_executed::*;
pub use workflow_completed::*;
pub use workflow_failed::*;
pub use workflow_started::*;

/// The schema version this crate writes on every event.
pub const SCHEMA_VERSION: &str = "1.0";

pub(crate) fn schema_version() -> String {
    SCHEMA_VERSION.to_owned()
}

/// Defines, from one list, everything that enumerates the event types: [`EventType`] with its
/// wire names and id prefixes, [`Event`] with one variant per payload type, and the dispatch by
/// type (header, validation, decoding, schema, samples, routes). Adding an event type is one line
/// here plus its module (declared below): the payload struct, its route, the step it marks, its
/// rules (`validate`) and a valid sample (`sample_payload`) (docs/adding-an-event-type.md).
macro_rules! event_types {
    ($( $(#[$doc:meta])* $name:ident => $prefix:literal, )*) => {

        /// The kinds of event that flow through the workflow.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
        )]
        pub enum EventType {
            $( $(#[$doc])* $name, )*
        }

        impl EventType {
            /// Every event type, in workflow order.
            pub const ALL: [EventType; [$(stringify!($name)),*].len()] = [$(EventType::$name),*];

            /// The name used on the wire (`event_type` and EventBridge `DetailType`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( EventType::$name => stringify!($name), )*
                }
            }

            /// The step of the workflow an event of this type marks (its module's `STEP`).
            pub const fn step(self) -> WorkflowStep {
                match self {
                    $( EventType::$name => $name::STEP, )*
                }
            }

            /// A kebab-case prefix for generated event ids, e.g. `rebalance-planned`.
            pub const fn id_prefix(self) -> &'static str {
                match self {
                    $( EventType::$name => $prefix, )*
                }
            }
        }

        /// Any event of the contract. Serialises to the flat wire form with `event_type` first.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(tag = "event_type")]
        #[allow(clippy::large_enum_variant)]
        pub enum Event {
            $( #[doc = concat!("See [`", stringify!($name), "`].")] $name($name), )*
        }

        impl Event {
            /// The event's type.
            pub fn event_type(&self) -> EventType {
                match self {
                    $( Event::$name(_) => EventType::$name, )*
                }
            }

            /// The common fields.
            pub fn header(&self) -> &EventHeader {
                match self {
                    $( Event::$name(event) => &event.header, )*
                }
            }

            /// The common fields, to change (provenance, metadata).
            pub fn header_mut(&mut self) -> &mut EventHeader {
                match self {
                    $( Event::$name(event) => &mut event.header, )*
                }
            }

            /// Checks every rule of the contract that the type system cannot express.
            pub fn validate(&self) -> Result<(), ContractError> {
                match self {
                    $( Event::$name(event) => event.validate(), )*
                }
            }

            /// Deserialises the payload of `event_type` from a detail object (without its tag).
            pub(crate) fn deserialize_payload(
                event_type: EventType,
                detail: &Value,
            ) -> Result<Event, ContractError> {
                Ok(match event_type {
                    $( EventType::$name => Event::$name(crate::decode::deserialize_at(stringify!($name), detail)?), )*
                })
            }
        }

        /// The payload fields of a valid sample of `event_type`, without the header.
        pub(crate) fn sample_payload(event_type: EventType, ids: &crate::samples::SampleIds<'_>) -> Value {
            match event_type {
                $( EventType::$name => $name::sample_payload(ids), )*
            }
        }

        /// The routing table: each type's row (its module's `ROUTE`), in workflow order. The
        /// monitor consumes every type: it keeps the ledger of each workflow from all of its
        /// events.
        pub const ROUTES: [crate::routing::Route; [$(stringify!($name)),*].len()] = [$( $name::ROUTE ),*];

        /// The JSON Schema of one event type's payload struct.
        pub(crate) fn payload_schema(event_type: EventType) -> Value {
            match event_type {
                $( EventType::$name => schemars::schema_for!($name).to_value(), )*
            }
        }

        $(
            impl From<$name> for Event {
                fn from(event: $name) -> Self {
                    Event::$name(event)
                }
            }
        )*
    };
}

event_types! {
    /// A workflow run was requested.
    WorkflowStarted => "workflow-started",
    /// A strategy produced target allocations.
    SignalGenerated => "signal-generated",
    /// The portfolio handler planned the trades that reach the target.
    RebalancePlanned => "rebalance-planned",
    /// The execution handler placed the planned orders.
    TradeExecuted => "trade-executed",
    /// The workflow finished successfully.
    WorkflowCompleted => "workflow-completed",
    /// The workflow stopped at a step that failed.
    WorkflowFailed => "workflow-failed",
}

/// How far a workflow got: the step an event of a type marks. The workflow ledger's state of a
/// run is the furthest step among its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkflowStep {
    /// The run was asked for.
    Started,
    /// Target allocations exist.
    Signalled,
    /// A plan exists.
    Planned,
    /// Orders were placed (or the plan ran).
    Executing,
    /// The run ended well.
    Completed,
    /// The run stopped at a failed step.
    Failed,
}

impl EventType {
    /// The known type names, comma-separated, for error messages.
    pub fn known_names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = ParseError;
    fn from_str(name: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| ParseError::Unknown {
                kind: "event type",
                found: name.to_owned(),
                known: Self::known_names(),
            })
    }
}

/// Fields every event carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventHeader {
    /// Constant through one workflow run.
    pub correlation_id: String,
    /// The `event_id` of the event that caused this one.
    pub causation_id: String,
    /// Unique id of this event; the idempotency key of its consumers.
    pub event_id: String,
    /// When the event was created.
    pub timestamp: Timestamp,
    /// The module that produced the event (e.g. `portfolio`).
    pub source_module: String,
    /// The component within the module, if any.
    #[serde(default)]
    pub source_component: Option<String>,
    /// Free-form metadata. Absent stays absent when written (never `null`: the Python models
    /// refuse a null `metadata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Contract version; `1.x` is accepted.
    #[serde(default = "schema_version")]
    pub schema_version: String,
}

/// The namespace of every id this crate derives (UUID v5): ids derived from the same inputs are
/// the same on every machine and in every run.
const ID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6a1c_4e3b_9f27_4d8e_b1a0_5c3e_7d29_f014);

/// A UUID derived from `parts` (UUID v5 over their text joined by `|`).
pub fn derived_id(parts: &[&str]) -> uuid::Uuid {
    uuid::Uuid::new_v5(&ID_NAMESPACE, parts.join("|").as_bytes())
}

impl EventHeader {
    /// A header for the first event of a new workflow run, caused by the run request itself
    /// (causation = correlation). With a `trigger_id` (a schedule's execution id) the ids derive
    /// from it, so a trigger delivered twice starts the same workflow; without one they are new.
    pub fn start_workflow(
        event_type: EventType,
        source_module: &str,
        at: Timestamp,
        trigger_id: Option<&str>,
    ) -> Self {
        let workflow = match trigger_id {
            Some(trigger) => derived_id(&["workflow", trigger]),
            None => uuid::Uuid::new_v4(),
        };
        let correlation_id = format!("workflow-{workflow}");
        let event_id = format!(
            "{}-{}",
            event_type.id_prefix(),
            derived_id(&[&correlation_id, source_module, event_type.as_str()])
        );
        Self::new(
            event_id,
            correlation_id.clone(),
            correlation_id,
            source_module,
            at,
        )
    }

    /// A header for an event caused by `cause`: same correlation id and provenance, causation =
    /// the cause's id. The event id derives from the cause, the producer, the type and the
    /// provenance: a handler that runs twice on the same event emits the same ids (so consumers
    /// recognise the duplicate), while an event derived from a replay never shares its id with
    /// the live one.
    pub fn caused_by(
        cause: &EventHeader,
        event_type: EventType,
        source_module: &str,
        at: Timestamp,
    ) -> Self {
        let provenance = cause.provenance();
        let event_id = format!(
            "{}-{}",
            event_type.id_prefix(),
            derived_id(&[
                &cause.event_id,
                source_module,
                event_type.as_str(),
                provenance.replay_name.as_deref().unwrap_or(""),
            ])
        );
        let mut header = Self::new(
            event_id,
            cause.correlation_id.clone(),
            cause.event_id.clone(),
            source_module,
            at,
        );
        header.set_provenance(&provenance);
        header
    }

    fn new(
        event_id: String,
        correlation_id: String,
        causation_id: String,
        source_module: &str,
        at: Timestamp,
    ) -> Self {
        Self {
            correlation_id,
            causation_id,
            event_id,
            timestamp: at,
            source_module: source_module.to_owned(),
            source_component: None,
            metadata: Some(Map::new()),
            schema_version: schema_version(),
        }
    }
}

impl Event {
    /// The correlation id a nested model carries when it differs from the event's own (the
    /// Python strategy labels its consolidated portfolio `signal_handler_<time>`): kept as sent
    /// and worth a log field, never a reason to refuse the event.
    pub fn nested_correlation_id(&self) -> Option<&str> {
        let nested = match self {
            Event::SignalGenerated(e) => &e.consolidated_portfolio.correlation_id,
            Event::RebalancePlanned(e) => &e.rebalance_plan.correlation_id,
            _ => return None,
        };
        (nested != &self.header().correlation_id).then_some(nested.as_str())
    }

    /// The event's id.
    pub fn event_id(&self) -> &str {
        &self.header().event_id
    }

    /// The wire JSON (the EventBridge `Detail`).
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).expect("events always serialise")
    }

    /// The wire JSON as a value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("events always serialise")
    }
}

impl<'de> Deserialize<'de> for Event {
    /// Decodes and validates a bare event detail, with the same rules as [`crate::decode`].
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        crate::decode::decode_detail(&value).map_err(serde::de::Error::custom)
    }
}
