//! `alchemiser sign FILE --as SIGNER --stage STAGE`: an event signed with a stage producer's KMS
//! key, as that producer's function signs what it emits. For tests of a deployed stage (LocalStack,
//! a test account) that put events on its bus or invoke its functions with something the stage
//! accepts, valid or not. On AWS only the producer's own role may use its key: a person cannot
//! sign unless the key's policy grants them (a break-glass role), which is the point.

use std::path::PathBuf;
use std::process::ExitCode;

use alchemiser_events::{HandlerName, Route};
use alchemiser_operations::Stage;
use anyhow::{bail, Context};
use serde_json::{Map, Value};

/// Arguments of `sign`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An EventBridge envelope or a bare event detail (JSON); `-` reads standard input. Written
    /// to standard output in the same shape, with `metadata.signature` set.
    file: PathBuf,
    /// The producer whose key signs: strategy, portfolio, execution or monitor.
    #[arg(long = "as", value_name = "SIGNER", value_parser = signer)]
    signer: HandlerName,
    /// The stage whose key of SIGNER signs (alias/alchemiser-STAGE-SIGNER-signing).
    #[arg(long)]
    stage: Stage,
}

fn signer(text: &str) -> Result<HandlerName, String> {
    HandlerName::ALL
        .into_iter()
        .find(|handler| handler.as_str() == text)
        .ok_or_else(|| {
            let names: Vec<_> = HandlerName::ALL.iter().map(|h| h.as_str()).collect();
            format!("`{text}` is not a producer; one of {}", names.join(", "))
        })
}

/// Prints the event signed by `--as` with the stage's key.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bytes = super::read_input(&args.file)?;
    let mut input: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("`{}` is not JSON", args.file.display()))?;
    let (mut detail, shape) = take_detail(&mut input)?;
    let sdk = super::aws_config().await?;
    let key = alchemiser_operations::stage_signer(&sdk, &args.stage, args.signer.as_str()).await?;
    alchemiser_signing::sign_detail(&key, &mut detail)
        .await
        .context("nothing was signed")?;
    if let Some(note) = not_a_producer_note(&detail, args.signer) {
        eprintln!("{note}");
    }
    put_detail(&mut input, detail, shape);
    println!("{input}");
    Ok(ExitCode::SUCCESS)
}

/// Where the detail was, so that the signed event goes out in the shape it came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// The whole input is the detail.
    Bare,
    /// An envelope's `detail`, an object (as EventBridge delivers it) or a JSON string (as a
    /// PutEvents entry's `Detail` carries it).
    Envelope { as_string: bool },
}

/// The detail of `input` (left in place as `null` until [`put_detail`]), or why it has none a
/// signature can go in.
fn take_detail(input: &mut Value) -> anyhow::Result<(Map<String, Value>, Shape)> {
    let Value::Object(fields) = input else {
        bail!("an event is a JSON object (an envelope or a bare detail); this is not one");
    };
    // No event type has a field `detail`: an object with one is an envelope.
    let (detail, shape) = match fields.get_mut("detail") {
        Some(Value::String(text)) => (
            serde_json::from_str(text).context("the envelope's `detail` string is not JSON")?,
            Shape::Envelope { as_string: true },
        ),
        Some(slot) => (slot.take(), Shape::Envelope { as_string: false }),
        None => (std::mem::take(input), Shape::Bare),
    };
    let Value::Object(detail) = detail else {
        bail!("the event's detail is not a JSON object");
    };
    if detail.get("metadata").is_some_and(|m| !m.is_object()) {
        bail!("the event's `metadata` is not a JSON object: there is no place for a signature (fix the event first)");
    }
    Ok((detail, shape))
}

/// Puts the signed detail back where [`take_detail`] found it.
fn put_detail(input: &mut Value, detail: Map<String, Value>, shape: Shape) {
    let detail = Value::Object(detail);
    match shape {
        Shape::Bare => *input = detail,
        Shape::Envelope { as_string } => {
            let value = if as_string {
                Value::String(detail.to_string())
            } else {
                detail
            };
            input["detail"] = value;
        }
    }
}

/// The key id of a stage's signature on `payload` (an envelope or a bare detail), when it
/// carries one made with a KMS key (not a local one): a local run cannot verify it.
pub fn stage_signature(payload: &Value) -> Option<String> {
    let detail = match payload.get("detail") {
        Some(Value::String(text)) => serde_json::from_str(text).ok()?,
        Some(detail) => detail.clone(),
        None => payload.clone(),
    };
    let signature = alchemiser_events::Signature::of(&detail).ok()??;
    (!signature
        .key_id
        .starts_with(alchemiser_signing::LOCAL_KEY_PREFIX))
    .then_some(signature.key_id)
}

