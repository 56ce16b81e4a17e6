//! `WorkflowCompleted`: its payload, its rules and its sample.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{EventHeader, EventType, WorkflowStep};
use crate::routing::{Route, EXECUTION, PY_EXECUTION};
use crate::samples::SampleIds;
use crate::validate::{non_empty, Checked};
use crate::HandlerName;

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

impl WorkflowCompleted {
    /// Who may publish it and which handlers it is delivered to: its row of the routing table.
    pub const ROUTE: Route = Route {
        event_type: EventType::WorkflowCompleted,
        producers: &[EXECUTION, PY_EXECUTION],
        consumers: &[HandlerName::Monitor],
    };

    /// The step of the workflow it marks.
    pub const STEP: WorkflowStep = WorkflowStep::Completed;

    pub(crate) fn validate(&self) -> Checked {
        self.header.validate()?;
        non_empty("workflow_type", &self.workflow_type)
    }

    /// The payload fields of a valid sample (`alchemiser publish --example`, the tests).
    pub(crate) fn sample_payload(_ids: &SampleIds<'_>) -> Value {
        json!({
            "workflow_type": "trading",
            "workflow_duration_ms": 1234,
            "success": true,
            "summary": {"orders_placed": 2},
        })
    }
}
