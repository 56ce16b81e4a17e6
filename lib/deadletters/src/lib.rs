//! The dead-letter queue as a port: what the operator tools (`alchemiser dlq`) and the workflow
//! ledger's sweep read. SQS has no "peek": reading a message hides it for a while, so a reader
//! holds what it received and gives it back ([`DeadLetters::peek`] does both).
//!
//! What a record means is the contract's ([`alchemiser_events::DeadLetter`]).

#![warn(missing_docs)]

mod memory;
mod sqs;

use std::time::Duration;

use alchemiser_events::DeadLetter;
use async_trait::async_trait;
use thiserror::Error;

pub use memory::MemoryDeadLetters;
pub use sqs::{dead_letter_from_message, SqsDeadLetters};

/// How long a peek hides the messages it reads: long enough to read the whole queue (each
/// receive takes them out of sight so the next one returns new ones), short enough that a
/// crashed reader gives them back soon; they are made visible again right after.
pub const PEEK_VISIBILITY: Duration = Duration::from_secs(30);

/// A message held out of sight, with the handle that can give it back or delete it.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    /// The message, understood.
    pub letter: DeadLetter,
    /// The receipt handle of this receive.
    pub receipt: String,
}

/// The queue could not be read or changed.
#[derive(Debug, Error)]
#[error("{action} on the dead-letter queue `{queue}` failed; check the queue URL and that your role may use it")]
pub struct QueueError {
    /// The operation, e.g. `ReceiveMessage`.
    pub action: &'static str,
    /// The queue.
    pub queue: String,
    /// Why.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// A dead-letter queue.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Where it is (a URL), for messages.
    fn location(&self) -> String;

    /// Receives every visible message, hiding each for `visibility`. The caller gives every one
    /// back ([`DeadLetters::release`]) or deletes it.
    async fn hold_all(&self, visibility: Duration) -> Result<Vec<Held>, QueueError>;

    /// Makes held messages visible again at once. Failures are logged: the messages come back
    /// anyway when their visibility timeout ends.
    async fn release(&self, held: &[Held]);

    /// Deletes one held message (after what it carried was dealt with).
    async fn delete(&self, held: &Held) -> Result<(), QueueError>;

    /// Every message, oldest first, left in the queue.
    async fn peek(&self) -> Result<Vec<DeadLetter>, QueueError> {
        let held = self.hold_all(PEEK_VISIBILITY).await?;
        self.release(&held).await;
        let mut letters: Vec<DeadLetter> = held.into_iter().map(|h| h.letter).collect();
        letters.sort_by_key(|l| l.sent_at);
        Ok(letters)
    }
}
