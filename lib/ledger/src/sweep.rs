//! The sweep, run on a schedule: every workflow with no terminal event past its deadline, and
//! every workflow whose event sits in the dead-letter queue, ends visibly — the ledger records
//! why and a WorkflowFailed is published (naming the step reached and the commands to inspect
//! it). A workflow is never failed twice for the same reason: the WorkflowFailed's id derives
//! from the workflow and the reason.
//!
//! Timeouts come first and need only the ledger: a dead-letter queue that cannot be read, or
//! holds more than one run can read, never keeps a stalled workflow from ending. Dead letters
//! are then read in pages, each handled as it arrives (several at once), until the queue is
//! read or the sweep's time is up; the rest wait for the next sweep.

use std::sync::Arc;
use std::time::Duration;

use alchemiser_bus::{HandlerError, TriggerHandler};
use alchemiser_clock::Clock;
use alchemiser_deadletters::{DeadLetters, Held, Reading};
use alchemiser_events::text::{printable, shell_word};
use alchemiser_events::{
    derived_id, DeadLetter, Event, EventHeader, EventType, Timestamp, WorkflowFailed,
    SCHEMA_VERSION,
};
use alchemiser_signing::Authenticity;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

use crate::model::{
    DeadLetterEntry, Entry, Summary, TimeoutEntry, WorkflowState, DEAD_LETTER_CHECK, TIMEOUT_CHECK,
};
use crate::monitor::refresh;
use crate::store::LedgerStore;

/// The `source_module` of what the sweep publishes: it runs in the monitor function.
pub const SWEEP_MODULE: &str = alchemiser_events::HandlerName::Monitor.as_str();
/// How far back the sweep looks for workflows that never ended.
pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long one sweep works: the monitor function's timeout (the registry's) less the 10 s that
/// recording and publishing what the sweep returns take after it.
pub const DEFAULT_TIME_BUDGET: Duration = Duration::from_secs(
    alchemiser_events::HandlerName::Monitor
        .spec()
        .timeout
        .as_secs()
        - 10,
);
/// Dead letters per page: ten receives of ten, handled before the next page is read.
const DEAD_LETTER_PAGE: usize = 100;
/// Dead letters handled at once (each is a few ledger reads and writes).
const DEAD_LETTERS_IN_FLIGHT: usize = 8;
/// How long the dead letters a sweep holds stay hidden after its time is up, should it die
/// before giving them back.
const DEAD_LETTER_HOLD_AFTER: Duration = Duration::from_secs(30);

/// The sweep.
pub struct Sweep {
    store: Arc<dyn LedgerStore>,
    dead_letters: Arc<dyn DeadLetters>,
    clock: Arc<dyn Clock>,
    deadline: Duration,
    lookback: Duration,
    budget: Duration,
    stage: String,
    shadows: std::collections::BTreeSet<String>,
    authenticity: Option<Authenticity>,
}

impl Sweep {
    /// A sweep over `store` and the dead-letter queue `dead_letters`, timing out workflows older
    /// than `deadline`; `stage` names the commands its messages suggest.
    pub fn new(
        store: Arc<dyn LedgerStore>,
        dead_letters: Arc<dyn DeadLetters>,
        deadline: Duration,
        stage: impl Into<String>,
    ) -> Self {
        Self {
            store,
            dead_letters,
            clock: alchemiser_clock::system(),
            deadline,
            lookback: DEFAULT_LOOKBACK.max(deadline * 2),
            budget: DEFAULT_TIME_BUDGET,
            stage: stage.into(),
            shadows: Default::default(),
            authenticity: None,
        }
    }

    /// Judges who made the event each dead letter carries, as the stage's functions judge what
    /// they receive: a letter whose event they would refuse (unsigned, forged, altered) is
    /// recorded as refused and never ends the workflow it names. Any role that may write to the
    /// queue could otherwise end a live workflow with a made-up record. Without it, only letters
    /// a function already refused are treated so.
    pub fn with_authenticity(mut self, authenticity: Authenticity) -> Self {
        self.authenticity = Some(authenticity);
        self
    }

