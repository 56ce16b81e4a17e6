//! A workflow for people: the causation tree with timings (what `alchemiser workflows show` and
//! `alchemiser run` print), a Mermaid sequence diagram for a pull request or a wiki, and one line
//! per workflow for `workflows list`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::model::{in_causal_order, Entry, EventEntry, Summary};

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A duration as a person reads it: `850ms`, `3.2s`, `4m05s`, `2h10m`.
pub fn duration(delta: chrono::TimeDelta) -> String {
    let ms = delta.num_milliseconds();
    match ms.abs() {
        m if m < 1_000 => format!("{ms}ms"),
        m if m < 60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        m if m < 3_600_000 => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// One line per workflow: id, started, state, duration, last step.
pub fn list_line(summary: &Summary) -> String {
    format!(
        "{:<46}  {:<24}  {:<10}  {:>8}  {}",
        summary.correlation_id,
        time(summary.started_at),
        summary.state.as_str(),
        duration(summary.duration()),
        summary.last_step
    )
}

/// The header of [`list_line`]'s columns.
pub fn list_header() -> String {
    format!(
        "{:<46}  {:<24}  {:<10}  {:>8}  LAST STEP",
        "WORKFLOW", "STARTED", "STATE", "DURATION"
    )
}

fn events(entries: &[Entry]) -> Vec<EventEntry> {
    in_causal_order(entries)
        .into_iter()
        .filter_map(|e| match e {
            Entry::Event(event) => Some(event),
            _ => None,
        })
        .collect()
}

/// The causation tree of a workflow with each event's producer, consumer, time since the start
/// and since its cause, and outcome; then its failure, dead letters (with the redrive command)
/// and shadow results.
pub fn tree(summary: &Summary, entries: &[Entry], stage: &str) -> String {
    let events = events(entries);
    let by_id: BTreeMap<&str, &EventEntry> =
        events.iter().map(|e| (e.event_id.as_str(), e)).collect();
    let mut children: BTreeMap<&str, Vec<&EventEntry>> = BTreeMap::new();
    let mut roots = Vec::new();
    for event in &events {
        match by_id.get(event.causation_id.as_str()) {
            Some(_) if event.causation_id != event.event_id => children
                .entry(event.causation_id.as_str())
                .or_default()
                .push(event),
            _ => roots.push(event),
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "workflow {} — {}{} in {} (started {})",
        summary.correlation_id,
        summary.state,
        if summary.recovered {
            ", after a failure"
        } else {
            ""
        },
        duration(summary.duration()),
        time(summary.started_at)
    );
    let mut seen = BTreeSet::new();
    for root in roots {
        branch(
            &mut out,
            root,
            None,
            summary.started_at,
            &children,
            0,
            &mut seen,
        );
    }
    if let Some(failure) = &summary.failure {
        let _ = writeln!(
            out,
            "failure: at {} ({}): {}",
            failure.step,
            time(failure.at),
            failure.reason
        );
    }
    for entry in entries {
        match entry {
            Entry::DeadLetter(d) => {
                let _ = writeln!(
                    out,
                    "dead letter {} ({}{}): {} — inspect: alchemiser dlq show {} --stage {stage}; redrive: alchemiser dlq redrive {} --stage {stage}",
                    d.message_id,
                    d.dead_letter_kind,
                    d.origin.as_deref().map(|o| format!(", {o}")).unwrap_or_default(),
                    d.reason,
                    d.message_id,
                    d.message_id
                );
            }
            Entry::TimedOut(t) => {
                let _ = writeln!(
                    out,
                    "timed out at {} after {}s, at step {}",
                    time(t.at),
                    t.deadline_secs,
                    t.last_step
                );
            }
            Entry::Shadow(s) => {
                let _ = writeln!(
                    out,
                    "shadow {}: would have emitted {} event(s) for {}",
                    s.handler,
                    s.events.len(),
                    s.cause_event_id
                );
            }
            Entry::Event(_) => {}
        }
    }
    out
}

fn branch<'a>(
    out: &mut String,
    event: &'a EventEntry,
    cause: Option<&EventEntry>,
    started: DateTime<Utc>,
    children: &BTreeMap<&str, Vec<&'a EventEntry>>,
    depth: usize,
    seen: &mut BTreeSet<&'a str>,
) {
    let indent = match depth {
        0 => "  ".to_owned(),
        _ => format!("{}└─ ", "   ".repeat(depth)),
    };
    if !seen.insert(event.event_id.as_str()) {
        return;
    }
    let route = match &event.handled_by {
        Some(consumer) => format!("{} → {consumer}", event.producer),
        None => event.producer.clone(),
    };
    let after = cause
        .map(|c| format!(" (+{} after its cause)", duration(event.time.0 - c.time.0)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{indent}{} {}  {route}  at +{}{after}{}{}",
        event.event_type,
        event.event_id,
        duration(event.time.0 - started),
        event
            .outcome
            .as_deref()
            .map(|o| format!("  — {o}"))
            .unwrap_or_default(),
        event
            .replay
            .as_deref()
            .map(|r| format!("  [replay {r}]"))
            .unwrap_or_default()
    );
    for child in children.get(event.event_id.as_str()).into_iter().flatten() {
        branch(out, child, Some(event), started, children, depth + 1, seen);
    }
}

/// A Mermaid sequence diagram of the workflow: one arrow per event, producer to consumer.
pub fn mermaid(summary: &Summary, entries: &[Entry]) -> String {
    let events = events(entries);
    let participant = |name: &str| name.replace(['.', ' '], "_");
    let mut participants: Vec<String> = Vec::new();
    for event in &events {
        for name in [
            Some(event.producer.as_str()),
            Some(event.handled_by.as_deref().unwrap_or("monitor")),
        ]
        .into_iter()
        .flatten()
        {
            let name = participant(name);
            if !participants.contains(&name) {
                participants.push(name);
            }
        }
    }
    let mut out = String::from("sequenceDiagram\n");
    let _ = writeln!(
        out,
        "    title {} ({})",
        summary.correlation_id, summary.state
    );
    for name in &participants {
        let _ = writeln!(out, "    participant {name}");
    }
    for event in &events {
        let to = participant(event.handled_by.as_deref().unwrap_or("monitor"));
        let _ = writeln!(
            out,
            "    {}->>{to}: {} (+{})",
            participant(&event.producer),
            event.event_type,
            duration(event.time.0 - summary.started_at)
        );
    }
    if let Some(failure) = &summary.failure {
        let note = failure.reason.replace(['\n', ';', '#'], " ");
        let short: String = note.chars().take(120).collect();
        let anchor = participants
            .first()
            .cloned()
            .unwrap_or_else(|| "monitor".into());
        let _ = writeln!(
            out,
            "    Note over {anchor}: {} at {}: {short}",
            summary.state, failure.step
        );
    }
    out
}
