//! Signed events as a port. A producer signs every event it emits ([`Signer`]); a consumer
//! verifies who made every event it receives ([`Verifier`]) before it acts on it — whatever
//! carried the event (a rule, a direct invoke, another principal's PutEvents, the outbox, a
//! redrive). What the bytes are is the contract's ([`alchemiser_events::signing_digest`]); the
//! keys are here: KMS HMAC keys in AWS ([`kms`], one per producing function, `GenerateMac` for
//! its own role only), local HMAC keys in process ([`local`]).
//!
//! [`Authenticity`] is what a function gets: its signer (if it publishes), the verifier, and which
//! event sources may send unsigned events (the Python system's, on a stage where it owns a
//! producer; everything in process, where there is no other principal).

pub mod kms;
pub mod local;

use std::collections::BTreeSet;
use std::sync::Arc;

use alchemiser_events::{
    signing_digest, signing_digest_before_replay_mark, Event, ReceivedEvent, Route, Signature,
    SIGNATURE_ALGORITHM,
};
use async_trait::async_trait;
use serde_json::Value;
use thiserror::Error;

pub use kms::{KmsSigner, KmsVerifier, VerifyKeys};
pub use local::{LocalKeys, LocalSigner, LOCAL_KEY_PREFIX, LOCAL_SECRET_VARIABLE};

/// A key could not be used: the event is neither signed nor judged, and the invocation fails
/// for a retry (an unavailable key must never let an event through unchecked).
#[derive(Debug, Error)]
#[error("signing key `{key}` could not be used (retry later; check the key and the role's kms:GenerateMac / kms:VerifyMac): {source}")]
pub struct SigningError {
    /// The key.
    pub key: String,
    /// What went wrong.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// What a verifier says of a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The signer's key made this MAC of this event.
    Valid,
    /// It did not: the event was forged or altered.
    Invalid,
    /// The key is not one of the signer's (or the verifier knows no key of the signer).
    UnknownKey,
}

/// Signs what one producer emits.
#[async_trait]
pub trait Signer: Send + Sync {
    /// The producer (a handler name).
    fn signer(&self) -> &str;
    /// The key it signs with, as written in the signature.
    fn key_id(&self) -> &str;
    /// The MAC of `digest`.
    async fn mac(&self, digest: &[u8; 32]) -> Result<Vec<u8>, SigningError>;
}

/// Verifies producers' signatures.
#[async_trait]
pub trait Verifier: Send + Sync {
    /// Whether `mac` is `signer`'s MAC of `digest` with `key_id` (one of the signer's keys).
    async fn verify(
        &self,
        signer: &str,
        key_id: &str,
        digest: &[u8; 32],
        mac: &[u8],
    ) -> Result<Verdict, SigningError>;
}

/// Signs an event's detail as JSON, as it is, whether or not it is a valid event (a test of how
/// a consumer handles a genuine producer's bad event needs one): any signature it carried is
/// replaced. A `metadata` that is not a JSON object is replaced by one holding the signature
/// (callers that must keep such an event as it is refuse it first).
pub async fn sign_detail(
    signer: &dyn Signer,
    detail: &mut serde_json::Map<String, Value>,
) -> Result<(), SigningError> {
    let metadata = detail
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    match metadata {
        Value::Object(metadata) => {
            metadata.remove(alchemiser_events::SIGNATURE_KEY);
        }
        other => *other = Value::Object(Default::default()),
    }
    let digest = signing_digest(&Value::Object(detail.clone()), signer.signer());
    let mac = signer.mac(&digest).await?;
    let signature = Signature::new(signer.signer(), signer.key_id(), &mac);
    if let Some(Value::Object(metadata)) = detail.get_mut("metadata") {
        metadata.insert(
            alchemiser_events::SIGNATURE_KEY.into(),
            serde_json::to_value(signature).unwrap_or(Value::Null),
        );
    }
    Ok(())
}

/// Signs `event` with `signer`: any signature it carried (its cause's) is replaced.
pub async fn sign(signer: &dyn Signer, event: &mut Event) -> Result<(), SigningError> {
    event.header_mut().remove_signature();
    let digest = signing_digest(&event.to_value(), signer.signer());
    let mac = signer.mac(&digest).await?;
    event
        .header_mut()
        .set_signature(&Signature::new(signer.signer(), signer.key_id(), &mac));
    Ok(())
}

