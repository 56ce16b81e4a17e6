//! What the ledger knows of a workflow — its entries — and what follows from them: the
//! workflow's state, a pure function of the set of entries (so a duplicate changes nothing and
//! the order of arrival does not matter).

use std::time::Duration;

use alchemiser_events::{Event, EventType, HandlerName, Route, Timestamp, WorkflowStep};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One thing the ledger knows about a workflow. Each has a key: recording the same entry twice
/// is recording it once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// An event of the workflow was seen on the bus.
    Event(EventEntry),
    /// An event of the workflow sits in the dead-letter queue.
    DeadLetter(DeadLetterEntry),
    /// A person deleted a dead letter of the workflow (`alchemiser dlq delete`), and why.
    DeadLetterDeleted(DeadLetterDeletion),
    /// The sweep found the workflow without a terminal event past its deadline.
    TimedOut(TimeoutEntry),
    /// What a consumer in shadow mode would have emitted for an event of the workflow.
    Shadow(ShadowEntry),
}

impl Entry {
    /// The entry's key within its workflow.
    pub fn key(&self) -> String {
        match self {
            Entry::Event(e) => format!("event#{}", e.event_id),
            Entry::DeadLetter(d) => format!("dlq#{}", d.message_id),
            Entry::DeadLetterDeleted(d) => format!("dlq#{}#deleted", d.message_id),
            Entry::TimedOut(_) => "timeout".into(),
            Entry::Shadow(s) => format!("shadow#{}#{}", s.handler, s.cause_event_id),
        }
    }

    /// The entry without its bulk, for a store whose items are limited: an event without its
    /// detail, a shadow result without its events, a reason cut to 4 KiB — each saying so.
    pub fn slimmed(&self, bytes: usize) -> Entry {
        const KEPT: usize = 4096;
        let cut = |text: &str| -> String {
            if text.len() <= KEPT {
                return text.to_owned();
            }
            let mut end = KEPT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}… (cut: {} bytes in all)", &text[..end], text.len())
        };
        let note = format!("not kept: {bytes} bytes, over the ledger's item size");
        match self {
            Entry::Event(event) => Entry::Event(EventEntry {
                detail: None,
                outcome: Some(match &event.outcome {
                    Some(outcome) => format!("{} (detail {note})", cut(outcome)),
                    None => format!("detail {note}"),
                }),
                ..event.clone()
            }),
            Entry::Shadow(shadow) => Entry::Shadow(ShadowEntry {
                events: Vec::new(),
                omitted: Some(format!("events {note}")),
                ..shadow.clone()
            }),
            Entry::DeadLetter(letter) => Entry::DeadLetter(DeadLetterEntry {
                reason: cut(&letter.reason),
                ..letter.clone()
            }),
            Entry::DeadLetterDeleted(deletion) => Entry::DeadLetterDeleted(DeadLetterDeletion {
                reason: cut(&deletion.reason),
                ..deletion.clone()
            }),
            Entry::TimedOut(timeout) => Entry::TimedOut(timeout.clone()),
        }
    }

    /// Reads an entry as a store keeps it (its JSON), including the form versions before the
    /// `dead_letter_kind` field wrote for dead letters: the letter's kind under the entry's own
    /// tag `kind`, which no derived reader accepts (`duplicate field`). Such an object read with
    /// the last key winning holds the letter's kind there (the tag is written first).
    pub fn from_stored_json(text: &str) -> Result<Entry, serde_json::Error> {
        let error = match serde_json::from_str::<Entry>(text) {
            Ok(entry) => return Ok(entry),
            Err(error) => error,
        };
        let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(text) else {
            return Err(error);
        };
        let old_dead_letter = object.contains_key("message_id")
            && object.get("kind").and_then(Value::as_str) != Some("dead_letter");
        if !old_dead_letter {
            return Err(error);
        }
        if let Some(letter_kind) = object.insert("kind".into(), "dead_letter".into()) {
            object.insert("dead_letter_kind".into(), letter_kind);
        }
        serde_json::from_value(Value::Object(object))
    }

    /// When it happened, for ordering.
    pub fn time(&self) -> DateTime<Utc> {
        match self {
            Entry::Event(e) => e.time.0,
            Entry::DeadLetter(d) => d.sent_at.unwrap_or(d.recorded_at),
            Entry::DeadLetterDeleted(d) => d.deleted_at,
            Entry::TimedOut(t) => t.at,
            Entry::Shadow(s) => s.recorded_at,
        }
    }
}

