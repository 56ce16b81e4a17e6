//! Understanding one dead letter: which of the three record kinds it is, what event it carries
//! and why it is there. Pure: no AWS calls, never fails (what is not understood is
//! [`DeadLetterKind::Unreadable`], with the reason).

use std::collections::BTreeMap;
use std::fmt;

use super::FailureRecord;
use crate::{decode_value, ContractError, ReceivedEvent};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;

/// How the consumer runtime words a transient failure (`InvocationError::Transient` of
/// `alchemiser-lambda`): Lambda retries it, so the function says so on every attempt.
const TRANSIENT_PREFIX: &str = "transient failure, will be retried: ";

/// Why a dead letter cannot be redriven.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotRedrivable {
    /// The record carries no event.
    #[error("{kind} message carries no event to redrive: {reason}")]
    NoEvent {
        /// The record's kind.
        kind: DeadLetterKind,
        /// Why it is in the queue.
        reason: String,
    },
    /// The event it carries breaks the contract.
    #[error("its event is not a valid Alchemiser event")]
    Invalid(#[source] ContractError),
}

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
    /// A follow-up of a function (`{"follow_up": {...}, "event": ...}`) that failed every time
    /// it was received: its queue's redrive policy moved it here. Redriven to the follow-up
    /// queue, not to the bus: the event itself was handled, the work on it is what is left.
    FollowUp,
    /// None of the above: kept, listed, never redriven.
    Unreadable,
}

