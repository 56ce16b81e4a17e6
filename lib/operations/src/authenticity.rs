//! What a stage's functions accept as authentic, for the operations that republish or run an
//! event: a redrive, an outbox drain, `invoke --stage`. They check each event as the functions
//! will, before it goes anywhere, so that a forged record in a queue is named and kept, never
//! laundered through an operator's credentials.

use std::sync::Arc;

use alchemiser_signing::{Authenticity, KmsSigner, KmsVerifier, Unsigned, VerifyKeys};
use aws_config::SdkConfig;
use serde::Deserialize;

use crate::error::{sdk_failure, OperationsError};
use crate::stage::Stage;

/// The parameter's document, as the CDK app writes it (`EventAuthenticity`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageAuthenticity {
    /// Signer → its key (ARN), as the functions' `VERIFY_KEY_IDS`.
    verify_key_ids: serde_json::Value,
    /// The sources whose unsigned events the functions accept (`UNSIGNED_SOURCES`).
    unsigned_sources: Vec<String>,
}

/// How the stage's functions judge who made an event: every signer's key, verified with KMS
/// (`kms:VerifyMac`, which the operator role holds), and the unsigned sources they accept — read
/// from the stage's parameter `/alchemiser/<stage>/authenticity`.
pub async fn stage_authenticity(
    sdk: &SdkConfig,
    stage: &Stage,
) -> Result<Authenticity, OperationsError> {
    let parameter = stage.authenticity_parameter();
    let unreadable = |reason: String| OperationsError::NoAuthenticity {
        stage: stage.to_string(),
        parameter: parameter.clone(),
        reason,
    };
    let text = aws_sdk_ssm::Client::new(sdk)
        .get_parameter()
        .name(&parameter)
        .send()
        .await
        .map_err(|error| unreadable(sdk_failure(&error)))?
        .parameter
        .and_then(|p| p.value)
        .ok_or_else(|| unreadable("the parameter has no value".into()))?;
    let (keys, unsigned) = parse(&text).map_err(unreadable)?;
    Ok(Authenticity {
        signer: None,
        local: None,
        verifier: Arc::new(KmsVerifier::new(aws_sdk_kms::Client::new(sdk), keys)),
        unsigned,
    })
}

/// A stage's producer `signer` signing with its KMS key (`alias/alchemiser-<stage>-<signer>-signing`,
/// named in the signature by its ARN, as the functions' `VERIFY_KEY_IDS` name it). On AWS only the
/// producer's own function role may `kms:GenerateMac` with it: this works for a person only where
/// the key's policy is not enforced (LocalStack) or grants them the key (a break-glass role).
pub async fn stage_signer(
    sdk: &SdkConfig,
    stage: &Stage,
    signer: &str,
) -> Result<KmsSigner, OperationsError> {
    let alias = stage.signing_key_alias(signer);
    let client = aws_sdk_kms::Client::new(sdk);
    let key = client
        .describe_key()
        .key_id(&alias)
        .send()
        .await
        .map_err(|error| {
            OperationsError::aws(
                format!("DescribeKey {alias}"),
                &error,
                format!("Check that stage {stage} is deployed with signing keys (`scripts/deploy {stage}`) and that {signer} produces events"),
            )
        })?;
    let arn = key
        .key_metadata
        .and_then(|metadata| metadata.arn)
        .ok_or_else(|| OperationsError::Aws {
            action: format!("DescribeKey {alias}"),
            message: "the answer names no key ARN".into(),
            hint: "Check the alias with `aws kms describe-key`".into(),
            details: String::new(),
        })?;
    Ok(KmsSigner::new(client, signer, arn))
}

/// The keys and the unsigned-event rule in the parameter's text.
fn parse(text: &str) -> Result<(VerifyKeys, Unsigned), String> {
    let document: StageAuthenticity =
        serde_json::from_str(text).map_err(|e| format!("not the expected JSON ({e})"))?;
    let keys = VerifyKeys::parse(&document.verify_key_ids.to_string())
        .map_err(|e| format!("verify_key_ids: {e}"))?;
    Ok((
        keys,
        Unsigned::FromSources(document.unsigned_sources.into_iter().collect()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_cdk_app_writes_and_refuses_anything_else() {
        let (keys, unsigned) = parse(
            r#"{"verify_key_ids": {"portfolio": "arn:aws:kms:eu-west-2:1:key/p"},
                "unsigned_sources": ["alchemiser.strategy_v2.handlers"]}"#,
        )
        .unwrap();
        assert!(keys.allows("portfolio", "arn:aws:kms:eu-west-2:1:key/p"));
        assert!(!keys.allows("strategy", "arn:aws:kms:eu-west-2:1:key/p"));
        assert_eq!(
            unsigned,
            Unsigned::FromSources(["alchemiser.strategy_v2.handlers".to_owned()].into())
        );
        for bad in [
            "",
            "{}",
            r#"{"verify_key_ids": {}, "unsigned_sources": "x"}"#,
            r#"{"verify_key_ids": {"p": 1}, "unsigned_sources": []}"#,
            r#"{"verify_key_ids": {}, "unsigned_sources": [], "accept_all": true}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
