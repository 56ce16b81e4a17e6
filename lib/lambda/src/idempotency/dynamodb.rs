//! The idempotency store on DynamoDB: one item per key, claimed with one conditional write that
//! returns the existing item when it fails (`ReturnValuesOnConditionCheckFailure = ALL_OLD`), so
//! two concurrent deliveries can never both run the handler and a duplicate costs one round trip.
//!
//! Item: `pk` (S), `status` (`IN_PROGRESS` | `COMPLETED`), `in_progress_expires_at` (N, epoch
//! milliseconds), `payload_hash` (S), `result` (S, JSON of [`StoredResult`]), `expires_at` (N,
//! epoch seconds: the table's TTL attribute), `updated_at` (S). A lease is an item `pk` =
//! `lease#<name>` with `holder` (S) and `lease_expires_at` (N, epoch milliseconds).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, TimeZone, Utc};

use super::{
    Claim, ClaimRequest, IdempotencyConfig, IdempotencyStore, Lease, LeaseRequest, StoreError,
    StoredResult,
};

const IN_PROGRESS: &str = "IN_PROGRESS";
const COMPLETED: &str = "COMPLETED";

/// A claim succeeds on a new key, an expired record (the table's TTL deletes items late, so an
/// expired item may still be there), or a lapsed in-progress claim.
const CLAIMABLE: &str = "attribute_not_exists(pk) OR expires_at < :now_s \
     OR (#status = :in_progress AND in_progress_expires_at < :now_ms)";

/// The DynamoDB idempotency store.
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    config: IdempotencyConfig,
}

type Item = HashMap<String, AttributeValue>;

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
        action: &'static str,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::new(action, self.table.clone(), error)
    }

    /// What a record found by a failed claim means for the claimer.
    fn claim_from(
        &self,
        key: &str,
        item: &Item,
        request: &ClaimRequest<'_>,
    ) -> Result<Claim, StoreError> {
        let text = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
        };
        if text("status") != Some(COMPLETED) {
            let expires = number(item.get("in_progress_expires_at")).unwrap_or(0);
            return Ok(Claim::InProgress {
                expires_at: Utc
                    .timestamp_millis_opt(expires)
                    .single()
                    .unwrap_or(request.now),
            });
        }
        // Records written before payload hashes were stored carry none: nothing to compare.
        if let Some(stored) = text("payload_hash").filter(|hash| *hash != request.payload_hash) {
            return Ok(Claim::PayloadMismatch {
                stored_hash: stored.to_owned(),
            });
        }
        let unreadable = |reason: String| {
            StoreError::new(
                "reading a completed record",
                format!("{}/{key}", self.table),
                reason,
            )
        };
        let result = text("result").ok_or_else(|| unreadable("it has no result".into()))?;
        let result: StoredResult =
            serde_json::from_str(result).map_err(|e| unreadable(e.to_string()))?;
        Ok(Claim::Completed(result))
    }

    async fn read(&self, key: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.unavailable("GetItem", e.into_service_error()))?;
        Ok(output.item)
    }
}

/// What a conditional PutItem that asks for `ALL_OLD` came back with.
enum Put {
    /// Written: the condition held.
    Written,
    /// Refused: the item that holds the key (`None` when it vanished in between, by TTL).
    Refused(Option<Item>),
}

impl DynamoDbStore {
    /// Sends a conditional PutItem; when its condition fails, the item holding the key comes
    /// back with the refusal (`ReturnValuesOnConditionCheckFailure = ALL_OLD`), or, from a store
    /// that does not return it (older emulators), from one more read.
    async fn put_unless_held(
        &self,
        action: &'static str,
        key: &str,
        request: aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder,
    ) -> Result<Put, StoreError> {
        let error = match request
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
        {
            Ok(_) => return Ok(Put::Written),
            Err(error) => error.into_service_error(),
        };
        let aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
            failed,
        ) = &error
        else {
            return Err(self.unavailable(action, error));
        };
        match failed.item() {
            Some(item) => Ok(Put::Refused(Some(item.clone()))),
            None => Ok(Put::Refused(self.read(key).await?)),
        }
    }
}

fn number(value: Option<&AttributeValue>) -> Option<i64> {
    value?.as_n().ok()?.parse().ok()
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

#[async_trait]
impl IdempotencyStore for DynamoDbStore {
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let now = request.now;
        let attempt = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(request.key.to_owned()))
            .item("status", AttributeValue::S(IN_PROGRESS.into()))
            .item(
                "in_progress_expires_at",
                n(request.in_progress_until.timestamp_millis()),
            )
            .item(
                "payload_hash",
                AttributeValue::S(request.payload_hash.to_owned()),
            )
            // Even an abandoned claim disappears eventually.
            .item("expires_at", n((now + self.config.record_ttl).timestamp()))
            .item("updated_at", AttributeValue::S(now.to_rfc3339()))
            .condition_expression(CLAIMABLE)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", AttributeValue::S(IN_PROGRESS.into()))
            .expression_attribute_values(":now_s", n(now.timestamp()))
            .expression_attribute_values(":now_ms", n(now.timestamp_millis()));
        let item = match self
            .put_unless_held("PutItem (claim)", request.key, attempt)
            .await?
        {
            Put::Written => return Ok(Claim::Acquired),
            Put::Refused(item) => item,
        };
        match item {
            Some(item) => self.claim_from(request.key, &item, request),
            // Gone in between (TTL): in progress, so the caller retries rather than runs unguarded.
            None => Ok(Claim::InProgress { expires_at: now }),
        }
    }

    async fn complete(
        &self,
        key: &str,
        payload_hash: &str,
        result: &StoredResult,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(result)
            .map_err(|e| self.unavailable("encoding the result", e))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(key.to_owned()))
            .item("status", AttributeValue::S(COMPLETED.into()))
            .item("payload_hash", AttributeValue::S(payload_hash.to_owned()))
            .item("result", AttributeValue::S(text))
            .item("expires_at", n((now + self.config.record_ttl).timestamp()))
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

    async fn acquire_lease(&self, request: &LeaseRequest<'_>) -> Result<Lease, StoreError> {
        let key = format!("lease#{}", request.name);
        let attempt = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(key.clone()))
            .item("holder", AttributeValue::S(request.holder.to_owned()))
            .item("lease_expires_at", n(request.until.timestamp_millis()))
            .item(
                "expires_at",
                n((request.until + self.config.in_progress_without_deadline).timestamp()),
            )
            .condition_expression(
                "attribute_not_exists(pk) OR lease_expires_at < :now_ms OR holder = :holder",
            )
            .expression_attribute_values(":now_ms", n(request.now.timestamp_millis()))
            .expression_attribute_values(":holder", AttributeValue::S(request.holder.to_owned()));
        let item = match self
            .put_unless_held("PutItem (lease)", &key, attempt)
            .await?
        {
            Put::Written => return Ok(Lease::Acquired),
            Put::Refused(item) => item,
        };
        let holder = item
            .as_ref()
            .and_then(|i| i.get("holder"))
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        let until = number(item.as_ref().and_then(|i| i.get("lease_expires_at")))
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .unwrap_or(request.now);
        Ok(Lease::Held { holder, until })
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let outcome = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("lease#{name}")))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", AttributeValue::S(holder.to_owned()))
            .send()
            .await;
        match outcome {
            Ok(_) => Ok(()),
            Err(error) => {
                let error = error.into_service_error();
                if error.is_conditional_check_failed_exception() {
                    return Ok(());
                }
                Err(self.unavailable("DeleteItem (lease)", error))
            }
        }
    }
}
