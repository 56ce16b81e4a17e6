//! The dead-letter queue: read without consuming, understand, redrive.
//!
//! Three kinds of record land in `alchemiser-event-dlq-<stage>`:
//! 1. [`FailureRecord`]s our functions write for permanent failures (`function`, `reason`,
//!    `error_class`, `event` as received, ...);
//! 2. Lambda asynchronous-invocation on-failure destination records (`requestContext` with
//!    `condition` and `functionArn`, `requestPayload` = the original event, `responsePayload`
//!    with `errorType`/`errorMessage`), after Lambda's retries are exhausted;
//! 3. EventBridge rule-target dead letters: the original event as the body, the failure in the
//!    message attributes `ERROR_CODE`, `ERROR_MESSAGE`, `RULE_ARN`, `TARGET_ARN`.
//!
//! Anything else is [`DeadLetterKind::Unreadable`]: listed with the reason, never redriven, never
//! deleted.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

use alchemiser_eventbridge::{EventBridgePublisher, OutboxConfig, PublisherConfig};
use alchemiser_events::{decode_value, ReceivedEvent};
use alchemiser_lambda::FailureRecord;
use aws_config::SdkConfig;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::OperationsError;
use crate::stage::Stage;

/// How long `list` and `show` hide the messages they read. Long enough to read the whole queue
/// (each receive takes them out of sight so the next receive returns new ones), short enough
/// that a crashed listing gives them back soon; they are made visible again right after.
const PEEK_VISIBILITY: Duration = Duration::from_secs(30);
/// How long `redrive` holds the messages it works on: publishing has a deadline of its own
/// (20 s by default) and the delete must use a still-valid receipt handle.
const REDRIVE_VISIBILITY: Duration = Duration::from_secs(300);
/// Long-poll wait of one receive: long polling asks every SQS server, so an empty answer
/// means the queue has no visible message left.
const RECEIVE_WAIT_SECS: i32 = 1;

/// Which of the three record kinds (or none) a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeadLetterKind {
    /// A [`FailureRecord`] of one of our functions (permanent failure).
    FunctionFailure,
    /// A Lambda on-failure destination record (retries exhausted, event too old).
    LambdaOnFailure,
    /// An EventBridge rule target's dead letter (the rule could not invoke its target).
    RuleTarget,
    /// None of the above: kept, listed, never redriven.
    Unreadable,
}

impl fmt::Display for DeadLetterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FunctionFailure => "function-failure",
            Self::LambdaOnFailure => "lambda-on-failure",
            Self::RuleTarget => "rule-target",
            Self::Unreadable => "unreadable",
        })
    }
}

/// One message of the dead-letter queue, understood.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// The SQS MessageId: the id `show` and `redrive` take.
    pub message_id: String,
    /// The record kind.
    pub kind: DeadLetterKind,
    /// The failed event's type, when it can be read.
    pub detail_type: Option<String>,
    /// The failed event's `event_id` (else the envelope's `id`), when it can be read.
    pub event_id: Option<String>,
    /// The workflow's correlation id, when it can be read.
    pub correlation_id: Option<String>,
    /// Why it is here.
    pub reason: String,
    /// Who gave up: the function name or ARN, or the rule ARN.
    pub origin: Option<String>,
    /// When the message was sent to the queue (SQS `SentTimestamp`), else the record's own time.
    pub sent_at: Option<DateTime<Utc>>,
    /// How many times the message has been received (SQS `ApproximateReceiveCount`).
    pub receive_count: Option<u32>,
    /// The original event as received (envelope or bare detail), when the record carries it.
    pub event: Option<Value>,
    /// The message attributes (string values).
    pub attributes: BTreeMap<String, String>,
    /// The raw body.
    pub body: String,
}