/// Which events may come unsigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsigned {
    /// Any (in process: there is no other principal to forge them).
    Accepted,
    /// Only those that came in an EventBridge envelope from one of these sources (the Python
    /// system's, on a stage where it owns a producer); none when empty.
    FromSources(BTreeSet<String>),
}

/// Who made an event, as far as its signature tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Made {
    /// Signed, and the signature holds.
    SignedBy(String),
    /// Unsigned, from a source allowed to send unsigned events.
    Unsigned,
}

/// Why an event is refused for who made it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refused {
    /// No signature, and its source may not send unsigned events.
    #[error("the event is unsigned and {0}: only a signed event, or an unsigned one from a source this stage lets the Python system own (UNSIGNED_SOURCES), is handled")]
    Unsigned(String),
    /// A signature that does not hold: forged or altered.
    #[error("the event's signature by `{signer}` does not hold: it was forged or altered after it was signed")]
    Forged {
        /// Who it claims signed it.
        signer: String,
    },
    /// Signed by someone who does not make this kind of event.
    #[error("the event is signed by `{signer}`, which does not produce {event_type} events (its producers: {producers})")]
    NotAProducer {
        /// Who signed it.
        signer: String,
        /// The event's type.
        event_type: String,
        /// Who does.
        producers: String,
    },
    /// Signed with a key that is not the signer's.
    #[error("the event claims to be signed by `{signer}` with key `{key_id}`, which is not one of its keys on this stage")]
    UnknownKey {
        /// Who it claims signed it.
        signer: String,
        /// The key it names.
        key_id: String,
    },
    /// The signature block cannot be read.
    #[error("the event's signature cannot be read: {0}")]
    Unreadable(String),
}

/// What a function gets: its signer, the verifier, and the unsigned-event policy.
#[derive(Clone)]
pub struct Authenticity {
    /// Signs what the function emits (its KMS key in Lambda).
    pub signer: Option<Arc<dyn Signer>>,
    /// In process: local keys each function signs with as itself, when it has no signer.
    pub local: Option<Arc<LocalKeys>>,
    /// Verifies what it receives.
    pub verifier: Arc<dyn Verifier>,
    /// Which events may come unsigned.
    pub unsigned: Unsigned,
}

impl Authenticity {
    /// In process: every function signs with the process's local keys (so what one emits the
    /// next verifies), and unsigned events are accepted (a captured event, a test's example).
    pub fn in_process() -> Self {
        Self::local(LocalKeys::process(), Unsigned::Accepted)
    }

    /// Local keys, with `unsigned` for unsigned events (the simulation takes none).
    pub fn local(keys: Arc<LocalKeys>, unsigned: Unsigned) -> Self {
        Self {
            signer: None,
            local: Some(keys.clone()),
            verifier: keys,
            unsigned,
        }
    }

    /// The signer of `function`: its own, or one over the local keys.
    pub fn signer_for(&self, function: &str) -> Option<Arc<dyn Signer>> {
        self.signer.clone().or_else(|| {
            self.local
                .clone()
                .map(|keys| Arc::new(LocalSigner::new(keys, function)) as Arc<dyn Signer>)
        })
    }

    /// Judges who made `received`, as every consumer does: its envelope's source (none for a bare
    /// detail, a direct invoke) and the Rust handlers that produce its type.
    pub async fn check_received(
        &self,
        received: &ReceivedEvent,
    ) -> Result<Result<Made, Refused>, SigningError> {
        let source = received.envelope.as_ref().map(|meta| meta.source.as_str());
        let producers = Route::of(received.event.event_type()).rust_producers();
        self.check(&received.event, &received.detail, source, &producers)
            .await
    }

