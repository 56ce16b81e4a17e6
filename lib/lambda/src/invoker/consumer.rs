//! The invoker of a function that consumes contract events (portfolio, execution, monitor).

use std::sync::Arc;

use alchemiser_bus::{Delivery, EventHandler};
use alchemiser_events::{
    decode_value, Event, HandlerName, ReceivedEvent, Route, DEFAULT_SOURCE_PREFIX,
};
use serde_json::Value;
use tracing::Instrument;

use super::pipeline::{FailureContext, Guard, Pipeline};
use super::{Adapters, InvocationContext, InvocationError, InvocationOutcome, Invoke};

/// Runs one consuming handler on invocation payloads: decode the EventBridge envelope (or bare
/// detail) → refuse event types the routing table does not send to this function → claim
/// `function#event_id` → run the handler → record → publish.
pub struct Invoker {
    function: HandlerName,
    pipeline: Pipeline,
    handler: Arc<dyn EventHandler>,
    source_prefix: String,
    scope: Option<&'static str>,
}

impl Invoker {
    /// An invoker for `function`, running `handler` over `adapters`.
    pub fn new(function: HandlerName, handler: Arc<dyn EventHandler>, adapters: Adapters) -> Self {
        Self {
            function,
            pipeline: Pipeline {
                function: function.to_string(),
                adapters,
            },
            handler,
            source_prefix: DEFAULT_SOURCE_PREFIX.to_owned(),
            scope: None,
        }
    }

    /// Rust sources are `{prefix}.{handler}` (`EVENTBRIDGE_SOURCE_PREFIX`).
    pub fn with_source_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.source_prefix = prefix.into();
        self
    }

    /// Idempotency keys get `#{scope}` (e.g. `shadow`): a shadow run of an event never counts as
    /// its live handling, nor the other way round.
    pub fn with_key_scope(mut self, scope: &'static str) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Refuses an event this function does not consume, or one that came in an envelope whose
    /// `Source` is not a producer of its type (the rule matches sources and types separately).
    /// A bare detail has no `Source`: only a direct invocation delivers one, and whoever may
    /// invoke the function is trusted as far as that.
    fn check_route(&self, received: &ReceivedEvent) -> Result<(), String> {
        let function = self.function;
        let event = &received.event;
        let route = Route::of(event.event_type());
        if !function.consumes_type(event.event_type()) {
            let consumers = route
                .consumers
                .iter()
                .map(|c| format!("{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(format!(
                "the {function} function does not consume {} events; the routing table sends them to: {consumers}",
                event.event_type()
            ));
        }
        match &received.envelope {
            Some(envelope) => route
                .check_source(&envelope.source, &self.source_prefix)
                .map(|_| ())
                .map_err(|unknown| unknown.to_string()),
            None => Ok(()),
        }
    }

    async fn handle(
        &self,
        payload: &Value,
        received: &ReceivedEvent,
        context: &InvocationContext,
    ) -> Result<InvocationOutcome, InvocationError> {
        let function = self.function;
        let event = &received.event;
        if let Err(refusal) = self.check_route(received) {
            return self
                .pipeline
                .permanent(payload, FailureContext::of(event), refusal)
                .await;
        }
        let delivery = Delivery::until(context.deadline)
            .from_source(received.envelope.as_ref().map(|meta| meta.source.clone()));
        let key = [Some(function.as_str()), Some(event.event_id())]
            .into_iter()
            .chain([self.scope, self.handler.idempotency_scope(event)])
            .flatten()
            .collect::<Vec<_>>()
            .join("#");
        let lease = self
            .handler
            .exclusive_group(event)
            .map(|group| format!("{function}#{group}"));
        let guard = Guard::new(key, &hashed_content(event)).with_lease(lease);
        let outcome = self
            .pipeline
            .guarded(
                Some(guard),
                payload,
                FailureContext::of(event),
                context,
                self.handler.handle(event, &delivery),
            )
            .await?;
        if let InvocationOutcome::RecordedFailure {
            reason, record_id, ..
        } = &outcome
        {
            let announced = self.handler.on_permanent_failure(event, reason, record_id);
            self.pipeline.announce(announced).await;
        }
        Ok(outcome)
    }
}

/// What the payload hash of an event covers: its contract form without `metadata`, which is
/// free-form and carries what producers and redrives add along the way. The same event
/// delivered again, replayed or redriven hashes the same; another event under the same id does not.
fn hashed_content(event: &Event) -> Value {
    let mut value = event.to_value();
    if let Some(object) = value.as_object_mut() {
        object.remove("metadata");
    }
    value
}

#[async_trait::async_trait]
impl Invoke for Invoker {
    fn metrics(&self) -> &alchemiser_metrics::Metrics {
        &self.pipeline.adapters.metrics
    }

    /// Handles one payload: an EventBridge envelope (detail as object or string) or a bare
    /// event detail (what an input transformer delivers).
    async fn invoke(
        &self,
        payload: Value,
        context: &InvocationContext,
    ) -> Result<InvocationOutcome, InvocationError> {
        let function = self.function;
        let received = match decode_value(payload.clone()) {
            Ok(received) => received,
            Err(error) => {
                let failure = FailureContext::salvaged(&payload);
                let span = tracing::error_span!(
                        "invocation",
                        function = %function,
                        request_id = %context.request_id,
                trace_id = context.trace_id.as_deref().unwrap_or(""),
                    );
                return self
                    .pipeline
                    .permanent(&payload, failure, format!("invalid event: {error}"))
                    .instrument(span)
                    .await;
            }
        };
        let event = &received.event;
        let header = event.header();
        let span = tracing::info_span!(
            "invocation",
            function = %function,
            request_id = %context.request_id,
            trace_id = context.trace_id.as_deref().unwrap_or(""),
            event_id = %header.event_id,
            correlation_id = %header.correlation_id,
            causation_id = %header.causation_id,
            detail_type = %event.event_type(),
            replay_name = received.replay_name().unwrap_or(""),
            nested_correlation_id = event.nested_correlation_id().unwrap_or(""),
        );
        self.handle(&payload, &received, context)
            .instrument(span)
            .await
    }
}
