//! Local HMAC keys: what `alchemiser run`, `alchemiser invoke`, the tests and the simulation sign
//! with. One secret; each signer's key is HMAC-SHA-256(secret, signer), so a key of one producer
//! says nothing of another's.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{Signer, SigningError, Verdict, Verifier};

type HmacSha256 = Hmac<Sha256>;

/// The variable holding the secret of local keys (local runs and tests of the built functions;
/// the stack never sets it).
pub const LOCAL_SECRET_VARIABLE: &str = "ALCHEMISER_LOCAL_SIGNING_SECRET";

/// The prefix of a local key's id (`local:portfolio`).
pub const LOCAL_KEY_PREFIX: &str = "local:";

/// Local keys from one secret.
pub struct LocalKeys {
    secret: Vec<u8>,
    /// Each signer's key, derived once.
    derived: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
}

impl std::fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalKeys(<secret>)")
    }
}

impl LocalKeys {
    /// Keys from `secret`.
    pub fn from_secret(secret: impl Into<Vec<u8>>) -> Arc<Self> {
        Arc::new(Self {
            secret: secret.into(),
            derived: Default::default(),
        })
    }

    /// The keys of this process: from the secret [`LOCAL_SECRET_VARIABLE`] names when it is set
    /// (so that a built function run locally with `SIGNING_KEY_ID=local:...` verifies what
    /// `alchemiser invoke` emitted), else a random secret drawn once, so every function of one
    /// process (and nothing outside it) signs and verifies alike.
    pub fn process() -> Arc<Self> {
        static KEYS: OnceLock<Arc<LocalKeys>> = OnceLock::new();
        KEYS.get_or_init(|| match std::env::var(LOCAL_SECRET_VARIABLE) {
            Ok(secret) if !secret.is_empty() => Self::from_secret(secret.into_bytes()),
            _ => Self::from_secret(uuid::Uuid::new_v4().as_bytes().to_vec()),
        })
        .clone()
    }

    fn key_of(&self, signer: &str) -> Vec<u8> {
        let mut derived = self.derived.lock().unwrap_or_else(|e| e.into_inner());
        derived
            .entry(signer.to_owned())
            .or_insert_with(|| {
                let mut mac =
                    HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
                mac.update(signer.as_bytes());
                mac.finalize().into_bytes().to_vec()
            })
            .clone()
    }

    fn mac(&self, signer: &str, digest: &[u8; 32]) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.key_of(signer)).expect("HMAC takes any key length");
        mac.update(digest);
        mac
    }
}

#[async_trait]
impl Verifier for LocalKeys {
    async fn verify(
        &self,
        signer: &str,
        key_id: &str,
        digest: &[u8; 32],
        mac: &[u8],
    ) -> Result<Verdict, SigningError> {
        if key_id != format!("{LOCAL_KEY_PREFIX}{signer}") {
            return Ok(Verdict::UnknownKey);
        }
        Ok(match self.mac(signer, digest).verify_slice(mac) {
            Ok(()) => Verdict::Valid,
            Err(_) => Verdict::Invalid,
        })
    }
}

/// One producer signing with local keys.
pub struct LocalSigner {
    keys: Arc<LocalKeys>,
    signer: String,
    key_id: String,
}

impl LocalSigner {
    /// `signer` signing with `keys`.
    pub fn new(keys: Arc<LocalKeys>, signer: impl Into<String>) -> Self {
        let signer = signer.into();
        Self {
            keys,
            key_id: format!("{LOCAL_KEY_PREFIX}{signer}"),
            signer,
        }
    }
}

#[async_trait]
impl Signer for LocalSigner {
    fn signer(&self) -> &str {
        &self.signer
    }
    fn key_id(&self) -> &str {
        &self.key_id
    }
    async fn mac(&self, digest: &[u8; 32]) -> Result<Vec<u8>, SigningError> {
        Ok(self
            .keys
            .mac(&self.signer, digest)
            .finalize()
            .into_bytes()
            .to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_key_verifies_its_own_macs_only() {
        let keys = LocalKeys::from_secret(b"secret".to_vec());
        let portfolio = LocalSigner::new(keys.clone(), "portfolio");
        let digest = [7u8; 32];
        let mac = portfolio.mac(&digest).await.unwrap();
        let verify = |signer: &'static str, key: &'static str, digest: [u8; 32], mac: Vec<u8>| {
            let keys = keys.clone();
            async move { keys.verify(signer, key, &digest, &mac).await.unwrap() }
        };
        assert_eq!(
            verify("portfolio", "local:portfolio", digest, mac.clone()).await,
            Verdict::Valid
        );
        assert_eq!(
            verify("portfolio", "local:portfolio", [8u8; 32], mac.clone()).await,
            Verdict::Invalid
        );
        // Another producer's key does not make the portfolio's MAC.
        assert_eq!(
            verify("strategy", "local:strategy", digest, mac.clone()).await,
            Verdict::Invalid
        );
        assert_eq!(
            verify("portfolio", "local:strategy", digest, mac.clone()).await,
            Verdict::UnknownKey
        );
        // Another secret, another key.
        let other = LocalKeys::from_secret(b"other".to_vec());
        assert_eq!(
            other
                .verify("portfolio", "local:portfolio", &digest, &mac)
                .await
                .unwrap(),
            Verdict::Invalid
        );
    }
}
