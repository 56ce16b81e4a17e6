//! One invocation, from raw payload to published events, the same in Lambda and in
//! `alchemiser invoke`.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use alchemiser_bus::{Delivery, EventBus, EventHandler, HandlerError, PublishReport};
use alchemiser_events::{decode_value, Event, HandlerName, ReceivedEvent, Route};
use chrono::Utc;
use serde_json::{json, Value};
use thiserror::Error;
use tracing::Instrument;

use crate::failure::{FailureRecord, FailureSink};
use crate::idempotency::{Claim, IdempotencyStore, StoredResult};
use crate::metrics::Metrics;

/// How an invocation ended without needing a retry.
#[derive(Debug, Clone, PartialEq)]
pub enum InvocationOutcome {
    /// The handler ran and its events were published (or parked in the outbox).
    Handled {
        /// The events the handler emitted.
        emitted: Vec<Event>,
        /// What the bus reported.
        report: PublishReport,
    },
    /// The event had been handled before; the handler did not run again.
    Duplicate {
        /// Stored events published again because the first delivery stopped before publishing.
        republished: usize,
    },
    /// A permanent failure, recorded in the failure queue and acknowledged.
    RecordedFailure {
        /// Why the event was refused.
        reason: String,
        /// Where it was recorded.
        recorded_at: String,
    },
}

impl InvocationOutcome {
    /// The function's response payload: a short account for the invocation log.
    pub fn to_response(&self) -> Value {
        match self {
            InvocationOutcome::Handled { emitted, report } => json!({
                "status": "handled",
                "emitted": emitted.iter().map(|e| json!({"event_type": e.event_type(), "event_id": e.event_id()})).collect::<Vec<_>>(),
                "delivered": report.delivered.len(),
                "parked": report.undelivered.len(),
            }),
            InvocationOutcome::Duplicate { republished } => {
                json!({"status": "duplicate", "republished": republished})
            }
            InvocationOutcome::RecordedFailure {
                reason,
                recorded_at,
            } => {
                json!({"status": "permanent_failure_recorded", "reason": reason, "recorded_at": recorded_at})
            }
        }
    }
}

/// An invocation that must be retried or kept by Lambda's on-failure destination.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvocationError {
    /// A dependency failed; Lambda's async retries should run.
    #[error("transient failure, will be retried: {0}")]
    Transient(String),
    /// A permanent failure that could not be written to the failure queue: the invocation
    /// fails so that Lambda's on-failure destination keeps the event instead.
    #[error("permanent failure ({reason}) could not be recorded: {record_error}")]
    Unrecorded {
        /// Why the event was refused.
        reason: String,
        /// Why recording failed.
        record_error: String,
    },
}

impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(error: InvocationError) -> Self {
        let error_type = match &error {
            InvocationError::Transient(_) => "Alchemiser.Transient",
            InvocationError::Unrecorded { .. } => "Alchemiser.PermanentUnrecorded",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: error.to_string(),
        }
    }
}

/// Anything a function runs per invocation.
#[async_trait::async_trait]
pub trait Invoke: Send + Sync {
    /// Handles one invocation payload.
    async fn invoke(&self, payload: Value) -> Result<InvocationOutcome, InvocationError>;
}

/// The steps every function shares once it knows what to run: claim, run, publish, record.
pub(crate) struct Pipeline {
    pub(crate) function: HandlerName,
    pub(crate) store: Arc<dyn IdempotencyStore>,
    pub(crate) bus: Arc<dyn EventBus>,
    pub(crate) failures: Arc<dyn FailureSink>,
    pub(crate) metrics: Metrics,
}

/// What a permanent failure is about, for its record.
#[derive(Default)]
pub(crate) struct FailureContext {
    pub(crate) event_id: Option<String>,
    pub(crate) detail_type: Option<String>,
    pub(crate) correlation_id: Option<String>,
}

impl FailureContext {
    /// What can still be read from a payload that failed to decode, so that the DLQ record of a
    /// bad event names it (an operator searches by event id and correlation id).
    pub(crate) fn salvaged(payload: &Value) -> Self {
        let detail = match payload.get("detail") {
            Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
            Some(detail) => detail.clone(),
            None => payload.clone(),
        };
        let text = |value: &Value, field: &str| {
            value.get(field).and_then(Value::as_str).map(str::to_owned)
        };
        Self {
            event_id: text(&detail, "event_id"),
            detail_type: text(payload, "detail-type").or_else(|| text(&detail, "event_type")),
            correlation_id: text(&detail, "correlation_id"),
        }
    }

