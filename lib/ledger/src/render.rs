//! A workflow for people: the causation tree with timings (what `alchemiser workflows show` and
//! `alchemiser run` print), a Mermaid sequence diagram for a pull request or a wiki, and one line
//! per workflow for `workflows list`.
//!
//! Everything an event carries (ids, names, reasons, symbols) was written by its publisher: it
//! is shown through [`printable`], and a command offered to paste takes an id only as one
//! [`shell_word`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use alchemiser_clock::format_duration;
use alchemiser_events::text::{printable, shell_word};
use alchemiser_events::EventType;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::Value;

use crate::model::{in_causal_order, Entry, EventEntry, Summary};

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// How long a workflow ran (start to end), or has been running at `now`.
fn running_time(summary: &Summary, now: DateTime<Utc>) -> String {
    if summary.state.is_terminal() {
        format_duration(summary.duration())
    } else {
        format!("running {}", format_duration(now - summary.started_at))
    }
}

/// One line per workflow: id, started, state, when it reached that state, how long it ran (or
/// has been running at `now`), the furthest step it reached.
pub fn list_line(summary: &Summary, now: DateTime<Utc>) -> String {
    format!(
        "{:<46}  {:<24}  {:<10}  {:<24}  {:>15}  {}",
        printable(&summary.correlation_id),
        time(summary.started_at),
        summary.state.as_str(),
        time(summary.reached_at()),
        running_time(summary, now),
        summary.last_step
    )
}

/// The header of [`list_line`]'s columns. STATE SINCE is when the workflow reached its state:
/// when it ended, or (still running) its latest event.
pub fn list_header() -> String {
    format!(
        "{:<46}  {:<24}  {:<10}  {:<24}  {:>15}  LAST STEP",
        "WORKFLOW", "STARTED", "STATE", "STATE SINCE", "DURATION"
    )
}

/// The events of `entries`, in causal order.
fn events(entries: &[Entry]) -> Vec<EventEntry> {
    in_causal_order(entries)
        .into_iter()
        .filter_map(|e| match e {
            Entry::Event(event) => Some(event),
            _ => None,
        })
        .collect()
}

/// Who published an event: its EventBridge source when it came in an envelope (what identifies
/// a producer), else the `source_module` it names itself by.
fn producer(event: &EventEntry) -> &str {
    event.source.as_deref().unwrap_or(&event.producer)
}

/// The causation tree of a workflow at `now`: each event with its producer, consumer, time since
/// the start and since its cause, and outcome (a trade's orders and fills, a refusal's check);
/// then its failure, dead letters (with the commands to inspect and redrive them, for `stage`),
/// timeouts and shadow results.
pub fn tree(summary: &Summary, entries: &[Entry], stage: &str, now: DateTime<Utc>) -> String {
    let events = events(entries);
    let tree = Tree::of(&events, summary.started_at);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "workflow {} — {}{}; {}; last step {}; started {}",
        printable(&summary.correlation_id),
        summary.state,
        if summary.recovered {
            " after a failure"
        } else {
            ""
        },
        match summary.state.is_terminal() {
            true => format!("ran {}", running_time(summary, now)),
            false => running_time(summary, now),
        },
        summary.last_step,
        time(summary.started_at)
    );
    let mut drawn = BTreeSet::new();
    for root in &tree.roots {
        tree.draw(&mut out, &mut drawn, *root, None, "", None);
    }
    if let Some(failure) = &summary.failure {
        let check = events
            .iter()
            .rev()
            .find(|e| e.event_type == EventType::WorkflowFailed)
            .and_then(check_of);
        let _ = writeln!(
            out,
            "failure: at {} ({}){}: {}",
            printable(&failure.step),
            time(failure.at),
            check
                .map(|c| format!(", check {}", printable(&c)))
                .unwrap_or_default(),
            printable(&failure.reason)
        );
    }
    let stage = shell_word(stage);
    for entry in entries {
        match entry {
            Entry::DeadLetter(d) => {
                let id = shell_word(&d.message_id);
                let _ = writeln!(
                    out,
                    "dead letter {} ({}{}): {}\n  inspect: alchemiser dlq show {id} --stage {stage}\n  redrive: alchemiser dlq redrive {id} --stage {stage}",
                    printable(&d.message_id),
                    printable(&d.dead_letter_kind),
                    d.origin
                        .as_deref()
                        .map(|o| format!(", {}", printable(o)))
                        .unwrap_or_default(),
                    printable(&d.reason),
                );
            }
            Entry::DeadLetterDeleted(d) => {
                let _ = writeln!(
                    out,
                    "dead letter {} deleted at {} by {}: {}",
                    printable(&d.message_id),
                    time(d.deleted_at),
                    printable(&d.deleted_by),
                    printable(&d.reason),
                );
            }
            Entry::TimedOut(t) => {
                let _ = writeln!(
                    out,
                    "timed out at {}: no terminal event within {} of its start, at step {}",
                    time(t.at),
                    format_duration(TimeDelta::seconds(
                        i64::try_from(t.deadline_secs).unwrap_or(i64::MAX)
                    )),
                    t.last_step
                );
            }
            Entry::Shadow(s) => {
                let _ = writeln!(
                    out,
                    "shadow {}: would have emitted {} event(s) for {}",
                    printable(&s.handler),
                    s.events.len(),
                    printable(&s.cause_event_id)
                );
            }
            Entry::Event(_) => {}
        }
    }
    out
}

