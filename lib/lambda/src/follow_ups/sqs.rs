//! Follow-ups on SQS: one message per follow-up, delayed until it is due (at most 15 minutes; a
//! later one comes early and asks again), delivered to the function by its event source mapping.

use async_trait::async_trait;

use super::{FollowUp, FollowUpError, FollowUps, LONGEST_DELAY};

/// The follow-up queue (`FOLLOW_UP_QUEUE_URL`).
pub struct SqsFollowUps {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    clock: std::sync::Arc<dyn alchemiser_clock::Clock>,
}

impl SqsFollowUps {
    /// Follow-ups sent to `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            clock: alchemiser_clock::system(),
        }
    }

    fn error(&self, source: impl std::error::Error + Send + Sync + 'static) -> FollowUpError {
        FollowUpError {
            location: self.queue_url.clone(),
            source: Box::new(source),
        }
    }
}

#[async_trait]
impl FollowUps for SqsFollowUps {
    async fn schedule(&self, follow_up: &FollowUp) -> Result<(), FollowUpError> {
        let body = serde_json::to_string(follow_up).map_err(|e| self.error(e))?;
        let delay = follow_up.delay(self.clock.now()).min(LONGEST_DELAY);
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(i32::try_from(delay.as_secs()).unwrap_or(900))
            .send()
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    fn location(&self) -> String {
        self.queue_url.clone()
    }
}
