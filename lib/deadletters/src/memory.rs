//! A dead-letter queue in memory: the simulation's, and the tests'.

use std::sync::Mutex;
use std::time::Duration;

use alchemiser_events::DeadLetter;
use async_trait::async_trait;

use crate::{DeadLetters, Held, QueueError};

/// Dead letters kept in memory, in the order they were added; holding does not hide them.
#[derive(Debug, Default)]
pub struct MemoryDeadLetters {
    letters: Mutex<Vec<DeadLetter>>,
}

impl MemoryDeadLetters {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one message.
    pub fn push(&self, letter: DeadLetter) {
        self.letters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(letter);
    }

    /// Removes the message `message_id` (what a person's delete does).
    pub fn remove(&self, message_id: &str) {
        self.letters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|letter| letter.message_id != message_id);
    }

    /// The messages now in the queue.
    pub fn letters(&self) -> Vec<DeadLetter> {
        self.letters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait]
impl DeadLetters for MemoryDeadLetters {
    fn location(&self) -> String {
        "memory".into()
    }

    async fn hold_all(&self, _: Duration) -> Result<Vec<Held>, QueueError> {
        Ok(self
            .letters()
            .into_iter()
            .map(|letter| Held {
                receipt: letter.message_id.clone(),
                letter,
            })
            .collect())
    }

    async fn release(&self, _: &[Held]) {}

    async fn delete(&self, held: &Held) -> Result<(), QueueError> {
        self.letters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|l| l.message_id != held.receipt);
        Ok(())
    }
}
