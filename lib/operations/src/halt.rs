//! The stage's kill switch as operators flip it: the SSM String parameter
//! `/alchemiser/<stage>/trading-halt` (the stack creates it, `{"halted": false}`), written with
//! PutParameter as `{"halted": true, "reason": ..., "by": <the caller's ARN from STS
//! GetCallerIdentity>, "at": now}` or `{"halted": false}`. SSM keeps every version with who
//! wrote it and when: GetParameterHistory is the audit.

use alchemiser_trading::HaltState;
use aws_config::SdkConfig;
use chrono::{DateTime, Utc};

use crate::{OperationsError, Stage};

/// One version of the switch, as SSM keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaltVersion {
    /// SSM's version number.
    pub version: i64,
    /// When it was written.
    pub modified_at: Option<DateTime<Utc>>,
    /// Who wrote it (SSM's `LastModifiedUser`).
    pub modified_by: Option<String>,
    /// What it says, or why it cannot be read.
    pub state: Result<HaltState, String>,
}

/// A stage's halt switch.
#[derive(Debug, Clone)]
pub struct HaltSwitch {
    ssm: aws_sdk_ssm::Client,
    sdk: SdkConfig,
    stage: Stage,
}

impl HaltSwitch {
    /// The switch of `stage`, with clients of `sdk`.
    pub fn new(sdk: &SdkConfig, stage: Stage) -> Self {
        Self {
            ssm: aws_sdk_ssm::Client::new(sdk),
            sdk: sdk.clone(),
            stage,
        }
    }

    /// The parameter's name.
    pub fn parameter(&self) -> String {
        self.stage.trading_halt_parameter()
    }

    fn failed(&self, action: &str, error: impl std::fmt::Display) -> OperationsError {
        let message = error.to_string();
        let hint = if message.contains("ParameterNotFound") {
            format!(
                "The stage {} has no halt switch: deploy it (scripts/deploy {})",
                self.stage, self.stage
            )
        } else {
            "Check AWS_PROFILE and AWS_REGION, and that the role may use the parameter (the operator role may)"
                .to_owned()
        };
        OperationsError::Aws {
            action: format!("{action} {}", self.parameter()),
            message,
            hint,
            details: String::new(),
        }
    }

    /// Who is calling: the ARN STS gives for these credentials.
    pub async fn caller(&self) -> Result<String, OperationsError> {
        crate::caller_identity(&self.sdk).await
    }

    /// The parameter's value (an error when the stage has no switch).
    async fn value(&self) -> Result<String, OperationsError> {
        let output = self
            .ssm
            .get_parameter()
            .name(self.parameter())
            .send()
            .await
            .map_err(|e| {
                self.failed("GetParameter", aws_sdk_ssm::error::DisplayErrorContext(&e))
            })?;
        Ok(output.parameter.and_then(|p| p.value).unwrap_or_default())
    }

    /// The switch now.
    pub async fn current(&self) -> Result<HaltState, OperationsError> {
        HaltState::from_json(&self.value().await?).map_err(|e| self.failed("GetParameter", e))
    }

    /// Writes `state` over the switch (the parameter must exist: the stack creates it, so a
    /// stage that is not deployed is an error here, not a new parameter).
    async fn put(&self, state: &HaltState) -> Result<(), OperationsError> {
        // Read first: PutParameter with Overwrite would create a parameter the stack does not own.
        self.value().await?;
        self.ssm
            .put_parameter()
            .name(self.parameter())
            .value(state.to_json())
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| {
                self.failed("PutParameter", aws_sdk_ssm::error::DisplayErrorContext(&e))
            })?;
        Ok(())
    }

    /// Halts the stage's trading for `reason`, signed with the caller's identity and `at`.
    pub async fn halt(
        &self,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<HaltState, OperationsError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(OperationsError::Aws {
                action: "halt".into(),
                message: "the reason is empty".into(),
                hint: "Say why with --reason \"...\": it is shown in every refused plan and in the audit".into(),
                details: String::new(),
            });
        }
        let state = HaltState::halted(reason, self.caller().await?, at);
        self.put(&state).await?;
        Ok(state)
    }

    /// Resumes the stage's trading (`{"halted": false}`; SSM records who and when).
    pub async fn resume(&self) -> Result<(), OperationsError> {
        self.put(&HaltState::running()).await
    }

    /// Every version SSM keeps of the switch, oldest first (SSM keeps the last 100).
    pub async fn history(&self) -> Result<Vec<HaltVersion>, OperationsError> {
        let mut versions = Vec::new();
        let mut pages = self
            .ssm
            .get_parameter_history()
            .name(self.parameter())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                self.failed(
                    "GetParameterHistory",
                    aws_sdk_ssm::error::DisplayErrorContext(&e),
                )
            })?;
            for entry in page.parameters.unwrap_or_default() {
                let value = entry.value.unwrap_or_default();
                versions.push(HaltVersion {
                    version: entry.version,
                    modified_at: entry
                        .last_modified_date
                        .and_then(|d| DateTime::from_timestamp(d.secs(), d.subsec_nanos())),
                    modified_by: entry.last_modified_user,
                    state: HaltState::from_json(&value).map_err(|e| e.to_string()),
                });
            }
        }
        versions.sort_by_key(|v| v.version);
        Ok(versions)
    }
}

impl HaltVersion {
    /// One line: `v3 2026-12-07T15:00:00Z arn:...:user/ops  halted since ... : reason`.
    pub fn line(&self) -> String {
        let at = self.modified_at.map_or("-".to_owned(), |t| {
            t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        });
        let what = match &self.state {
            Ok(state) => state.describe(),
            Err(why) => format!("unreadable: {why}"),
        };
        format!(
            "v{} {at} {}  {what}",
            self.version,
            self.modified_by.as_deref().unwrap_or("-")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_reads_as_one_line_with_who_when_and_why() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T15:00:00Z")
            .unwrap()
            .to_utc();
        let version = HaltVersion {
            version: 3,
            modified_at: Some(at),
            modified_by: Some("arn:aws:iam::1:user/ops".into()),
            state: Ok(HaltState::halted(
                "broker incident",
                "arn:aws:iam::1:user/ops",
                at,
            )),
        };
        let line = version.line();
        assert!(
            line.starts_with("v3 2026-12-07T15:00:00Z arn:aws:iam::1:user/ops"),
            "{line}"
        );
        assert!(
            line.contains("halted since 2026-12-07T15:00:00Z") && line.ends_with("broker incident"),
            "{line}"
        );
        let broken = HaltVersion {
            state: Err("not JSON".into()),
            ..version
        };
        assert!(broken.line().ends_with("unreadable: not JSON"));
    }
}