/// Removes the signature from `payload` (an envelope or a bare detail); whether it had one.
pub fn remove_signature(payload: &mut Value) -> anyhow::Result<bool> {
    let (mut detail, shape) = take_detail(payload)?;
    let removed = match detail.get_mut("metadata") {
        Some(Value::Object(metadata)) => {
            metadata.remove(alchemiser_events::SIGNATURE_KEY).is_some()
        }
        _ => false,
    };
    put_detail(payload, detail, shape);
    Ok(removed)
}

/// A note when `signer` does not produce the event's type: the stage's consumers refuse it.
fn not_a_producer_note(detail: &Map<String, Value>, signer: HandlerName) -> Option<String> {
    let event_type = detail.get("event_type")?.as_str()?;
    let producers = event_type
        .parse()
        .map(|t| Route::of(t).rust_producers())
        .unwrap_or_default();
    (!producers.contains(&signer.as_str())).then(|| {
        format!(
            "note: {} does not produce {event_type}; the stage's consumers will refuse this event as forged",
            signer.as_str()
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn round_trip(mut input: Value) -> (Value, Shape) {
        let (mut detail, shape) = take_detail(&mut input).unwrap();
        detail.insert("signed".into(), Value::Bool(true));
        put_detail(&mut input, detail, shape);
        (input, shape)
    }

    #[test]
    fn the_signed_event_keeps_the_shape_it_came_in() {
        let (bare, shape) = round_trip(json!({"event_type": "RebalancePlanned", "metadata": {}}));
        assert_eq!(shape, Shape::Bare);
        assert_eq!(bare["signed"], true);
        let (envelope, shape) = round_trip(
            json!({"detail-type": "RebalancePlanned", "source": "s", "detail": {"a": 1}}),
        );
        assert_eq!(shape, Shape::Envelope { as_string: false });
        assert_eq!(
            (
                envelope["detail"]["signed"].clone(),
                envelope["source"].clone()
            ),
            (json!(true), json!("s"))
        );
        let (entry, shape) = round_trip(json!({"DetailType": "X", "detail": "{\"a\": 1}"}));
        assert_eq!(shape, Shape::Envelope { as_string: true });
        let inner: Value = serde_json::from_str(entry["detail"].as_str().unwrap()).unwrap();
        assert_eq!(inner["signed"], true);
    }

    #[test]
    fn what_cannot_hold_a_signature_is_refused_by_name() {
        for (input, says) in [
            (json!([1, 2]), "not one"),
            (
                json!({"detail-type": "X", "detail": 3}),
                "detail is not a JSON object",
            ),
            (json!({"detail": "not json"}), "not JSON"),
            (json!({"metadata": "x"}), "`metadata` is not a JSON object"),
        ] {
            let error = take_detail(&mut input.clone()).unwrap_err().to_string();
            assert!(error.contains(says), "{input}: {error}");
        }
    }

    #[test]
    fn a_stage_signature_is_told_from_a_local_one_and_removed() {
        let signature = |key: &str| json!({"signer": "portfolio", "key_id": key, "alg": "HMAC_SHA_256", "mac": "AA=="});
        let mut envelope = json!({"detail-type": "RebalancePlanned", "detail": {
            "event_type": "RebalancePlanned", "metadata": {"signature": signature("arn:aws:kms:us-east-1:1:key/k")}}});
        assert_eq!(
            stage_signature(&envelope).as_deref(),
            Some("arn:aws:kms:us-east-1:1:key/k")
        );
        assert!(remove_signature(&mut envelope).unwrap());
        assert_eq!(envelope["detail"]["metadata"], json!({}));
        assert_eq!(stage_signature(&envelope), None);
        assert!(!remove_signature(&mut envelope).unwrap());
        let local = json!({"metadata": {"signature": signature("local:portfolio")}});
        assert_eq!(stage_signature(&local), None);
    }

    #[test]
    fn a_signer_that_does_not_produce_the_type_is_noted() {
        let plan = json!({"event_type": "RebalancePlanned"});
        let plan = plan.as_object().unwrap();
        assert!(not_a_producer_note(plan, HandlerName::Portfolio).is_none());
        let note = not_a_producer_note(plan, HandlerName::Strategy).unwrap();
        assert!(note.contains("refuse"), "{note}");
    }
}
