//! The typed events and their wire format (snake_case fields, decimals as strings, UTC `Z`
//! timestamps), as the Python system writes them.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ContractError, ParseError};
use crate::primitives::{Symbol, SymbolMap, Timestamp};

/// The schema version this crate writes on every event.
pub const SCHEMA_VERSION: &str = "1.0";

fn schema_version() -> String {
    SCHEMA_VERSION.to_owned()
}

/// Defines, from one list, everything that enumerates the event types: [`EventType`] with its
/// wire names and id prefixes, [`Event`] with one variant per payload type, and the dispatch by
/// type (header, validation, decoding, schema). Adding an event type is one line here plus its
/// payload struct (docs/adding-an-event-type.md).
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

/// `WorkflowStarted`: a workflow run was requested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkflowStarted {
    /// Common fields.
    #[serde(flatten)]
    pub header: EventHeader,
    /// Kind of workflow, e.g. `trading`.
    pub workflow_type: String,
    /// Who or what asked for the run (a schedule, a user).
    pub requested_by: String,
    /// Run configuration.
    #[serde(default)]
    pub configuration: Map<String, Value>,
}

/// `SignalGenerated`: strategies produced a consolidated target portfolio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SignalGenerated {
    /// Common fields.
    #[serde(flatten)]
    pub header: EventHeader,
    /// Per-strategy signal details, free-form.
    pub signals_data: Map<String, Value>,
    /// The target allocation all strategies agreed on.
    pub consolidated_portfolio: ConsolidatedPortfolio,
    /// Number of signals behind it.
    pub signal_count: u32,
}

/// The consolidated target allocation of a `SignalGenerated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConsolidatedPortfolio {
    /// Symbol → target weight in [0, 1]; the weights sum to 1 ± 0.01.
    pub target_allocations: SymbolMap<Decimal>,
    /// The workflow's correlation id.
    pub correlation_id: String,
    /// When the allocation was computed.
    pub timestamp: Timestamp,
    /// Number of strategies consolidated.
    pub strategy_count: u32,
    /// Names of the strategies consolidated.
    #[serde(default)]
    pub source_strategies: Vec<String>,
    /// Version of this nested model (the Python system writes `1.0.0`).
    #[serde(default = "schema_version")]
    pub schema_version: String,
    /// Optional constraints, free-form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Map<String, Value>>,
}

/// `RebalancePlanned`: the trades that move the portfolio to its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RebalancePlanned {
    /// Common fields.
    #[serde(flatten)]
    pub header: EventHeader,
    /// The plan.
    pub rebalance_plan: RebalancePlan,
    /// Dollar values before, after and the difference, per symbol.
    pub allocation_comparison: AllocationComparison,
    /// True when any item is a BUY or a SELL.
    pub trades_required: bool,
}

/// How urgently a plan should be executed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ExecutionUrgency {
    /// Whenever convenient.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Soon.
    High,
    /// Now.
    Urgent,
}

/// A rebalance plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RebalancePlan {
    /// Version of this nested model.
    #[serde(default = "schema_version")]
    pub schema_version: String,
    /// The workflow's correlation id.
    pub correlation_id: String,
    /// The event that caused the plan.
    pub causation_id: String,
    /// When the plan was made.
    pub timestamp: Timestamp,
    /// Unique id of the plan.
    pub plan_id: String,
    /// The strategy the plan serves, if one.
    #[serde(default)]
    pub strategy_id: Option<String>,
    /// One item per symbol, SELLs first, then BUYs, then HOLDs.
    pub items: Vec<PlanItem>,
    /// Cash plus positions at current prices.
    pub total_portfolio_value: Decimal,
    /// Σ |trade_amount| of the BUY and SELL items.
    pub total_trade_value: Decimal,
    /// Drift tolerated before trading.
    #[serde(default = "default_drift_tolerance")]
    pub max_drift_tolerance: Decimal,
    /// How urgently to execute.
    #[serde(default)]
    pub execution_urgency: ExecutionUrgency,
    /// Expected duration, if estimated.
    #[serde(default)]
    pub estimated_duration_minutes: Option<u32>,
    /// Free-form metadata. Absent stays absent when written (never `null`: the Python models
    /// refuse a null `metadata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

fn default_drift_tolerance() -> Decimal {
    Decimal::new(5, 2)
}

/// What a plan item asks for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum TradeAction {
    /// Reduce a position. Sorted first: sells raise the cash buys need.
    Sell,
    /// Increase a position.
    Buy,
    /// Leave it: the difference is below the minimum trade.
    Hold,
}

impl TradeAction {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TradeAction::Sell => "SELL",
            TradeAction::Buy => "BUY",
            TradeAction::Hold => "HOLD",
        }
    }
}

impl fmt::Display for TradeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One symbol's line in a rebalance plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanItem {
    /// The symbol.
    pub symbol: Symbol,
    /// Current value / portfolio value, in [0, 1].
    pub current_weight: Decimal,
    /// Target weight, in [0, 1].
    pub target_weight: Decimal,
    /// target_weight − current_weight.
    pub weight_diff: Decimal,
    /// Target value in dollars.
    pub target_value: Decimal,
    /// Current value in dollars.
    pub current_value: Decimal,
    /// target_value − current_value: positive buys, negative sells.
    pub trade_amount: Decimal,
    /// BUY, SELL or HOLD.
    pub action: TradeAction,
    /// 1 (largest trade) to 5 (smallest).
    pub priority: u8,
}

/// Dollar values per symbol: target, current and target − current.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AllocationComparison {
    /// Target value in dollars.
    pub target_values: SymbolMap<Decimal>,
    /// Current value in dollars.
    pub current_values: SymbolMap<Decimal>,
    /// target − current, in dollars.
    pub deltas: SymbolMap<Decimal>,
}

/// `TradeExecuted`: the outcome of placing a plan's orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TradeExecuted {
    /// Common fields.
    #[serde(flatten)]
    pub header: EventHeader,
    /// Per-order details and run facts, free-form.
    pub execution_data: Map<String, Value>,
    /// True when every order placed succeeded.
    pub success: bool,
    /// Orders sent to the broker.
    pub orders_placed: u32,
    /// Orders the broker filled or accepted.
    pub orders_succeeded: u32,
    /// Why it did not fully succeed.
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// Symbols whose orders failed.
    #[serde(default)]
    pub failed_symbols: Vec<String>,
}

/// `WorkflowCompleted`: the run ended well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkflowCompleted {
    /// Common fields.
    #[serde(flatten)]
    pub header: EventHeader,
    /// Kind of workflow.
    pub workflow_type: String,
    /// Duration from the first event to this one.
    pub workflow_duration_ms: u64,
    /// Always true for a completed workflow; kept for wire compatibility.
    pub success: bool,
    /// Summary, free-form.
    #[serde(default)]
    pub summary: Map<String, Value>,
}

/// `WorkflowFailed`: the run stopped at a failed step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkflowFailed {
    /// Common fields.
    #[serde(flatten)]
    pub header: EventHeader,
    /// Kind of workflow.
    pub workflow_type: String,
    /// Why it failed; may be empty (the Python stages' `str(e)` of an exception without a
    /// message), which readers show as "(no reason given)".
    pub failure_reason: String,
    /// The step that failed, e.g. `execution`.
    pub failure_step: String,
    /// Details, free-form.
    #[serde(default)]
    pub error_details: Map<String, Value>,
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
