//! KMS HMAC keys: one per producing function (`alias/alchemiser-<stage>-<handler>-signing`,
//! KeySpec HMAC_256). A function's role may `GenerateMac` with its own key only, and
//! `VerifyMac` with the keys of the producers of what it consumes (`VERIFY_KEY_IDS`): a
//! compromised strategy cannot pass off a plan. KMS takes messages up to 4 KiB, so what is
//! MAC'd is the event's 32-byte digest.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::MacAlgorithmSpec;

use super::{Signer, SigningError, Verdict, Verifier};

/// A producer signing with its KMS key.
pub struct KmsSigner {
    client: aws_sdk_kms::Client,
    signer: String,
    key_id: String,
}

impl KmsSigner {
    /// `signer` signing with `key_id` (`SIGNING_KEY_ID`).
    pub fn new(
        client: aws_sdk_kms::Client,
        signer: impl Into<String>,
        key_id: impl Into<String>,
    ) -> Self {
        Self {
            client,
            signer: signer.into(),
            key_id: key_id.into(),
        }
    }
}

#[async_trait]
impl Signer for KmsSigner {
    fn signer(&self) -> &str {
        &self.signer
    }
    fn key_id(&self) -> &str {
        &self.key_id
    }
    async fn mac(&self, digest: &[u8; 32]) -> Result<Vec<u8>, SigningError> {
        let answer = self
            .client
            .generate_mac()
            .key_id(&self.key_id)
            .message(Blob::new(digest.to_vec()))
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .send()
            .await
            .map_err(|error| SigningError {
                key: self.key_id.clone(),
                source: Box::new(error),
            })?;
        answer
            .mac
            .map(Blob::into_inner)
            .ok_or_else(|| SigningError {
                key: self.key_id.clone(),
                source: "GenerateMac answered without a MAC".into(),
            })
    }
}

/// The keys each signer may use, as `VERIFY_KEY_IDS` gives them: a JSON object of signer →
/// key id, or signer → list of key ids (while a key is rotated, both verify).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyKeys(BTreeMap<String, Vec<String>>);

impl VerifyKeys {
    /// Parses `VERIFY_KEY_IDS`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            format!("not JSON ({e}); expected {{\"portfolio\": \"arn:aws:kms:...\"}}")
        })?;
        let object = value
            .as_object()
            .ok_or("not a JSON object of signer → key id(s)")?;
        let mut keys = BTreeMap::new();
        for (signer, ids) in object {
            let ids: Vec<String> = match ids {
                serde_json::Value::String(id) => vec![id.clone()],
                serde_json::Value::Array(ids) => ids
                    .iter()
                    .map(|id| {
                        id.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| format!("`{signer}`: every key id must be a string"))
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(format!("`{signer}`: a key id or a list of key ids")),
            };
            if ids.iter().any(|id| id.trim().is_empty()) || ids.is_empty() {
                return Err(format!("`{signer}`: an empty key id"));
            }
            keys.insert(signer.clone(), ids);
        }
        Ok(Self(keys))
    }

    /// Whether `key_id` is one of `signer`'s keys.
    pub fn allows(&self, signer: &str, key_id: &str) -> bool {
        self.0
            .get(signer)
            .is_some_and(|ids| ids.iter().any(|id| id == key_id))
    }
}

/// Verifies with KMS, accepting only each signer's own keys.
pub struct KmsVerifier {
    client: aws_sdk_kms::Client,
    keys: VerifyKeys,
}

impl KmsVerifier {
    /// A verifier of the signers and keys in `keys`.
    pub fn new(client: aws_sdk_kms::Client, keys: VerifyKeys) -> Self {
        Self { client, keys }
    }
}

#[async_trait]
impl Verifier for KmsVerifier {
    async fn verify(
        &self,
        signer: &str,
        key_id: &str,
        digest: &[u8; 32],
        mac: &[u8],
    ) -> Result<Verdict, SigningError> {
        if !self.keys.allows(signer, key_id) {
            return Ok(Verdict::UnknownKey);
        }
        let answer = self
            .client
            .verify_mac()
            .key_id(key_id)
            .message(Blob::new(digest.to_vec()))
            .mac(Blob::new(mac.to_vec()))
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .send()
            .await;
        match answer {
            Ok(answer) if answer.mac_valid => Ok(Verdict::Valid),
            Ok(_) => Ok(Verdict::Invalid),
            // KMS answers a MAC that does not verify with KMSInvalidMacException.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_kms_invalid_mac_exception()) =>
            {
                Ok(Verdict::Invalid)
            }
            Err(error) => Err(SigningError {
                key: key_id.to_owned(),
                source: Box::new(error),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::VerifyKeys;

    #[test]
    fn verify_keys_take_one_key_or_several_and_refuse_nonsense() {
        let keys = VerifyKeys::parse(r#"{"portfolio": "arn:a", "execution": ["arn:b", "arn:c"]}"#)
            .unwrap();
        assert!(keys.allows("portfolio", "arn:a"));
        assert!(keys.allows("execution", "arn:c"));
        assert!(!keys.allows("portfolio", "arn:b"));
        assert!(!keys.allows("strategy", "arn:a"));
        for bad in ["[]", "{\"p\": 1}", "{\"p\": \"\"}", "{\"p\": []}", "nope"] {
            assert!(VerifyKeys::parse(bad).is_err(), "{bad}");
        }
    }
}
