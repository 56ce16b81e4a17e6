//! Draining an outbox: resend what it keeps and remove what was delivered.

use std::collections::HashSet;
use std::time::Duration;

use alchemiser_bus::{error_chain, Undelivered};
use alchemiser_events::EventType;
use async_trait::async_trait;
use futures_util::stream::{self, StreamExt};

use super::delivery::EntryOutcome;
use super::EventBridgePublisher;
use crate::config::OutboxConfig;
use crate::entry::Outgoing;
use crate::outbox::{FileOutbox, OutboxError, OutboxLine, OutboxRecord, SqsOutbox};

/// Outbox records resent per publish call of a drain: each call has its own deadline and keeps
/// the publisher's `max_in_flight` PutEvents requests going.
const DRAIN_CHUNK: usize = 500;
/// SQS calls (delete, replace) in flight at once after a chunk is resent.
const QUEUE_CALLS_IN_FLIGHT: usize = 8;
/// How long a drain hides the SQS messages it works on from other consumers.
const DRAIN_VISIBILITY: Duration = Duration::from_secs(300);
/// How long a record that failed again during an SQS drain stays invisible.
const DRAIN_REPLACE_DELAY: Duration = Duration::from_secs(60);
/// Most SQS messages one drain looks at (a bound, so a drain always ends).
const DRAIN_MAX_MESSAGES: usize = 100_000;

/// The result of draining an outbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// The outbox drained (`file:PATH` or `sqs:URL`).
    pub location: String,
    /// Ids of the events resent and delivered (removed from the outbox).
    pub resent: Vec<String>,
    /// Events still in the outbox, with the reason of their last failure.
    pub remaining: Vec<Undelivered>,
    /// Events the drain would not resend (see [`DrainAdmission`]), moved out of the outbox to
    /// where a person looks at them, with the reason.
    pub set_aside: Vec<Undelivered>,
    /// Lines or messages that are not readable outbox records (left in place).
    pub unreadable: usize,
}

/// Whether a drain may resend an event kept in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Resend it.
    Resend,
    /// Never resend it (for example: the stage's functions would refuse it for who made it): it
    /// is set aside ([`DrainAdmission::set_aside`]), then removed from the outbox.
    SetAside(String),
    /// Not judged now (a key could not be used): it stays in the outbox for the next drain.
    Undecided(String),
}

/// What a drain checks before it resends an event kept in the outbox, and where it sets aside
/// those it will not.
#[async_trait]
pub trait DrainAdmission: Send + Sync {
    /// Judges one event kept in the outbox.
    async fn admit(&self, event: &Outgoing) -> Admission;
    /// Keeps `record` somewhere durable, with `reason`, before the drain removes it from the
    /// outbox; an error leaves it in the outbox.
    async fn set_aside(&self, record: &OutboxRecord, reason: &str) -> Result<(), String>;
}

/// Resends everything: a local outbox the operator's own `alchemiser publish` filled, or a test.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResendEverything;

#[async_trait]
impl DrainAdmission for ResendEverything {
    async fn admit(&self, _: &Outgoing) -> Admission {
        Admission::Resend
    }
    async fn set_aside(&self, _: &OutboxRecord, _: &str) -> Result<(), String> {
        Err("this drain sets nothing aside".into())
    }
}

/// Judges each of `work` (at most a few in flight: each may be a KMS call).
async fn judge<T>(
    work: Vec<(T, OutboxRecord, Outgoing)>,
    admission: &dyn DrainAdmission,
) -> Vec<(T, OutboxRecord, Outgoing, Admission)> {
    stream::iter(work)
        .map(|(handle, record, event)| async move {
            let verdict = admission.admit(&event).await;
            (handle, record, event, verdict)
        })
        .buffered(QUEUE_CALLS_IN_FLIGHT)
        .collect()
        .await
}

/// How far a drain has come, after each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainProgress {
    /// Records resent so far, delivered or kept.
    pub settled: usize,
    /// Records to resend, when known (a file; an SQS queue is read as it goes).
    pub total: Option<usize>,
}

impl EventBridgePublisher {
    /// Resends the events kept in `outbox` to this publisher's bus (whatever bus a record
    /// names: it keeps `bus_name` for reference) and removes those delivered; the others stay,
    /// with their attempts and last failure updated. Unreadable lines/messages are left untouched.
    pub async fn drain(&self, outbox: &OutboxConfig) -> Result<DrainReport, OutboxError> {
        self.drain_reporting(outbox, &ResendEverything, |_| {})
            .await
    }

