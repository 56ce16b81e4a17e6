//! `WorkflowFailed`: its payload, its rules and its sample.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{EventHeader, EventType, WorkflowStep};
use crate::routing::{
    Producer, Route, EVERY_RUST_HANDLER, PY_EXECUTION, PY_PORTFOLIO, PY_STRATEGY,
};
use crate::samples::SampleIds;
use crate::validate::{non_empty, Checked};
use crate::HandlerName;

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

/// Every Rust handler, then the Python stages.
const FAILERS: [Producer; EVERY_RUST_HANDLER.len() + PYTHON_STAGES.len()] = {
    let mut producers = [PY_STRATEGY; EVERY_RUST_HANDLER.len() + PYTHON_STAGES.len()];
    let mut i = 0;
    while i < EVERY_RUST_HANDLER.len() {
        producers[i] = EVERY_RUST_HANDLER[i];
        i += 1;
    }
    let mut j = 0;
    while j < PYTHON_STAGES.len() {
        producers[i + j] = PYTHON_STAGES[j];
        j += 1;
    }
    producers
};

/// The Python system's stages, each of which fails its workflow when it fails.
const PYTHON_STAGES: [Producer; 3] = [PY_STRATEGY, PY_PORTFOLIO, PY_EXECUTION];

impl WorkflowFailed {
    /// Who may publish it and which handlers it is delivered to: its row of the routing table.
    /// Every handler, Rust or Python, may fail a workflow.
    pub const ROUTE: Route = Route {
        event_type: EventType::WorkflowFailed,
        producers: &FAILERS,
        consumers: &[HandlerName::Monitor],
    };

    /// The step of the workflow it marks.
    pub const STEP: WorkflowStep = WorkflowStep::Failed;

    pub(crate) fn validate(&self) -> Checked {
        self.header.validate()?;
        non_empty("workflow_type", &self.workflow_type)?;
        // `failure_reason` may be empty: the Python stages write `str(e)`, which is `""` for an
        // exception raised without a message, and refusing the event would drop the news that
        // the workflow failed. The ledger shows it as "(no reason given)".
        non_empty("failure_step", &self.failure_step)
    }

    /// The payload fields of a valid sample (`alchemiser publish --example`, the tests).
    pub(crate) fn sample_payload(_ids: &SampleIds<'_>) -> Value {
        json!({
            "workflow_type": "trading",
            "failure_reason": "broker rejected the order: insufficient buying power",
            "failure_step": "execution",
            "error_details": {"symbol": "SPY"},
        })
    }
}