/// Type, ids of an event in any of its shapes (envelope, envelope with string detail, bare
/// detail), read leniently: listing must work on events that fail validation too.
fn event_facts(event: &Value) -> (Option<String>, Option<String>, Option<String>) {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let Some(object) = event.as_object() else {
        return (None, None, None);
    };
    let is_envelope = object.contains_key("detail-type") || object.contains_key("detail");
    if !is_envelope {
        return (
            text(object.get("event_type")),
            text(object.get("event_id")),
            text(object.get("correlation_id")),
        );
    }
    let detail = match object.get("detail") {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).ok(),
        other => other.cloned(),
    };
    let detail = detail.as_ref().and_then(Value::as_object);
    let from_detail = |key: &str| detail.and_then(|d| text(d.get(key)));
    (
        text(object.get("detail-type")).or_else(|| from_detail("event_type")),
        from_detail("event_id").or_else(|| text(object.get("id"))),
        from_detail("correlation_id"),
    )
}

fn keys_of(object: &Map<String, Value>) -> String {
    let keys: Vec<&str> = object.keys().map(String::as_str).take(8).collect();
    keys.join(", ")
}

impl DeadLetter {
    /// Understands one message. Never fails: what is not one of the three kinds is
    /// [`DeadLetterKind::Unreadable`] with the reason.
    pub fn parse(
        message_id: impl Into<String>,
        body: impl Into<String>,
        attributes: BTreeMap<String, String>,
        sent_at: Option<DateTime<Utc>>,
        receive_count: Option<u32>,
    ) -> Self {
        let body = body.into();
        let mut letter = DeadLetter {
            message_id: message_id.into(),
            kind: DeadLetterKind::Unreadable,
            detail_type: None,
            event_id: None,
            correlation_id: None,
            reason: String::new(),
            origin: None,
            sent_at,
            receive_count,
            event: None,
            attributes,
            body,
        };
        let value = match serde_json::from_str::<Value>(&letter.body) {
            Ok(value) => value,
            Err(error) => {
                letter.reason = format!("body is not JSON ({error}): not a dead letter this tool knows; read it with `alchemiser dlq show` and delete it by hand once understood");
                return letter;
            }
        };
        let Some(object) = value.as_object() else {
            letter.reason =
                "body is JSON but not an object: not a dead letter this tool knows".to_owned();
            return letter;
        };
        let rule_attributes = letter.attributes.contains_key("ERROR_CODE")
            || letter.attributes.contains_key("RULE_ARN");
        if object.contains_key("requestContext") && object.contains_key("requestPayload") {
            letter.parse_lambda_destination(object);
        } else if object.contains_key("function")
            && object.contains_key("error_class")
            && object.contains_key("event")
        {
            match serde_json::from_value::<FailureRecord>(value.clone()) {
                Ok(record) => letter.parse_failure_record(record),
                Err(error) => {
                    letter.reason =
                        format!("looks like a function failure record but is not one: {error}");
                }
            }
        } else if rule_attributes
            || object.contains_key("detail-type")
            || (object.contains_key("detail") && object.contains_key("source"))
        {
            letter.parse_rule_target(value.clone());
        } else {
            letter.reason = format!(
                "JSON object of no known dead-letter kind (keys: {}): neither a function failure record, a Lambda on-failure record nor an EventBridge event",
                keys_of(object)
            );
        }
        letter
    }

    fn take_event(&mut self, event: Value) {
        let (detail_type, event_id, correlation_id) = event_facts(&event);
        self.detail_type = self.detail_type.take().or(detail_type);
        self.event_id = self.event_id.take().or(event_id);
        self.correlation_id = self.correlation_id.take().or(correlation_id);
        self.event = Some(event);
    }

    fn parse_failure_record(&mut self, record: FailureRecord) {
        self.kind = DeadLetterKind::FunctionFailure;
        self.detail_type = record.detail_type;
        self.event_id = record.event_id;
        self.correlation_id = record.correlation_id;
        self.reason = format!(
            "{} failure in {}: {}",
            record.error_class, record.function, record.reason
        );
        self.origin = Some(record.function);
        self.sent_at = self.sent_at.or(Some(record.failed_at));
        self.take_event(record.event);
    }