    pub(crate) fn of(event: &Event) -> Self {
        Self {
            event_id: Some(event.event_id().to_owned()),
            detail_type: Some(event.event_type().to_string()),
            correlation_id: Some(event.header().correlation_id.clone()),
        }
    }
}

impl Pipeline {
    /// Records a permanent failure and acknowledges it.
    pub(crate) async fn permanent(
        &self,
        payload: &Value,
        context: FailureContext,
        reason: String,
    ) -> Result<InvocationOutcome, InvocationError> {
        tracing::error!(error_class = "permanent", %reason, "event refused");
        self.metrics.failure("permanent");
        let record = FailureRecord {
            function: self.function.to_string(),
            reason: reason.clone(),
            error_class: "permanent".into(),
            event_id: context.event_id,
            detail_type: context.detail_type,
            correlation_id: context.correlation_id,
            failed_at: Utc::now(),
            event: payload.clone(),
        };
        match self.failures.record(&record).await {
            Ok(()) => Ok(InvocationOutcome::RecordedFailure {
                reason,
                recorded_at: self.failures.location(),
            }),
            Err(record_error) => {
                tracing::error!(%record_error, "could not record the permanent failure; failing the invocation");
                Err(InvocationError::Unrecorded {
                    reason,
                    record_error,
                })
            }
        }
    }

    /// Runs `work` at most once per `key` (when there is a key), publishes what it emits and
    /// records the result.
    pub(crate) async fn guarded<W>(
        &self,
        key: Option<String>,
        payload: &Value,
        context: FailureContext,
        work: W,
    ) -> Result<InvocationOutcome, InvocationError>
    where
        W: Future<Output = Result<Vec<Event>, HandlerError>>,
    {
        let started = Instant::now();
        if let Some(key) = &key {
            match self.store.claim(key, Utc::now()).await {
                // Fail closed: never run a handler with side effects unguarded.
                Err(error) => {
                    tracing::warn!(error_class = "transient", %error, "idempotency store unavailable; failing closed");
                    self.metrics.failure("transient");
                    return Err(InvocationError::Transient(error.to_string()));
                }
                Ok(Claim::Completed(stored)) => return self.duplicate(key, stored).await,
                Ok(Claim::InProgress { expires_at }) => {
                    let reason = format!(
                        "`{key}` is being handled by another invocation (its claim lapses at {expires_at}); retry later"
                    );
                    tracing::warn!(error_class = "transient", %reason, "event in progress elsewhere; Lambda will retry");
                    self.metrics.failure("transient");
                    return Err(InvocationError::Transient(reason));
                }
                Ok(Claim::Acquired) => {}
            }
        }
        let emitted = match work.await {
            Ok(emitted) => emitted,
            Err(HandlerError::Transient(reason)) => {
                if let Some(key) = &key {
                    if let Err(error) = self.store.release(key).await {
                        tracing::warn!(%error, "could not release the claim; the retry waits for it to lapse");
                    }
                }
                tracing::warn!(error_class = "transient", %reason, "handler failed; Lambda will retry");
                self.metrics.failure("transient");
                return Err(InvocationError::Transient(reason));
            }
            Err(HandlerError::Permanent(reason)) => {
                // The claim is given back rather than completed: once the cause is fixed, the
                // event redriven from the DLQ must run, not be skipped as a duplicate.
                if let Some(key) = &key {
                    if let Err(error) = self.store.release(key).await {
                        tracing::warn!(%error, "could not release the claim after a permanent failure");
                    }
                }
                return self.permanent(payload, context, reason).await;
            }
        };
        let mut stored = StoredResult {
            events: emitted.iter().map(Event::to_value).collect(),
            published: false,
        };
        // A handler that emitted nothing (the monitor) has nothing to lose between the two
        // writes: one write, after the no-op publish, is enough.
        if let Some(key) = key.as_ref().filter(|_| !emitted.is_empty()) {
            // Recorded before publishing: if this invocation dies now, the next delivery
            // publishes the stored events instead of running the handler (and its orders) again.
            if let Err(error) = self.store.complete(key, &stored, Utc::now()).await {
                tracing::error!(%error, "could not record the result; publishing anyway");
            }
        }
        let report = self.bus.publish(emitted.clone()).await;
        let lost: Vec<String> = report
            .undelivered
            .iter()
            .filter(|u| u.parked_at.is_none())
            .map(|u| format!("{} {}: {}", u.event_type, u.event_id, u.reason))
            .collect();
        if !lost.is_empty() {
            self.metrics.failure("transient");
            return Err(InvocationError::Transient(format!(
                "{} event(s) neither delivered nor parked in the outbox: {}",
                lost.len(),
                lost.join("; ")
            )));
        }
        if let Some(key) = &key {
            stored.published = true;
            if let Err(error) = self.store.complete(key, &stored, Utc::now()).await {
                tracing::warn!(%error, "published, but could not mark the record published");
            }
        }
        let orders: u32 = emitted
            .iter()
            .filter_map(|e| match e {
                Event::TradeExecuted(t) => Some(t.orders_placed),
                _ => None,
            })
            .sum();
        self.metrics.handled(started.elapsed(), orders);
        tracing::info!(
            emitted = emitted.len(),
            delivered = report.delivered.len(),
            parked = report.undelivered.len(),
            "handled"
        );
        Ok(InvocationOutcome::Handled { emitted, report })
    }

