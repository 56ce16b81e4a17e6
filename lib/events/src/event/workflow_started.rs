//! `WorkflowStarted`: its payload, its rules and its sample.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{EventHeader, EventType, WorkflowStep};
use crate::routing::{Route, PY_ORCHESTRATOR, STRATEGY};
use crate::samples::SampleIds;
use crate::validate::{non_empty, Checked};
use crate::HandlerName;

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

impl WorkflowStarted {
    /// Who may publish it and which handlers it is delivered to: its row of the routing table.
    pub const ROUTE: Route = Route {
        event_type: EventType::WorkflowStarted,
        producers: &[STRATEGY, PY_ORCHESTRATOR],
        consumers: &[HandlerName::Monitor],
    };

    /// The step of the workflow it marks.
    pub const STEP: WorkflowStep = WorkflowStep::Started;

    pub(crate) fn validate(&self) -> Checked {
        self.header.validate()?;
        non_empty("workflow_type", &self.workflow_type)?;
        non_empty("requested_by", &self.requested_by)
    }

    /// The payload fields of a valid sample (`alchemiser publish --example`, the tests).
    pub(crate) fn sample_payload(_ids: &SampleIds<'_>) -> Value {
        json!({
            "workflow_type": "trading",
            "requested_by": "alchemiser publish --example",
            "configuration": {"paper": true},
        })
    }
}