/// An event seen on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEntry {
    /// Its id.
    pub event_id: String,
    /// Its type.
    pub event_type: EventType,
    /// The event that caused it.
    pub causation_id: String,
    /// Who produced it (`source_module`, e.g. `portfolio` or `portfolio_v2.handlers`).
    pub producer: String,
    /// The EventBridge source it came with, when it came in an envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// When it was created (the event's timestamp).
    pub time: Timestamp,
    /// When the ledger recorded it.
    pub recorded_at: DateTime<Utc>,
    /// The function the routing table sends it to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_by: Option<String>,
    /// What it says happened, in one line (orders, the failure's step and reason, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The archive replay it derives from: recorded, but not part of the live workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// The event itself, for signals, plans and outcomes (what `shadow diff` compares and the
    /// console shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

impl EventEntry {
    /// The entry for `event`, received from `source` (when in an envelope), recorded `at`.
    pub fn of(event: &Event, source: Option<&str>, at: DateTime<Utc>) -> Self {
        let header = event.header();
        let event_type = event.event_type();
        let outcome = match event {
            Event::TradeExecuted(e) => Some(format!(
                "{}/{} orders succeeded{}",
                e.orders_succeeded,
                e.orders_placed,
                e.failure_reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )),
            Event::WorkflowCompleted(e) => Some(format!(
                "completed in {}",
                alchemiser_clock::format_duration(chrono::TimeDelta::milliseconds(
                    i64::try_from(e.workflow_duration_ms).unwrap_or(i64::MAX)
                ))
            )),
            Event::WorkflowFailed(e) => Some(format!(
                "failed at {}: {}",
                e.failure_step,
                if e.failure_reason.trim().is_empty() {
                    NO_REASON_GIVEN
                } else {
                    &e.failure_reason
                }
            )),
            Event::RebalancePlanned(e) => Some(format!(
                "plan {}: {} item(s), {} to trade",
                e.rebalance_plan.plan_id,
                e.rebalance_plan.items.len(),
                e.rebalance_plan.total_trade_value
            )),
            _ => None,
        };
        // The signal's target weights, the plan, the trades and the failure are what a person
        // reads a workflow for (the console shows them); a start and a completion say no more
        // than their entry does.
        let keep_detail = matches!(
            event_type,
            EventType::SignalGenerated
                | EventType::RebalancePlanned
                | EventType::TradeExecuted
                | EventType::WorkflowFailed
        );
        Self {
            event_id: header.event_id.clone(),
            event_type,
            causation_id: header.causation_id.clone(),
            producer: header.source_module.clone(),
            source: source.map(str::to_owned),
            time: header.timestamp,
            recorded_at: at,
            handled_by: Route::of(event_type)
                .consumers
                .iter()
                .find(|&&c| c != HandlerName::Monitor)
                .map(|c| c.to_string()),
            outcome,
            replay: header.provenance().replay_name,
            detail: keep_detail.then(|| event.to_value()),
        }
    }

    fn is_live(&self) -> bool {
        self.replay.is_none()
    }

    /// Whether this is the sweep's own WorkflowFailed for a timeout.
    fn is_timeout_failure(&self) -> bool {
        self.event_type == EventType::WorkflowFailed
            && self
                .detail
                .as_ref()
                .and_then(|d| d.pointer("/error_details/check"))
                .and_then(Value::as_str)
                == Some(TIMEOUT_CHECK)
    }
}

/// The `error_details.check` of the WorkflowFailed the sweep publishes for a stalled workflow.
pub const TIMEOUT_CHECK: &str = "workflow_deadline";
/// The `error_details.check` of the WorkflowFailed the sweep publishes for a dead letter.
pub const DEAD_LETTER_CHECK: &str = "dead_letter";
/// What the ledger shows for a WorkflowFailed whose `failure_reason` is empty or blank (the
/// Python stages' `str(e)` of an exception raised without a message).
pub const NO_REASON_GIVEN: &str = "(no reason given)";

