//! The failure sink port: where permanent failures are recorded (the dead-letter queue,
//! `FAILURE_QUEUE_URL`), in the contract's dead-letter format ([`FailureRecord`]).

mod memory;
mod sqs;

use alchemiser_events::FailureRecord;
use async_trait::async_trait;
use thiserror::Error;

pub use memory::MemoryFailureSink;
pub use sqs::{SqsFailureSink, DEFAULT_MAX_MESSAGE_BYTES};

/// A failure record was NOT written. The invocation must fail so that Lambda keeps the event
/// (on-failure destination) instead.
#[derive(Debug, Error)]
#[error("could not record the failure in {location}; check the queue and the role's sqs:SendMessage permission")]
pub struct SinkError {
    /// Where the record was going.
    pub location: String,
    /// What went wrong.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Records permanent failures.
#[async_trait]
pub trait FailureSink: Send + Sync {
    /// Records one failure and returns the record's id (the SQS message id); an error means it
    /// was NOT recorded.
    async fn record(&self, failure: &FailureRecord) -> Result<String, SinkError>;
    /// Where records go, for messages.
    fn location(&self) -> String;
}
