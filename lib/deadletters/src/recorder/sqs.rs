//! Dead letters recorded on SQS: one message per [`FailureRecord`], with an `error_class`
//! attribute.

use alchemiser_events::FailureRecord;
use async_trait::async_trait;
use aws_sdk_sqs::types::MessageAttributeValue;

use super::{DeadLetterNotRecorded, DeadLetterRecorder};

/// SQS's largest message (1 MiB since 2025; LocalStack takes 256 KiB:
/// `DEAD_LETTER_QUEUE_MAX_BYTES`).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_576;

/// Records dead letters in an SQS queue (the stage's dead-letter queue).
pub struct SqsDeadLetterRecorder {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    max_bytes: usize,
}

impl SqsDeadLetterRecorder {
    /// A recorder sending to `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            max_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }

    /// Messages are at most `bytes` (a record over it travels without its event).
    pub fn with_max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    fn error(
        &self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> DeadLetterNotRecorded {
        DeadLetterNotRecorded {
            location: self.queue_url.clone(),
            source: Box::new(source),
        }
    }
}

#[async_trait]
impl DeadLetterRecorder for SqsDeadLetterRecorder {
    async fn record(&self, letter: &FailureRecord) -> Result<String, DeadLetterNotRecorded> {
        // The attribute and SQS's own overhead: a few hundred bytes.
        let record = letter.fitting(self.max_bytes.saturating_sub(1024));
        let body = serde_json::to_string(&record).map_err(|e| self.error(e))?;
        let error_class = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&letter.error_class)
            .build()
            .map_err(|e| self.error(e))?;
        let sent = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes("error_class", error_class)
            .send()
            .await
            .map_err(|e| self.error(e))?;
        Ok(sent.message_id.unwrap_or_default())
    }

    fn location(&self) -> String {
        self.queue_url.clone()
    }
}