/// The causation tree of a workflow's events: each event under the event that caused it (when
/// the ledger has it), siblings in the order their branches ended, so that a branch that ended
/// earlier (a WorkflowFailed) is never drawn below a later one (a completion after a redrive).
struct Tree<'a> {
    events: &'a [EventEntry],
    children: BTreeMap<usize, Vec<usize>>,
    roots: Vec<usize>,
    /// The workflow's start, which every event's time is drawn from.
    started: DateTime<Utc>,
}

impl<'a> Tree<'a> {
    fn of(events: &'a [EventEntry], started: DateTime<Utc>) -> Self {
        let index: BTreeMap<&str, usize> = events
            .iter()
            .enumerate()
            .map(|(i, e)| (e.event_id.as_str(), i))
            .collect();
        let mut children: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut roots = Vec::new();
        for (i, event) in events.iter().enumerate() {
            match index.get(event.causation_id.as_str()) {
                Some(&cause) if cause != i => children.entry(cause).or_default().push(i),
                _ => roots.push(i),
            }
        }
        // A forged causation cycle has no root: its events are drawn as roots of their own.
        let mut reachable = BTreeSet::new();
        let mut stack = roots.clone();
        while let Some(node) = stack.pop() {
            if reachable.insert(node) {
                stack.extend(children.get(&node).into_iter().flatten().copied());
            }
        }
        roots.extend((0..events.len()).filter(|i| !reachable.contains(i)));
        let mut tree = Self {
            events,
            children,
            roots,
            started,
        };
        let mut latest = BTreeMap::new();
        for root in tree.roots.clone() {
            tree.latest_in(root, &mut latest, &mut Vec::new());
        }
        let order = |i: &usize| {
            let event = &events[*i];
            (latest.get(i).copied(), event.time, event.event_id.clone())
        };
        tree.roots.sort_by_cached_key(order);
        for siblings in tree.children.values_mut() {
            siblings.sort_by_cached_key(order);
        }
        tree
    }

    /// The latest time in the branch under `node`, for every node of it (`path` guards against a
    /// forged causation cycle).
    fn latest_in(
        &self,
        node: usize,
        latest: &mut BTreeMap<usize, alchemiser_events::Timestamp>,
        path: &mut Vec<usize>,
    ) -> alchemiser_events::Timestamp {
        let mut last = self.events[node].time;
        if path.contains(&node) {
            return last;
        }
        path.push(node);
        for &child in self.children.get(&node).into_iter().flatten() {
            last = last.max(self.latest_in(child, latest, path));
        }
        path.pop();
        latest.insert(node, last);
        last
    }

    /// Draws `node` and its branch into `out` (each event once: `drawn`): `prefix` is what the
    /// ancestors draw on its line, `last` whether it is the last of its siblings (`None` for a
    /// root).
    fn draw(
        &self,
        out: &mut String,
        drawn: &mut BTreeSet<usize>,
        node: usize,
        cause: Option<usize>,
        prefix: &str,
        last: Option<bool>,
    ) {
        if !drawn.insert(node) {
            return;
        }
        let event = &self.events[node];
        let (connector, below) = match last {
            None => ("  ", "  ".to_owned()),
            Some(false) => ("├─ ", format!("{prefix}│  ")),
            Some(true) => ("└─ ", format!("{prefix}   ")),
        };
        let route = match &event.handled_by {
            Some(consumer) => format!("{} → {}", printable(producer(event)), consumer),
            None => printable(producer(event)).into_owned(),
        };
        let after = cause
            .map(|c| {
                format!(
                    " (+{} after its cause)",
                    format_duration(event.time.0 - self.events[c].time.0)
                )
            })
            .unwrap_or_default();
        let check = check_of(event)
            .map(|c| format!(" [check {}]", printable(&c)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}{connector}{} {}  {route}  at +{}{after}{}{check}{}",
            if last.is_none() { "" } else { prefix },
            event.event_type,
            printable(&event.event_id),
            format_duration(event.time.0 - self.started),
            event
                .outcome
                .as_deref()
                .map(|o| format!("  — {}", printable(o)))
                .unwrap_or_default(),
            event
                .replay
                .as_deref()
                .map(|r| format!("  [replay {}]", printable(r)))
                .unwrap_or_default()
        );
        let children = self
            .children
            .get(&node)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let detail_prefix = format!("{below}{}", if children.is_empty() { "   " } else { "│  " });
        for order in orders_of(event) {
            let _ = writeln!(out, "{detail_prefix}· {order}");
        }
        for (i, &child) in children.iter().enumerate() {
            self.draw(
                out,
                drawn,
                child,
                Some(node),
                &below,
                Some(i + 1 == children.len()),
            );
        }
    }
}

