//! The invoker of a function started by something other than a contract event: the strategy,
//! started by the schedule (or by hand).

use std::sync::Arc;

use alchemiser_bus::{Handled, TriggerHandler};
use serde_json::Value;
use tracing::Instrument;

use super::pipeline::{FailureContext, Guard, Pipeline};
use super::{Adapters, InvocationContext, InvocationError, InvocationOutcome, Invoke};

/// Runs a [`TriggerHandler`] on invocation payloads: a trigger with a key (a schedule's
/// execution id, or else the invocation's request id) runs at most once per key, so a duplicate
/// delivery of the same tick — or of the same manual request — starts one workflow.
pub struct TriggerInvoker {
    pipeline: Pipeline,
    handler: Arc<dyn TriggerHandler>,
    scope: Option<&'static str>,
}

impl TriggerInvoker {
    /// An invoker for the function `function`, running `handler` over `adapters`.
    pub fn new(
        function: impl Into<String>,
        handler: Arc<dyn TriggerHandler>,
        adapters: Adapters,
    ) -> Self {
        Self {
            pipeline: Pipeline::new(function, adapters),
            handler,
            scope: None,
        }
    }

    /// Idempotency keys get `#{scope}` (a shadow's tick is not the live one's).
    pub fn with_key_scope(mut self, scope: &'static str) -> Self {
        self.scope = Some(scope);
        self
    }
}

/// Payloads from EventBridge Scheduler (`source` `aws.scheduler`) go to `scheduled`, everything
/// else to `events`.
pub struct ScheduleOrEvent {
    /// The event consumer.
    pub events: super::consumer::Invoker,
    /// The scheduled job.
    pub scheduled: TriggerInvoker,
}

#[async_trait::async_trait]
impl Invoke for ScheduleOrEvent {
    fn metrics(&self) -> &alchemiser_metrics::Metrics {
        self.events.metrics()
    }

    async fn invoke(
        &self,
        payload: Value,
        context: &InvocationContext,
    ) -> Result<InvocationOutcome, InvocationError> {
        if payload.get("source").and_then(Value::as_str) == Some(SCHEDULER_SOURCE) {
            self.scheduled.invoke(payload, context).await
        } else {
            self.events.invoke(payload, context).await
        }
    }
}

/// The `source` of the envelopes EventBridge Scheduler delivers (as the stack configures them).
pub const SCHEDULER_SOURCE: &str = "aws.scheduler";

#[async_trait::async_trait]
impl Invoke for TriggerInvoker {
    fn metrics(&self) -> &alchemiser_metrics::Metrics {
        &self.pipeline.adapters.metrics
    }

    async fn invoke(
        &self,
        payload: Value,
        context: &InvocationContext,
    ) -> Result<InvocationOutcome, InvocationError> {
        // A trigger without a key of its own (a manual start) is keyed by its request: Lambda
        // delivers an asynchronous invocation again under the same request id.
        let key = self
            .handler
            .trigger_key(&payload)
            .or_else(|| Some(context.request_id.clone()).filter(|id| !id.is_empty()));
        let span = tracing::info_span!(
            "invocation",
            function = %self.pipeline.function,
            request_id = %context.request_id,
            trace_id = context.trace_id.as_deref().unwrap_or(""),
            trigger_id = key.as_deref().unwrap_or(""),
        );
        async {
            let guard = key.map(|key| {
                let scoped = match self.scope {
                    Some(scope) => format!("{}#{key}#{scope}", self.pipeline.function),
                    None => format!("{}#{key}", self.pipeline.function),
                };
                Guard::new(scoped, &payload)
            });
            let outcome = self
                .pipeline
                .guarded(guard, &payload, FailureContext::default(), context, async {
                    self.handler.handle(&payload).await.map(Handled::from)
                })
                .await?;
            if let InvocationOutcome::RecordedFailure {
                reason, record_id, ..
            } = &outcome
            {
                let announced = self
                    .handler
                    .on_permanent_failure(&payload, reason, record_id);
                self.pipeline.announce(announced).await;
            }
            Ok(outcome)
        }
        .instrument(span)
        .await
    }
}
