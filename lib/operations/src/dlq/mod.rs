//! The dead-letter queue: read and redrive it ([`queue`]); what a record means is the contract's
//! ([`DeadLetter`]).
//!
//! Three kinds of record land in `alchemiser-event-dlq-<stage>`:
//! 1. [`alchemiser_events::FailureRecord`]s our functions write for permanent failures (`function`, `reason`,
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

pub use alchemiser_deadletters::{dead_letter_from_message, Peeked};
pub use alchemiser_events::{DeadLetter, DeadLetterKind, NotRedrivable};
pub use queue::{
    redrive_publisher_config, DeadLetterQueue, HeldLetter, RedriveFailure, RedriveReport,
    RedriveSelection, Redriven,
};

/// An age as [`alchemiser_clock::format_duration`] writes durations (`3d04h`, `2h05m`, `42s`);
/// `-` when unknown, and never negative (a clock ahead of SQS's reads as no age).
pub fn format_age(age: Option<chrono::TimeDelta>) -> String {
    age.map_or_else(
        || "-".to_owned(),
        |age| alchemiser_clock::format_duration(age.max(chrono::TimeDelta::zero())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_short_and_readable() {
        let d = chrono::TimeDelta::seconds;
        assert_eq!(format_age(None), "-");
        assert_eq!(format_age(Some(d(42))), "42s");
        assert_eq!(format_age(Some(d(125))), "2m05s");
        assert_eq!(format_age(Some(d(7_500))), "2h05m");
        assert_eq!(format_age(Some(d(3 * 86_400 + 4 * 3_600))), "3d04h");
        assert_eq!(format_age(Some(d(-5))), "0ms");
    }
}
