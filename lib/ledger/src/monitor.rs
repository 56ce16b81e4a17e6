//! The monitor: records every event of every workflow in the ledger, and keeps each workflow's
//! summary. It emits nothing.

use std::sync::Arc;

use alchemiser_bus::{Delivery, EventHandler, Handled, HandlerError};
use alchemiser_clock::Clock;
use alchemiser_events::text::printable;
use alchemiser_events::{Event, EventType, HandlerName};
use alchemiser_metrics::Metrics;
use async_trait::async_trait;
use serde_json::json;

use crate::model::{summarize, Entry, EventEntry, Summary, WorkflowState};
use crate::store::LedgerStore;

/// Records events in the ledger.
pub struct Monitor {
    store: Arc<dyn LedgerStore>,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
}

impl Monitor {
    /// A monitor writing to `store`.
    pub fn new(store: Arc<dyn LedgerStore>) -> Self {
        Self {
            store,
            clock: alchemiser_clock::system(),
            metrics: Metrics::Off,
        }
    }

    /// Entries are timed by `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Workflow outcomes go to `metrics` (`WorkflowsCompleted`, `WorkflowsFailed`,
    /// `WorkflowsTimedOut`, `WorkflowDurationMs`).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Records one event and updates its workflow's summary.
    pub async fn record(
        &self,
        event: &Event,
        source: Option<&str>,
    ) -> Result<Option<Summary>, HandlerError> {
        let correlation_id = event.header().correlation_id.clone();
        let entry = Entry::Event(EventEntry::of(event, source, self.clock.now()));
        let before = self
            .store
            .summary(&correlation_id)
            .await
            .map_err(|e| HandlerError::transient(&e))?;
        self.store
            .record(&correlation_id, &entry)
            .await
            .map_err(|e| HandlerError::transient(&e))?;
        let summary = refresh(self.store.as_ref(), &correlation_id).await?;
        if let Some(summary) = &summary {
            self.report(before.as_ref(), summary);
            if event.event_type() == EventType::WorkflowFailed || !summary.state.is_terminal() {
                tracing::info!(
                    correlation_id = %printable(&summary.correlation_id),
                    state = %summary.state,
                    last_step = %summary.last_step,
                    "workflow recorded"
                );
            }
        }
        Ok(summary)
    }

    /// Metrics and a log line when a workflow reaches an end it had not before.
    fn report(&self, before: Option<&Summary>, after: &Summary) {
        if !after.state.is_terminal() || before.is_some_and(|b| b.state == after.state) {
            return;
        }
        let name = match after.state {
            WorkflowState::Completed => "WorkflowsCompleted",
            WorkflowState::Failed => "WorkflowsFailed",
            _ => "WorkflowsTimedOut",
        };
        let duration_ms = after.duration().num_milliseconds().max(0);
        self.metrics.emit(
            &[
                (name, json!(1), "Count"),
                ("WorkflowDurationMs", json!(duration_ms), "Milliseconds"),
            ],
            None,
        );
        match &after.failure {
            // An event's text in a log line is shown as text: a line break in a reason would
            // otherwise start a line of the reason's making.
            Some(failure) if after.state != WorkflowState::Completed => tracing::warn!(
                correlation_id = %printable(&after.correlation_id),
                state = %after.state,
                step = %printable(&failure.step),
                reason = %printable(&failure.reason),
                "workflow ended without completing"
            ),
            _ => tracing::info!(
                correlation_id = %printable(&after.correlation_id),
                state = %after.state,
                duration_ms,
                "workflow ended"
            ),
        }
    }
}

/// Recomputes a workflow's summary from every entry and stores it (a summary of fewer entries
/// never replaces one of more).
pub(crate) async fn refresh(
    store: &dyn LedgerStore,
    correlation_id: &str,
) -> Result<Option<Summary>, HandlerError> {
    let entries = store
        .entries(correlation_id)
        .await
        .map_err(|e| HandlerError::transient(&e))?;
    let Some(summary) = summarize(correlation_id, &entries) else {
        return Ok(None);
    };
    store
        .put_summary(&summary)
        .await
        .map_err(|e| HandlerError::transient(&e))?;
    Ok(Some(summary))
}

/// How long a workflow may run without a terminal event before the sweep times it out (the
/// registry's, re-exported where the monitor's users look for it).
pub use alchemiser_events::DEFAULT_WORKFLOW_DEADLINE;

#[async_trait]
impl EventHandler for Monitor {
    fn name(&self) -> &str {
        HandlerName::Monitor.as_str()
    }

    async fn handle(&self, event: &Event, delivery: &Delivery) -> Result<Handled, HandlerError> {
        self.record(event, delivery.source.as_deref()).await?;
        Ok(Handled::default())
    }
}
