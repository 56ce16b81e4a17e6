//! One invocation, from raw payload to published events, the same in Lambda and in
//! `alchemiser invoke`: [`Invoker`] for functions that consume contract events, [`TriggerInvoker`]
//! for functions started by something else (a schedule). Both run the same [`pipeline`] steps.

mod consumer;
mod pipeline;
mod trigger;

use std::sync::Arc;

use alchemiser_bus::{EventBus, PublishReport};
use alchemiser_clock::Clock;
use alchemiser_deadletters::{DeadLetterRecorder, MemoryDeadLetterRecorder};
use alchemiser_events::Event;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use thiserror::Error;

pub use consumer::Invoker;
pub use trigger::{ScheduleOrEvent, TriggerInvoker, SCHEDULER_SOURCE};

use crate::follow_ups::FollowUps;
use crate::idempotency::{IdempotencyConfig, IdempotencyStore};
use alchemiser_metrics::Metrics;

/// What the runtime knows of one invocation beyond its payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvocationContext {
    /// Lambda's request id (`local` outside Lambda).
    pub request_id: String,
    /// When the invocation times out, if it can.
    pub deadline: Option<DateTime<Utc>>,
    /// The X-Ray trace header of the invocation, if tracing is on.
    pub trace_id: Option<String>,
    /// The ARN of the function invoked (`arn:aws:lambda:<region>:<account>:function:...`),
    /// in Lambda.
    pub function_arn: Option<String>,
}

impl InvocationContext {
    /// The account and region this function runs in, from its ARN (in Lambda).
    pub fn account_and_region(&self) -> Option<(&str, &str)> {
        let mut parts = self.function_arn.as_deref()?.split(':');
        let (Some("arn"), _, Some("lambda"), Some(region), Some(account)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        Some((account, region))
    }

    /// An invocation outside Lambda: no deadline, no trace, a request id of its own.
    pub fn local() -> Self {
        Self {
            request_id: format!("local-{}", uuid::Uuid::new_v4()),
            ..Self::default()
        }
    }
}

impl From<&lambda_runtime::Context> for InvocationContext {
    fn from(context: &lambda_runtime::Context) -> Self {
        let deadline = i64::try_from(context.deadline)
            .ok()
            .filter(|&millis| millis > 0)
            .and_then(|millis| Utc.timestamp_millis_opt(millis).single());
        Self {
            request_id: context.request_id.clone(),
            deadline,
            trace_id: context.xray_trace_id.clone(),
            function_arn: Some(context.invoked_function_arn.clone()).filter(|arn| !arn.is_empty()),
        }
    }
}

/// How an invocation ended without needing a retry.
#[derive(Debug, Clone, PartialEq)]
pub enum InvocationOutcome {
    /// The handler ran and its events were published (or kept in the outbox).
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
    /// The handler's work on the event is not done (orders still open, or the account busy with
    /// another plan): a follow-up delivers it again when due.
    Deferred {
        /// Which follow-up was scheduled.
        check: u32,
        /// When it is due.
        due_at: DateTime<Utc>,
        /// Why, in one line.
        why: String,
    },
    /// A permanent failure, recorded as a dead letter and acknowledged.
    RecordedFailure {
        /// Why the event was refused.
        reason: String,
        /// Where it was recorded.
        recorded_at: String,
        /// The record's id there (the dead letter's message id).
        record_id: String,
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
                "kept": report.undelivered.len(),
            }),
            InvocationOutcome::Duplicate { republished } => {
                json!({"status": "duplicate", "republished": republished})
            }
            InvocationOutcome::Deferred { check, due_at, why } => {
                json!({"status": "follow_up_scheduled", "check": check, "due_at": due_at, "why": why})
            }
            InvocationOutcome::RecordedFailure {
                reason,
                recorded_at,
                record_id,
            } => {
                json!({"status": "permanent_failure_recorded", "reason": reason, "recorded_at": recorded_at, "record_id": record_id})
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
    /// A permanent failure that could not be recorded as a dead letter: the invocation
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
    async fn invoke(
        &self,
        payload: Value,
        context: &InvocationContext,
    ) -> Result<InvocationOutcome, InvocationError>;

    /// Where this invoker's measurements go (the runtime adds the cold start to them).
    fn metrics(&self) -> &Metrics {
        static OFF: Metrics = Metrics::Off;
        &OFF
    }
}

/// The adapters every invocation works with; a function's entry point picks them.
#[derive(Clone)]
pub struct Adapters {
    /// Claims and results of handled events.
    pub store: Arc<dyn IdempotencyStore>,
    /// Where emitted events go.
    pub bus: Arc<dyn EventBus>,
    /// Where permanent failures are recorded as dead letters (the dead-letter queue).
    pub dead_letters: Arc<dyn DeadLetterRecorder>,
    /// Where follow-ups go, for a function whose handler may ask to see an event again; `None`
    /// for one that never does (such a request is then a permanent failure).
    pub follow_ups: Option<Arc<dyn FollowUps>>,
    /// Who signs what the function emits, who made what it receives.
    pub authenticity: alchemiser_signing::Authenticity,
    /// Where measurements go.
    pub metrics: Metrics,
    /// Claim timings (must match the store's).
    pub idempotency: IdempotencyConfig,
    /// What time it is (claims, failure records).
    pub clock: Arc<dyn Clock>,
}

impl Adapters {
    /// In-process adapters: an in-memory store, the given bus, dead letters and follow-ups kept in
    /// memory, events signed with this process's local keys (unsigned ones accepted), no
    /// metrics, the system clock. What `alchemiser invoke` and most tests use.
    pub fn in_memory(bus: Arc<dyn EventBus>) -> (Self, Arc<MemoryDeadLetterRecorder>) {
        let dead_letters = Arc::new(MemoryDeadLetterRecorder::default());
        let adapters = Self {
            store: Arc::new(crate::idempotency::InMemoryStore::new()),
            bus,
            dead_letters: dead_letters.clone(),
            follow_ups: Some(Arc::new(crate::follow_ups::MemoryFollowUps::new())),
            authenticity: alchemiser_signing::Authenticity::in_process(),
            metrics: Metrics::Off,
            idempotency: IdempotencyConfig::default(),
            clock: alchemiser_clock::system(),
        };
        (adapters, dead_letters)
    }
}
