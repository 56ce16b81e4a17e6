//! The ledger store port: entries per workflow, written once each, and a summary per workflow
//! that only a summary of more entries replaces — so concurrent writers converge on the
//! summary of every entry.

mod dynamodb;
mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;

pub use dynamodb::DynamoDbLedger;
pub use memory::MemoryLedger;

use crate::model::{Entry, Summary};

/// The ledger store could not answer.
#[derive(Debug, Error)]
#[error("workflow ledger unavailable (retry later): {action} on `{target}` failed")]
pub struct LedgerError {
    /// The operation, e.g. `PutItem (entry)`.
    pub action: &'static str,
    /// The table (or store).
    pub target: String,
    /// Why.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl LedgerError {
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

/// Where the ledger is kept.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Records `entry` of `correlation_id` unless an entry with its key is already there;
    /// returns whether it was new.
    async fn record(&self, correlation_id: &str, entry: &Entry) -> Result<bool, LedgerError>;

    /// Every entry of a workflow (none for an unknown one).
    async fn entries(&self, correlation_id: &str) -> Result<Vec<Entry>, LedgerError>;

    /// Stores `summary` unless the stored one counts as many entries or more.
    async fn put_summary(&self, summary: &Summary) -> Result<(), LedgerError>;

    /// One workflow's summary.
    async fn summary(&self, correlation_id: &str) -> Result<Option<Summary>, LedgerError>;

    /// The workflows started at or after `since`, oldest first.
    async fn summaries_since(&self, since: DateTime<Utc>) -> Result<Vec<Summary>, LedgerError>;

    /// The open workflows ([`Summary::is_open`]) started at or after `since`, oldest first:
    /// what the sweep looks at.
    async fn open_since(&self, since: DateTime<Utc>) -> Result<Vec<Summary>, LedgerError>;

    /// The workflows that reached their state at or after `since` ([`Summary::reached_at`]: they
    /// ended then, or, still running, had their latest event then), those that reached it first
    /// first. Read from the workflows started up to [`LONGEST_WORKFLOW`] before `since`.
    async fn reached_since(&self, since: DateTime<Utc>) -> Result<Vec<Summary>, LedgerError> {
        let started_from =
            since - chrono::TimeDelta::from_std(LONGEST_WORKFLOW).unwrap_or_default();
        let mut summaries = self.summaries_since(started_from).await?;
        summaries.retain(|s| s.reached_at() >= since);
        summaries.sort_by(|a, b| {
            (a.reached_at(), &a.correlation_id).cmp(&(b.reached_at(), &b.correlation_id))
        });
        Ok(summaries)
    }
}

/// How many days a ledger keeps its items unless the stage says otherwise
/// (`LEDGER_RETENTION_DAYS`).
pub const DEFAULT_RETENTION_DAYS: u64 = 90;

/// How long after its start a workflow can still change state: a dead letter stays 14 days in
/// the queue, and its redrive can complete the workflow until then.
pub const LONGEST_WORKFLOW: std::time::Duration = std::time::Duration::from_secs(15 * 24 * 3600);