/// A dead letter of the workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterEntry {
    /// The SQS message id (what `alchemiser dlq show|redrive` take).
    pub message_id: String,
    /// The record kind (`function-failure`, `lambda-on-failure`, `rule-target`). Not named
    /// `kind`: that is [`Entry`]'s tag, and one object cannot hold both.
    pub dead_letter_kind: String,
    /// The function (or rule) that gave up.
    pub origin: Option<String>,
    /// The event it carries.
    pub event_id: Option<String>,
    /// That event's type.
    pub event_type: Option<String>,
    /// Why it is there.
    pub reason: String,
    /// When it was sent to the queue.
    pub sent_at: Option<DateTime<Utc>>,
    /// When the sweep recorded it.
    pub recorded_at: DateTime<Utc>,
    /// The event it carries derives from a replay: not part of the live workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// A function in shadow mode gave up on it: the shadow's failure, not the workflow's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
    /// The function refused it for who made it (unsigned, forged, altered): the workflow it
    /// names is the one its sender chose, so it is recorded there and never fails it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refused: bool,
}

/// A dead letter a person deleted from the queue (an event that can never be redriven), kept in
/// the workflow's record: who, when, why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterDeletion {
    /// The SQS message id of the deleted dead letter.
    pub message_id: String,
    /// The event it carried, if it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// That event's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// The letter's own reason for being in the queue.
    pub letter_reason: String,
    /// When it was deleted.
    pub deleted_at: DateTime<Utc>,
    /// Who deleted it (the caller's AWS identity, an ARN).
    pub deleted_by: String,
    /// Why, in the words of the person who deleted it.
    pub reason: String,
}

/// The sweep's verdict on a stalled workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeoutEntry {
    /// When the sweep found it.
    pub at: DateTime<Utc>,
    /// The deadline it had (from its start).
    pub deadline_secs: u64,
    /// The last step it reached.
    pub last_step: WorkflowState,
}

/// What a shadow consumer would have emitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowEntry {
    /// The consumer, e.g. `portfolio`.
    pub handler: String,
    /// The event it handled.
    pub cause_event_id: String,
    /// When.
    pub recorded_at: DateTime<Utc>,
    /// The events it would have published (wire JSON).
    pub events: Vec<Value>,
    /// Why `events` is empty although it emitted some (they were too large to keep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omitted: Option<String>,
}

/// Where a workflow stands. Ordered by progress: a later state never gives way to an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowState {
    /// WorkflowStarted (or its first event) seen.
    Started,
    /// SignalGenerated seen.
    Signalled,
    /// RebalancePlanned seen.
    Planned,
    /// TradeExecuted seen.
    Executing,
    /// No terminal event within the deadline.
    TimedOut,
    /// WorkflowFailed seen, or an event of it in the dead-letter queue.
    Failed,
    /// WorkflowCompleted seen.
    Completed,
}

impl WorkflowState {
    /// Whether the workflow has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            WorkflowState::Completed | WorkflowState::Failed | WorkflowState::TimedOut
        )
    }

    /// The name on the wire and in the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowState::Started => "started",
            WorkflowState::Signalled => "signalled",
            WorkflowState::Planned => "planned",
            WorkflowState::Executing => "executing",
            WorkflowState::TimedOut => "timed_out",
            WorkflowState::Failed => "failed",
            WorkflowState::Completed => "completed",
        }
    }

    fn reached_by(event_type: EventType) -> WorkflowState {
        match event_type.step() {
            WorkflowStep::Started => WorkflowState::Started,
            WorkflowStep::Signalled => WorkflowState::Signalled,
            WorkflowStep::Planned => WorkflowState::Planned,
            WorkflowStep::Executing => WorkflowState::Executing,
            WorkflowStep::Completed => WorkflowState::Completed,
            WorkflowStep::Failed => WorkflowState::Failed,
        }
    }
}

impl std::fmt::Display for WorkflowState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for WorkflowState {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        [
            WorkflowState::Started,
            WorkflowState::Signalled,
            WorkflowState::Planned,
            WorkflowState::Executing,
            WorkflowState::TimedOut,
            WorkflowState::Failed,
            WorkflowState::Completed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| {
            format!("unknown workflow state `{text}`; use started, signalled, planned, executing, completed, failed or timed_out")
        })
    }
}

