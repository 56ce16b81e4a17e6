//! The dead-letter queue on SQS.

use std::collections::HashSet;
use std::time::Duration;

use alchemiser_events::DeadLetter;
use async_trait::async_trait;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName,
};
use chrono::DateTime;

use crate::{DeadLetters, Held, QueueError, Reading};

/// Long-poll wait of one receive: long polling asks every SQS server, so an empty answer means
/// the queue has no visible message left.
const RECEIVE_WAIT_SECS: i32 = 1;
/// How long [`DeadLetters::hold_all`] reads: its messages stay hidden until then and its
/// `visibility` beyond, so none comes back (and is received again) while it reads.
const HOLD_ALL_READ_LIMIT: Duration = Duration::from_secs(120);
/// Messages per page of [`DeadLetters::hold_all`].
const HOLD_ALL_PAGE: usize = 100;

/// Builds a dead letter from an SQS message: its body, message attributes, and the system
/// attributes SentTimestamp and ApproximateReceiveCount.
pub fn dead_letter_from_message(message: &Message) -> DeadLetter {
    let system = message.attributes();
    let system_value =
        |name: MessageSystemAttributeName| system.and_then(|a| a.get(&name)).map(String::as_str);
    let sent_at = system_value(MessageSystemAttributeName::SentTimestamp)
        .and_then(|ms| ms.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis);
    let receive_count = system_value(MessageSystemAttributeName::ApproximateReceiveCount)
        .and_then(|n| n.parse().ok());
    let attributes = message
        .message_attributes()
        .map(|attrs| {
            attrs
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    DeadLetter::parse(
        message.message_id().unwrap_or_default(),
        message.body().unwrap_or_default(),
        attributes,
        sent_at,
        receive_count,
    )
}

/// A dead-letter queue on SQS.
#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    sqs: aws_sdk_sqs::Client,
    url: String,
    max_messages: usize,
}

impl SqsDeadLetters {
    /// The queue at `url`.
    pub fn new(sqs: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            sqs,
            url: url.into(),
            max_messages: 10_000,
        }
    }

    /// Reads at most `max` messages (default 10,000): a bound, so a reading always ends.
    pub fn with_max_messages(mut self, max: usize) -> Self {
        self.max_messages = max.max(1);
        self
    }

    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn error(
        &self,
        action: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> QueueError {
        QueueError {
            action,
            queue: self.url.clone(),
            source: Box::new(source),
        }
    }
}

#[async_trait]
impl DeadLetters for SqsDeadLetters {
    fn location(&self) -> String {
        self.url.clone()
    }

    async fn hold_page(&self, max: usize, visibility: Duration) -> Result<Vec<Held>, QueueError> {
        let mut held: Vec<Held> = Vec::new();
        let mut seen = HashSet::new();
        while held.len() < max {
            let want = i32::try_from((max - held.len()).min(10)).unwrap_or(10);
            let output = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(want)
                .visibility_timeout(i32::try_from(visibility.as_secs()).unwrap_or(i32::MAX))
                .wait_time_seconds(RECEIVE_WAIT_SECS)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await;
            let output = match output {
                Ok(output) => output,
                Err(error) => {
                    // Give back what we hold before reporting.
                    self.release(&held).await;
                    return Err(self.error("ReceiveMessage", error));
                }
            };
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for message in messages {
                let letter = dead_letter_from_message(&message);
                let receipt = message.receipt_handle.unwrap_or_default();
                if seen.insert(letter.message_id.clone()) {
                    held.push(Held { letter, receipt });
                }
            }
        }
        Ok(held)
    }

    async fn hold_all(&self, visibility: Duration) -> Result<Vec<Held>, QueueError> {
        let mut reading = Reading::new(
            self,
            alchemiser_clock::system(),
            HOLD_ALL_READ_LIMIT,
            visibility,
        )
        .at_most(self.max_messages);
        loop {
            match reading.next_page(HOLD_ALL_PAGE).await {
                Ok(Some(_)) => {}
                Ok(None) => return Ok(reading.into_held()),
                Err(error) => {
                    reading.release().await;
                    return Err(error);
                }
            }
        }
    }

    async fn release(&self, held: &[Held]) {
        for chunk in held.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, h)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&h.receipt)
                        .visibility_timeout(0)
                        .build()
                        .ok()
                })
                .collect();
            if entries.is_empty() {
                continue;
            }
            let result = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await;
            match result {
                Ok(output) if !output.failed.is_empty() => tracing::warn!(
                    failed = output.failed.len(),
                    "some messages could not be made visible again; they reappear when their visibility timeout ends"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(
                    error = %aws_sdk_sqs::error::DisplayErrorContext(&error),
                    "ChangeMessageVisibilityBatch failed; the messages reappear when their visibility timeout ends"
                ),
            }
        }
    }

    async fn delete(&self, held: &Held) -> Result<(), QueueError> {
        self.sqs
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(&held.receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| self.error("DeleteMessage", error))
    }
}