    fn parse_lambda_destination(&mut self, object: &Map<String, Value>) {
        self.kind = DeadLetterKind::LambdaOnFailure;
        let context = object.get("requestContext");
        let field = |v: Option<&Value>, key: &str| {
            v.and_then(|v| v.get(key)).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        let condition = field(context, "condition").unwrap_or_else(|| "failed".into());
        let attempts = field(context, "approximateInvokeCount");
        let response = object.get("responsePayload");
        let error_type = field(response, "errorType");
        let error_message = field(response, "errorMessage");
        let mut reason = condition;
        if let Some(attempts) = attempts {
            reason.push_str(&format!(" after {attempts} attempt(s)"));
        }
        match (error_type, error_message) {
            (Some(t), Some(m)) => reason.push_str(&format!(": {t}: {m}")),
            (Some(t), None) => reason.push_str(&format!(": {t}")),
            (None, Some(m)) => reason.push_str(&format!(": {m}")),
            (None, None) => {}
        }
        self.reason = reason;
        self.origin = field(context, "functionArn");
        if self.sent_at.is_none() {
            self.sent_at = field(Some(&Value::Object(object.clone())), "timestamp")
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc));
        }
        match object.get("requestPayload") {
            Some(payload) if !payload.is_null() => self.take_event(payload.clone()),
            _ => self
                .reason
                .push_str(" (the record carries no requestPayload: nothing to redrive)"),
        }
    }

    fn parse_rule_target(&mut self, event: Value) {
        self.kind = DeadLetterKind::RuleTarget;
        let code = self.attributes.get("ERROR_CODE").cloned();
        let message = self.attributes.get("ERROR_MESSAGE").cloned();
        self.reason = match (code, message) {
            (Some(c), Some(m)) => format!("rule could not deliver: {c}: {m}"),
            (Some(c), None) => format!("rule could not deliver: {c}"),
            (None, Some(m)) => format!("rule could not deliver: {m}"),
            (None, None) => {
                "an EventBridge event without ERROR_CODE/ERROR_MESSAGE attributes".into()
            }
        };
        self.origin = self
            .attributes
            .get("RULE_ARN")
            .or_else(|| self.attributes.get("TARGET_ARN"))
            .cloned();
        self.take_event(event);
    }

    /// Builds a dead letter from an SQS message.
    pub fn from_message(message: &Message) -> Self {
        let system = message.attributes();
        let system_value = |name: MessageSystemAttributeName| {
            system.and_then(|a| a.get(&name)).map(String::as_str)
        };
        let sent_at = system_value(MessageSystemAttributeName::SentTimestamp)
            .and_then(|ms| ms.parse::<i64>().ok())
            .and_then(DateTime::from_timestamp_millis);
        let receive_count = system_value(MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|n| n.parse().ok());
        let attributes = message
            .message_attributes()
            .map(|attrs| {
                attrs
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Self::parse(
            message.message_id().unwrap_or_default(),
            message.body().unwrap_or_default(),
            attributes,
            sent_at,
            receive_count,
        )
    }

    /// How long it has been in the queue at `now`.
    pub fn age(&self, now: DateTime<Utc>) -> Option<chrono::TimeDelta> {
        self.sent_at.map(|sent| now - sent)
    }

    /// The original event, decoded and validated (envelope or bare detail): what a redrive
    /// publishes. An error says why it cannot be redriven.
    pub fn original_event(&self) -> Result<ReceivedEvent, String> {
        match &self.event {
            None => Err(format!(
                "{} message carries no event to redrive: {}",
                self.kind, self.reason
            )),
            Some(event) => decode_value(event.clone())
                .map_err(|error| format!("its event is not a valid Alchemiser event: {error}")),
        }
    }
}

/// Formats an age like `3d4h`, `2h5m`, `42s`.
pub fn format_age(age: Option<chrono::TimeDelta>) -> String {
    let Some(age) = age else {
        return "-".into();
    };
    let secs = age.num_seconds().max(0);
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
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
    /// Asked-for ids not found in the queue.
    pub not_found: Vec<String>,
}

impl RedriveReport {
    /// True when everything asked for was redriven.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.not_found.is_empty()
    }
}

