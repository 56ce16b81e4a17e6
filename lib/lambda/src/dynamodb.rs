//! The idempotency store on DynamoDB: one item per `handler#event_id`, claimed with a conditional
//! write so two concurrent deliveries cannot both run the handler.
//!
//! Item: `pk` (S), `status` (`IN_PROGRESS` | `COMPLETED`), `in_progress_expires_at` (N, epoch
//! seconds), `result` (S, JSON of [`StoredResult`]), `expires_at` (N, epoch seconds: the table's
//! TTL attribute), `updated_at` (S).

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, TimeZone, Utc};

use crate::idempotency::{Claim, IdempotencyConfig, IdempotencyStore, StoreError, StoredResult};

const IN_PROGRESS: &str = "IN_PROGRESS";
const COMPLETED: &str = "COMPLETED";

/// The DynamoDB idempotency store.
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    config: IdempotencyConfig,
}

impl DynamoDbStore {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>, config: IdempotencyConfig) -> Self {
        Self {
            client,
            table: table.into(),
            config,
        }
    }

    fn unavailable(
        &self,
        action: &str,
        error: impl ProvideErrorMetadata + std::fmt::Display,
    ) -> StoreError {
        StoreError(format!(
            "{action} on table `{}` failed: {} ({})",
            self.table,
            error.message().unwrap_or("no message"),
            error.code().unwrap_or("no error code")
        ))
    }

    async fn read(&self, key: &str) -> Result<Option<Claim>, StoreError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.unavailable("GetItem", e.into_service_error()))?
            .item;
        let Some(item) = item else { return Ok(None) };
        let status = item
            .get("status")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str);
        match status {
            Some(COMPLETED) => {
                let text = item
                    .get("result")
                    .and_then(|v| v.as_s().ok())
                    .ok_or_else(|| StoreError(format!("completed record `{key}` has no result")))?;
                let result = serde_json::from_str(text).map_err(|e| {
                    StoreError(format!("completed record `{key}` is unreadable: {e}"))
                })?;
                Ok(Some(Claim::Completed(result)))
            }
            _ => {
                let expires = number(item.get("in_progress_expires_at")).unwrap_or(0);
                Ok(Some(Claim::InProgress {
                    expires_at: epoch(expires),
                }))
            }
        }
    }
}

fn number(value: Option<&AttributeValue>) -> Option<i64> {
    value?.as_n().ok()?.parse().ok()
}

fn epoch(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).single().unwrap_or_default()
}

#[async_trait]
impl IdempotencyStore for DynamoDbStore {
    async fn claim(&self, key: &str, now: DateTime<Utc>) -> Result<Claim, StoreError> {
        let expires = now + self.config.in_progress_expiry;
        let attempt = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(key.to_owned()))
            .item("status", AttributeValue::S(IN_PROGRESS.into()))
            .item("in_progress_expires_at", AttributeValue::N(expires.timestamp().to_string()))
            // Even an abandoned claim disappears eventually.
            .item("expires_at", AttributeValue::N((now + self.config.record_ttl).timestamp().to_string()))
            .item("updated_at", AttributeValue::S(now.to_rfc3339()))
            .condition_expression(
                "attribute_not_exists(pk) OR (#status = :in_progress AND in_progress_expires_at < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", AttributeValue::S(IN_PROGRESS.into()))
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp().to_string()))
            .send()
            .await;
        match attempt {
            Ok(_) => Ok(Claim::Acquired),
            Err(error) => {
                let error = error.into_service_error();
                if !error.is_conditional_check_failed_exception() {
                    return Err(self.unavailable("PutItem (claim)", error));
                }
                // Someone holds or completed it; a record that vanished in between (TTL) is
                // reported as in progress so the caller retries rather than runs unguarded.
                Ok(self
                    .read(key)
                    .await?
                    .unwrap_or(Claim::InProgress { expires_at: now }))
            }
        }
    }

    async fn complete(
        &self,
        key: &str,
        result: &StoredResult,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(result).map_err(|e| StoreError(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(key.to_owned()))
            .item("status", AttributeValue::S(COMPLETED.into()))
            .item("result", AttributeValue::S(text))
            .item(
                "expires_at",
                AttributeValue::N((now + self.config.record_ttl).timestamp().to_string()),
            )
            .item("updated_at", AttributeValue::S(now.to_rfc3339()))
            .send()
            .await
            .map_err(|e| self.unavailable("PutItem (complete)", e.into_service_error()))?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let outcome = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_owned()))
            .condition_expression("#status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", AttributeValue::S(IN_PROGRESS.into()))
            .send()
            .await;
        match outcome {
            Ok(_) => Ok(()),
            Err(error) => {
                let error = error.into_service_error();
                if error.is_conditional_check_failed_exception() {
                    return Ok(());
                }
                Err(self.unavailable("DeleteItem (release)", error))
            }
        }
    }
}
