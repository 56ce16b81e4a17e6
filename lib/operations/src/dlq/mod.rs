//! The dead-letter queue: understand a record ([`record`]), read and redrive the queue ([`queue`]).
//!
//! Three kinds of record land in `alchemiser-event-dlq-<stage>`:
//! 1. [`FailureRecord`]s our functions write for permanent failures (`function`, `reason`,
//!    `error_class`, `event` as received, ...);
//! 2. Lambda asynchronous-invocation on-failure destination records (`requestContext` with
//!    `condition` and `functionArn`, `requestPayload` = the original event, `responsePayload`
//!    with `errorType`/`errorMessage`), after Lambda's retries are exhausted;
//! 3. EventBridge rule-target dead letters: the original event as the body, the failure in the
//!    message attributes `ERROR_CODE`, `ERROR_MESSAGE`, `RULE_ARN`, `TARGET_ARN`.
//!
//! Anything else is [`DeadLetterKind::Unreadable`]: listed with the reason, never redriven, never
//! deleted.

mod queue;
mod record;

pub use queue::{
    dead_letter_from_message, redrive_publisher_config, DeadLetterQueue, RedriveFailure,
    RedriveReport, RedriveSelection, Redriven,
};
pub use record::{format_age, DeadLetter, DeadLetterKind, NotRedrivable};
