//! A dead-letter queue in memory: the simulation's, and the tests'.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use alchemiser_events::DeadLetter;
use async_trait::async_trait;

use crate::{DeadLetters, Held, QueueError};

/// Dead letters kept in memory, in the order they were added. A page hides what it holds until
/// it is given back or deleted, as SQS does; [`DeadLetters::hold_all`] hides nothing (the
/// simulation's operator holds the whole queue to pick one message and leaves the rest).
#[derive(Debug, Default)]
pub struct MemoryDeadLetters {
    letters: Mutex<Vec<DeadLetter>>,
    /// Message ids a page holds.
    hidden: Mutex<BTreeSet<String>>,
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

    /// The message `message_id`, if it is in the queue.
    pub fn letter(&self, message_id: &str) -> Option<DeadLetter> {
        self.letters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|letter| letter.message_id == message_id)
            .cloned()
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

    async fn hold_page(&self, max: usize, _: Duration) -> Result<Vec<Held>, QueueError> {
        let mut hidden = self.hidden.lock().unwrap_or_else(|e| e.into_inner());
        // Only the page is copied: a sweep reads the queue every few minutes of a long run.
        let page: Vec<Held> = self
            .letters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|letter| !hidden.contains(&letter.message_id))
            .take(max)
            .map(|letter| Held {
                receipt: letter.message_id.clone(),
                letter: letter.clone(),
            })
            .collect();
        hidden.extend(page.iter().map(|held| held.receipt.clone()));
        Ok(page)
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

    async fn release(&self, held: &[Held]) {
        let mut hidden = self.hidden.lock().unwrap_or_else(|e| e.into_inner());
        for item in held {
            hidden.remove(&item.receipt);
        }
    }

    async fn delete(&self, held: &Held) -> Result<(), QueueError> {
        self.hidden
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&held.receipt);
        self.letters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|l| l.message_id != held.receipt);
        Ok(())
    }
}
