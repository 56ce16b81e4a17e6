//! Signed events: a producer proves it made an event by a MAC over the event itself, kept in
//! `metadata.signature` — so the proof travels with the event, whatever carries it (a rule, a
//! direct invoke, another principal's PutEvents, the outbox, a redrive), and a consumer checks it
//! before anything else.
//!
//! What is signed: SHA-256 of `alchemiser-event-v1`, the signer's name and the canonical JSON
//! ([`crate::canonical_json`]) of the event's detail without its signature and without what
//! lossless forwarding adds (`metadata.provenance.redriven_from`). Everything else — ids, times,
//! the plan, `metadata.provenance.replay_name` a producer wrote — is covered: an altered event,
//! or a replay-derived one stripped of its mark, no longer verifies. The MAC is computed by
//! whoever holds the signer's key (KMS `GenerateMac` in AWS, a local key in process): this crate
//! only says what the bytes are.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::ContractError;
use crate::event::EventHeader;

/// Where a signature lives in an event's `metadata`.
pub const SIGNATURE_KEY: &str = "signature";
/// The MAC algorithm of every signature (KMS's name for it).
pub const SIGNATURE_ALGORITHM: &str = "HMAC_SHA_256";
/// Sets the signed bytes apart from any other use of the same key.
const DOMAIN: &str = "alchemiser-event-v1";

/// A producer's signature of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The handler that signed (a Rust producer of the event's type).
    pub signer: String,
    /// The key it signed with (a KMS key ARN, or `local:<signer>` in process).
    pub key_id: String,
    /// Always [`SIGNATURE_ALGORITHM`].
    pub alg: String,
    /// The MAC, base64.
    pub mac: String,
}

impl Signature {
    /// The signature in an event's detail (bare detail JSON): `None` when it carries none, an
    /// error when `metadata.signature` is there but is no signature.
    pub fn of(detail: &Value) -> Result<Option<Self>, ContractError> {
        let Some(value) = detail
            .get("metadata")
            .and_then(|metadata| metadata.get(SIGNATURE_KEY))
        else {
            return Ok(None);
        };
        serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|error| ContractError::Malformed {
                field: "metadata.signature".into(),
                message: format!("not a signature ({error})"),
            })
    }

    /// The MAC's bytes.
    pub fn mac_bytes(&self) -> Result<Vec<u8>, ContractError> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(&self.mac)
            .map_err(|error| ContractError::Malformed {
                field: "metadata.signature.mac".into(),
                message: format!("not base64 ({error})"),
            })
    }

    /// A signature by `signer` with `key_id` of the MAC `mac`.
    pub fn new(signer: impl Into<String>, key_id: impl Into<String>, mac: &[u8]) -> Self {
        use base64::Engine;
        Self {
            signer: signer.into(),
            key_id: key_id.into(),
            alg: SIGNATURE_ALGORITHM.to_owned(),
            mac: base64::engine::general_purpose::STANDARD.encode(mac),
        }
    }
}

/// The 32 bytes `signer` signs (or a consumer verifies) for an event whose detail is `detail`.
pub fn signing_digest(detail: &Value, signer: &str) -> [u8; 32] {
    digest_of(&signed_text(detail, Marks::Kept), signer)
}

/// The digest `detail` had before a forwarder wrote an archive replay's mark into it, when it
/// carries one: a redrive of an event an archive replay delivered writes the envelope's
/// `replay-name` into the detail's provenance (the mark must travel on). Such a mark only ever
/// makes an event less live (a replay never trades), so a signature made before it was added
/// still stands for the event. The opposite is not true: a mark the producer signed cannot be
/// removed, so a replay-derived event is never passed off as live.
pub fn signing_digest_before_replay_mark(detail: &Value, signer: &str) -> Option<[u8; 32]> {
    let marked = detail
        .get("metadata")
        .and_then(|metadata| metadata.get(crate::PROVENANCE_KEY))
        .and_then(|provenance| provenance.get("replay_name"))
        .is_some();
    marked.then(|| digest_of(&signed_text(detail, Marks::WithoutReplay), signer))
}

fn digest_of(text: &str, signer: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN.as_bytes());
    hasher.update(b"\n");
    hasher.update(signer.as_bytes());
    hasher.update(b"\n");
    hasher.update(text.as_bytes());
    hasher.finalize().into()
}

/// Which forwarding marks the signed text leaves out (a redrive's always).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Marks {
    Kept,
    WithoutReplay,
}

