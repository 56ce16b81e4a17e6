//! Whether trading is halted: the stage's kill switch (the SSM parameter
//! `/alchemiser/<stage>/trading-halt`, `{"halted": false}` or `{"halted": true, "reason": ..,
//! "by": .., "at": ..}`), read through a port so the console knows nothing of SSM. The CLI
//! gives the adapter.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the overview says of the kill switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HaltView {
    /// A local ledger: no stage, no switch.
    NotApplicable,
    /// Trading runs.
    Running,
    /// Trading is halted.
    Halted {
        /// Why, in the operator's words.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Who halted it.
        #[serde(skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// When.
        #[serde(skip_serializing_if = "Option::is_none")]
        at: Option<DateTime<Utc>>,
    },
    /// The switch could not be read; execution places no order while that lasts.
    Unknown {
        /// Why, and what to do.
        why: String,
    },
}

/// The switch's value, as the team plan fixes it.
#[derive(Debug, Deserialize)]
struct Value {
    halted: bool,
    reason: Option<String>,
    by: Option<String>,
    at: Option<DateTime<Utc>>,
}

impl HaltView {
    /// The view of the switch's parameter value `text` (named `parameter` in what it says).
    pub fn from_parameter(parameter: &str, text: &str) -> Self {
        match serde_json::from_str::<Value>(text) {
            Ok(Value { halted: false, .. }) => HaltView::Running,
            Ok(Value {
                halted: true,
                reason,
                by,
                at,
            }) => HaltView::Halted { reason, by, at },
            Err(error) => HaltView::Unknown {
                why: format!(
                    "{parameter} does not hold the switch's JSON ({error}); execution places no order until it does: set it with `alchemiser resume` or `alchemiser halt`"
                ),
            },
        }
    }
}

/// Where the kill switch is read.
#[async_trait]
pub trait HaltSwitch: Send + Sync {
    /// The switch now (never an error: what could not be read is [`HaltView::Unknown`]).
    async fn read(&self) -> HaltView;
}

/// No switch: a local ledger.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSwitch;

#[async_trait]
impl HaltSwitch for NoSwitch {
    async fn read(&self) -> HaltView {
        HaltView::NotApplicable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_reads_as_the_team_plan_writes_it() {
        let name = "/alchemiser/dev/trading-halt";
        assert_eq!(
            HaltView::from_parameter(name, r#"{"halted": false}"#),
            HaltView::Running
        );
        let HaltView::Halted { reason, by, at } = HaltView::from_parameter(
            name,
            r#"{"halted": true, "reason": "broker outage", "by": "arn:aws:iam::1:user/a", "at": "2026-12-06T15:00:00Z"}"#,
        ) else {
            panic!("halted")
        };
        assert_eq!(reason.as_deref(), Some("broker outage"));
        assert_eq!(by.as_deref(), Some("arn:aws:iam::1:user/a"));
        assert!(at.is_some());
        let HaltView::Unknown { why } = HaltView::from_parameter(name, "yes") else {
            panic!("not the switch's JSON")
        };
        assert!(
            why.contains(name) && why.contains("alchemiser resume"),
            "{why}"
        );
    }
}
