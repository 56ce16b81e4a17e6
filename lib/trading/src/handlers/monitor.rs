//! The monitor handler: records workflow outcomes.

use std::sync::Mutex;

use alchemiser_bus::{Delivery, EventHandler, HandlerError};
use alchemiser_events::{Event, EventType};
use async_trait::async_trait;

use super::wrong_event;

/// How a workflow ended, as the monitor recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowOutcome {
    /// The workflow's correlation id.
    pub correlation_id: String,
    /// The event recorded.
    pub event_type: EventType,
    /// Whether it went well.
    pub success: bool,
    /// A one-line account.
    pub detail: String,
}

/// Records outcomes (`TradeExecuted`, `WorkflowCompleted`, `WorkflowFailed`) and logs them.
#[derive(Default)]
pub struct MonitorHandler {
    outcomes: Mutex<Vec<WorkflowOutcome>>,
}

impl MonitorHandler {
    /// A monitor with nothing recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// What has been recorded so far.
    pub fn outcomes(&self) -> Vec<WorkflowOutcome> {
        self.outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records one event and returns what was recorded.
    pub fn record(&self, event: &Event) -> Result<WorkflowOutcome, HandlerError> {
        let (success, detail) = match event {
            Event::TradeExecuted(e) => (
                e.success,
                format!(
                    "{}/{} orders succeeded{}",
                    e.orders_succeeded,
                    e.orders_placed,
                    e.failure_reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            ),
            Event::WorkflowCompleted(e) => {
                (true, format!("completed in {} ms", e.workflow_duration_ms))
            }
            Event::WorkflowFailed(e) => (
                false,
                format!("failed at {}: {}", e.failure_step, e.failure_reason),
            ),
            other => return Err(wrong_event("monitor", other)),
        };
        let outcome = WorkflowOutcome {
            correlation_id: event.header().correlation_id.clone(),
            event_type: event.event_type(),
            success,
            detail,
        };
        if success {
            tracing::info!(correlation_id = %outcome.correlation_id, event_type = %outcome.event_type, detail = %outcome.detail, "workflow outcome");
        } else {
            tracing::warn!(correlation_id = %outcome.correlation_id, event_type = %outcome.event_type, detail = %outcome.detail, "workflow outcome");
        }
        self.outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(outcome.clone());
        Ok(outcome)
    }
}

#[async_trait]
impl EventHandler for MonitorHandler {
    fn name(&self) -> &str {
        "monitor"
    }

    async fn handle(&self, event: &Event, _: &Delivery) -> Result<Vec<Event>, HandlerError> {
        self.record(event).map(|_| Vec::new())
    }
}
