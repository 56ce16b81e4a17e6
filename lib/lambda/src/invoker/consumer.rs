//! The invoker of a function that consumes contract events (portfolio, execution, monitor).

use std::sync::Arc;

use alchemiser_bus::{Delivery, EventHandler};
use alchemiser_events::{decode_value, Event, HandlerName, ReceivedEvent, Route};
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
        if !function.consumes_type(event.event_type()) {
            let route = Route::of(event.event_type());
            let owner = route
                .consumer
                .map_or("no function (it is only archived)".to_owned(), |c| {
                    format!("the {c} function")
                });
            return self
                .pipeline
                .permanent(
                    payload,
                    FailureContext::of(event),
                    format!(
                        "the {function} function does not consume {} events; the routing table sends them to {owner}",
                        event.event_type()
                    ),
                )
                .await;
        }
        let delivery = Delivery::until(context.deadline)
            .from_source(received.envelope.as_ref().map(|meta| meta.source.clone()));
        let key = match self.handler.idempotency_scope(event) {
            Some(scope) => format!("{function}#{}#{scope}", event.event_id()),
            None => format!("{function}#{}", event.event_id()),
        };
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
