//! Dead letters recorded in memory: `alchemiser invoke` prints them; tests inspect them.

use std::sync::Mutex;

use alchemiser_events::FailureRecord;
use async_trait::async_trait;

use super::{DeadLetterNotRecorded, DeadLetterRecorder};

/// Keeps the dead letters it records in memory.
#[derive(Debug, Default)]
pub struct MemoryDeadLetterRecorder(Mutex<Vec<FailureRecord>>);

impl MemoryDeadLetterRecorder {
    /// The dead letters recorded so far.
    pub fn records(&self) -> Vec<FailureRecord> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl DeadLetterRecorder for MemoryDeadLetterRecorder {
    async fn record(&self, letter: &FailureRecord) -> Result<String, DeadLetterNotRecorded> {
        let mut records = self.0.lock().unwrap_or_else(|e| e.into_inner());
        records.push(letter.clone());
        Ok(format!("memory-{}", records.len()))
    }

    fn location(&self) -> String {
        "memory".into()
    }
}
