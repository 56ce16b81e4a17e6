//! The dead-letter queue as ports, on SQS and in memory: the write side ([`DeadLetterRecorder`],
//! in [`recorder`]: how a function records an event it refused for good) and the read side
//! ([`DeadLetters`]: what the operator tools (`alchemiser dlq`) and the workflow ledger's sweep
//! read). SQS has no "peek": reading a message hides it for a while, so a reader holds what it
//! received and gives it back ([`peek`] does both); a [`Reading`] reads page by page within a
//! time limit, so a large queue never keeps a reader past its deadline.
//!
//! What a record means is the contract's ([`alchemiser_events::DeadLetter`]).

mod memory;
pub mod recorder;
mod sqs;

use std::sync::Arc;
use std::time::Duration;

use alchemiser_clock::Clock;
use alchemiser_events::DeadLetter;
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use thiserror::Error;

pub use memory::MemoryDeadLetters;
pub use recorder::{
    DeadLetterNotRecorded, DeadLetterRecorder, MemoryDeadLetterRecorder, SqsDeadLetterRecorder,
};
pub use sqs::{dead_letter_from_message, SqsDeadLetters};

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

    /// Receives at most `max` visible messages (one page), hiding each for `visibility` so that
    /// the next page brings others. Fewer than `max` means the queue had no more visible
    /// messages. The caller gives every one back ([`DeadLetters::release`]) or deletes it.
    async fn hold_page(&self, max: usize, visibility: Duration) -> Result<Vec<Held>, QueueError>;

    /// Receives every visible message (up to the adapter's bound), each hidden for at least
    /// `visibility` after the whole read ended. The caller gives every one back or deletes it.
    async fn hold_all(&self, visibility: Duration) -> Result<Vec<Held>, QueueError>;

    /// Makes held messages visible again at once. Failures are logged: the messages come back
    /// anyway when their visibility timeout ends.
    async fn release(&self, held: &[Held]);

    /// Deletes one held message (after what it carried was dealt with).
    async fn delete(&self, held: &Held) -> Result<(), QueueError>;
}

/// A reading of a queue page by page, for at most a given time: every message it receives stays
/// hidden until the reading's end and `hold_after` beyond, so no page brings back a message an
/// earlier page holds (each would count as a receive again, and the reading would see the same
/// messages instead of the rest).
pub struct Reading<'q> {
    queue: &'q dyn DeadLetters,
    clock: Arc<dyn Clock>,
    ends_at: DateTime<Utc>,
    hold_after: Duration,
    max: usize,
    held: Vec<Held>,
    exhausted: bool,
}

impl<'q> Reading<'q> {
    /// A reading of `queue` that asks for no page after `limit` (by `clock`) and keeps what it
    /// holds hidden `hold_after` beyond that, for the work on the last page.
    pub fn new(
        queue: &'q dyn DeadLetters,
        clock: Arc<dyn Clock>,
        limit: Duration,
        hold_after: Duration,
    ) -> Self {
        let now = clock.now();
        let ends_at = TimeDelta::from_std(limit)
            .ok()
            .and_then(|limit| now.checked_add_signed(limit))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        Self {
            queue,
            clock,
            ends_at,
            hold_after,
            max: usize::MAX,
            held: Vec::new(),
            exhausted: false,
        }
    }

    /// Holds at most `max` messages in all.
    pub fn at_most(mut self, max: usize) -> Self {
        self.max = max;
        self
    }

    /// The next page of at most `size` messages, or `None` once the queue has no more visible
    /// messages, the reading holds its maximum, or its time is up ([`Reading::complete`] tells
    /// whether it saw everything). On an error the pages held so far stay held: give them back
    /// with [`Reading::release`].
    pub async fn next_page(&mut self, size: usize) -> Result<Option<Vec<Held>>, QueueError> {
        let left = self.ends_at - self.clock.now();
        let want = size.min(self.max.saturating_sub(self.held.len()));
        if self.exhausted || want == 0 || left <= TimeDelta::zero() {
            return Ok(None);
        }
        let visibility = left.to_std().unwrap_or_default() + self.hold_after;
        let page = self.queue.hold_page(want, visibility).await?;
        self.exhausted = page.len() < want;
        if page.is_empty() {
            return Ok(None);
        }
        self.held.extend(page.iter().cloned());
        Ok(Some(page))
    }

    /// Whether the reading saw every message that was visible: it ended because the queue had
    /// no more, not because of its time or its maximum.
    pub fn complete(&self) -> bool {
        self.exhausted
    }

    /// Every message held so far.
    pub fn held(&self) -> &[Held] {
        &self.held
    }

    /// The messages held, to delete some and give the others back; the reading ends.
    pub fn into_held(self) -> Vec<Held> {
        self.held
    }

    /// Gives every held message back; the reading ends.
    pub async fn release(self) {
        self.queue.release(&self.held).await;
    }
}

/// What [`peek`] saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Peeked {
    /// The messages, oldest first.
    pub letters: Vec<DeadLetter>,
    /// Whether that is every message the queue had (else the reading's time or bound ran out).
    pub complete: bool,
}

