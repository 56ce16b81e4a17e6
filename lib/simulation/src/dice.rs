//! Seeded dice, shared by everything that decides by chance, so a seed replays a run.

use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Seeded dice.
#[derive(Clone)]
pub struct Dice(Arc<Mutex<fastrand::Rng>>);

impl Dice {
    /// Dice seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(Arc::new(Mutex::new(fastrand::Rng::with_seed(seed))))
    }

    fn rng<T>(&self, roll: impl FnOnce(&mut fastrand::Rng) -> T) -> T {
        roll(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// True with probability `p`.
    pub fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.rng(|r| r.f64()) < p
    }

    /// A whole number in `range`.
    pub fn between(&self, range: RangeInclusive<u64>) -> u64 {
        self.rng(|r| r.u64(range))
    }

    /// A duration between `low` and `high` (milliseconds resolution).
    pub fn duration(&self, low: Duration, high: Duration) -> Duration {
        let ms = self.between(low.as_millis() as u64..=high.as_millis() as u64);
        Duration::from_millis(ms)
    }

    /// A fraction in [0, 1).
    pub fn fraction(&self) -> f64 {
        self.rng(|r| r.f64())
    }
}
