//! The idempotency port: claim an event before handling it, remember the result after — the
//! model of Powertools for AWS Lambda's DynamoDB persistence layer.
//!
//! - A claim is one conditional write that succeeds when the key is new, when its record has
//!   expired, or when an earlier claim lapsed (its invocation died); otherwise the store returns
//!   the record it found, in the same round trip.
//! - A claim lapses at the claiming invocation's deadline plus a margin, so Lambda's retries
//!   (≈ 1 and 2 minutes later) take over from an invocation that crashed, timed out or ran out of
//!   memory, and never from one that is still running.
//! - The record keeps a hash of the payload: the same key with another payload is refused, not
//!   silently treated as a duplicate.
//! - A store that cannot answer is an error: callers fail closed (nothing runs unguarded).

mod dynamodb;
mod memory;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

pub use dynamodb::DynamoDbStore;
pub use memory::{InMemoryStore, InterceptedStore};

/// What a completed event left behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResult {
    /// The events the handler emitted, in wire JSON.
    pub events: Vec<Value>,
    /// Whether every emitted event was published (or kept in the outbox) and the follow-up
    /// sent. A completed event that was not yet published is published (and its follow-up sent)
    /// again by the next delivery.
    pub published: bool,
    /// The follow-up the handler asked for, when its work on the event was not done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<crate::follow_ups::FollowUp>,
}

/// What a claim asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimRequest<'a> {
    /// The idempotency key, e.g. `portfolio#signal-generated-0001`.
    pub key: &'a str,
    /// A hash of the payload the key stands for (see [`payload_hash`]).
    pub payload_hash: &'a str,
    /// The time of the claim.
    pub now: DateTime<Utc>,
    /// When the claim lapses if the invocation never completes it.
    pub in_progress_until: DateTime<Utc>,
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// First delivery (or the earlier attempt's claim lapsed, or its record expired): run.
    Acquired,
    /// Already handled: here is the result; do not run the handler again.
    Completed(StoredResult),
    /// Another invocation is handling it right now.
    InProgress {
        /// When that claim lapses if its invocation never finishes.
        expires_at: DateTime<Utc>,
    },
    /// The key was handled before for a different payload: a producer reused an event id.
    PayloadMismatch {
        /// The hash stored with the key.
        stored_hash: String,
    },
}

/// The store could not answer. Handling must not go ahead unguarded: callers fail closed.
#[derive(Debug, Error)]
#[error("idempotency store unavailable (retry later): {action} on `{target}` failed")]
pub struct StoreError {
    /// The operation, e.g. `PutItem (claim)`.
    pub action: &'static str,
    /// The table (or store) it was aimed at.
    pub target: String,
    /// Why it failed.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    /// A failure of `action` on `target`.
    pub fn new(
        action: &'static str,
        target: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            action,
            target: target.into(),
            source: source.into(),
        }
    }
}

/// Timings of claims and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyConfig {
    /// How long after the invocation's deadline a claim still holds: the clocks of the function
    /// and the store may differ a little, and a claim must never lapse under a live invocation.
    pub in_progress_margin: Duration,
    /// How long a claim holds when the invocation has no deadline (the CLI, tests).
    pub in_progress_without_deadline: Duration,
    /// How long a COMPLETED record is kept: at least the archive's retention (365 days), so a
    /// replay of anything in the archive is recognised.
    pub record_ttl: Duration,
    /// How long a lease holds beyond its invocation's deadline (or its follow-up's due time):
    /// long enough for Lambda's first retry of a crashed invocation, or for the follow-up, to take
    /// it again before another event can.
    pub lease_grace: Duration,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            in_progress_margin: Duration::from_secs(10),
            in_progress_without_deadline: Duration::from_secs(300),
            record_ttl: Duration::from_secs(366 * 24 * 60 * 60),
            lease_grace: Duration::from_secs(4 * 60),
        }
    }
}