/// Messages per page of a peek: ten receives of ten.
pub const PEEK_PAGE: usize = 100;
/// How long a peek reads before it stops and says it saw only part of the queue.
pub const PEEK_READ_LIMIT: Duration = Duration::from_secs(60);
/// How long a peek's messages stay hidden after its reading ends if it cannot give them back
/// (the reader died): long enough to give them back, short enough to come back soon.
pub const PEEK_HOLD_AFTER: Duration = Duration::from_secs(30);

/// Every message of `queue` (at most `max`), read within [`PEEK_READ_LIMIT`] and given back at
/// once. SQS has no peek: each message is received once (its receive count grows by one) and
/// hidden from other readers until the peek gives it back, at most [`PEEK_READ_LIMIT`] +
/// [`PEEK_HOLD_AFTER`].
pub async fn peek(queue: &dyn DeadLetters, max: usize) -> Result<Peeked, QueueError> {
    let mut reading = Reading::new(
        queue,
        alchemiser_clock::system(),
        PEEK_READ_LIMIT,
        PEEK_HOLD_AFTER,
    )
    .at_most(max);
    loop {
        match reading.next_page(PEEK_PAGE).await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(error) => {
                reading.release().await;
                return Err(error);
            }
        }
    }
    let complete = reading.complete();
    let mut letters: Vec<DeadLetter> = reading.held().iter().map(|h| h.letter.clone()).collect();
    reading.release().await;
    letters.sort_by_key(|l| l.sent_at);
    Ok(Peeked { letters, complete })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alchemiser_clock::ManualClock;

    fn queue_of(count: usize) -> MemoryDeadLetters {
        let queue = MemoryDeadLetters::new();
        for n in 0..count {
            queue.push(DeadLetter::parse(
                format!("m-{n}"),
                "{}",
                Default::default(),
                None,
                None,
            ));
        }
        queue
    }

    fn clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::starting_at(Utc::now()))
    }

    #[tokio::test]
    async fn a_reading_brings_each_message_once_and_gives_every_one_back() {
        let queue = queue_of(250);
        let mut reading = Reading::new(
            &queue,
            clock(),
            Duration::from_secs(60),
            Duration::from_secs(30),
        );
        let mut sizes = Vec::new();
        while let Some(page) = reading.next_page(100).await.unwrap() {
            sizes.push(page.len());
        }
        assert_eq!(sizes, [100, 100, 50]);
        assert!(reading.complete());
        let mut ids: Vec<&str> = reading
            .held()
            .iter()
            .map(|h| h.letter.message_id.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 250, "a message came twice");
        reading.release().await;
        assert_eq!(
            queue.hold_page(1000, Duration::ZERO).await.unwrap().len(),
            250,
            "given back"
        );
    }

    #[tokio::test]
    async fn a_reading_stops_at_its_time_and_at_its_bound_and_says_it_saw_part() {
        let queue = queue_of(250);
        let clock = clock();
        let mut timed = Reading::new(
            &queue,
            clock.clone(),
            Duration::from_secs(10),
            Duration::from_secs(30),
        );
        assert_eq!(
            timed.next_page(100).await.unwrap().map(|p| p.len()),
            Some(100)
        );
        clock.advance(Duration::from_secs(10));
        assert!(timed.next_page(100).await.unwrap().is_none());
        assert!(!timed.complete());
        timed.release().await;

        let mut bounded = Reading::new(
            &queue,
            clock,
            Duration::from_secs(60),
            Duration::from_secs(30),
        )
        .at_most(120);
        let mut read = 0;
        while let Some(page) = bounded.next_page(100).await.unwrap() {
            read += page.len();
        }
        assert_eq!(read, 120);
        assert!(!bounded.complete());
    }

    /// Records the visibility each page was held for.
    #[derive(Default)]
    struct Visibilities(std::sync::Mutex<Vec<Duration>>);

    #[async_trait]
    impl DeadLetters for Visibilities {
        fn location(&self) -> String {
            "visibilities".into()
        }
        async fn hold_page(
            &self,
            max: usize,
            visibility: Duration,
        ) -> Result<Vec<Held>, QueueError> {
            self.0.lock().unwrap().push(visibility);
            Ok(queue_of(max).hold_page(max, visibility).await.unwrap())
        }
        async fn hold_all(&self, _: Duration) -> Result<Vec<Held>, QueueError> {
            unreachable!("a reading reads pages")
        }
        async fn release(&self, _: &[Held]) {}
        async fn delete(&self, _: &Held) -> Result<(), QueueError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn every_page_stays_hidden_until_the_reading_ends_and_its_margin_after() {
        let queue = Visibilities::default();
        let clock = clock();
        let mut reading = Reading::new(
            &queue,
            clock.clone(),
            Duration::from_secs(60),
            Duration::from_secs(30),
        );
        reading.next_page(10).await.unwrap();
        clock.advance(Duration::from_secs(45));
        reading.next_page(10).await.unwrap();
        assert_eq!(
            *queue.0.lock().unwrap(),
            [Duration::from_secs(90), Duration::from_secs(45)]
        );
    }
}
