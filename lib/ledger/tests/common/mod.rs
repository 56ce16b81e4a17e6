//! What the ledger's tests share: entries of every kind, and a dead letter as versions before
//! `dead_letter_kind` stored it.

#![allow(dead_code)] // Each test target uses its own part.

use alchemiser_events::samples::sample_event;
use alchemiser_events::{EventType, Provenance};
use alchemiser_ledger::model::{DeadLetterDeletion, DeadLetterEntry, ShadowEntry, TimeoutEntry};
use alchemiser_ledger::{Entry, EventEntry, WorkflowState};
use chrono::{DateTime, Utc};

/// A dead-letter entry as versions before the fix wrote it: the entry's tag and the letter's
/// kind under one key.
pub const OLD_FORM_DEAD_LETTER: &str = r#"{"kind":"dead_letter","message_id":"m-old","kind":"lambda-on-failure","origin":"execution","event_id":"rebalance-planned-1","event_type":"RebalancePlanned","reason":"RetriesExhausted after 3 attempt(s)","sent_at":"2026-12-01T14:35:00Z","recorded_at":"2026-12-01T14:40:00.000001Z"}"#;

/// One entry of every kind, with every optional field set: what a workflow's record can hold.
pub fn one_entry_of_every_kind(at: DateTime<Utc>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = [
        EventType::WorkflowStarted,
        EventType::SignalGenerated,
        EventType::RebalancePlanned,
        EventType::TradeExecuted,
        EventType::WorkflowCompleted,
        EventType::WorkflowFailed,
    ]
    .into_iter()
    .map(|event_type| {
        let mut event = sample_event(event_type);
        event
            .header_mut()
            .add_provenance(&Provenance::replayed("after-outage"));
        Entry::Event(EventEntry::of(&event, Some("alchemiser.strategy"), at))
    })
    .collect();
    entries.push(Entry::DeadLetter(DeadLetterEntry {
        message_id: "m-1".into(),
        dead_letter_kind: "function-failure".into(),
        origin: Some("portfolio".into()),
        event_id: Some("signal-generated-1".into()),
        event_type: Some("SignalGenerated".into()),
        reason: "permanent failure in portfolio: weights must sum to 1".into(),
        sent_at: Some(at),
        recorded_at: at,
        replay: Some("after-outage".into()),
        shadow: true,
        refused: true,
    }));
    entries.push(Entry::DeadLetterDeleted(DeadLetterDeletion {
        message_id: "m-1".into(),
        event_id: Some("signal-generated-1".into()),
        event_type: Some("SignalGenerated".into()),
        letter_reason: "permanent failure in portfolio: weights must sum to 1".into(),
        deleted_at: at,
        deleted_by: "arn:aws:iam::000000000000:user/operator".into(),
        reason: "the producer was fixed; this event can never be redriven".into(),
    }));
    entries.push(Entry::TimedOut(TimeoutEntry {
        at,
        deadline_secs: 1800,
        last_step: WorkflowState::Planned,
    }));
    entries.push(Entry::Shadow(ShadowEntry {
        handler: "portfolio".into(),
        cause_event_id: "signal-generated-1".into(),
        recorded_at: at,
        events: vec![sample_event(EventType::RebalancePlanned).to_value()],
        omitted: Some("nothing".into()),
    }));
    entries
}