    /// The functions running in shadow on this stage: their dead letters are recorded, but a
    /// shadow's failure never ends the live owner's workflow.
    pub fn with_shadows(mut self, functions: impl IntoIterator<Item = String>) -> Self {
        self.shadows = functions.into_iter().collect();
        self
    }

    /// Time is read from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The sweep works `budget` at most (by its clock), then leaves the dead letters it has
    /// not read to the next sweep (default [`DEFAULT_TIME_BUDGET`]).
    pub fn with_time_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Runs one sweep; returns the WorkflowFailed events to publish.
    pub async fn sweep(&self) -> Result<Vec<Event>, HandlerError> {
        let began = self.clock.now();
        let mut failed = self.timeouts().await?;
        let spent = (self.clock.now() - began).to_std().unwrap_or_default();
        match self.dead_letters(self.budget.saturating_sub(spent)).await {
            Ok(events) => failed.extend(events),
            // Not the sweep's failure: the timeouts it found are still announced, and the next
            // sweep reads the queue again. The DLQ alarm shows the queue is not empty.
            Err(error) => tracing::error!(
                error = %alchemiser_bus::error_chain(error.as_ref()),
                queue = %self.dead_letters.location(),
                "the sweep could not read the dead-letter queue; the workflows it holds end at a later sweep"
            ),
        }
        if !failed.is_empty() {
            tracing::warn!(workflows = failed.len(), "sweep ended workflows");
        }
        Ok(failed)
    }

    /// Reads the dead letters page by page for `time` at most, each page handled before the
    /// next is read; everything read is given back at the end.
    async fn dead_letters(
        &self,
        time: Duration,
    ) -> Result<Vec<Event>, Box<dyn std::error::Error + Send + Sync>> {
        let mut reading = Reading::new(
            self.dead_letters.as_ref(),
            self.clock.clone(),
            time,
            DEAD_LETTER_HOLD_AFTER,
        );
        let mut events = Vec::new();
        let outcome = loop {
            let page = match reading.next_page(DEAD_LETTER_PAGE).await {
                Ok(Some(page)) => page,
                Ok(None) => break Ok(()),
                Err(error) => break Err(error.into()),
            };
            let handled: Vec<Result<Option<Event>, HandlerError>> = stream::iter(
                page.into_iter()
                    .map(|held| async move { self.dead_letter(&held).await }),
            )
            .buffered(DEAD_LETTERS_IN_FLIGHT)
            .collect()
            .await;
            match handled.into_iter().collect::<Result<Vec<_>, _>>() {
                Ok(found) => events.extend(found.into_iter().flatten()),
                Err(error) => break Err(error.into()),
            }
        };
        if outcome.is_ok() && !reading.complete() {
            tracing::warn!(
                read = reading.held().len(),
                "the sweep's time is up before the dead-letter queue was read; the next sweep reads the rest"
            );
        }
        reading.release().await;
        outcome.map(|()| events)
    }

    /// Records one dead letter in its workflow; the WorkflowFailed that ends the workflow, when
    /// this letter is the first news of its failure.
    async fn dead_letter(&self, held: &Held) -> Result<Option<Event>, HandlerError> {
        let letter = &held.letter;
        let Some(correlation_id) = letter.correlation_id.clone() else {
            return Ok(None); // Unreadable: the DLQ alarm and `alchemiser dlq list` show it.
        };
        let replay = letter
            .original_event()
            .ok()
            .and_then(|received| received.event.header().provenance().replay_name);
        let origin = letter.origin.as_deref().map(function_name);
        let shadow = origin.as_ref().is_some_and(|o| self.shadows.contains(o));
        // A refused letter (unsigned, forged, altered) names a workflow its sender chose: it is
        // recorded, and never ends that workflow.
        let refused = letter.is_refused() || self.would_refuse(letter).await?;
        let entry = DeadLetterEntry {
            message_id: letter.message_id.clone(),
            dead_letter_kind: letter.kind.to_string(),
            origin,
            event_id: letter.event_id.clone(),
            event_type: letter.detail_type.clone(),
            reason: letter.reason.clone(),
            sent_at: letter.sent_at,
            recorded_at: self.clock.now(),
            replay: replay.clone(),
            shadow,
            refused,
        };
        let new = self
            .store
            .record(&correlation_id, &Entry::DeadLetter(entry.clone()))
            .await
            .map_err(|e| HandlerError::transient(&e))?;
        // A letter seen before needs only its workflow's summary (one read), not a refresh.
        let summary = if new {
            refresh(self.store.as_ref(), &correlation_id).await?
        } else {
            self.store
                .summary(&correlation_id)
                .await
                .map_err(|e| HandlerError::transient(&e))?
        };
        // A replay's dead letter is not the live workflow's; the monitor's own is a gap in the
        // record, not a failure of the workflow; a shadow's is the shadow's.
        let fails_workflow = replay.is_none()
            && entry.origin.as_deref() != Some(SWEEP_MODULE)
            && !shadow
            && !refused;
        // Once a WorkflowFailed of it is on the bus (this one, or the failing stage's own), the
        // workflow has been announced: `workflows show` lists its dead letters.
        let settled = summary
            .as_ref()
            .is_some_and(|s| s.state == WorkflowState::Completed || s.announced);
        if fails_workflow && !settled {
            return self
                .dead_letter_failure(&correlation_id, letter, &entry)
                .await;
        }
        Ok(None)
    }

