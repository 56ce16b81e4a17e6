//! The ledger store port: entries per workflow, written once each, and a summary per workflow
//! that only a summary of more entries replaces — so concurrent writers converge on the
//! summary of every entry. Readers list workflows, orders and dead letters a page at a time
//! ([`query`]).

mod dynamodb;
mod memory;
pub mod query;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use thiserror::Error;

pub use dynamodb::DynamoDbLedger;
pub use memory::MemoryLedger;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteLedger, DEFAULT_LOCAL_LEDGER};

use crate::model::{Entry, Summary, WorkflowState};
use crate::trades::orders_of;
use query::{
    Cursor, DeadLetterRecord, Found, OrderPage, OrderQuery, OrderTotals, Page, SearchScope, Window,
    WorkflowQuery, MAX_PAGE,
};

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

    /// A page of the workflows `query` asks for, newest first. This default reads every summary
    /// of the window; stores with an index by start time page through it instead.
    async fn workflows(&self, query: &WorkflowQuery) -> Result<Page<Summary>, LedgerError> {
        let mut all = self.summaries_since(query.started.from).await?;
        all.retain(|s| query.matches(s));
        all.sort_by_cached_key(|s| std::cmp::Reverse(Cursor::of_workflow(s)));
        Ok(Page::of_sorted(
            all,
            &query.position,
            query.limit.clamp(1, MAX_PAGE),
            Cursor::of_workflow,
        ))
    }

    /// The workflows `id` names: a correlation id, or the id of an event, dead letter, plan or
    /// order of a workflow. This default finds correlation ids anywhere and other ids among the
    /// [`SEARCHED_WORKFLOWS`] newest workflows of `within` (their entries read one workflow at a
    /// time); stores with an index of ids look everywhere.
    async fn find(&self, id: &str, within: &WorkflowQuery) -> Result<Found, LedgerError> {
        let query = WorkflowQuery {
            position: query::Position::Newest,
            limit: SEARCHED_WORKFLOWS,
            ..within.clone()
        };
        let page = self.workflows(&query).await?;
        let scope = SearchScope::Window {
            workflows: page.items.len(),
            complete: page.older.is_none(),
        };
        if self.summary(id).await?.is_some() {
            return Ok(Found {
                workflows: vec![id.to_owned()],
                scope,
            });
        }
        let ids: Vec<&str> = page
            .items
            .iter()
            .map(|s| s.correlation_id.as_str())
            .collect();
        let mut workflows: Vec<String> = self
            .entries_of(&ids)
            .await?
            .into_iter()
            .filter(|(_, entries)| {
                entries
                    .iter()
                    .any(|entry| query::ids_of(entry).iter().any(|known| known == id))
            })
            .map(|(correlation_id, _)| correlation_id)
            .collect();
        workflows.sort();
        Ok(Found { workflows, scope })
    }

    /// A page of the orders `query` asks for, newest first, with the sums over all of them. This
    /// default reads the entries of every workflow that traded and started from a day before
    /// the window to its end (a plan trades within its workflow's deadline, minutes after the
    /// start); stores with an index of orders read that instead.
    async fn orders(&self, query: &OrderQuery) -> Result<OrderPage, LedgerError> {
        let from = query.reported.from - chrono::TimeDelta::days(1);
        let mut traded = self.summaries_since(from).await?;
        traded.retain(|s| {
            s.started_at < query.reported.to && s.last_step >= WorkflowState::Executing
        });
        let ids: Vec<&str> = traded.iter().map(|s| s.correlation_id.as_str()).collect();
        let mut rows = Vec::new();
        for (correlation_id, entries) in self.entries_of(&ids).await? {
            for entry in &entries {
                if let Entry::Event(event) = entry {
                    rows.extend(
                        orders_of(&correlation_id, event)
                            .into_iter()
                            .filter(|row| query.matches(row)),
                    );
                }
            }
        }
        let mut totals = OrderTotals::default();
        rows.iter().for_each(|row| totals.add(row));
        rows.sort_by_cached_key(|row| std::cmp::Reverse(Cursor::of_order(row)));
        Ok(OrderPage {
            page: Page::of_sorted(
                rows,
                &query.position,
                query.limit.clamp(1, MAX_PAGE),
                Cursor::of_order,
            ),
            totals,
            workflows_read: Some(ids.len()),
        })
    }

    /// The dead letters sent in `window`, newest first, each with its deletion if a person
    /// deleted it and its workflow's summary. This default reads the entries of the workflows whose summary lists a dead
    /// letter (the live ones: a shadow's or a refused letter is listed in its workflow's record
    /// only) among those started up to [`LONGEST_WORKFLOW`] before the window; stores with an
    /// index of dead letters read every kind.
    async fn dead_letters(&self, window: &Window) -> Result<Vec<DeadLetterRecord>, LedgerError> {
        let longest = chrono::TimeDelta::from_std(LONGEST_WORKFLOW).unwrap_or_default();
        let mut with_letters = self.summaries_since(window.from - longest).await?;
        with_letters.retain(|s| !s.dead_letters.is_empty() && s.started_at < window.to);
        let ids: Vec<&str> = with_letters
            .iter()
            .map(|s| s.correlation_id.as_str())
            .collect();
        let summaries: BTreeMap<&str, &Summary> = with_letters
            .iter()
            .map(|s| (s.correlation_id.as_str(), s))
            .collect();
        let mut records: Vec<DeadLetterRecord> = self
            .entries_of(&ids)
            .await?
            .into_iter()
            .flat_map(|(correlation_id, entries)| query::dead_letters_in(&correlation_id, &entries))
            .filter(|record| window.contains(record.at()))
            .map(|mut record| {
                record.workflow = summaries
                    .get(record.correlation_id.as_str())
                    .map(|s| (*s).clone());
                record
            })
            .collect();
        records.sort_by_cached_key(|r| std::cmp::Reverse(Cursor::of_dead_letter(r)));
        Ok(records)
    }

    /// The entries of each of `correlation_ids`, read [`CONCURRENT_READS`] workflows at a time.
    async fn entries_of(
        &self,
        correlation_ids: &[&str],
    ) -> Result<BTreeMap<String, Vec<Entry>>, LedgerError> {
        let owned: Vec<String> = correlation_ids.iter().map(|id| String::from(*id)).collect();
        futures_util::stream::iter(owned)
            .map(|id| async move {
                let entries = self.entries(&id).await?;
                Ok((id, entries))
            })
            .buffer_unordered(CONCURRENT_READS)
            .try_collect()
            .await
    }
}

/// How many workflows a search without an index of ids reads the entries of, at most.
pub const SEARCHED_WORKFLOWS: usize = 200;

/// How many workflows' entries a reader asks a store for at once (a DynamoDB Query each).
pub const CONCURRENT_READS: usize = 8;

/// How many days a ledger keeps its items unless the stage says otherwise
/// (`LEDGER_RETENTION_DAYS`).
pub const DEFAULT_RETENTION_DAYS: u64 = 90;

/// How long after its start a workflow can still change state: a dead letter stays 14 days in
/// the queue, and its redrive can complete the workflow until then.
pub const LONGEST_WORKFLOW: std::time::Duration = std::time::Duration::from_secs(15 * 24 * 3600);