/// A message held invisible, with the receipt handle that can release or delete it.
struct Held {
    letter: DeadLetter,
    receipt: String,
}

/// The dead-letter queue of a stage.
#[derive(Debug, Clone)]
pub struct DeadLetterQueue {
    sqs: aws_sdk_sqs::Client,
    url: String,
    max_messages: usize,
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
            return Ok(Self::new(sqs, url));
        }
        let parameter = stage.dlq_url_parameter();
        let ssm = aws_sdk_ssm::Client::new(sdk);
        let ssm_error = match ssm.get_parameter().name(&parameter).send().await {
            Ok(output) => match output.parameter.and_then(|p| p.value) {
                Some(url) if !url.trim().is_empty() => return Ok(Self::new(sqs, url)),
                _ => "the parameter has no value".to_owned(),
            },
            Err(error) => aws_sdk_ssm::error::DisplayErrorContext(&error).to_string(),
        };
        let queue_name = stage.dlq_name();
        match sqs.get_queue_url().queue_name(&queue_name).send().await {
            Ok(output) => match output.queue_url {
                Some(url) => Ok(Self::new(sqs, url)),
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
                queue_error: aws_sdk_sqs::error::DisplayErrorContext(&error).to_string(),
            }),
        }
    }

    /// The queue at `url`.
    pub fn new(sqs: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            sqs,
            url: url.into(),
            max_messages: 10_000,
        }
    }

    /// Reads at most `max` messages (default 10,000): a bound, so a listing always ends.
    pub fn with_max_messages(mut self, max: usize) -> Self {
        self.max_messages = max.max(1);
        self
    }

    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Receives every visible message, hiding each for `visibility` so the next receive returns
    /// new ones. The caller must release (or delete) every one.
    async fn hold_all(&self, visibility: Duration) -> Result<Vec<Held>, OperationsError> {
        let mut held: Vec<Held> = Vec::new();
        let mut seen = HashSet::new();
        while held.len() < self.max_messages {
            let want = (self.max_messages - held.len()).min(10) as i32;
            let output = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(want)
                .visibility_timeout(visibility.as_secs() as i32)
                .wait_time_seconds(RECEIVE_WAIT_SECS)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await;
            let output = match output {
                Ok(output) => output,
                Err(error) => {
                    // Give back what we hold before reporting.
                    self.release(&held).await;
                    return Err(OperationsError::aws(
                        format!("ReceiveMessage {}", self.url),
                        error,
                        "Check the queue URL (--queue-url) and that your role may read it",
                    ));
                }
            };
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for message in messages {
                let letter = DeadLetter::from_message(&message);
                let receipt = message.receipt_handle.unwrap_or_default();
                if seen.insert(letter.message_id.clone()) {
                    held.push(Held { letter, receipt });
                }
            }
        }
        Ok(held)
    }

    /// Makes messages visible again at once (ChangeMessageVisibility 0), in batches of 10.
    /// Failures are logged: the messages come back anyway when their visibility timeout ends.
    async fn release(&self, held: &[Held]) {
        for chunk in held.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, h)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&h.receipt)
                        .visibility_timeout(0)
                        .build()
                        .ok()
                })
                .collect();
            if entries.is_empty() {
                continue;
            }
            let result = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await;
            match result {
                Ok(output) if !output.failed.is_empty() => tracing::warn!(
                    failed = output.failed.len(),
                    "some messages could not be made visible again; they reappear when their visibility timeout ends"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(
                    error = %aws_sdk_sqs::error::DisplayErrorContext(&error),
                    "ChangeMessageVisibilityBatch failed; the messages reappear when their visibility timeout ends"
                ),
            }
        }
    }

    /// Every message of the queue, oldest first, left in the queue.
    ///
    /// SQS has no "peek": reading a message means receiving it, which hides it from other
    /// readers for the visibility timeout. So this receives with a short timeout
    /// ([`PEEK_VISIBILITY`]; each receive must hide what it got, else the next receive would
    /// return the same messages and the listing would never see the rest), then makes every
    /// message visible again at once with ChangeMessageVisibility 0. A side effect:
    /// `ApproximateReceiveCount` grows by one per listing (the DLQ has no redrive policy of its
    /// own, so nothing moves because of it).
    pub async fn list(&self) -> Result<Vec<DeadLetter>, OperationsError> {
        let held = self.hold_all(PEEK_VISIBILITY).await?;
        self.release(&held).await;
        let mut letters: Vec<DeadLetter> = held.into_iter().map(|h| h.letter).collect();
        letters.sort_by_key(|l| l.sent_at);
        Ok(letters)
    }

    /// One message by its MessageId, left in the queue.
    pub async fn show(&self, message_id: &str) -> Result<DeadLetter, OperationsError> {
        self.list()
            .await?
            .into_iter()
            .find(|l| l.message_id == message_id)
            .ok_or_else(|| OperationsError::MessageNotFound(message_id.to_owned()))
    }

    /// Republishes the original event of each chosen message to the stage's bus through
    /// `publisher`, and deletes a message only after its event was delivered (not parked).
    /// Messages that cannot be decoded or delivered stay in the queue (made visible again) and
    /// are reported with the reason.
    pub async fn redrive(
        &self,
        selection: &RedriveSelection,
        publisher: &EventBridgePublisher,
    ) -> Result<RedriveReport, OperationsError> {
        let held = self.hold_all(REDRIVE_VISIBILITY).await?;
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
        self.release(&others).await;
        let mut keep = Vec::new();
        for item in chosen {
            let message_id = item.letter.message_id.clone();
            let received = match item.letter.original_event() {
                Ok(received) => received,
                Err(reason) => {
                    report.failed.push(RedriveFailure {
                        message_id,
                        reason: format!("not redriven, kept in the queue: {reason}"),
                    });
                    keep.push(item);
                    continue;
                }
            };
            let event = received.event;
            let event_id = event.event_id().to_owned();
            let event_type = event.event_type().to_string();
            let published = publisher.publish(vec![event]).await;
            if !published.delivered.contains(&event_id) {
                let why = published
                    .undelivered
                    .iter()
                    .map(|u| format!("{}: {}", u.code.as_deref().unwrap_or("error"), u.reason))
                    .collect::<Vec<_>>()
                    .join("; ");
                report.failed.push(RedriveFailure {
                    message_id,
                    reason: format!("publish to {} failed, kept in the queue: {why}. Check the bus exists and try again", publisher.config().bus_name),
                });
                keep.push(item);
                continue;
            }
            match self
                .sqs
                .delete_message()
                .queue_url(&self.url)
                .receipt_handle(&item.receipt)
                .send()
                .await
            {
                Ok(_) => report.redriven.push(Redriven {
                    message_id,
                    event_id,
                    event_type,
                }),
                Err(error) => report.failed.push(RedriveFailure {
                    message_id,
                    reason: format!(
                        "event {event_id} was published but the message could not be deleted ({}): delete it by hand (a second redrive would deliver the event again; consumers skip duplicates)",
                        aws_sdk_sqs::error::DisplayErrorContext(&error)
                    ),
                }),
            }
        }
        self.release(&keep).await;
        Ok(report)
    }
}