    /// Whether the stage's functions would refuse the event `letter` carries for who made it.
    /// An event that cannot be read is not judged here: it can name no plan a function would
    /// trade, and the letter is shown as it is.
    async fn would_refuse(&self, letter: &DeadLetter) -> Result<bool, HandlerError> {
        let Some(authenticity) = &self.authenticity else {
            return Ok(false);
        };
        let Ok(received) = letter.original_event() else {
            return Ok(false);
        };
        match authenticity.check_received(&received).await {
            Ok(verdict) => Ok(verdict.is_err()),
            // A key that cannot be used judges nothing: the letter waits for the next sweep.
            Err(error) => Err(HandlerError::transient(&error)),
        }
    }

    async fn timeouts(&self) -> Result<Vec<Event>, HandlerError> {
        let now = self.clock.now();
        let lookback = chrono::TimeDelta::from_std(self.lookback).unwrap_or_default();
        let open = self
            .store
            .open_since(now - lookback)
            .await
            .map_err(|e| HandlerError::transient(&e))?;
        let mut events = Vec::new();
        for summary in open {
            if summary.is_overdue(now, self.deadline) {
                let entry = Entry::TimedOut(TimeoutEntry {
                    at: now,
                    deadline_secs: self.deadline.as_secs(),
                    last_step: summary.last_step,
                });
                self.store
                    .record(&summary.correlation_id, &entry)
                    .await
                    .map_err(|e| HandlerError::transient(&e))?;
                refresh(self.store.as_ref(), &summary.correlation_id).await?;
            } else if summary.state != WorkflowState::TimedOut || summary.announced {
                continue;
            }
            events.extend(self.timeout_failure(&summary, now).await?);
        }
        Ok(events)
    }

    async fn dead_letter_failure(
        &self,
        correlation_id: &str,
        letter: &DeadLetter,
        entry: &DeadLetterEntry,
    ) -> Result<Option<Event>, HandlerError> {
        let step = entry.origin.clone().unwrap_or_else(|| "unknown".into());
        // Read by people (notifications, `workflows show`): what came from the dead letter is
        // shown as text, and the commands take its ids as single words.
        let id = shell_word(&letter.message_id);
        let stage = shell_word(&self.stage);
        let reason = format!(
            "an event of this workflow ({} {}) is in the dead-letter queue: {}. Inspect it with \
             `alchemiser dlq show {id} --stage {stage}`; once the cause is fixed, `alchemiser dlq redrive {id} --stage {stage}`",
            printable(letter.detail_type.as_deref().unwrap_or("event")),
            printable(letter.event_id.as_deref().unwrap_or("?")),
            printable(&letter.reason),
        );
        let details = json!({
            "check": DEAD_LETTER_CHECK,
            "dead_letter_message_id": letter.message_id,
            "dead_letter_kind": entry.dead_letter_kind,
            "event_id": letter.event_id,
            "redrive_command": format!("alchemiser dlq redrive {id} --stage {stage}"),
        });
        self.failure(
            correlation_id,
            &["dead-letter", &letter.message_id],
            &step,
            reason,
            details,
        )
        .await
    }

