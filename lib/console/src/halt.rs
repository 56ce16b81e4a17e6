//! Whether trading is halted: the stage's kill switch (the SSM parameter
//! `/alchemiser/<stage>/trading-halt`), read through a port so the console knows nothing of SSM.
//! The CLI gives the adapter (the operations crate's reader, which `alchemiser halt` and
//! `resume` use).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

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
    fn the_overview_json_names_the_switch_state() {
        let halted = HaltView::Halted {
            reason: Some("broker outage".into()),
            by: Some("arn:aws:iam::1:user/a".into()),
            at: None,
        };
        let json = serde_json::to_value(&halted).unwrap();
        assert_eq!(json["state"], "halted");
        assert_eq!(json["reason"], "broker outage");
        assert!(json.get("at").is_none());
        assert_eq!(
            serde_json::to_value(HaltView::NotApplicable).unwrap()["state"],
            "not_applicable"
        );
    }
}
