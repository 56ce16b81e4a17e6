//! Failures kept in memory: `alchemiser invoke` prints them; tests inspect them.

use std::sync::Mutex;

use alchemiser_events::FailureRecord;
use async_trait::async_trait;

use super::{FailureSink, SinkError};

/// Keeps failures in memory.
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
    async fn record(&self, failure: &FailureRecord) -> Result<String, SinkError> {
        let mut records = self.0.lock().unwrap_or_else(|e| e.into_inner());
        records.push(failure.clone());
        Ok(format!("memory-{}", records.len()))
    }

    fn location(&self) -> String {
        "memory".into()
    }
}