    async fn timeout_failure(
        &self,
        summary: &Summary,
        now: DateTime<Utc>,
    ) -> Result<Option<Event>, HandlerError> {
        let reason = format!(
            "no terminal event within {} of its start at {}: the last step reached was {} (at {}). \
             Inspect it with `alchemiser workflows show {} --stage {}`",
            alchemiser_clock::format_std_duration(self.deadline),
            summary.started_at.to_rfc3339(),
            summary.last_step,
            summary.last_event_at.to_rfc3339(),
            shell_word(&summary.correlation_id),
            shell_word(&self.stage)
        );
        let details = json!({
            "check": TIMEOUT_CHECK,
            "deadline_seconds": self.deadline.as_secs(),
            "started_at": summary.started_at.to_rfc3339(),
            "timed_out_at": now.to_rfc3339(),
            "last_step": summary.last_step,
        });
        self.failure(
            &summary.correlation_id,
            &["timeout"],
            summary.last_step.as_str(),
            reason,
            details,
        )
        .await
    }

    /// A WorkflowFailed of the workflow, caused by its latest event, its id derived from
    /// `why`; `None` once the ledger has it (the monitor recorded it from the bus). Until then
    /// every sweep announces it again — a publish lost after the ledger took the failure is
    /// made good by the next sweep, and downstream the same id is a duplicate.
    async fn failure(
        &self,
        correlation_id: &str,
        why: &[&str],
        step: &str,
        reason: String,
        details: Value,
    ) -> Result<Option<Event>, HandlerError> {
        let entries = self
            .store
            .entries(correlation_id)
            .await
            .map_err(|e| HandlerError::transient(&e))?;
        let mut parts = vec!["sweep", correlation_id];
        parts.extend_from_slice(why);
        let event_id = format!(
            "{}-{}",
            EventType::WorkflowFailed.id_prefix(),
            derived_id(&parts)
        );
        let announced = entries
            .iter()
            .any(|e| matches!(e, Entry::Event(event) if event.event_id == event_id));
        if announced {
            return Ok(None);
        }
        let cause = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Event(event) if event.replay.is_none() => Some(event),
                _ => None,
            })
            .max_by_key(|e| e.time)
            .map_or_else(|| correlation_id.to_owned(), |e| e.event_id.clone());
        let header = EventHeader {
            correlation_id: correlation_id.to_owned(),
            causation_id: cause,
            event_id,
            timestamp: Timestamp(self.clock.now()),
            source_module: SWEEP_MODULE.into(),
            source_component: Some("sweep".into()),
            metadata: Some(Map::new()),
            schema_version: SCHEMA_VERSION.into(),
        };
        Ok(Some(Event::from(WorkflowFailed {
            header,
            workflow_type: "trading".into(),
            failure_reason: reason,
            failure_step: step.to_owned(),
            error_details: match details {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        })))
    }
}

/// `alchemiser-execution-dev` (or its ARN) → `execution`; a plain name stays as it is.
fn function_name(origin: &str) -> String {
    let name = origin
        .rsplit(':')
        .find(|part| part.starts_with("alchemiser-"))
        .unwrap_or(origin);
    name.strip_prefix("alchemiser-")
        .and_then(|rest| rest.split('-').next())
        .unwrap_or(name)
        .to_owned()
}

#[async_trait]
impl TriggerHandler for Sweep {
    fn trigger_key(&self, payload: &Value) -> Option<String> {
        payload
            .get("id")
            .and_then(Value::as_str)
            .map(|id| format!("sweep#{id}"))
    }

    async fn handle(&self, _: &Value) -> Result<Vec<Event>, HandlerError> {
        self.sweep().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_name_the_function() {
        assert_eq!(
            function_name(
                "arn:aws:lambda:us-east-1:000000000000:function:alchemiser-execution-dev:$LATEST"
            ),
            "execution"
        );
        assert_eq!(function_name("portfolio"), "portfolio");
        assert_eq!(function_name("alchemiser-monitor-prod"), "monitor");
    }
}
