//! Where permanent failures are recorded: the dead-letter queue (`FAILURE_QUEUE_URL`).

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A permanent failure, as written to the failure queue: enough to understand and resend it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// The function that refused the event.
    pub function: String,
    /// Why: the field and rule, the unknown type, the bad plan...
    pub reason: String,
    /// `permanent` (kept as a field so consumers of the queue can filter).
    pub error_class: String,
    /// The event's id, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The event's type (`detail-type`), when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_type: Option<String>,
    /// The correlation id, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// When the failure was recorded.
    pub failed_at: DateTime<Utc>,
    /// The invocation payload exactly as received.
    pub event: Value,
}

/// Records permanent failures.
#[async_trait]
pub trait FailureSink: Send + Sync {
    /// Records one failure; an error means it was NOT recorded.
    async fn record(&self, failure: &FailureRecord) -> Result<(), String>;
    /// Where records go, for messages.
    fn location(&self) -> String;
}

/// The SQS failure queue.
pub struct SqsFailureSink {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsFailureSink {
    /// A sink sending to `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl FailureSink for SqsFailureSink {
    async fn record(&self, failure: &FailureRecord) -> Result<(), String> {
        let body = serde_json::to_string(failure).map_err(|e| e.to_string())?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes(
                "error_class",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(&failure.error_class)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .send()
            .await
            .map_err(|e| {
                format!(
                    "SendMessage to {}: {}",
                    self.queue_url,
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })?;
        Ok(())
    }

    fn location(&self) -> String {
        self.queue_url.clone()
    }
}

/// Keeps failures in memory: `alchemiser invoke` prints them; tests inspect them.
#[derive(Debug, Default)]
pub struct MemoryFailureSink(Mutex<Vec<FailureRecord>>);

impl MemoryFailureSink {
    /// The failures recorded so far.
    pub fn records(&self) -> Vec<FailureRecord> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl FailureSink for MemoryFailureSink {
    async fn record(&self, failure: &FailureRecord) -> Result<(), String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(failure.clone());
        Ok(())
    }

    fn location(&self) -> String {
        "memory".into()
    }
}
