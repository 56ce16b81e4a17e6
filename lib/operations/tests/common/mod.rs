//! Helpers shared by the emulator tests of this crate (the rest is in `alchemiser-testkit`).

use alchemiser_operations::Stage;

/// A stage name no other test run uses: `prefix` plus ten random characters.
pub fn unique_stage(prefix: &str) -> Stage {
    alchemiser_testkit::unique(prefix).parse().unwrap()
}

/// Runs the CLI (`ALCHEMISER_BIN`, which scripts/test-operations sets) with `args`: its standard
/// output, standard error and exit code.
#[allow(dead_code)] // Each test target uses its own part of this module.
pub fn cli(args: &[&str]) -> (String, String, Option<i32>) {
    let bin = std::env::var("ALCHEMISER_BIN")
        .expect("ALCHEMISER_BIN is not set: scripts/test-operations sets it");
    let output = std::process::Command::new(bin).args(args).output().unwrap();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.code(),
    )
}

/// A stage's signing keys in the emulator's KMS (one HMAC_256 key per producer, as the CDK app
/// makes them) and its `/alchemiser/<stage>/authenticity` parameter naming them, as deployed.
#[allow(dead_code)]
pub struct StageKeys {
    sdk: aws_config::SdkConfig,
    stage: Stage,
}

#[allow(dead_code)]
impl StageKeys {
    /// Creates the keys and writes the parameter (no unsigned source: every event must be signed).
    pub async fn create(sdk: &aws_config::SdkConfig, stage: &Stage) -> Self {
        let kms = aws_sdk_kms::Client::new(sdk);
        let mut keys = std::collections::BTreeMap::new();
        for signer in ["strategy", "portfolio", "execution", "monitor"] {
            let key = kms
                .create_key()
                .key_spec(aws_sdk_kms::types::KeySpec::Hmac256)
                .key_usage(aws_sdk_kms::types::KeyUsageType::GenerateVerifyMac)
                .description(format!("test signing key of {signer} ({stage})"))
                .send()
                .await
                .expect("KMS CreateKey (HMAC_256) on the emulator");
            let arn = key.key_metadata.unwrap().arn.unwrap();
            kms.create_alias()
                .alias_name(stage.signing_key_alias(signer))
                .target_key_id(&arn)
                .send()
                .await
                .expect("KMS CreateAlias on the emulator");
            keys.insert(signer.to_owned(), arn);
        }
        aws_sdk_ssm::Client::new(sdk)
            .put_parameter()
            .name(stage.authenticity_parameter())
            .value(serde_json::json!({"verify_key_ids": keys, "unsigned_sources": []}).to_string())
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .unwrap();
        Self {
            sdk: sdk.clone(),
            stage: stage.clone(),
        }
    }

    /// `event`, signed by its producer `signer` with that signer's key, found by its alias as
    /// `alchemiser sign` finds it.
    pub async fn signed(
        &self,
        signer: &str,
        mut event: alchemiser_events::Event,
    ) -> alchemiser_events::Event {
        let signing = alchemiser_operations::stage_signer(&self.sdk, &self.stage, signer)
            .await
            .expect("the signer's key, by its alias");
        alchemiser_signing::sign(&signing, &mut event)
            .await
            .expect("KMS GenerateMac on the emulator");
        event
    }
}
