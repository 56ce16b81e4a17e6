//! The idempotency port: claim an event before handling it, remember the result after.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// What a completed event left behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResult {
    /// The events the handler emitted, in wire JSON.
    pub events: Vec<Value>,
    /// Whether every emitted event was published (or parked in the outbox). A completed event
    /// that was not yet published is published again by the next delivery.
    pub published: bool,
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// First delivery (or the earlier attempt's claim expired): run the handler.
    Acquired,
    /// Already handled: here is the result; do not run the handler again.
    Completed(StoredResult),
    /// Another invocation is handling it right now.
    InProgress {
        /// When that claim lapses if its invocation never finishes.
        expires_at: DateTime<Utc>,
    },
}

/// The store could not answer. Handling must not go ahead unguarded: callers fail closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("idempotency store unavailable (retry later): {0}")]
pub struct StoreError(pub String);

/// Timings of claims and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyConfig {
    /// How long an IN_PROGRESS claim holds before another delivery may take over: longer than
    /// the function's timeout, so a live invocation is never overtaken.
    pub in_progress_expiry: Duration,
    /// How long a COMPLETED record is kept: at least the archive's retention (365 days), so a
    /// replay of anything in the archive is recognised.
    pub record_ttl: Duration,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            in_progress_expiry: Duration::from_secs(300),
            record_ttl: Duration::from_secs(366 * 24 * 60 * 60),
        }
    }
}

/// Claims and records of handled events, keyed by `handler#event_id`.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for handling now.
    async fn claim(&self, key: &str, now: DateTime<Utc>) -> Result<Claim, StoreError>;
    /// Records the result of a claimed key.
    async fn complete(
        &self,
        key: &str,
        result: &StoredResult,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Gives a claim back after a transient failure, so the retry can run at once.
    async fn release(&self, key: &str) -> Result<(), StoreError>;
}

#[derive(Debug, Clone)]
enum Record {
    InProgress { expires_at: DateTime<Utc> },
    Completed(StoredResult),
}

/// An in-process store, for `alchemiser invoke`, `alchemiser run` and tests.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    records: Mutex<HashMap<String, Record>>,
    config: IdempotencyConfig,
}

impl InMemoryStore {
    /// An empty store with the default timings.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with the given timings.
    pub fn with_config(config: IdempotencyConfig) -> Self {
        Self {
            records: Mutex::default(),
            config,
        }
    }
}

#[async_trait]
impl IdempotencyStore for InMemoryStore {
    async fn claim(&self, key: &str, now: DateTime<Utc>) -> Result<Claim, StoreError> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        match records.get(key) {
            Some(Record::Completed(result)) => return Ok(Claim::Completed(result.clone())),
            Some(Record::InProgress { expires_at }) if *expires_at > now => {
                return Ok(Claim::InProgress {
                    expires_at: *expires_at,
                })
            }
            _ => {}
        }
        let expires_at = now + self.config.in_progress_expiry;
        records.insert(key.to_owned(), Record::InProgress { expires_at });
        Ok(Claim::Acquired)
    }

    async fn complete(
        &self,
        key: &str,
        result: &StoredResult,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.insert(key.to_owned(), Record::Completed(result.clone()));
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(records.get(key), Some(Record::InProgress { .. })) {
            records.remove(key);
        }
        Ok(())
    }
}