/// Why a workflow failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureSummary {
    /// The step (the WorkflowFailed's `failure_step`, or the function that gave up).
    pub step: String,
    /// The reason.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A workflow, summed up from its entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The workflow's correlation id.
    pub correlation_id: String,
    /// Where it stands.
    pub state: WorkflowState,
    /// Its first live event's time.
    pub started_at: DateTime<Utc>,
    /// Its latest live event's time.
    pub last_event_at: DateTime<Utc>,
    /// The furthest step it reached: `completed` once it completed, else the furthest step
    /// before its end (where a failed or timed-out workflow stopped), or so far.
    pub last_step: WorkflowState,
    /// When it ended, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureSummary>,
    /// Dead letters of it (message ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dead_letters: Vec<String>,
    /// It completed after failing or timing out first (a redrive after a fix, a late event).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
    /// A WorkflowFailed of it was seen on the bus (the sweep's announcement included): the
    /// sweep need not announce it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub announced: bool,
    /// How many entries it has (so the newest summary can be told from an older one).
    pub entries: usize,
}

impl Summary {
    /// How long it ran: start to end, or start to its latest event.
    pub fn duration(&self) -> chrono::TimeDelta {
        self.ended_at.unwrap_or(self.last_event_at) - self.started_at
    }

    /// When it reached its state: when it ended, or (still running) its latest event.
    pub fn reached_at(&self) -> DateTime<Utc> {
        self.ended_at.unwrap_or(self.last_event_at)
    }

    /// Whether the sweep still has work with it: it has not ended, or it timed out and the
    /// WorkflowFailed saying so has not been seen on the bus yet. The stores index only these
    /// ("open"), so a sweep reads the open workflows, not every workflow of the lookback.
    pub fn is_open(&self) -> bool {
        !self.state.is_terminal() || (self.state == WorkflowState::TimedOut && !self.announced)
    }

    /// Whether the sweep should time it out at `now` under `deadline`.
    pub fn is_overdue(&self, now: DateTime<Utc>, deadline: Duration) -> bool {
        !self.state.is_terminal()
            && chrono::TimeDelta::from_std(deadline).is_ok_and(|d| now - self.started_at > d)
    }
}

/// A workflow's entries in causal order: every event after the event that caused it (when the
/// ledger has that one), ties and independent branches by time, then by key; the entries that
/// are not events (dead letters, timeouts, shadow results) after the events, by time. Events of
/// one step often share a timestamp (the strategy stamps WorkflowStarted and its SignalGenerated
/// with one instant) and clocks of different functions drift, so time alone cannot order them.
/// Duplicates (same key) are kept once.
pub fn in_causal_order(entries: &[Entry]) -> Vec<Entry> {
    use std::cmp::Reverse;
    use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

    let mut unique: BTreeMap<String, &Entry> = BTreeMap::new();
    for entry in entries {
        unique.entry(entry.key()).or_insert(entry);
    }
    let (events, others): (Vec<&Entry>, Vec<&Entry>) = unique
        .into_values()
        .partition(|e| matches!(e, Entry::Event(_)));
    let event_of = |entry: &Entry| match entry {
        Entry::Event(event) => Some(event.clone()),
        _ => None,
    };
    let events: Vec<EventEntry> = events.into_iter().filter_map(event_of).collect();
    let ids: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    // Kahn's algorithm: an event is ready once its cause (if recorded) is out; the earliest
    // ready one goes next.
    let mut effects: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut ready = BinaryHeap::new();
    for (index, event) in events.iter().enumerate() {
        let cause = event.causation_id.as_str();
        if cause != event.event_id && ids.contains(cause) {
            effects.entry(cause).or_default().push(index);
        } else {
            ready.push(Reverse((event.time.0, event.event_id.as_str(), index)));
        }
    }
    let mut ordered = Vec::with_capacity(events.len() + others.len());
    let mut placed = vec![false; events.len()];
    while let Some(Reverse((_, id, index))) = ready.pop() {
        placed[index] = true;
        ordered.push(Entry::Event(events[index].clone()));
        for &effect in effects.get(id).map(Vec::as_slice).unwrap_or_default() {
            let event = &events[effect];
            ready.push(Reverse((event.time.0, event.event_id.as_str(), effect)));
        }
    }
    // A causation cycle (only a forged chain has one): its events go last, by time.
    let mut cyclic: Vec<&EventEntry> = events
        .iter()
        .zip(&placed)
        .filter(|(_, placed)| !**placed)
        .map(|(event, _)| event)
        .collect();
    cyclic.sort_by(|a, b| (a.time, &a.event_id).cmp(&(b.time, &b.event_id)));
    ordered.extend(cyclic.into_iter().cloned().map(Entry::Event));
    let mut others: Vec<&Entry> = others;
    others.sort_by_cached_key(|e| (e.time(), e.key()));
    ordered.extend(others.into_iter().cloned());
    ordered
}