    async fn duplicate(
        &self,
        key: &str,
        stored: StoredResult,
    ) -> Result<InvocationOutcome, InvocationError> {
        self.metrics.duplicate();
        if stored.published {
            tracing::info!(key, "duplicate delivery: already handled, skipped");
            return Ok(InvocationOutcome::Duplicate { republished: 0 });
        }
        let events: Vec<Event> = stored
            .events
            .iter()
            .filter_map(|value| match serde_json::from_value::<Event>(value.clone()) {
                Ok(event) => Some(event),
                Err(error) => {
                    tracing::error!(%error, "a stored event no longer decodes; it cannot be republished");
                    None
                }
            })
            .collect();
        tracing::warn!(
            key,
            events = events.len(),
            "handled earlier but not published: publishing the stored events"
        );
        let report = self.bus.publish(events.clone()).await;
        if report.undelivered.iter().any(|u| u.parked_at.is_none()) {
            return Err(InvocationError::Transient(format!(
                "republishing the stored events of `{key}` failed; retry later"
            )));
        }
        let published = StoredResult {
            published: true,
            ..stored
        };
        if let Err(error) = self.store.complete(key, &published, Utc::now()).await {
            tracing::warn!(%error, "republished, but could not mark the record published");
        }
        Ok(InvocationOutcome::Duplicate {
            republished: events.len(),
        })
    }
}

/// Runs one consuming handler (portfolio, execution, monitor) on invocation payloads.
pub struct Invoker {
    pipeline: Pipeline,
    handler: Arc<dyn EventHandler>,
}

impl Invoker {
    /// An invoker for `function`, running `handler`.
    pub fn new(
        function: HandlerName,
        handler: Arc<dyn EventHandler>,
        store: Arc<dyn IdempotencyStore>,
        bus: Arc<dyn EventBus>,
        failures: Arc<dyn FailureSink>,
        metrics: Metrics,
    ) -> Self {
        Self {
            pipeline: Pipeline {
                function,
                store,
                bus,
                failures,
                metrics,
            },
            handler,
        }
    }

    async fn handle(
        &self,
        payload: &Value,
        received: &ReceivedEvent,
    ) -> Result<InvocationOutcome, InvocationError> {
        let function = self.pipeline.function;
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
        let delivery = Delivery {
            replay_name: received.replay_name().map(str::to_owned),
        };
        let key = format!("{function}#{}", event.event_id());
        self.pipeline
            .guarded(
                Some(key),
                payload,
                FailureContext::of(event),
                self.handler.handle(event, &delivery),
            )
            .await
    }
}

#[async_trait::async_trait]
impl Invoke for Invoker {
    /// Handles one payload: an EventBridge envelope (detail as object or string) or a bare
    /// event detail (what an input transformer delivers).
    async fn invoke(&self, payload: Value) -> Result<InvocationOutcome, InvocationError> {
        let function = self.pipeline.function;
        let received = match decode_value(payload.clone()) {
            Ok(received) => received,
            Err(error) => {
                let context = FailureContext::salvaged(&payload);
                let span = tracing::error_span!("invocation", function = %function);
                return self
                    .pipeline
                    .permanent(&payload, context, format!("invalid event: {error}"))
                    .instrument(span)
                    .await;
            }
        };
        let event = &received.event;
        let header = event.header();
        let span = tracing::info_span!(
            "invocation",
            function = %function,
            event_id = %header.event_id,
            correlation_id = %header.correlation_id,
            causation_id = %header.causation_id,
            detail_type = %event.event_type(),
            replay_name = received.replay_name().unwrap_or(""),
        );
        self.handle(&payload, &received).instrument(span).await
    }
}