/// A refusal's or failure's `error_details.check`, when the event is a WorkflowFailed with one.
fn check_of(event: &EventEntry) -> Option<String> {
    (event.event_type == EventType::WorkflowFailed)
        .then(|| event.detail.as_ref()?.pointer("/error_details/check"))
        .flatten()
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// One line per order of a TradeExecuted (its `execution_data.orders`): side, symbol, quantity
/// and price asked, the broker's status, what filled at what price, the broker's order id, why
/// it failed. Fields are read leniently: a status this code does not know is shown as written,
/// a missing field is left out.
fn orders_of(event: &EventEntry) -> Vec<String> {
    if event.event_type != EventType::TradeExecuted {
        return Vec::new();
    }
    let orders = event
        .detail
        .as_ref()
        .and_then(|d| d.pointer("/execution_data/orders"))
        .and_then(Value::as_array);
    orders
        .into_iter()
        .flatten()
        .map(|order| {
            let field = |key: &str| -> Option<String> {
                match order.get(key)? {
                    Value::String(text) => Some(printable(text).into_owned()),
                    Value::Number(number) => Some(number.to_string()),
                    _ => None,
                }
            };
            let mut line = ["side", "symbol"]
                .iter()
                .filter_map(|key| field(key))
                .map(|text| text.to_uppercase())
                .collect::<Vec<_>>()
                .join(" ");
            if let Some(qty) = field("qty") {
                let _ = write!(line, " {qty}");
            }
            if let Some(price) = field("price") {
                let _ = write!(line, " @ {price}");
            }
            if let Some(notional) = field("notional") {
                let _ = write!(line, " ${notional}");
            }
            let _ = write!(
                line,
                ": {}",
                field("status").unwrap_or_else(|| "status unknown".into())
            );
            match (field("filled_qty"), field("fill_price")) {
                (Some(qty), Some(price)) => {
                    let _ = write!(line, ", filled {qty} @ {price}");
                }
                (Some(qty), None) => {
                    let _ = write!(line, ", filled {qty}");
                }
                _ => {}
            }
            if let Some(id) = field("order_id") {
                let _ = write!(line, " (order {id})");
            }
            if let Some(reason) = field("reason") {
                let _ = write!(line, ": {reason}");
            }
            line
        })
        .collect()
}

/// A Mermaid participant id: letters, digits and `_` only (a name from an event could otherwise
/// end the line and write diagram statements of its own).
fn participant(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// `text` as the text of a Mermaid message or note: one line, without the characters Mermaid
/// reads as syntax, cut to at most `max` characters at a word boundary.
fn note_text(text: &str, max: usize) -> String {
    let plain: String = text
        .chars()
        .map(|c| {
            if c.is_control() || ";#:<>{}".contains(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    let words: Vec<&str> = plain.split_whitespace().collect();
    let mut kept = String::new();
    for word in &words {
        if kept.chars().count() + word.chars().count() + 1 > max {
            kept.push('…');
            return kept;
        }
        if !kept.is_empty() {
            kept.push(' ');
        }
        kept.push_str(word);
    }
    kept
}

/// A Mermaid sequence diagram of the workflow: one arrow per event, producer to consumer, in
/// causal order; its failure as a note over the function where it failed.
pub fn mermaid(summary: &Summary, entries: &[Entry]) -> String {
    let events = events(entries);
    let mut participants: Vec<String> = Vec::new();
    for event in &events {
        for name in [
            event.producer.as_str(),
            event.handled_by.as_deref().unwrap_or("monitor"),
        ] {
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
        note_text(&summary.correlation_id, 100),
        summary.state
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
            format_duration(event.time.0 - summary.started_at)
        );
    }
    if let Some(failure) = &summary.failure {
        // Over the function where it failed, when it is in the diagram; else over them all.
        let step = participant(&failure.step);
        let over = if participants.contains(&step) {
            step
        } else {
            match (participants.first(), participants.last()) {
                (Some(first), Some(last)) if first != last => format!("{first},{last}"),
                (Some(only), _) => only.clone(),
                _ => "monitor".into(),
            }
        };
        let _ = writeln!(
            out,
            "    Note over {over}: {} at {}: {}",
            summary.state,
            note_text(&failure.step, 40),
            note_text(&failure.reason, 120)
        );
    }
    out
}