    /// [`drain`](Self::drain), resending only what `admission` admits (setting aside what it
    /// refuses), and calling `progress` after each chunk of records is resent (for a progress
    /// bar on long drains).
    pub async fn drain_reporting(
        &self,
        outbox: &OutboxConfig,
        admission: &dyn DrainAdmission,
        progress: impl Fn(DrainProgress),
    ) -> Result<DrainReport, OutboxError> {
        match outbox {
            OutboxConfig::File(path) => {
                self.drain_file(&FileOutbox::new(path), outbox, admission, progress)
                    .await
            }
            OutboxConfig::Sqs { queue_url } => {
                let clients = self.clients().await;
                self.drain_sqs(
                    &SqsOutbox::new(clients.sqs.clone(), queue_url),
                    outbox,
                    admission,
                    progress,
                )
                .await
            }
        }
    }

    async fn drain_file(
        &self,
        file: &FileOutbox,
        outbox: &OutboxConfig,
        admission: &dyn DrainAdmission,
        progress: impl Fn(DrainProgress),
    ) -> Result<DrainReport, OutboxError> {
        let _lock = file.lock().await?;
        let lines = file.read()?;
        let mut report = DrainReport {
            location: outbox.location(),
            ..DrainReport::default()
        };
        let mut kept: Vec<OutboxLine> = Vec::new();
        let mut to_judge: Vec<((), OutboxRecord, Outgoing)> = Vec::new();
        for line in lines {
            match line {
                OutboxLine::Record(record) => match record.decode_event() {
                    Ok(event) => to_judge.push(((), *record, event)),
                    Err(error) => {
                        report.unreadable += 1;
                        let reason = error_chain(&error);
                        tracing::warn!(%reason, "outbox record left in place");
                        kept.push(OutboxLine::Record(record));
                    }
                },
                unreadable @ OutboxLine::Unreadable(_) => {
                    report.unreadable += 1;
                    kept.push(unreadable);
                }
            }
        }
        let mut work: Vec<(OutboxRecord, Outgoing)> = Vec::new();
        for ((), record, event, verdict) in judge(to_judge, admission).await {
            match verdict {
                Admission::Resend => work.push((record, event)),
                Admission::SetAside(reason) => match admission.set_aside(&record, &reason).await {
                    Ok(()) => report
                        .set_aside
                        .push(set_aside(&record, &reason, &report.location)),
                    Err(error) => {
                        report.remaining.push(kept_unsent(
                            &record,
                            &reason,
                            &error,
                            &report.location,
                        ));
                        kept.push(OutboxLine::Record(Box::new(record)));
                    }
                },
                Admission::Undecided(reason) => {
                    report
                        .remaining
                        .push(undecided(&record, &reason, &report.location));
                    kept.push(OutboxLine::Record(Box::new(record)));
                }
            }
        }
        let mut settled = 0;
        for chunk in work.chunks(DRAIN_CHUNK) {
            for (record, delivered) in self.resend(chunk).await {
                match delivered {
                    None => report.resent.push(record.event_id.clone()),
                    Some(updated) => {
                        report.remaining.push(remaining(&updated, &report.location));
                        kept.push(OutboxLine::Record(Box::new(updated)));
                    }
                }
            }
            settled += chunk.len();
            progress(DrainProgress {
                settled,
                total: Some(work.len()),
            });
        }
        file.rewrite(&kept)?;
        Ok(report)
    }

