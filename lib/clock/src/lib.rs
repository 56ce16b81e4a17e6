//! The clock port. Everything that reads the time or waits — event timestamps, claim expiries,
//! plan ages, waiting for fills, the workflow deadline — asks a [`Clock`], so that the same code
//! runs against the system clock in Lambda and against a [`ManualClock`] in tests and in the
//! deterministic simulation, where a wait advances virtual time instead of sleeping. Time is UTC.

#![warn(missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// What time it is, and how to wait.
#[async_trait]
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// Waits `duration`.
    async fn sleep(&self, duration: Duration);
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// The system clock, shared: the default of every adapter and handler.
pub fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// A clock that moves only when told: [`ManualClock::set`], [`ManualClock::advance`], or a
/// [`Clock::sleep`], which returns at once after moving the time forward by its duration.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Sets the time (it may move backwards: clocks of different machines disagree).
    pub fn set(&self, time: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = time;
    }

    /// Moves the time forward by `duration`.
    pub fn advance(&self, duration: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += duration;
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn sleep(&self, duration: Duration) {
        self.advance(duration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_moves_only_when_told_and_sleeping_moves_it() {
        let start = DateTime::parse_from_rfc3339("2026-12-01T14:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = ManualClock::starting_at(start);
        assert_eq!(clock.now(), start);
        clock.sleep(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + Duration::from_secs(90));
        clock.set(start);
        assert_eq!(clock.now(), start);
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        clock.advance(Duration::from_millis(5));
        assert_eq!(shared.now(), start + Duration::from_millis(5));
    }
}
