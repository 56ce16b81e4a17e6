//! Keeping: what could not be delivered is kept in the outbox, with its reason.

use alchemiser_bus::Undelivered;
use alchemiser_events::EventType;

use super::{add, EventBridgePublisher};
use crate::config::OutboxConfig;
use crate::outbox::{FileOutbox, OutboxError, OutboxRecord, SqsOutbox};

impl EventBridgePublisher {
    /// Writes records to the configured outbox and reports them as undelivered; a failed write
    /// is said in each reason (the event is NOT kept) and the event's JSON is logged.
    pub(super) async fn keep_in_outbox(&self, records: Vec<OutboxRecord>) -> Vec<Undelivered> {
        let location = self.config.outbox.location();
        let result: Result<(), (Vec<String>, OutboxError)> = match &self.config.outbox {
            OutboxConfig::File(path) => FileOutbox::new(path)
                .append(&records)
                .await
                .map_err(|error| (Vec::new(), error)),
            OutboxConfig::Sqs { queue_url } => {
                let clients = self.clients().await;
                SqsOutbox::new(clients.sqs.clone(), queue_url)
                    .send(&records)
                    .await
            }
        };
        tracing::warn!(
            count = records.len(),
            outbox = %location,
            first_reason = %records.first().map(|r| r.reason.as_str()).unwrap_or_default(),
            "events not delivered to EventBridge"
        );
        let (sent_before_error, error) = match result {
            Ok(()) => (None, None),
            Err((sent, error)) => (Some(sent), Some(error)),
        };
        records
            .into_iter()
            .map(|record| {
                let kept = match &sent_before_error {
                    None => true,
                    Some(sent) => sent.contains(&record.event_id),
                };
                let event_type = record.event_type.parse().unwrap_or(EventType::WorkflowFailed);
                add(&self.counters.undelivered, 1);
                if kept {
                    add(&self.counters.kept, 1);
                    tracing::debug!(
                        event_id = %record.event_id,
                        code = record.code.as_deref().unwrap_or(""),
                        reason = %record.reason,
                        outbox = %location,
                        "event not delivered to EventBridge; kept in the outbox"
                    );
                    Undelivered {
                        event_id: record.event_id,
                        event_type,
                        code: record.code,
                        reason: record.reason,
                        kept_in: Some(location.clone()),
                    }
                } else {
                    add(&self.counters.not_kept, 1);
                    let error = error
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    tracing::error!(
                        event_id = %record.event_id,
                        event = %record.to_line(),
                        %error,
                        "event not delivered AND NOT KEPT: the outbox write failed; this log line holds the event"
                    );
                    Undelivered {
                        event_id: record.event_id,
                        event_type,
                        code: record.code,
                        reason: format!(
                            "{}; the event is NOT kept: writing it to the outbox {location} failed: {error} (its JSON is in the error log)",
                            record.reason
                        ),
                        kept_in: None,
                    }
                }
            })
            .collect()
    }
}
