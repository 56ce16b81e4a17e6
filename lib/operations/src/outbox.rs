//! Draining a stage's outbox: what its functions could not publish, resent to its bus — each
//! event first judged as the stage's functions judge it. One they would refuse for who made it
//! (unsigned, forged, altered: the functions' roles may write to the outbox, so may a forger
//! holding one) is never resent with the operator's credentials: it is moved to the stage's
//! dead-letter queue as a `refused` record naming why, where `alchemiser dlq` shows it and the
//! sweep records it in the workflow it names (without failing that workflow).

use alchemiser_bus::error_chain;
use alchemiser_eventbridge::{Admission, DrainAdmission, OutboxRecord, Outgoing};
use alchemiser_events::{FailureRecord, Route, DEFAULT_SOURCE_PREFIX, REFUSED_CLASS};
use alchemiser_signing::Authenticity;
use async_trait::async_trait;

/// The `function` of the dead-letter records a drain writes.
pub const OUTBOX_DRAIN: &str = "outbox-drain";
/// The largest record LocalStack's SQS takes (AWS takes 1 MiB): a record never fails to be set
/// aside for its size (a large event travels as a note of its ids; the archive has it).
const MAX_RECORD_BYTES: usize = 262_144;

/// A stage's drain admission: its functions' authenticity rules, and its dead-letter queue for
/// what they would refuse.
pub struct StageDrainAdmission {
    authenticity: Authenticity,
    sqs: aws_sdk_sqs::Client,
    dead_letter_queue_url: String,
}

impl StageDrainAdmission {
    /// Judges with `authenticity` (see [`stage_authenticity`](crate::stage_authenticity)) and
    /// sets aside into the queue at `dead_letter_queue_url`, with `sdk`'s SQS client.
    pub fn new(
        authenticity: Authenticity,
        sdk: &aws_config::SdkConfig,
        dead_letter_queue_url: impl Into<String>,
    ) -> Self {
        Self {
            authenticity,
            sqs: aws_sdk_sqs::Client::new(sdk),
            dead_letter_queue_url: dead_letter_queue_url.into(),
        }
    }
}

#[async_trait]
impl DrainAdmission for StageDrainAdmission {
    async fn admit(&self, kept: &Outgoing) -> Admission {
        let event_type = kept.event.event_type();
        let route = Route::of(event_type);
        // Kept without a source: it would be sent with its producer's.
        let source = kept.source.clone().or_else(|| {
            route
                .source_of(&kept.event.header().source_module, DEFAULT_SOURCE_PREFIX)
                .ok()
        });
        let producers = route.rust_producers();
        match self
            .authenticity
            .check(&kept.event, &kept.detail, source.as_deref(), &producers)
            .await
        {
            Ok(Ok(_made)) => Admission::Resend,
            Ok(Err(refused)) => Admission::SetAside(format!(
                "the stage's functions would refuse this {event_type} for who made it: {refused}"
            )),
            Err(error) => Admission::Undecided(error_chain(&error)),
        }
    }

    async fn set_aside(&self, record: &OutboxRecord, reason: &str) -> Result<(), String> {
        let text_of = |field: &str| {
            record
                .event
                .get(field)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let letter = FailureRecord {
            function: OUTBOX_DRAIN.to_owned(),
            reason: format!("found in the outbox and not resent: {reason}"),
            error_class: REFUSED_CLASS.to_owned(),
            event_id: Some(record.event_id.clone()),
            detail_type: Some(record.event_type.clone()),
            correlation_id: text_of("correlation_id"),
            failed_at: chrono::Utc::now(),
            event: record.event.clone(),
        }
        .fitting(MAX_RECORD_BYTES);
        let body = serde_json::to_string(&letter).map_err(|e| e.to_string())?;
        self.sqs
            .send_message()
            .queue_url(&self.dead_letter_queue_url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| crate::error::sdk_failure(&error))
    }
}