/// The publisher configuration of a redrive: the environment's settings (`EVENTBRIDGE_*`), the
/// stage's bus, and a throw-away file outbox in the temporary directory. A redrive that cannot
/// deliver keeps the message in the DLQ, which is the durable copy: parking it in the stage's
/// outbox as well would deliver it twice.
pub fn redrive_publisher_config(stage: &Stage) -> Result<PublisherConfig, OperationsError> {
    let config = PublisherConfig::from_env().map_err(|e| OperationsError::Aws {
        action: "reading the EVENTBRIDGE_* settings".into(),
        message: e.to_string(),
        hint: "Fix or unset the variable".into(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope() -> Value {
        json!({
            "version": "0", "id": "eb-1", "detail-type": "SignalGenerated",
            "source": "alchemiser.strategy", "account": "000000000000",
            "time": "2026-11-28T14:30:00Z", "region": "us-east-1", "resources": [],
            "detail": {"event_type": "SignalGenerated", "event_id": "evt-1", "correlation_id": "corr-1"}
        })
    }

    fn parse(body: &str, attributes: &[(&str, &str)]) -> DeadLetter {
        let attributes = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DeadLetter::parse("m-1", body, attributes, None, None)
    }

    #[test]
    fn function_failure_records() {
        let body = json!({
            "function": "portfolio", "reason": "field `plan.items`: must not be empty",
            "error_class": "permanent", "event_id": "evt-1", "detail_type": "SignalGenerated",
            "correlation_id": "corr-1", "failed_at": "2026-11-28T14:31:00Z", "event": envelope()
        });
        let letter = parse(&body.to_string(), &[]);
        assert_eq!(letter.kind, DeadLetterKind::FunctionFailure);
        assert_eq!(letter.detail_type.as_deref(), Some("SignalGenerated"));
        assert_eq!(letter.event_id.as_deref(), Some("evt-1"));
        assert_eq!(letter.correlation_id.as_deref(), Some("corr-1"));
        assert_eq!(letter.origin.as_deref(), Some("portfolio"));
        assert!(
            letter
                .reason
                .contains("permanent failure in portfolio: field `plan.items`"),
            "{}",
            letter.reason
        );
        assert_eq!(letter.sent_at, Some(parse_utc("2026-11-28T14:31:00Z")));
        assert_eq!(letter.event, Some(envelope()));
    }

    #[test]
    fn function_failure_records_without_ids_read_them_from_the_event() {
        let body = json!({
            "function": "monitor", "reason": "bad", "error_class": "permanent",
            "failed_at": "2026-11-28T14:31:00Z",
            "event": {"event_type": "TradeExecuted", "event_id": "evt-9", "correlation_id": "c-9"}
        });
        let letter = parse(&body.to_string(), &[]);
        assert_eq!(letter.kind, DeadLetterKind::FunctionFailure);
        assert_eq!(letter.detail_type.as_deref(), Some("TradeExecuted"));
        assert_eq!(letter.event_id.as_deref(), Some("evt-9"));
        assert_eq!(letter.correlation_id.as_deref(), Some("c-9"));
    }

    #[test]
    fn lambda_on_failure_records() {
        let body = json!({
            "version": "1.0", "timestamp": "2026-11-28T14:35:00.000Z",
            "requestContext": {
                "requestId": "req-1", "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:alchemiser-execution-dev:$LATEST",
                "condition": "RetriesExhausted", "approximateInvokeCount": 3
            },
            "requestPayload": envelope(),
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": "BrokerUnavailable", "errorMessage": "503 from broker"}
        });
        let letter = parse(&body.to_string(), &[]);
        assert_eq!(letter.kind, DeadLetterKind::LambdaOnFailure);
        assert_eq!(
            letter.reason,
            "RetriesExhausted after 3 attempt(s): BrokerUnavailable: 503 from broker"
        );
        assert!(letter
            .origin
            .as_deref()
            .unwrap()
            .contains("alchemiser-execution-dev"));
        assert_eq!(letter.event_id.as_deref(), Some("evt-1"));
        assert_eq!(letter.correlation_id.as_deref(), Some("corr-1"));
        assert_eq!(letter.detail_type.as_deref(), Some("SignalGenerated"));
        assert_eq!(letter.sent_at, Some(parse_utc("2026-11-28T14:35:00Z")));
    }

    #[test]
    fn lambda_event_age_exceeded_without_response() {
        let body = json!({
            "requestContext": {"condition": "EventAgeExceeded", "approximateInvokeCount": 0},
            "requestPayload": envelope(), "responsePayload": null
        });
        let letter = parse(&body.to_string(), &[]);
        assert_eq!(letter.kind, DeadLetterKind::LambdaOnFailure);
        assert_eq!(letter.reason, "EventAgeExceeded after 0 attempt(s)");
    }

    #[test]
    fn rule_target_dead_letters_with_string_detail() {
        let mut event = envelope();
        event["detail"] = Value::String(event["detail"].to_string());
        let letter = parse(
            &event.to_string(),
            &[
                ("ERROR_CODE", "SDK_CLIENT_ERROR"),
                ("ERROR_MESSAGE", "Unable to invoke Lambda"),
                (
                    "RULE_ARN",
                    "arn:aws:events:us-east-1:000000000000:rule/bus/r",
                ),
                (
                    "TARGET_ARN",
                    "arn:aws:lambda:us-east-1:000000000000:function:f",
                ),
            ],
        );
        assert_eq!(letter.kind, DeadLetterKind::RuleTarget);
        assert_eq!(
            letter.reason,
            "rule could not deliver: SDK_CLIENT_ERROR: Unable to invoke Lambda"
        );
        assert_eq!(
            letter.origin.as_deref(),
            Some("arn:aws:events:us-east-1:000000000000:rule/bus/r")
        );
        assert_eq!(letter.event_id.as_deref(), Some("evt-1"));
        assert_eq!(letter.correlation_id.as_deref(), Some("corr-1"));
    }

    #[test]
    fn garbage_is_unreadable_with_a_reason_and_never_panics() {
        for body in [
            "",
            "not json",
            "[1,2]",
            "42",
            "null",
            r#"{"hello":"world"}"#,
            r#"{"function":1,"error_class":2,"event":3}"#,
        ] {
            let letter = parse(body, &[]);
            assert_eq!(letter.kind, DeadLetterKind::Unreadable, "{body}");
            assert!(!letter.reason.is_empty());
            assert!(letter.original_event().is_err());
        }
    }

    #[test]
    fn original_event_is_validated() {
        let letter = parse(&envelope().to_string(), &[("ERROR_CODE", "X")]);
        let error = letter.original_event().unwrap_err();
        assert!(error.contains("not a valid Alchemiser event"), "{error}");
    }

    #[test]
    fn valid_events_decode_for_redrive_in_every_record_kind() {
        use alchemiser_eventbridge::samples::sample_event;
        use alchemiser_events::EventType;
        let event = sample_event(EventType::RebalancePlanned);
        let mut wire = envelope();
        wire["detail-type"] = json!("RebalancePlanned");
        wire["detail"] = event.to_value();
        let bodies = [
            json!({"function": "execution", "reason": "r", "error_class": "permanent",
                   "failed_at": "2026-11-28T14:31:00Z", "event": event.to_value()}),
            json!({"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": wire.clone()}),
            wire.clone(),
        ];
        for body in bodies {
            let letter = parse(&body.to_string(), &[("ERROR_CODE", "X")]);
            assert_ne!(letter.kind, DeadLetterKind::Unreadable);
            assert_eq!(letter.event_id.as_deref(), Some(event.event_id()));
            let received = letter.original_event().unwrap();
            assert_eq!(received.event, event);
        }
    }

    #[test]
    fn ages_are_short_and_readable() {
        let d = chrono::TimeDelta::seconds;
        assert_eq!(format_age(None), "-");
        assert_eq!(format_age(Some(d(42))), "42s");
        assert_eq!(format_age(Some(d(125))), "2m5s");
        assert_eq!(format_age(Some(d(7_500))), "2h5m");
        assert_eq!(format_age(Some(d(3 * 86_400 + 4 * 3_600))), "3d4h");
        assert_eq!(format_age(Some(d(-5))), "0s");
    }

    fn parse_utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }
}
