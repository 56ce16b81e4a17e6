//! The dead-letter queue's operations: find a stage's queue, read it without consuming it, and
//! redrive chosen records to the stage's bus, deleting a message only once its event was
//! delivered. Reading the queue is `alchemiser-deadletters`'.

use std::collections::HashSet;
use std::time::Duration;

use alchemiser_bus::error_chain;
use alchemiser_deadletters::{
    peek, DeadLetters, Held, Peeked, Reading, SqsDeadLetters, PEEK_PAGE, PEEK_READ_LIMIT,
};
use alchemiser_eventbridge::{EventBridgePublisher, OutboxConfig, Outgoing, PublisherConfig};
use alchemiser_events::text::shell_word;
use alchemiser_events::{DeadLetter, Provenance, ReceivedEvent};
use alchemiser_signing::Authenticity;
use aws_config::SdkConfig;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::error::{sdk_failure, OperationsError};
use crate::stage::Stage;

/// How long `redrive` holds the messages it works on: publishing has a deadline of its own
/// (20 s by default) and the delete must use a still-valid receipt handle.
const REDRIVE_VISIBILITY: Duration = Duration::from_secs(300);
/// Messages per publish call: their PutEvents requests go out concurrently (the publisher's
/// `max_in_flight`), and each call has its own deadline, well inside `REDRIVE_VISIBILITY`.
const REDRIVE_CHUNK: usize = 500;
/// The most messages a listing or a redrive reads: a bound, so a reading always ends.
const DEFAULT_MAX_MESSAGES: usize = 10_000;
/// Signatures checked at once (each a KMS VerifyMac call).
const VERIFICATIONS_IN_FLIGHT: usize = 16;
/// DeleteMessage calls in flight at once after a chunk is delivered.
const DELETES_IN_FLIGHT: usize = 8;

/// One message held out of sight of other readers, to delete or give back.
#[derive(Debug)]
pub struct HeldLetter<'q> {
    queue: &'q DeadLetterQueue,
    held: Held,
}

impl HeldLetter<'_> {
    /// The message.
    pub fn letter(&self) -> &DeadLetter {
        &self.held.letter
    }

    /// Deletes it from the queue.
    pub async fn delete(self) -> Result<(), OperationsError> {
        Ok(self.queue.queue.delete(&self.held).await?)
    }

    /// Gives it back (visible again at once).
    pub async fn release(self) {
        self.queue.queue.release(&[self.held]).await;
    }
}

/// Which messages to redrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedriveSelection {
    /// Every message.
    All,
    /// These MessageIds.
    Ids(Vec<String>),
}

/// A message redriven: published, then deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redriven {
    /// Its MessageId.
    pub message_id: String,
    /// The event published.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
}

/// A message not redriven (kept in the queue), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedriveFailure {
    /// Its MessageId.
    pub message_id: String,
    /// Why, with what to do.
    pub reason: String,
}

/// The result of a redrive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RedriveReport {
    /// Published and deleted.
    pub redriven: Vec<Redriven>,
    /// Kept in the queue.
    pub failed: Vec<RedriveFailure>,
    /// Kept in the queue, because the stage's functions would refuse the event for who made it
    /// (unsigned, forged, altered), or already did.
    pub refused: Vec<RedriveFailure>,
    /// Asked-for ids not found in the queue.
    pub not_found: Vec<String>,
}

impl RedriveReport {
    /// True when everything asked for was redriven.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.refused.is_empty() && self.not_found.is_empty()
    }
}

/// The dead-letter queue of a stage.
#[derive(Debug, Clone)]
pub struct DeadLetterQueue {
    queue: SqsDeadLetters,
    max_messages: usize,
    /// The command that lists this queue, for messages (`alchemiser dlq list --stage S`).
    list_command: String,
}