impl IdempotencyConfig {
    /// When a claim made now by an invocation ending at `deadline` lapses.
    pub fn in_progress_until(
        &self,
        now: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> DateTime<Utc> {
        match deadline {
            Some(deadline) => deadline.max(now) + self.in_progress_margin,
            None => now + self.in_progress_without_deadline,
        }
    }
}

impl IdempotencyConfig {
    /// When a lease taken now lapses if never given back: after `until` (the invocation's
    /// deadline, or the follow-up's due time; now when there is none), its margin and the grace.
    pub fn lease_until(&self, now: DateTime<Utc>, until: Option<DateTime<Utc>>) -> DateTime<Utc> {
        self.in_progress_until(now, until)
            + chrono::TimeDelta::from_std(self.lease_grace).unwrap_or(chrono::TimeDelta::MAX)
    }
}

/// Claims and records of handled events, keyed by `handler#event_id`.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `request.key` for handling now.
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Claim, StoreError>;
    /// Records the result of a claimed key (and the payload hash it stands for).
    async fn complete(
        &self,
        key: &str,
        payload_hash: &str,
        result: &StoredResult,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Gives a claim back after a failure, so a retry can run at once.
    async fn release(&self, key: &str) -> Result<(), StoreError>;

    /// Takes the lease `name` for `holder` until `until`, unless another holder has it and it
    /// has not lapsed.
    async fn acquire_lease(&self, request: &LeaseRequest<'_>) -> Result<Lease, StoreError>;

    /// Gives the lease `name` back, if `holder` still has it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}

/// What a lease asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseRequest<'a> {
    /// What is leased, e.g. `execution#broker-account`.
    pub name: &'a str,
    /// Who asks (the idempotency key of the work it guards).
    pub holder: &'a str,
    /// The time of the request.
    pub now: DateTime<Utc>,
    /// When the lease lapses if it is never given back.
    pub until: DateTime<Utc>,
}

/// The answer to a lease request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// Taken (or already held by the same holder).
    Acquired,
    /// Someone else holds it.
    Held {
        /// Who.
        holder: String,
        /// When it lapses if never given back.
        until: DateTime<Utc>,
    },
}

/// The hash a record keeps of its payload: SHA-256 over the canonical JSON of the value (object
/// keys sorted, nulls left out: [`alchemiser_events::canonical_json`]), hex. The same event
/// delivered again (or replayed) hashes the same.
pub fn payload_hash(payload: &Value) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(alchemiser_events::canonical_json(payload).as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::{payload_hash, IdempotencyConfig};
    use chrono::{TimeDelta, TimeZone, Utc};

    #[test]
    fn a_lease_outlives_its_invocation_by_the_margin_and_the_grace() {
        // A lease that lapsed before its invocation's end (or its retry) would let another plan
        // trade the account under it: it holds past the deadline by the margin plus the grace.
        let config = IdempotencyConfig::default();
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).unwrap();
        let deadline = now + TimeDelta::seconds(120);
        assert_eq!(
            config.lease_until(now, Some(deadline)),
            deadline + TimeDelta::seconds(10) + TimeDelta::seconds(4 * 60)
        );
        // A deadline already past counts from now; no deadline holds for the no-deadline span.
        assert_eq!(
            config.lease_until(now, Some(now - TimeDelta::seconds(5))),
            now + TimeDelta::seconds(10 + 4 * 60)
        );
        assert_eq!(
            config.lease_until(now, None),
            now + TimeDelta::seconds(300 + 4 * 60)
        );
    }

    #[test]
    fn the_payload_hash_ignores_key_order_but_not_values() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b": {"y": 1, "x": [2, {"q": 1, "p": 2}]}, "a": "1.50"}"#)
                .unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{"a": "1.50", "b": {"x": [2, {"p": 2, "q": 1}], "y": 1}}"#)
                .unwrap();
        let c: serde_json::Value =
            serde_json::from_str(r#"{"a": "1.5", "b": {"x": [2, {"p": 2, "q": 1}], "y": 1}}"#)
                .unwrap();
        let with_null: serde_json::Value = serde_json::from_str(
            r#"{"a": "1.50", "m": null, "b": {"x": [2, {"p": 2, "q": 1}], "y": 1}}"#,
        )
        .unwrap();
        assert_eq!(payload_hash(&a), payload_hash(&b));
        assert_eq!(payload_hash(&a), payload_hash(&with_null));
        assert_ne!(payload_hash(&a), payload_hash(&c));
    }

    #[test]
    fn the_payload_hash_is_pinned_and_separators_count() {
        // SHA-256 of `{"a":[1,2],"b":"x"}`: a change of the canonical form would make every
        // stored record look like another payload.
        let value = serde_json::json!({"b": "x", "a": [1, 2]});
        assert_eq!(
            payload_hash(&value),
            "d0f56dda38d34376527524ddd98f7ec117d5cbfb240f86e11bfb9d2d01a717d9"
        );
        assert_ne!(
            payload_hash(&serde_json::json!({"a": [1, 2]})),
            payload_hash(&serde_json::json!({"a": [12]}))
        );
    }
}