/// The summary of a workflow's entries (in any order, with duplicates). `None` when no live
/// event of it has been seen (only a replay of it, say).
pub fn summarize(correlation_id: &str, entries: &[Entry]) -> Option<Summary> {
    let mut entries: Vec<&Entry> = entries.iter().collect();
    entries.sort_by_cached_key(|e| (e.time(), e.key()));
    entries.dedup_by_key(|e| e.key());
    let live: Vec<&EventEntry> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Event(event) if event.is_live() => Some(event),
            _ => None,
        })
        .collect();
    let first = live.first()?;
    let started_at = live
        .iter()
        .find(|e| e.event_type == EventType::WorkflowStarted)
        .map_or(first.time.0, |e| e.time.0);
    let last_event_at = live.iter().map(|e| e.time.0).max().unwrap_or(started_at);
    let last_step = live
        .iter()
        .map(|e| WorkflowState::reached_by(e.event_type))
        .filter(|s| !s.is_terminal())
        .max()
        .unwrap_or(WorkflowState::Started);
    let completed = live
        .iter()
        .find(|e| e.event_type == EventType::WorkflowCompleted);
    let failed = live
        .iter()
        .find(|e| e.event_type == EventType::WorkflowFailed && !e.is_timeout_failure());
    let dead_letters: Vec<&DeadLetterEntry> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::DeadLetter(d) if d.replay.is_none() && !d.shadow && !d.refused => Some(d),
            _ => None,
        })
        .collect();
    let timed_out = entries.iter().find_map(|e| match e {
        Entry::TimedOut(t) => Some(t),
        _ => None,
    });
    let failure = failed
        .map(|e| failure_of(e))
        .or_else(|| {
            dead_letters.first().map(|d| FailureSummary {
                step: d.origin.clone().unwrap_or_else(|| "unknown".into()),
                reason: format!("in the dead-letter queue ({}): {}", d.message_id, d.reason),
                at: d.sent_at.unwrap_or(d.recorded_at),
            })
        })
        .or_else(|| {
            timed_out.map(|t| FailureSummary {
                step: t.last_step.to_string(),
                reason: format!(
                    "no terminal event within {} of its start; the last step reached was {}",
                    alchemiser_clock::format_std_duration(Duration::from_secs(t.deadline_secs)),
                    t.last_step
                ),
                at: t.at,
            })
        });
    // Completed beats failed beats timed out: the latest truth about a workflow that recovered
    // is that it completed, and its failures stay in the record.
    let (state, ended_at) = if let Some(done) = completed {
        (WorkflowState::Completed, Some(done.time.0))
    } else if failed.is_some() || !dead_letters.is_empty() {
        (WorkflowState::Failed, failure.as_ref().map(|f| f.at))
    } else if let Some(timeout) = timed_out {
        (WorkflowState::TimedOut, Some(timeout.at))
    } else {
        (last_step, None)
    };
    Some(Summary {
        correlation_id: correlation_id.to_owned(),
        state,
        started_at,
        last_event_at,
        last_step: if state == WorkflowState::Completed {
            WorkflowState::Completed
        } else {
            last_step
        },
        ended_at,
        recovered: state == WorkflowState::Completed && failure.is_some(),
        announced: live
            .iter()
            .any(|e| e.event_type == EventType::WorkflowFailed),
        failure,
        dead_letters: dead_letters.iter().map(|d| d.message_id.clone()).collect(),
        entries: entries.len(),
    })
}

fn failure_of(event: &EventEntry) -> FailureSummary {
    let detail = event.detail.as_ref();
    let text = |pointer: &str| {
        detail
            .and_then(|d| d.pointer(pointer))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    FailureSummary {
        step: text("/failure_step").unwrap_or_else(|| event.producer.clone()),
        reason: text("/failure_reason")
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| NO_REASON_GIVEN.into()),
        at: event.time.0,
    }
}