    /// Judges who made an event received as `detail` (its JSON as it arrived), from `source`
    /// (the envelope's, if it came in one), whose producers (the Rust handlers that make its
    /// type) are `producers`.
    pub async fn check(
        &self,
        event: &Event,
        detail: &Value,
        source: Option<&str>,
        producers: &[&str],
    ) -> Result<Result<Made, Refused>, SigningError> {
        let signature = match alchemiser_events::Signature::of(detail) {
            Ok(signature) => signature,
            Err(error) => return Ok(Err(Refused::Unreadable(error.to_string()))),
        };
        let Some(signature) = signature else {
            return Ok(match (&self.unsigned, source) {
                (Unsigned::Accepted, _) => Ok(Made::Unsigned),
                (Unsigned::FromSources(sources), Some(source)) if sources.contains(source) => {
                    Ok(Made::Unsigned)
                }
                (Unsigned::FromSources(_), Some(source)) => {
                    Err(Refused::Unsigned(format!("came from `{source}`")))
                }
                (Unsigned::FromSources(_), None) => Err(Refused::Unsigned(
                    "came without an envelope (a direct invoke)".into(),
                )),
            });
        };
        if !producers.contains(&signature.signer.as_str()) {
            return Ok(Err(Refused::NotAProducer {
                signer: signature.signer,
                event_type: event.event_type().to_string(),
                producers: producers.join(", "),
            }));
        }
        if signature.alg != SIGNATURE_ALGORITHM {
            return Ok(Err(Refused::Unreadable(format!(
                "algorithm `{}` (only {SIGNATURE_ALGORITHM} is used)",
                signature.alg
            ))));
        }
        let mac = match signature.mac_bytes() {
            Ok(mac) => mac,
            Err(error) => return Ok(Err(Refused::Unreadable(error.to_string()))),
        };
        let digest = signing_digest(detail, &signature.signer);
        let mut verdict = self
            .verifier
            .verify(&signature.signer, &signature.key_id, &digest, &mac)
            .await?;
        if verdict == Verdict::Invalid {
            if let Some(before) = signing_digest_before_replay_mark(detail, &signature.signer) {
                verdict = self
                    .verifier
                    .verify(&signature.signer, &signature.key_id, &before, &mac)
                    .await?;
            }
        }
        Ok(match verdict {
            Verdict::Valid => Ok(Made::SignedBy(signature.signer)),
            Verdict::Invalid => Err(Refused::Forged {
                signer: signature.signer,
            }),
            Verdict::UnknownKey => Err(Refused::UnknownKey {
                signer: signature.signer,
                key_id: signature.key_id,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use alchemiser_events::samples::sample_event;
    use alchemiser_events::EventType;

    use super::*;

    #[tokio::test]
    async fn a_detail_signed_as_json_is_signed_as_the_event_is_and_verifies() {
        let keys = LocalKeys::from_secret(b"secret".to_vec());
        let portfolio = LocalSigner::new(keys.clone(), "portfolio");
        let mut event = sample_event(EventType::RebalancePlanned);
        let mut detail = match event.to_value() {
            Value::Object(detail) => detail,
            other => panic!("a detail is an object: {other}"),
        };
        sign(&portfolio, &mut event).await.unwrap();
        sign_detail(&portfolio, &mut detail).await.unwrap();
        let detail = Value::Object(detail);
        assert_eq!(
            Signature::of(&detail).unwrap(),
            Signature::of(&event.to_value()).unwrap()
        );
        let authenticity = Authenticity::local(keys, Unsigned::FromSources(BTreeSet::new()));
        let made = authenticity
            .check(
                &event,
                &detail,
                Some("alchemiser.portfolio"),
                &["portfolio"],
            )
            .await
            .unwrap();
        assert_eq!(made, Ok(Made::SignedBy("portfolio".into())));
    }

    #[tokio::test]
    async fn any_json_object_is_signed_over_a_signature_it_carried_and_a_metadata_it_lacked() {
        let keys = LocalKeys::from_secret(b"secret".to_vec());
        let strategy = LocalSigner::new(keys.clone(), "strategy");
        let mut bare = serde_json::Map::new();
        bare.insert("hello".into(), Value::from("not an event"));
        sign_detail(&strategy, &mut bare).await.unwrap();
        let first = Signature::of(&Value::Object(bare.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(first.signer, "strategy");
        // Signing again replaces the signature (it is not part of what is signed).
        sign_detail(&strategy, &mut bare).await.unwrap();
        assert_eq!(Signature::of(&Value::Object(bare)).unwrap().unwrap(), first);
    }
}
