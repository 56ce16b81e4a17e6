//! The stage's kill switch: the [`TradingHalt`] port (is trading halted, why, by whom, since
//! when), an in-memory adapter ([`MemoryHalt`], for tests, `alchemiser run` and the simulation)
//! and a short cache in front of any adapter ([`CachedHalt`]). The SSM adapter lives outside
//! this crate (`alchemiser-wiring`): the domain knows nothing of AWS.
//!
//! The switch's value is the JSON the team plan fixes: `{"halted": false}` or
//! `{"halted": true, "reason": "...", "by": "<caller ARN>", "at": "<RFC3339>"}`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use alchemiser_clock::Clock;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Whether the stage is halted, and the audit of who halted it, when and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaltState {
    /// Trading is halted: no order is placed.
    pub halted: bool,
    /// Why (the operator's words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who flipped the switch (the caller's ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

impl HaltState {
    /// Trading runs.
    pub fn running() -> Self {
        Self::default()
    }

    /// Trading halted by `by` at `at` for `reason`.
    pub fn halted(reason: impl Into<String>, by: impl Into<String>, at: DateTime<Utc>) -> Self {
        Self {
            halted: true,
            reason: Some(reason.into()),
            by: Some(by.into()),
            at: Some(at),
        }
    }

    /// Reads the switch's value. `halted` must be there and be a boolean: a value that says
    /// neither clearly is an error, which execution treats as halted (it fails closed).
    pub fn from_json(text: &str) -> Result<Self, HaltError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            halted: bool,
            #[serde(default)]
            reason: Option<String>,
            #[serde(default)]
            by: Option<String>,
            #[serde(default)]
            at: Option<String>,
        }
        let invalid = |why: String| HaltError::Invalid {
            value: text.chars().take(200).collect(),
            why,
        };
        let wire: Wire = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let at = match wire.at {
            None => None,
            Some(at) => Some(
                DateTime::parse_from_rfc3339(&at)
                    .map_err(|e| invalid(format!("`at` is not an RFC 3339 time: {e}")))?
                    .to_utc(),
            ),
        };
        Ok(Self {
            halted: wire.halted,
            reason: wire.reason,
            by: wire.by,
            at,
        })
    }

    /// The value written to the switch.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"halted":true}"#.into())
    }

    /// One line for people: `halted since ... by ...: reason`, or `running`.
    pub fn describe(&self) -> String {
        if !self.halted {
            return "running (not halted)".into();
        }
        let mut line = "halted".to_owned();
        if let Some(at) = self.at {
            line.push_str(&format!(" since {}", at.format("%Y-%m-%dT%H:%M:%SZ")));
        }
        if let Some(by) = &self.by {
            line.push_str(&format!(" by {by}"));
        }
        line.push_str(&format!(
            ": {}",
            self.reason.as_deref().unwrap_or("(no reason given)")
        ));
        line
    }
}

/// The switch cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HaltError {
    /// Its store did not answer (network, throttling, permissions): nothing is known, so
    /// nothing is placed until it answers.
    #[error("the trading halt switch cannot be read (retry later): {0}")]
    Unavailable(String),
    /// Its value is not the switch's JSON: nothing is placed until someone writes a valid one.
    #[error("the trading halt switch holds `{value}`, which is not {{\"halted\": true|false, ...}} ({why}); set it with `alchemiser halt` or `alchemiser resume`")]
    Invalid {
        /// The value (its first 200 characters).
        value: String,
        /// What is wrong with it.
        why: String,
    },
}

/// The stage's kill switch, read by execution before every order.
#[async_trait]
pub trait TradingHalt: Send + Sync {
    /// The switch now.
    async fn state(&self) -> Result<HaltState, HaltError>;
}

/// A switch in memory: tests, `alchemiser run`, the simulation's operator.
#[derive(Debug, Default)]
pub struct MemoryHalt {
    state: Mutex<HaltState>,
}

impl MemoryHalt {
    /// A switch that is not halted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the switch.
    pub fn set(&self, state: HaltState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }

