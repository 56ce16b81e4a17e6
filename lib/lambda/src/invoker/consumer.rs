//! The invoker of a function that consumes contract events (portfolio, execution, monitor).

use std::sync::Arc;

use alchemiser_bus::{Delivery, EventHandler};
use alchemiser_events::{
    decode_value, Event, HandlerName, ReceivedEvent, Route, DEFAULT_SOURCE_PREFIX,
};
use serde_json::Value;
use tracing::Instrument;

use super::pipeline::{FailureContext, FollowUpSpec, Guard, LeaseSpec, Pipeline, REFUSED};
use super::{Adapters, InvocationContext, InvocationError, InvocationOutcome, Invoke};
use crate::follow_ups::FollowUp;

/// The key scope of a delivery derived from an archive replay: handling a replay never counts
/// as handling the live event, nor the other way round.
const REPLAY_SCOPE: &str = "replay";
/// How early a follow-up may arrive and still run. SQS delays a message 15 minutes at most: one
/// due later comes early and is sent on again. The margin is wide because the sender's clock and
/// this function's disagree a little: a follow-up that looks a few seconds early must run, not
/// be sent on again and again until the clocks agree.
const EARLY_BY_AT_MOST: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

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
            pipeline: Pipeline::new(function.to_string(), adapters),
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
    /// Who really made the event is its signature's to prove (see `handle`).
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

    /// Refuses an envelope that names another account or region than this function's own:
    /// EventBridge writes its own, so this one was written by hand (a direct invoke).
    fn check_origin(received: &ReceivedEvent, context: &InvocationContext) -> Result<(), String> {
        let (Some(envelope), Some((account, region))) =
            (&received.envelope, context.account_and_region())
        else {
            return Ok(());
        };
        if envelope.account == account && envelope.region == region {
            return Ok(());
        }
        Err(format!(
            "the envelope says account `{}` in `{}`, but this function runs in account `{account}` in `{region}`: EventBridge writes its own; this envelope was not",
            envelope.account, envelope.region
        ))
    }

    async fn handle(
        &self,
        payload: &Value,
        received: &ReceivedEvent,
        context: &InvocationContext,
        check: u32,
    ) -> Result<InvocationOutcome, InvocationError> {
        let function = self.function;
        let event = &received.event;
        if let Err(refusal) = self.check_route(received) {
            return self
                .pipeline
                .permanent(payload, FailureContext::of(event), refusal)
                .await;
        }
        // Who made it, before anything else: the proof travels with the event, so a direct
        // invoke, another principal's PutEvents, the outbox and a redrive all end here.
        let verdict = match Self::check_origin(received, context) {
            Err(refusal) => Ok(Err(refusal)),
            Ok(()) => self
                .pipeline
                .adapters
                .authenticity
                .check_received(received)
                .await
                .map(|made| made.map_err(|refused| refused.to_string())),
        };
        match verdict {
            Ok(Ok(made)) => tracing::debug!(?made, "who made the event: checked"),
            Ok(Err(refused)) => {
                tracing::error!(%refused, "event refused for who made it; nothing of it was handled");
                return self
                    .pipeline
                    .record_failure(payload, FailureContext::of(event), refused, REFUSED)
                    .await;
            }
            // Fail closed: an event whose maker cannot be checked is not handled.
            Err(error) => {
                let reason = alchemiser_bus::error_chain(&error);
                tracing::warn!(error_class = "transient", %reason, "signature not checked; failing closed");
                self.pipeline.adapters.metrics.failure("transient");
                return Err(InvocationError::Transient(reason));
            }
        }
        let delivery = Delivery::until(context.deadline)
            .from_source(received.envelope.as_ref().map(|meta| meta.source.clone()))
            .follow_up(check);
        let replayed = (received.replay_name().is_some() || !event.header().provenance().is_live())
            .then_some(REPLAY_SCOPE);
        let work = [Some(function.as_str()), Some(event.event_id())]
            .into_iter()
            .chain([self.scope, self.handler.idempotency_scope(event), replayed])
            .flatten()
            .collect::<Vec<_>>()
            .join("#");
        // Each follow-up is a unit of its own; the lease belongs to the work across all of them.
        let key = match check {
            0 => work.clone(),
            n => format!("{work}#check-{n}"),
        };
        let lease = self.handler.exclusive_group(event).map(|group| LeaseSpec {
            name: format!("{function}#{group}"),
            holder: work,
        });
        let mut guard = Guard::new(key, &hashed_content(event)).with_lease(lease);
        if self.pipeline.adapters.follow_ups.is_some() {
            guard = guard.with_follow_ups(FollowUpSpec {
                payload: payload.clone(),
                check,
            });
        }
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

    /// The event a follow-up carries and which check it is; a follow-up that came early (SQS
    /// delays 15 minutes at most) is sent on again; one that is not for this function, or not
    /// readable, is refused for good.
    async fn unwrap_follow_up(
        &self,
        payload: Value,
    ) -> Result<(Value, u32), Result<InvocationOutcome, InvocationError>> {
        if !FollowUp::is_one(&payload) {
            return Ok((payload, 0));
        }
        let follow_up = match FollowUp::from_payload(payload) {
            Ok(follow_up) => follow_up,
            Err((payload, error)) => {
                let reason = format!("invalid follow-up: {error}");
                return Err(self
                    .pipeline
                    .permanent(&payload, FailureContext::salvaged(&payload), reason)
                    .await);
            }
        };
        let note = &follow_up.follow_up;
        if note.function != self.function.as_str() {
            let reason = format!(
                "a follow-up for the {} function reached the {} function",
                note.function, self.function
            );
            return Err(self
                .pipeline
                .permanent(
                    &follow_up.event,
                    FailureContext::salvaged(&follow_up.event),
                    reason,
                )
                .await);
        }
        let now = self.pipeline.adapters.clock.now();
        if note.due_at - now > EARLY_BY_AT_MOST {
            let Some(follow_ups) = &self.pipeline.adapters.follow_ups else {
                return Ok((follow_up.event, note.check));
            };
            return Err(match follow_ups.schedule(&follow_up).await {
                Ok(()) => Ok(InvocationOutcome::Deferred {
                    check: note.check,
                    due_at: note.due_at,
                    why: format!("came early; sent on again: {}", note.why),
                }),
                Err(error) => Err(InvocationError::Transient(alchemiser_bus::error_chain(
                    &error,
                ))),
            });
        }
        let check = note.check;
        Ok((follow_up.event, check))
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
        let (payload, check) = match self.unwrap_follow_up(payload).await {
            Ok(unwrapped) => unwrapped,
            Err(outcome) => return outcome,
        };
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
            check,
        );
        self.handle(&payload, &received, context, check)
            .instrument(span)
            .await
    }
}
