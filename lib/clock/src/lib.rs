//! The clock port. Everything that reads the time or waits — event timestamps, claim expiries,
//! plan ages, waiting for fills, the workflow deadline — asks a [`Clock`], so that the same code
//! runs against the system clock in Lambda and against a [`ManualClock`] in tests and in the
//! deterministic simulation, where a wait advances virtual time instead of sleeping. Time is UTC.

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

/// A duration as people read it, the one format of the whole workspace (lists, trees, reasons,
/// ages): `950ms`, `4.2s`, `42s`, `3m07s`, `1h02m`, `2d04h` — the two largest units, the second
/// padded so columns line up; a negative duration gets a `-`.
pub fn format_duration(delta: chrono::TimeDelta) -> String {
    let ms = delta.num_milliseconds();
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let (s, m, h) = (ms / 1_000, ms / 60_000, ms / 3_600_000);
    let text = match ms {
        ms if ms < 1_000 => format!("{ms}ms"),
        ms if ms < 10_000 => format!("{s}.{}s", ms % 1_000 / 100),
        ms if ms < 60_000 => format!("{s}s"),
        ms if ms < 3_600_000 => format!("{m}m{:02}s", s % 60),
        ms if ms < 86_400_000 => format!("{h}h{:02}m", m % 60),
        _ => format!("{}d{:02}h", h / 24, h % 24),
    };
    format!("{sign}{text}")
}

/// [`format_duration`] of a [`Duration`].
pub fn format_std_duration(duration: Duration) -> String {
    format_duration(chrono::TimeDelta::from_std(duration).unwrap_or(chrono::TimeDelta::MAX))
}

#[cfg(test)]
mod format_tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn durations_read_the_same_everywhere() {
        let cases = [
            (TimeDelta::milliseconds(950), "950ms"),
            (TimeDelta::milliseconds(4_250), "4.2s"),
            (TimeDelta::seconds(42), "42s"),
            (TimeDelta::seconds(217), "3m37s"),
            (TimeDelta::seconds(187), "3m07s"),
            (TimeDelta::seconds(3_720), "1h02m"),
            (TimeDelta::hours(52), "2d04h"),
            (TimeDelta::hours(24), "1d00h"),
            (TimeDelta::seconds(-125), "-2m05s"),
            (TimeDelta::zero(), "0ms"),
        ];
        for (delta, text) in cases {
            assert_eq!(format_duration(delta), text, "{delta}");
        }
        assert_eq!(format_std_duration(Duration::from_secs(1800)), "30m00s");
        assert_eq!(
            format_std_duration(Duration::MAX),
            format_duration(TimeDelta::MAX)
        );
    }
}