impl DeadLetterQueue {
    /// Finds the stage's queue: `override_url` if given, else the SSM parameter
    /// `/alchemiser/<stage>/dlq-url`, else GetQueueUrl of `alchemiser-event-dlq-<stage>`.
    pub async fn for_stage(
        sdk: &SdkConfig,
        stage: &Stage,
        override_url: Option<String>,
    ) -> Result<Self, OperationsError> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        if let Some(url) = override_url {
            let command = format!(
                "alchemiser dlq list --stage {stage} --queue-url {}",
                shell_word(&url)
            );
            return Ok(Self::new(sqs, url).listed_by(command));
        }
        let command = format!("alchemiser dlq list --stage {stage}");
        let parameter = stage.dlq_url_parameter();
        let ssm = aws_sdk_ssm::Client::new(sdk);
        let ssm_error = match ssm.get_parameter().name(&parameter).send().await {
            Ok(output) => match output.parameter.and_then(|p| p.value) {
                Some(url) if !url.trim().is_empty() => {
                    return Ok(Self::new(sqs, url).listed_by(command))
                }
                _ => "the parameter has no value".to_owned(),
            },
            Err(error) => sdk_failure(&error),
        };
        let queue_name = stage.dlq_name();
        match sqs.get_queue_url().queue_name(&queue_name).send().await {
            Ok(output) => match output.queue_url {
                Some(url) => Ok(Self::new(sqs, url).listed_by(command)),
                None => Err(OperationsError::QueueNotFound {
                    stage: stage.to_string(),
                    parameter,
                    ssm_error,
                    queue_name,
                    queue_error: "no URL in the answer".into(),
                }),
            },
            Err(error) => Err(OperationsError::QueueNotFound {
                stage: stage.to_string(),
                parameter,
                ssm_error,
                queue_name,
                queue_error: sdk_failure(&error),
            }),
        }
    }

    /// The queue at `url`.
    pub fn new(sqs: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            list_command: format!("alchemiser dlq list --queue-url {}", shell_word(&url)),
            queue: SqsDeadLetters::new(sqs, url),
            max_messages: DEFAULT_MAX_MESSAGES,
        }
    }

    fn listed_by(mut self, command: String) -> Self {
        self.list_command = command;
        self
    }

    /// The command that lists this queue (what an error suggests running).
    pub fn list_command(&self) -> &str {
        &self.list_command
    }

    /// Reads at most `max` messages (default 10,000): a bound, so a listing always ends.
    pub fn with_max_messages(mut self, max: usize) -> Self {
        self.max_messages = max.max(1);
        self.queue = self.queue.with_max_messages(self.max_messages);
        self
    }

    /// The queue URL.
    pub fn url(&self) -> &str {
        self.queue.url()
    }

    /// Every message of the queue, oldest first, left in the queue (and whether that is every
    /// message: a very large queue is read for a minute at most).
    ///
    /// SQS has no "peek": reading a message means receiving it, which hides it from other
    /// readers for the visibility timeout. So this receives page by page, each message hidden
    /// until the whole reading ends (else a page would bring back messages already read instead
    /// of the rest), then makes every message visible again at once with ChangeMessageVisibility
    /// 0. What it changes: each message's `ApproximateReceiveCount` grows by one (the DLQ has
    /// no redrive policy of its own, so nothing moves because of it), and other readers do not
    /// see the messages while the listing reads ([`alchemiser_deadletters::peek`]).
    pub async fn list(&self) -> Result<Peeked, OperationsError> {
        Ok(peek(&self.queue, self.max_messages).await?)
    }

    /// One message by its MessageId, left in the queue.
    pub async fn show(&self, message_id: &str) -> Result<DeadLetter, OperationsError> {
        let held = self.hold(message_id).await?;
        let letter = held.letter().clone();
        held.release().await;
        Ok(letter)
    }

    /// Holds one message by its MessageId (out of sight of other readers) to delete it or give
    /// it back: the queue is read page by page until it turns up, and every other message
    /// read is given back.
    pub async fn hold(&self, message_id: &str) -> Result<HeldLetter<'_>, OperationsError> {
        let mut reading = Reading::new(
            &self.queue,
            alchemiser_clock::system(),
            PEEK_READ_LIMIT,
            REDRIVE_VISIBILITY,
        )
        .at_most(self.max_messages);
        let found = loop {
            match reading.next_page(PEEK_PAGE).await {
                Ok(Some(page)) => {
                    if let Some(held) = page.into_iter().find(|h| h.letter.message_id == message_id)
                    {
                        break Some(held);
                    }
                }
                Ok(None) => break None,
                Err(error) => {
                    reading.release().await;
                    return Err(error.into());
                }
            }
        };
        let others: Vec<Held> = reading
            .into_held()
            .into_iter()
            .filter(|h| h.letter.message_id != message_id)
            .collect();
        self.queue.release(&others).await;
        match found {
            Some(held) => Ok(HeldLetter { queue: self, held }),
            None => Err(OperationsError::MessageNotFound {
                id: alchemiser_events::text::printable(message_id).into_owned(),
                list_command: self.list_command.clone(),
            }),
        }
    }

    /// Republishes the original event of each chosen message to the stage's bus through
    /// `publisher`, and deletes a message only after its event was delivered (not kept in an outbox).
    /// Each event is first judged as the stage's functions judge it (`authenticity`, see
    /// [`stage_authenticity`](crate::stage_authenticity)): one they would refuse for who made it
    /// is never republished. Messages that cannot be decoded, verified or delivered stay in the
    /// queue (made visible again) and are reported with the reason.
    pub async fn redrive(
        &self,
        selection: &RedriveSelection,
        authenticity: &Authenticity,
        publisher: &EventBridgePublisher,
    ) -> Result<RedriveReport, OperationsError> {
        self.redrive_reporting(selection, authenticity, publisher, |_, _| {})
            .await
    }

    /// [`redrive`](Self::redrive), calling `progress(settled, total)` after each chunk of
    /// messages is published and deleted (for a progress bar on long redrives).
    pub async fn redrive_reporting(
        &self,
        selection: &RedriveSelection,
        authenticity: &Authenticity,
        publisher: &EventBridgePublisher,
        progress: impl Fn(usize, usize),
    ) -> Result<RedriveReport, OperationsError> {
        let held = self.queue.hold_all(REDRIVE_VISIBILITY).await?;
        let mut report = RedriveReport::default();
        let (chosen, others): (Vec<Held>, Vec<Held>) = match selection {
            RedriveSelection::All => (held, Vec::new()),
            RedriveSelection::Ids(ids) => {
                let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
                let found: HashSet<String> = held
                    .iter()
                    .filter(|h| wanted.contains(h.letter.message_id.as_str()))
                    .map(|h| h.letter.message_id.clone())
                    .collect();
                report.not_found = ids
                    .iter()
                    .filter(|id| !found.contains(*id))
                    .cloned()
                    .collect();
                held.into_iter()
                    .partition(|h| wanted.contains(h.letter.message_id.as_str()))
            }
        };
        self.queue.release(&others).await;
        let mut keep = Vec::new();
        let mut sendable = Vec::new();
        let judged: Vec<(Held, Judged)> = stream::iter(chosen)
            .map(|item| async move {
                let judged = judge(&item.letter, authenticity).await;
                (item, judged)
            })
            .buffered(VERIFICATIONS_IN_FLIGHT)
            .collect()
            .await;
        for (item, judged) in judged {
            let message_id = item.letter.message_id.clone();
            match judged {
                // Sent on as its sender wrote it, with its source. Where it came from travels
                // on: a redriven replay is still a replay (and never trades live), and every
                // event says which dead letter it was redriven from.
                Judged::Redrivable(received) => {
                    let outgoing = Outgoing::forward(*received).with_provenance(&Provenance {
                        redriven_from: Some(message_id),
                        ..Provenance::default()
                    });
                    sendable.push((item, outgoing));
                }
                Judged::Refused(why) => {
                    report.refused.push(RedriveFailure {
                        reason: format!(
                            "not redriven, kept in the queue: {why}. Look at it (`alchemiser dlq show {id}`): an event nobody in the system made is a security matter. Then delete it (`alchemiser dlq delete {id} --reason ...`)",
                            id = shell_word(&message_id)
                        ),
                        message_id,
                    });
                    keep.push(item);
                }
                Judged::Failed(why) => {
                    report.failed.push(RedriveFailure {
                        message_id,
                        reason: format!("not redriven, kept in the queue: {why}"),
                    });
                    keep.push(item);
                }
            }
        }
        let total = sendable.len();
        let mut settled = 0;
        let mut rest = sendable;
        while !rest.is_empty() {
            let later = rest.split_off(rest.len().min(REDRIVE_CHUNK));
            settled += rest.len();
            self.redrive_chunk(rest, publisher, &mut report, &mut keep)
                .await;
            progress(settled, total);
            rest = later;
        }
        self.queue.release(&keep).await;
        Ok(report)
    }

    /// Publishes one chunk of redrivable messages in one publish call (its requests in flight
    /// together), then deletes the delivered ones, several at a time.
    async fn redrive_chunk(
        &self,
        chunk: Vec<(Held, Outgoing)>,
        publisher: &EventBridgePublisher,
        report: &mut RedriveReport,
        keep: &mut Vec<Held>,
    ) {
        let outcomes = publisher
            .send_each(chunk.iter().map(|(_, outgoing)| outgoing.clone()).collect())
            .await;
        let mut to_delete = Vec::new();
        for ((item, outgoing), outcome) in chunk.iter().zip(outcomes) {
            match outcome {
                None => to_delete.push((item, outgoing)),
                Some(undelivered) => {
                    report.failed.push(RedriveFailure {
                        message_id: item.letter.message_id.clone(),
                        reason: format!(
                            "publish to {} failed, kept in the queue: {}: {}. Check the bus exists and try again",
                            publisher.config().bus_name,
                            undelivered.code.as_deref().unwrap_or("error"),
                            undelivered.reason
                        ),
                    });
                    keep.push(item.clone());
                }
            }
        }
        let deletions: Vec<_> = stream::iter(to_delete)
            .map(|(item, outgoing)| async move { (item, outgoing, self.queue.delete(item).await) })
            .buffer_unordered(DELETES_IN_FLIGHT)
            .collect()
            .await;
        for (item, outgoing, deleted) in deletions {
            let message_id = item.letter.message_id.clone();
            let event_id = outgoing.event.event_id().to_owned();
            match deleted {
                Ok(()) => report.redriven.push(Redriven {
                    message_id,
                    event_id,
                    event_type: outgoing.event.event_type().to_string(),
                }),
                Err(error) => report.failed.push(RedriveFailure {
                    message_id,
                    reason: format!(
                        "event {event_id} was published but the message could not be deleted ({}): delete it by hand (a second redrive would deliver the event again; consumers skip duplicates)",
                        error_chain(&error)
                    ),
                }),
            }
        }
    }
}

