//! The write side of the dead-letter queue: how a function records an event it refused for good
//! (the stage's dead-letter queue, `DEAD_LETTER_QUEUE_URL`), in the contract's format for a
//! function's dead letter ([`FailureRecord`]).

mod memory;
mod sqs;

use alchemiser_events::FailureRecord;
use async_trait::async_trait;
use thiserror::Error;

pub use memory::MemoryDeadLetterRecorder;
pub use sqs::{SqsDeadLetterRecorder, DEFAULT_MAX_MESSAGE_BYTES};

/// A dead letter was NOT recorded. The invocation must fail so that Lambda keeps the event
/// (on-failure destination) instead.
#[derive(Debug, Error)]
#[error("could not record the dead letter in {location}; check the queue and the role's sqs:SendMessage permission")]
pub struct DeadLetterNotRecorded {
    /// Where the dead letter was going.
    pub location: String,
    /// What went wrong.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Records dead letters: events a function refused for good.
#[async_trait]
pub trait DeadLetterRecorder: Send + Sync {
    /// Records one dead letter and returns its id (the SQS message id); an error means it was
    /// NOT recorded.
    async fn record(&self, letter: &FailureRecord) -> Result<String, DeadLetterNotRecorded>;
    /// Where dead letters go, for messages.
    fn location(&self) -> String;
}
