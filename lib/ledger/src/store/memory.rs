//! The ledger in memory: `alchemiser run`, the simulation, the tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{LedgerError, LedgerStore};
use crate::model::{Entry, Summary};

#[derive(Debug, Default)]
struct Workflow {
    entries: BTreeMap<String, Entry>,
    summary: Option<Summary>,
}

/// A ledger in memory.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    workflows: Mutex<BTreeMap<String, Workflow>>,
    /// The open workflows by (start, id): the sparse index the DynamoDB table has too.
    open: Mutex<BTreeMap<(DateTime<Utc>, String), Summary>>,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the workflow `correlation_id` (the simulation keeps memory bounded this way once a
    /// workflow can see no more events).
    pub fn forget(&self, correlation_id: &str) {
        self.with(|workflows| workflows.remove(correlation_id));
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, id), _| id != correlation_id);
    }

    fn with<T>(&self, work: impl FnOnce(&mut BTreeMap<String, Workflow>) -> T) -> T {
        work(&mut self.workflows.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[async_trait]
impl LedgerStore for MemoryLedger {
    async fn record(&self, correlation_id: &str, entry: &Entry) -> Result<bool, LedgerError> {
        Ok(self.with(|workflows| {
            let entries = &mut workflows
                .entry(correlation_id.to_owned())
                .or_default()
                .entries;
            let key = entry.key();
            if entries.contains_key(&key) {
                return false;
            }
            entries.insert(key, entry.clone());
            true
        }))
    }

    async fn entries(&self, correlation_id: &str) -> Result<Vec<Entry>, LedgerError> {
        Ok(self.with(|workflows| {
            workflows
                .get(correlation_id)
                .map(|w| w.entries.values().cloned().collect())
                .unwrap_or_default()
        }))
    }

    async fn put_summary(&self, summary: &Summary) -> Result<(), LedgerError> {
        self.with(|workflows| {
            let workflow = workflows.entry(summary.correlation_id.clone()).or_default();
            if workflow
                .summary
                .as_ref()
                .is_none_or(|stored| stored.entries < summary.entries)
            {
                let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(stored) = &workflow.summary {
                    open.remove(&(stored.started_at, stored.correlation_id.clone()));
                }
                if summary.is_open() {
                    open.insert(
                        (summary.started_at, summary.correlation_id.clone()),
                        summary.clone(),
                    );
                }
                workflow.summary = Some(summary.clone());
            }
        });
        Ok(())
    }

    async fn summary(&self, correlation_id: &str) -> Result<Option<Summary>, LedgerError> {
        Ok(self.with(|workflows| {
            workflows
                .get(correlation_id)
                .and_then(|w| w.summary.clone())
        }))
    }

    async fn summaries_since(&self, since: DateTime<Utc>) -> Result<Vec<Summary>, LedgerError> {
        let mut summaries: Vec<Summary> = self.with(|workflows| {
            workflows
                .values()
                .filter_map(|w| w.summary.clone())
                .filter(|s| s.started_at >= since)
                .collect()
        });
        summaries.sort_by(|a, b| {
            (a.started_at, &a.correlation_id).cmp(&(b.started_at, &b.correlation_id))
        });
        Ok(summaries)
    }

    async fn open_since(&self, since: DateTime<Utc>) -> Result<Vec<Summary>, LedgerError> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        Ok(open
            .range((since, String::new())..)
            .map(|(_, summary)| summary.clone())
            .collect())
    }
}