/// What a redrive makes of one letter.
enum Judged {
    /// Its event, which the stage's functions would accept.
    Redrivable(Box<ReceivedEvent>),
    /// Its event would be refused for who made it (or was already).
    Refused(String),
    /// Its event cannot be read, or could not be verified now.
    Failed(String),
}

/// Judges `letter` as the stage's functions would judge its event, before anything is sent.
async fn judge(letter: &DeadLetter, authenticity: &Authenticity) -> Judged {
    if letter.is_refused() {
        return Judged::Refused(format!(
            "{} (a redrive would be refused again)",
            letter.reason
        ));
    }
    let received = match letter.original_event() {
        Ok(received) => received,
        Err(reason) => return Judged::Failed(error_chain(&reason)),
    };
    match authenticity.check_received(&received).await {
        Ok(Ok(_made)) => Judged::Redrivable(Box::new(received)),
        Ok(Err(refused)) => Judged::Refused(format!(
            "the stage's functions would refuse its {} for who made it: {refused}",
            received.event.event_type()
        )),
        Err(error) => Judged::Failed(format!(
            "its signature could not be checked ({}); try again",
            error_chain(&error)
        )),
    }
}

/// The publisher configuration of a redrive: the environment's settings (`EVENTBRIDGE_*`), the
/// stage's bus, and a throw-away file outbox in the temporary directory. A redrive that cannot
/// deliver keeps the message in the DLQ, which is the durable copy: keeping it in the stage's
/// outbox as well would deliver it twice.
pub fn redrive_publisher_config(stage: &Stage) -> Result<PublisherConfig, OperationsError> {
    let config = PublisherConfig::from_env().map_err(|e| OperationsError::Aws {
        action: "reading the EVENTBRIDGE_* settings".into(),
        message: e.to_string(),
        hint: "Fix or unset the variable".into(),
        details: String::new(),
    })?;
    let outbox = std::env::temp_dir().join(format!(
        "alchemiser-redrive-{}-{}.jsonl",
        stage,
        std::process::id()
    ));
    Ok(config
        .with_bus_name(stage.bus_name())
        .with_outbox(OutboxConfig::File(outbox)))
}