/// The canonical JSON of `detail` without its signature and without a redrive's mark (and, for
/// [`Marks::WithoutReplay`], without a replay's). Only `metadata` is copied (it is small); the
/// rest is written in place.
fn signed_text(detail: &Value, marks: Marks) -> String {
    let Some(object) = detail.as_object() else {
        return crate::canonical_json(detail);
    };
    let metadata = object
        .get("metadata")
        .and_then(Value::as_object)
        .map(|metadata| {
            let mut metadata = metadata.clone();
            metadata.remove(SIGNATURE_KEY);
            if let Some(provenance) = metadata
                .get_mut(crate::PROVENANCE_KEY)
                .and_then(Value::as_object_mut)
            {
                provenance.remove("redriven_from");
                if marks == Marks::WithoutReplay {
                    provenance.remove("replay_name");
                }
                if provenance.is_empty() {
                    metadata.remove(crate::PROVENANCE_KEY);
                }
            }
            Value::Object(metadata)
        });
    let mut keys: Vec<&String> = object
        .iter()
        .filter(|(key, value)| match key.as_str() {
            "metadata" => metadata
                .as_ref()
                .is_some_and(|m| m.as_object().is_some_and(|m| !m.is_empty())),
            _ => !value.is_null(),
        })
        .map(|(key, _)| key)
        .collect();
    keys.sort();
    let mut out = String::from("{");
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        crate::canonical::write_string(key, &mut out);
        out.push(':');
        match (key.as_str(), &metadata) {
            ("metadata", Some(metadata)) => crate::canonical::write_canonical(metadata, &mut out),
            _ => crate::canonical::write_canonical(&object[key], &mut out),
        }
    }
    out.push('}');
    out
}

impl EventHeader {
    /// The event's signature, if it carries one (and it reads).
    pub fn signature(&self) -> Option<Signature> {
        self.metadata
            .as_ref()
            .and_then(|m| m.get(SIGNATURE_KEY))
            .and_then(|value| serde_json::from_value(value.clone()).ok())
    }

    /// Puts `signature` in `metadata.signature` (replacing one there).
    pub fn set_signature(&mut self, signature: &Signature) {
        let value = serde_json::to_value(signature).unwrap_or(Value::Null);
        self.metadata
            .get_or_insert_with(Map::new)
            .insert(SIGNATURE_KEY.into(), value);
    }

    /// Takes the signature out (an event derived from this one must not carry it along).
    pub fn remove_signature(&mut self) {
        if let Some(metadata) = self.metadata.as_mut() {
            metadata.remove(SIGNATURE_KEY);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn detail() -> Value {
        json!({"event_id": "e-1", "metadata": {"workflow_started_at": "2026-12-01T14:35:00Z"}, "plan": {"qty": "1.50"}})
    }

    #[test]
    fn the_digest_covers_the_event_and_the_signer_but_not_the_signature_or_a_redrive() {
        let base = signing_digest(&detail(), "portfolio");
        assert_ne!(
            base,
            signing_digest(&detail(), "execution"),
            "the signer counts"
        );
        let mut altered = detail();
        altered["plan"]["qty"] = json!("15.0");
        assert_ne!(base, signing_digest(&altered, "portfolio"));
        let mut signed = detail();
        signed["metadata"][SIGNATURE_KEY] = json!({"signer": "portfolio"});
        assert_eq!(base, signing_digest(&signed, "portfolio"));
        let mut redriven = signed.clone();
        redriven["metadata"]["provenance"] = json!({"redriven_from": "msg-1"});
        assert_eq!(base, signing_digest(&redriven, "portfolio"));
        // A producer's replay mark is signed: stripping or adding it breaks the signature.
        let mut replayed = detail();
        replayed["metadata"]["provenance"] = json!({"replay_name": "r-1"});
        assert_ne!(base, signing_digest(&replayed, "portfolio"));
        // Key order and spacing do not matter.
        let reordered: Value = serde_json::from_str(
            r#"{"plan": {"qty": "1.50"}, "metadata": {"workflow_started_at": "2026-12-01T14:35:00Z"}, "event_id": "e-1"}"#,
        )
        .unwrap();
        assert_eq!(base, signing_digest(&reordered, "portfolio"));
    }

    #[test]
    fn a_signature_reads_back_and_a_broken_one_is_an_error() {
        let signature = Signature::new("portfolio", "local:portfolio", &[1, 2, 3]);
        let mut d = detail();
        d["metadata"][SIGNATURE_KEY] = serde_json::to_value(&signature).unwrap();
        assert_eq!(Signature::of(&d).unwrap(), Some(signature.clone()));
        assert_eq!(signature.mac_bytes().unwrap(), vec![1, 2, 3]);
        assert_eq!(Signature::of(&detail()).unwrap(), None);
        d["metadata"][SIGNATURE_KEY] = json!("forged");
        assert!(Signature::of(&d).is_err());
        let bad = Signature {
            mac: "***".into(),
            ..signature
        };
        assert!(bad.mac_bytes().is_err());
    }
}