    /// The switch as it is (no waiting, for tests and invariants).
    pub fn now(&self) -> HaltState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl TradingHalt for MemoryHalt {
    async fn state(&self) -> Result<HaltState, HaltError> {
        Ok(self.now())
    }
}

#[async_trait]
impl<T: TradingHalt + ?Sized> TradingHalt for Arc<T> {
    async fn state(&self) -> Result<HaltState, HaltError> {
        (**self).state().await
    }
}

/// How long [`CachedHalt`] keeps an answer: an operator's halt takes effect within five seconds
/// (the issue asks for seconds), while a plan placing a dozen orders in a second reads the
/// switch once, not a dozen times (SSM GetParameter costs 20–40 ms a call and its standard
/// throughput is shared by the whole account and region).
pub const HALT_CACHE: Duration = Duration::from_secs(5);

/// A switch read at most once per `ttl`; failures are never kept, so the next order asks again.
pub struct CachedHalt {
    inner: Arc<dyn TradingHalt>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    cached: Mutex<Option<(DateTime<Utc>, HaltState)>>,
}

impl CachedHalt {
    /// `inner`, cached for `ttl` as measured by `clock`.
    pub fn new(inner: Arc<dyn TradingHalt>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            inner,
            clock,
            ttl,
            cached: Mutex::new(None),
        }
    }
}

#[async_trait]
impl TradingHalt for CachedHalt {
    async fn state(&self) -> Result<HaltState, HaltError> {
        let now = self.clock.now();
        let ttl = chrono::TimeDelta::from_std(self.ttl).unwrap_or(chrono::TimeDelta::MAX);
        if let Some((read_at, state)) = &*self.cached.lock().unwrap_or_else(|e| e.into_inner()) {
            // A clock that moved backwards (the simulation's skew) reads again.
            if *read_at <= now && now - *read_at < ttl {
                return Ok(state.clone());
            }
        }
        let state = self.inner.state().await?;
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, state.clone()));
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alchemiser_clock::ManualClock;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn the_switch_reads_the_plans_json_and_refuses_anything_else() {
        assert_eq!(
            HaltState::from_json(r#"{"halted": false}"#).unwrap(),
            HaltState::running()
        );
        let halted = HaltState::from_json(
            r#"{"halted": true, "reason": "broker incident", "by": "arn:aws:iam::1:user/ops", "at": "2026-12-07T15:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            halted,
            HaltState::halted(
                "broker incident",
                "arn:aws:iam::1:user/ops",
                at("2026-12-07T15:00:00Z")
            )
        );
        assert_eq!(HaltState::from_json(&halted.to_json()).unwrap(), halted);
        assert!(halted.describe().contains("broker incident"));
        assert!(halted.describe().contains("arn:aws:iam::1:user/ops"));
        for bad in [
            "",
            "true",
            r#"{"halted": "yes"}"#,
            r#"{"reason": "x"}"#,
            r#"{"halted": true, "at": "yesterday"}"#,
            r#"{"halted": false, "halt": true}"#,
        ] {
            let error = HaltState::from_json(bad).unwrap_err();
            assert!(matches!(error, HaltError::Invalid { .. }), "{bad}: {error}");
            assert!(error.to_string().contains("alchemiser halt"), "{error}");
        }
    }

    #[tokio::test]
    async fn the_cache_keeps_an_answer_five_seconds_and_no_longer() {
        let switch = Arc::new(MemoryHalt::new());
        let clock = ManualClock::starting_at(at("2026-12-07T15:00:00Z"));
        let cached = CachedHalt::new(switch.clone(), Arc::new(clock.clone()), HALT_CACHE);
        assert!(!cached.state().await.unwrap().halted);
        switch.set(HaltState::halted("test", "me", clock.now()));
        clock.advance(HALT_CACHE - Duration::from_millis(1));
        assert!(!cached.state().await.unwrap().halted, "still cached");
        clock.advance(Duration::from_millis(1));
        assert!(cached.state().await.unwrap().halted, "read again at 5 s");
        // A clock that went back does not keep an answer from its future.
        switch.set(HaltState::running());
        clock.set(at("2026-12-07T14:59:00Z"));
        assert!(!cached.state().await.unwrap().halted);
    }
}
