//! A deployment stage and the names the CDK app gives its resources.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::error::OperationsError;

/// A stage name (`dev`, `prod`, `pr-42`): 1–20 lowercase letters, digits and inner hyphens, the
/// rule the CDK app and `scripts/deploy` apply. Knows the physical names of the stage's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage(String);

impl FromStr for Stage {
    type Err = OperationsError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let bytes = name.as_bytes();
        let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
        let valid = !bytes.is_empty()
            && bytes.len() <= 20
            && bytes.iter().all(allowed)
            && bytes.first() != Some(&b'-')
            && bytes.last() != Some(&b'-');
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(OperationsError::InvalidStage(name.to_owned()))
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Stage {
    /// The stage name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The trading event bus: `alchemiser-trading-events-<stage>`.
    pub fn bus_name(&self) -> String {
        format!("alchemiser-trading-events-{}", self.0)
    }

    /// The bus's archive: `alchemiser-event-archive-<stage>`.
    pub fn archive_name(&self) -> String {
        format!("alchemiser-event-archive-{}", self.0)
    }

    /// The dead-letter queue: `alchemiser-event-dlq-<stage>`.
    pub fn dlq_name(&self) -> String {
        format!("alchemiser-event-dlq-{}", self.0)
    }

    /// The SSM parameter holding the dead-letter queue's URL: `/alchemiser/<stage>/dlq-url`.
    pub fn dlq_url_parameter(&self) -> String {
        format!("/alchemiser/{}/dlq-url", self.0)
    }

    /// A handler's function: `alchemiser-<handler>-<stage>` (e.g. `alchemiser-monitor-dev`).
    pub fn function_name(&self, handler: &str) -> String {
        format!("alchemiser-{handler}-{}", self.0)
    }

    /// The SSM parameter holding the outbox queue's URL: `/alchemiser/<stage>/outbox-url`.
    pub fn outbox_url_parameter(&self) -> String {
        format!("/alchemiser/{}/outbox-url", self.0)
    }

    /// The SSM parameter saying what the stage's functions accept as authentic (signers' keys,
    /// unsigned sources): `/alchemiser/<stage>/authenticity`.
    pub fn authenticity_parameter(&self) -> String {
        format!("/alchemiser/{}/authenticity", self.0)
    }

    /// The KMS alias of producer `signer`'s signing key: `alias/alchemiser-<stage>-<signer>-signing`.
    pub fn signing_key_alias(&self, signer: &str) -> String {
        format!("alias/alchemiser-{}-{signer}-signing", self.0)
    }

    /// The kill switch: the SSM parameter `/alchemiser/<stage>/trading-halt`.
    pub fn trading_halt_parameter(&self) -> String {
        format!("/alchemiser/{}/trading-halt", self.0)
    }

    /// The workflow ledger table: `alchemiser-workflow-ledger-<stage>`.
    pub fn ledger_table_name(&self) -> String {
        format!("alchemiser-workflow-ledger-{}", self.0)
    }

    /// The default replay name: `alchemiser-<stage>-<yyyymmddThhmmss.mmm>` (UTC; to the
    /// millisecond, so that two replays started in one second get two names).
    pub fn replay_name(&self, at: DateTime<Utc>) -> String {
        format!("alchemiser-{}-{}", self.0, at.format("%Y%m%dT%H%M%S%.3f"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names_follow_the_cdk_app() {
        let stage: Stage = "pr-42".parse().unwrap();
        assert_eq!(stage.bus_name(), "alchemiser-trading-events-pr-42");
        assert_eq!(
            stage.ledger_table_name(),
            "alchemiser-workflow-ledger-pr-42"
        );
        assert_eq!(stage.archive_name(), "alchemiser-event-archive-pr-42");
        assert_eq!(stage.dlq_name(), "alchemiser-event-dlq-pr-42");
        assert_eq!(stage.dlq_url_parameter(), "/alchemiser/pr-42/dlq-url");
        assert_eq!(
            stage.signing_key_alias("portfolio"),
            "alias/alchemiser-pr-42-portfolio-signing"
        );
        assert_eq!(
            stage.trading_halt_parameter(),
            "/alchemiser/pr-42/trading-halt"
        );
        assert_eq!(stage.function_name("monitor"), "alchemiser-monitor-pr-42");
        assert_eq!(stage.outbox_url_parameter(), "/alchemiser/pr-42/outbox-url");
        assert_eq!(
            stage.authenticity_parameter(),
            "/alchemiser/pr-42/authenticity"
        );
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 14, 5, 9).unwrap()
            + chrono::TimeDelta::milliseconds(42);
        assert_eq!(
            stage.replay_name(at),
            "alchemiser-pr-42-20261128T140509.042"
        );
        assert!(crate::check_replay_name(&stage.replay_name(at)).is_ok());
    }

    #[test]
    fn bad_stage_names_are_refused() {
        for bad in [
            "",
            "Dev",
            "-dev",
            "dev-",
            "dev_1",
            "a-very-long-stage-name-x",
        ] {
            let error = bad.parse::<Stage>().unwrap_err();
            assert!(error.to_string().contains("lowercase"), "{error}");
        }
    }
}