impl fmt::Display for DeadLetterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FunctionFailure => "function-failure",
            Self::LambdaOnFailure => "lambda-on-failure",
            Self::RuleTarget => "rule-target",
            Self::FollowUp => "follow-up",
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
    /// The failure's class, for a function's failure record: `permanent` (what the event says
    /// cannot be handled), or `refused` (who made it could not be proven: unsigned, forged,
    /// altered — such a letter never ends the workflow it names, which a forger chose).
    pub error_class: Option<String>,
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
            error_class: None,
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
        } else if object.len() == 2
            && object.get("follow_up").is_some_and(Value::is_object)
            && object.contains_key("event")
        {
            letter.parse_follow_up(object);
        } else if FailureRecord::looks_like(object) {
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
        self.error_class = Some(record.error_class.clone());
        self.detail_type = record.detail_type;
        self.event_id = record.event_id;
        self.correlation_id = record.correlation_id;
        self.reason = match record.error_class.as_str() {
            super::REFUSED_CLASS => format!(
                "refused by {} for who made it (never handled, never the workflow's failure): {}",
                record.function, record.reason
            ),
            class => format!("{class} failure in {}: {}", record.function, record.reason),
        };
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
        // What the function said on each attempt ("will be retried") is no longer true here:
        // a record reaches the on-failure destination once Lambda has stopped retrying.
        let error_message = field(response, "errorMessage").map(|message| {
            match message.strip_prefix(TRANSIENT_PREFIX) {
                Some(rest) => format!("transient failure: {rest}"),
                None => message,
            }
        });
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
            Some(payload) if !payload.is_null() => {
                self.reason
                    .push_str(" (Lambda's retries are over: redrive it once the cause is fixed)");
                self.take_event(payload.clone());
            }
            _ => self
                .reason
                .push_str(" (the record carries no requestPayload: nothing to redrive)"),
        }
    }

    fn parse_follow_up(&mut self, object: &Map<String, Value>) {
        self.kind = DeadLetterKind::FollowUp;
        let note = object.get("follow_up");
        let text = |key: &str| {
            note.and_then(|n| n.get(key))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| "?".into())
        };
        let received = self
            .receive_count
            .map(|n| format!(" (received {n} times)"))
            .unwrap_or_default();
        self.reason = format!(
            "follow-up {} of the {} function failed every time it ran{received}; it last said: {}",
            text("check"),
            text("function"),
            text("why")
        );
        self.origin = note
            .and_then(|n| n.get("function"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(event) = object.get("event") {
            self.take_event(event.clone());
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

    /// How long it has been in the queue at `now`.
    pub fn age(&self, now: DateTime<Utc>) -> Option<chrono::TimeDelta> {
        self.sent_at.map(|sent| now - sent)
    }

    /// Its function refused the event for who made it: a redrive would be refused again, and
    /// the workflow it names is its sender's choice.
    pub fn is_refused(&self) -> bool {
        self.error_class.as_deref() == Some(super::REFUSED_CLASS)
    }

    /// The original event, decoded and validated (envelope or bare detail): what a redrive
    /// publishes. An error says why it cannot be redriven.
    pub fn original_event(&self) -> Result<ReceivedEvent, NotRedrivable> {
        match &self.event {
            None => Err(NotRedrivable::NoEvent {
                kind: self.kind,
                reason: self.reason.clone(),
            }),
            Some(event) => decode_value(event.clone()).map_err(NotRedrivable::Invalid),
        }
    }
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
            "RetriesExhausted after 3 attempt(s): BrokerUnavailable: 503 from broker (Lambda's retries are over: redrive it once the cause is fixed)"
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
    fn a_final_lambda_failure_does_not_promise_a_retry() {
        // The function said "will be retried" on each attempt; in the queue, the retries are over.
        let body = json!({
            "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3,
                               "functionArn": "arn:aws:lambda:us-east-1:1:function:alchemiser-execution-dev"},
            "requestPayload": envelope(),
            "responsePayload": {"errorType": "Alchemiser.Transient",
                                "errorMessage": "transient failure, will be retried: broker 503"}
        });
        let letter = parse(&body.to_string(), &[]);
        assert!(
            !letter.reason.contains("will be retried"),
            "{}",
            letter.reason
        );
        assert_eq!(
            letter.reason,
            "RetriesExhausted after 3 attempt(s): Alchemiser.Transient: transient failure: broker 503 (Lambda's retries are over: redrive it once the cause is fixed)"
        );
    }

    #[test]
    fn lambda_event_age_exceeded_without_response() {
        let body = json!({
            "requestContext": {"condition": "EventAgeExceeded", "approximateInvokeCount": 0},
            "requestPayload": envelope(), "responsePayload": null
        });
        let letter = parse(&body.to_string(), &[]);
        assert_eq!(letter.kind, DeadLetterKind::LambdaOnFailure);
        assert_eq!(
            letter.reason,
            "EventAgeExceeded after 0 attempt(s) (Lambda's retries are over: redrive it once the cause is fixed)"
        );
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
        assert!(matches!(error, NotRedrivable::Invalid(_)), "{error}");
        assert!(
            error.to_string().contains("not a valid Alchemiser event"),
            "{error}"
        );
    }

    #[test]
    fn valid_events_decode_for_redrive_in_every_record_kind() {
        use crate::samples::sample_event;
        use crate::EventType;
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
    fn a_lambda_failure_record_of_a_replayed_event_keeps_its_replay_provenance() {
        use crate::samples::sample_event;
        use crate::EventType;
        let event = sample_event(EventType::RebalancePlanned);
        let mut replayed = envelope();
        replayed["detail-type"] = json!("RebalancePlanned");
        replayed["detail"] = event.to_value();
        replayed["replay-name"] = json!("after-outage");
        let body = json!({
            "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": replayed,
            "responsePayload": {"errorType": "Alchemiser.Transient", "errorMessage": "broker 503"}
        });
        let letter = parse(&body.to_string(), &[]);
        let received = letter.original_event().unwrap();
        // What a redrive publishes (the detail) says it came from the replay.
        let wire = received.event.to_value();
        assert_eq!(
            wire["metadata"]["provenance"]["replay_name"],
            "after-outage"
        );
        assert!(!received.event.header().provenance().is_live());
    }

    fn parse_utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }
}
