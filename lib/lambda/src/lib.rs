//! A consumer runtime for event-driven Rust Lambdas: decode → claim → run → record → publish,
//! with the adapters it needs and nothing of trading in it.
//!
//! One invocation: decode the EventBridge envelope (or bare detail) → refuse event types the
//! routing table does not send to this function → claim the event in the idempotency store →
//! run the handler → record its result → publish what it emits → mark the record published.
//! Errors are classified: transient ones are returned so Lambda's async retries run; permanent
//! ones are recorded as dead letters with their reason and acknowledged, so they never loop
//! through retries.
//!
//! Ports and adapters, one folder each: [`idempotency`] (the port, in memory and on DynamoDB, the
//! way Powertools for AWS Lambda does it), [`follow_ups`] (a durable timer that delivers an event
//! again when its handler's work on it is not done: in memory, and an SQS queue with a delay),
//! plus [`metrics`] (CloudWatch EMF), [`logging`] (JSON lines) and the Lambda loop
//! ([`run_function`], [`run`]). Dead letters are recorded through the dead-letter queue's write
//! side, `alchemiser_deadletters::DeadLetterRecorder` (in memory and on SQS). A function's entry
//! point picks its handler and adapters.

/// CloudWatch EMF metrics (the `alchemiser-metrics` crate).
pub use alchemiser_metrics as metrics;
/// Signed events (the `alchemiser-signing` crate): what `Adapters::authenticity` holds.
pub use alchemiser_signing as signing;

pub mod follow_ups;
pub mod idempotency;
mod invoker;
pub mod logging;
mod runtime;

pub use invoker::{
    Adapters, InvocationContext, InvocationError, InvocationOutcome, Invoke, Invoker,
    ScheduleOrEvent, TriggerInvoker, SCHEDULER_SOURCE,
};
pub use runtime::{handler_service, run, run_function, FunctionEnvironment, RunMode, RuntimeError};
