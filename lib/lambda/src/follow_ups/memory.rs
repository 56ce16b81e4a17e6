//! Follow-ups kept in memory, for the caller to run (`alchemiser invoke`, tests).

use std::sync::Mutex;

use async_trait::async_trait;

use super::{FollowUp, FollowUpError, FollowUps};

/// Follow-ups in memory, in the order they were asked for.
#[derive(Debug, Default)]
pub struct MemoryFollowUps {
    scheduled: Mutex<Vec<FollowUp>>,
}

impl MemoryFollowUps {
    /// None yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes every follow-up asked for so far.
    pub fn take(&self) -> Vec<FollowUp> {
        std::mem::take(&mut *self.scheduled.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The follow-ups asked for so far (kept).
    pub fn scheduled(&self) -> Vec<FollowUp> {
        self.scheduled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait]
impl FollowUps for MemoryFollowUps {
    async fn schedule(&self, follow_up: &FollowUp) -> Result<(), FollowUpError> {
        self.scheduled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(follow_up.clone());
        Ok(())
    }

    fn location(&self) -> String {
        "memory".into()
    }
}