    async fn drain_sqs(
        &self,
        queue: &SqsOutbox,
        outbox: &OutboxConfig,
        admission: &dyn DrainAdmission,
        progress: impl Fn(DrainProgress),
    ) -> Result<DrainReport, OutboxError> {
        let mut report = DrainReport {
            location: outbox.location(),
            ..DrainReport::default()
        };
        let mut seen = 0usize;
        let mut handled: HashSet<String> = HashSet::new();
        let mut queue_empty = false;
        while !queue_empty && seen < DRAIN_MAX_MESSAGES {
            // A chunk's worth of messages (ten per receive), resent in one publish call.
            let mut work = Vec::new();
            while work.len() < DRAIN_CHUNK && seen < DRAIN_MAX_MESSAGES {
                let messages = queue.receive(DRAIN_VISIBILITY).await?;
                if messages.is_empty() {
                    queue_empty = true;
                    break;
                }
                seen += messages.len();
                for message in messages {
                    match message.line {
                        OutboxLine::Record(record) => {
                            // Seen in this drain already (a duplicate, or a replaced record come
                            // back early): leave it for the next drain.
                            if !handled.insert(record.event_id.clone()) {
                                continue;
                            }
                            match record.decode_event() {
                                Ok(event) => work.push((message.receipt_handle, *record, event)),
                                Err(_) => report.unreadable += 1,
                            }
                        }
                        OutboxLine::Unreadable(_) => report.unreadable += 1,
                    }
                }
            }
            if work.is_empty() {
                break;
            }
            let mut admitted = Vec::with_capacity(work.len());
            for (receipt, record, event, verdict) in judge(work, admission).await {
                match verdict {
                    Admission::Resend => admitted.push((receipt, record, event)),
                    // Kept durably elsewhere first; only then does it leave the outbox.
                    Admission::SetAside(reason) => {
                        match admission.set_aside(&record, &reason).await {
                            Ok(()) => {
                                queue.delete(&receipt).await?;
                                report.set_aside.push(set_aside(
                                    &record,
                                    &reason,
                                    &report.location,
                                ));
                            }
                            Err(error) => {
                                report.remaining.push(kept_unsent(
                                    &record,
                                    &reason,
                                    &error,
                                    &report.location,
                                ));
                            }
                        }
                    }
                    // Left invisible for this drain; the next one judges it again.
                    Admission::Undecided(reason) => {
                        report
                            .remaining
                            .push(undecided(&record, &reason, &report.location));
                    }
                }
            }
            let work = admitted;
            if work.is_empty() {
                continue;
            }
            let chunk: Vec<(OutboxRecord, Outgoing)> = work
                .iter()
                .map(|(_, record, event)| (record.clone(), event.clone()))
                .collect();
            let results = self.resend(&chunk).await;
            // Delivered: only now may the message go. Failed again: kept with its new attempt
            // count, out of sight for the rest of this drain so that it is not retried in a loop.
            let settled: Vec<_> = stream::iter(work.iter().zip(results))
                .map(|((receipt, _, _), (record, outcome))| async move {
                    let done = match &outcome {
                        None => queue.delete(receipt).await,
                        Some(updated) => queue.replace(receipt, updated, DRAIN_REPLACE_DELAY).await,
                    };
                    (record, outcome, done)
                })
                .buffer_unordered(QUEUE_CALLS_IN_FLIGHT)
                .collect()
                .await;
            for (record, outcome, done) in settled {
                done?;
                match outcome {
                    None => report.resent.push(record.event_id.clone()),
                    Some(updated) => report.remaining.push(remaining(&updated, &report.location)),
                }
            }
            progress(DrainProgress {
                settled: report.resent.len() + report.remaining.len(),
                total: None,
            });
        }
        Ok(report)
    }

    /// Resends events kept in an outbox; for each, `None` when delivered, else the updated record.
    async fn resend<'a>(
        &self,
        work: &'a [(OutboxRecord, Outgoing)],
    ) -> Vec<(&'a OutboxRecord, Option<OutboxRecord>)> {
        let outcomes = self
            .deliver_outgoing(work.iter().map(|(_, outgoing)| outgoing))
            .await;
        work.iter()
            .zip(outcomes)
            .map(|((record, _), outcome)| match outcome {
                EntryOutcome::Delivered => (record, None),
                EntryOutcome::Failed { failure, sends } => (
                    record,
                    Some(
                        record
                            .clone()
                            .failed_again(Some(failure.code), failure.reason, sends),
                    ),
                ),
            })
            .collect()
    }
}

/// A record set aside, as reported.
fn set_aside(record: &OutboxRecord, reason: &str, location: &str) -> Undelivered {
    Undelivered {
        code: Some("SetAside".into()),
        reason: reason.to_owned(),
        ..remaining(record, location)
    }
}

/// A record the drain would not resend, and could not set aside either: still in the outbox.
fn kept_unsent(record: &OutboxRecord, reason: &str, error: &str, location: &str) -> Undelivered {
    Undelivered {
        code: Some("NotSetAside".into()),
        reason: format!("not resent ({reason}), and could not be set aside ({error}): still in the outbox; drain again"),
        ..remaining(record, location)
    }
}

/// A record not judged this time: still in the outbox.
fn undecided(record: &OutboxRecord, reason: &str, location: &str) -> Undelivered {
    Undelivered {
        code: Some("NotChecked".into()),
        reason: format!("not checked ({reason}): still in the outbox; drain again"),
        ..remaining(record, location)
    }
}

fn remaining(record: &OutboxRecord, location: &str) -> Undelivered {
    Undelivered {
        event_id: record.event_id.clone(),
        event_type: record
            .event_type
            .parse()
            .unwrap_or(EventType::WorkflowFailed),
        code: record.code.clone(),
        reason: record.reason.clone(),
        kept_in: Some(location.to_owned()),
    }
}
