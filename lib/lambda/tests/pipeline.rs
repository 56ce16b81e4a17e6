//! The consumer runtime's steps with probe handlers (nothing of trading): decode, claim, run,
//! record, publish; duplicates, reused ids, claims that lapse with the invocation's deadline,
//! transient and permanent failures, and a store that cannot be reached.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use alchemiser_bus::{
    CheckAgain, Delivery, EventHandler, Handled, HandlerError, InMemoryBus, RecordingHandler,
};
use alchemiser_deadletters::MemoryDeadLetterRecorder;
use alchemiser_events::samples::sample_event;
use alchemiser_events::{Event, EventType, HandlerName};
use alchemiser_lambda::follow_ups::{FollowUp, MemoryFollowUps, MAX_FOLLOW_UPS};
use alchemiser_lambda::idempotency::{
    Claim, ClaimRequest, IdempotencyConfig, IdempotencyStore, InMemoryStore, InterceptedStore,
    Lease, LeaseRequest, StoreError, StoredResult,
};
use alchemiser_lambda::metrics::Metrics;
use alchemiser_lambda::{
    Adapters, InvocationContext, InvocationError, InvocationOutcome, Invoke, Invoker,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Counts its calls; answers as told.
struct Probe {
    calls: AtomicUsize,
    answer: Answer,
}

enum Answer {
    Nothing,
    Transient,
    Permanent,
    Hang,
    /// Emits a WorkflowFailed whose `error_details` carry this many bytes.
    Emit(usize),
    /// Emits nothing yet and asks to see the event again after this many seconds.
    Again(u64),
}

#[async_trait]
impl EventHandler for Probe {
    fn name(&self) -> &str {
        "probe"
    }
    async fn handle(&self, _: &Event, _: &Delivery) -> Result<Handled, HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let events = match self.answer {
            Answer::Nothing => Ok(vec![]),
            Answer::Transient => Err(HandlerError::Transient("dependency down".into())),
            Answer::Permanent => Err(HandlerError::Permanent("bad input".into())),
            Answer::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(vec![])
            }
            Answer::Again(_) => Ok(vec![]),
            Answer::Emit(bytes) => {
                let mut event = sample_event(EventType::WorkflowFailed);
                if let Event::WorkflowFailed(failed) = &mut event {
                    failed
                        .error_details
                        .insert("padding".into(), json!("x".repeat(bytes)));
                }
                Ok(vec![event])
            }
        };
        if let Answer::Again(seconds) = self.answer {
            return Ok(Handled {
                events: vec![],
                check_again: Some(CheckAgain {
                    after: Duration::from_secs(seconds),
                    why: "orders still open".into(),
                }),
            });
        }
        events.map(Handled::from)
    }
    fn on_permanent_failure(&self, _: &Event, reason: &str, dead_letter: &str) -> Vec<Event> {
        let mut failed = sample_event(EventType::WorkflowFailed);
        if let Event::WorkflowFailed(failed) = &mut failed {
            failed.failure_reason = reason.to_owned();
            failed
                .error_details
                .insert("dead_letter".into(), json!(dead_letter));
        }
        vec![failed]
    }
}

fn probe(answer: Answer) -> Arc<Probe> {
    Arc::new(Probe {
        calls: AtomicUsize::new(0),
        answer,
    })
}

struct Harness {
    invoker: Invoker,
    dead_letters: Arc<MemoryDeadLetterRecorder>,
    /// Every event the invocation put on the bus.
    published: Arc<RecordingHandler>,
    /// Every follow-up the invocation sent.
    follow_ups: Arc<MemoryFollowUps>,
}

fn harness(
    handler: Arc<dyn EventHandler>,
    store: Arc<dyn IdempotencyStore>,
    idempotency: IdempotencyConfig,
) -> Harness {
    let bus = Arc::new(InMemoryBus::new());
    let published = RecordingHandler::on_every_type(&bus);
    let dead_letters = Arc::new(MemoryDeadLetterRecorder::default());
    let follow_ups = Arc::new(MemoryFollowUps::new());
    let adapters = Adapters {
        follow_ups: Some(follow_ups.clone()),
        authenticity: alchemiser_lambda::signing::Authenticity::in_process(),
        store,
        bus,
        dead_letters: dead_letters.clone(),
        metrics: Metrics::Off,
        idempotency,
        clock: alchemiser_clock::system(),
    };
    Harness {
        invoker: Invoker::new(HandlerName::Monitor, handler, adapters),
        dead_letters,
        published,
        follow_ups,
    }
}

fn outcome_event() -> Value {
    sample_event(EventType::WorkflowCompleted).to_value()
}

fn local() -> InvocationContext {
    InvocationContext::local()
}

#[tokio::test]
async fn a_duplicate_is_skipped_and_a_reused_id_with_another_payload_is_refused() {
    let handler = probe(Answer::Nothing);
    let h = harness(
        handler.clone(),
        Arc::new(InMemoryStore::new()),
        IdempotencyConfig::default(),
    );
    let event = outcome_event();
    let first = h.invoker.invoke(event.clone(), &local()).await.unwrap();
    assert!(matches!(first, InvocationOutcome::Handled { .. }));
    let again = h.invoker.invoke(event.clone(), &local()).await.unwrap();
    assert_eq!(again, InvocationOutcome::Duplicate { republished: 0 });
    // Only metadata differs (what producers and redrives add along the way): still the same event.
    let mut annotated = event.clone();
    annotated["metadata"] = json!({"redriven": true});
    let annotated = h.invoker.invoke(annotated, &local()).await.unwrap();
    assert_eq!(annotated, InvocationOutcome::Duplicate { republished: 0 });
    // The same event id for another workflow outcome: refused, recorded, not run.
    let mut reused = event.clone();
    reused["workflow_duration_ms"] = json!(999_999);
    let refused = h.invoker.invoke(reused.clone(), &local()).await.unwrap();
    let InvocationOutcome::RecordedFailure { reason, .. } = refused else {
        panic!("{refused:?}")
    };
    assert!(
        reason.contains("different payload") && reason.contains("reused an event id"),
        "{reason}"
    );
    assert_eq!(h.dead_letters.records()[0].event, reused);
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_crashed_invocations_claim_lapses_at_its_deadline_not_minutes_later() {
    let store: Arc<dyn IdempotencyStore> = Arc::new(InMemoryStore::new());
    let config = IdempotencyConfig {
        in_progress_margin: Duration::from_millis(100),
        ..IdempotencyConfig::default()
    };
    let event = outcome_event();
    // The first invocation claims, then dies inside its handler (its future is dropped: no
    // release, no record), 200 ms before its deadline.
    let deadline = Utc::now() + Duration::from_millis(250);
    let crashed = harness(probe(Answer::Hang), store.clone(), config);
    let context = InvocationContext {
        request_id: "req-1".into(),
        deadline: Some(deadline),
        ..InvocationContext::default()
    };
    let cut = tokio::time::timeout(
        Duration::from_millis(50),
        crashed.invoker.invoke(event.clone(), &context),
    )
    .await;
    assert!(cut.is_err(), "the first invocation was cut off");
    // Lambda's retry while the dead invocation's deadline has not passed: busy, retry later.
    let handler = probe(Answer::Nothing);
    let retry = harness(handler.clone(), store, config);
    let busy = retry.invoker.invoke(event.clone(), &local()).await;
    assert!(
        matches!(busy, Err(InvocationError::Transient(ref m)) if m.contains("being handled by another invocation")),
        "{busy:?}"
    );
    // Once the deadline and the margin have passed, the next retry takes over and runs.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let ran = retry.invoker.invoke(event, &local()).await.unwrap();
    assert!(matches!(ran, InvocationOutcome::Handled { .. }), "{ran:?}");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_claim_lapses_after_the_deadline_plus_the_margin() {
    let config = IdempotencyConfig::default();
    let now = Utc::now();
    let deadline = now + Duration::from_secs(120);
    assert_eq!(
        config.in_progress_until(now, Some(deadline)),
        deadline + config.in_progress_margin
    );
    assert_eq!(
        config.in_progress_until(now, None),
        now + config.in_progress_without_deadline
    );
    // A deadline already in the past never shortens a claim below "now + margin".
    assert_eq!(
        config.in_progress_until(now, Some(now - Duration::from_secs(5))),
        now + config.in_progress_margin
    );
}

#[tokio::test]
async fn transient_failures_give_the_claim_back_and_permanent_ones_are_recorded() {
    let store: Arc<dyn IdempotencyStore> = Arc::new(InMemoryStore::new());
    let event = outcome_event();
    let flaky = harness(
        probe(Answer::Transient),
        store.clone(),
        IdempotencyConfig::default(),
    );
    let error = flaky.invoker.invoke(event.clone(), &local()).await;
    assert!(
        matches!(error, Err(InvocationError::Transient(ref m)) if m.contains("dependency down"))
    );
    // Given back: a retry runs at once.
    let refusing = harness(
        probe(Answer::Permanent),
        store.clone(),
        IdempotencyConfig::default(),
    );
    let recorded = refusing
        .invoker
        .invoke(event.clone(), &local())
        .await
        .unwrap();
    assert!(
        matches!(recorded, InvocationOutcome::RecordedFailure { ref reason, .. } if reason == "bad input")
    );
    assert_eq!(refusing.dead_letters.records()[0].function, "monitor");
    // A permanent failure is not remembered as done: redriven after a fix, the event runs.
    let fixed = probe(Answer::Nothing);
    let h = harness(fixed.clone(), store, IdempotencyConfig::default());
    let ran = h.invoker.invoke(event, &local()).await.unwrap();
    assert!(matches!(ran, InvocationOutcome::Handled { .. }));
}

/// A store that cannot be reached.
struct DownStore;

fn refused() -> StoreError {
    StoreError::new("PutItem (claim)", "test-table", "connection refused")
}

#[async_trait]
impl IdempotencyStore for DownStore {
    async fn claim(&self, _: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
        Err(refused())
    }
    async fn complete(
        &self,
        _: &str,
        _: &str,
        _: &StoredResult,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Err(refused())
    }
    async fn release(&self, _: &str) -> Result<(), StoreError> {
        Err(refused())
    }
    async fn acquire_lease(&self, _: &LeaseRequest<'_>) -> Result<Lease, StoreError> {
        Err(refused())
    }
    async fn release_lease(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Err(refused())
    }
}

#[tokio::test]
async fn an_unreachable_store_fails_closed_and_says_why() {
    let handler = probe(Answer::Nothing);
    let h = harness(
        handler.clone(),
        Arc::new(DownStore),
        IdempotencyConfig::default(),
    );
    let error = h
        .invoker
        .invoke(outcome_event(), &local())
        .await
        .unwrap_err();
    let InvocationError::Transient(reason) = error else {
        panic!("{error:?}")
    };
    assert!(
        reason.contains("idempotency store unavailable") && reason.contains("connection refused"),
        "{reason}"
    );
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        0,
        "never runs unguarded"
    );
}

/// A bus whose entries are at most `limit` bytes of JSON (as EventBridge's are).
struct Small {
    limit: usize,
    inner: InMemoryBus,
}

#[async_trait]
impl alchemiser_bus::EventBus for Small {
    async fn publish(&self, events: Vec<Event>) -> alchemiser_bus::PublishReport {
        self.inner.publish(events).await
    }
    fn refuses(&self, event: &Event) -> Option<String> {
        let size = event.to_json().len();
        (size > self.limit).then(|| format!("{size} bytes, over {}", self.limit))
    }
}

#[tokio::test]
async fn what_can_never_be_recorded_or_published_is_a_permanent_failure_not_a_retry_loop() {
    // At the bus's limit: published.
    let at_limit = probe(Answer::Emit(200 * 1024));
    let mut h = harness(
        at_limit,
        Arc::new(InMemoryStore::new()),
        IdempotencyConfig::default(),
    );
    // The event as the monitor publishes it: signed with this process's key.
    let size = {
        let mut event = sample_event(EventType::WorkflowFailed);
        if let Event::WorkflowFailed(failed) = &mut event {
            failed
                .error_details
                .insert("padding".into(), json!("x".repeat(200 * 1024)));
        }
        let signer = alchemiser_lambda::signing::LocalSigner::new(
            alchemiser_lambda::signing::LocalKeys::process(),
            "monitor",
        );
        alchemiser_lambda::signing::sign(&signer, &mut event)
            .await
            .unwrap();
        event.to_json().len()
    };
    let (mut adapters, _) = Adapters::in_memory(Arc::new(Small {
        limit: size,
        inner: InMemoryBus::new(),
    }));
    adapters.dead_letters = h.dead_letters.clone();
    h.invoker = Invoker::new(
        HandlerName::Monitor,
        probe(Answer::Emit(200 * 1024)),
        adapters,
    );
    let outcome = h.invoker.invoke(outcome_event(), &local()).await.unwrap();
    assert!(
        matches!(outcome, InvocationOutcome::Handled { .. }),
        "{outcome:?}"
    );

    // One byte over the bus's limit: recorded as permanent, with the reason, at once.
    let (mut adapters, _) = Adapters::in_memory(Arc::new(Small {
        limit: size - 1,
        inner: InMemoryBus::new(),
    }));
    adapters.dead_letters = h.dead_letters.clone();
    let over = Invoker::new(
        HandlerName::Monitor,
        probe(Answer::Emit(200 * 1024)),
        adapters,
    );
    let outcome = over.invoke(outcome_event(), &local()).await.unwrap();
    let InvocationOutcome::RecordedFailure { reason, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.contains("can never be published") && reason.contains("over"),
        "{reason}"
    );

    // A result over what an idempotency record holds (400 KB items): permanent too.
    let h = harness(
        probe(Answer::Emit(360 * 1024)),
        Arc::new(InMemoryStore::new()),
        IdempotencyConfig::default(),
    );
    let outcome = h.invoker.invoke(outcome_event(), &local()).await.unwrap();
    let InvocationOutcome::RecordedFailure { reason, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("idempotency record holds"), "{reason}");
    assert_eq!(h.dead_letters.records().len(), 1);
}

#[tokio::test]
async fn what_a_handler_emits_is_published_once_however_often_its_event_comes() {
    // Recorded, published, then marked published: a duplicate delivery of the same event (or
    // Lambda's retry after the answer was lost) publishes nothing again.
    let bus_events = |h: &Harness| h.published.events().len();
    let store: Arc<dyn IdempotencyStore> = Arc::new(InMemoryStore::new());
    let emitting = probe(Answer::Emit(0));
    let h = harness(emitting.clone(), store, IdempotencyConfig::default());
    let event = outcome_event();
    let first = h.invoker.invoke(event.clone(), &local()).await.unwrap();
    assert!(
        matches!(first, InvocationOutcome::Handled { .. }),
        "{first:?}"
    );
    assert_eq!(bus_events(&h), 1, "the emitted event is on the bus");
    assert!(matches!(h.published.events()[0], Event::WorkflowFailed(_)));
    let again = h.invoker.invoke(event, &local()).await.unwrap();
    assert!(
        !matches!(again, InvocationOutcome::Handled { .. }),
        "{again:?}"
    );
    assert_eq!(
        emitting.calls.load(Ordering::SeqCst),
        1,
        "the handler ran once"
    );
    assert_eq!(bus_events(&h), 1, "the duplicate published nothing");
}

#[tokio::test]
async fn a_dead_letter_names_the_event_and_its_workflow() {
    // An operator finds a dead letter by event id and correlation id: both are in the record.
    let h = harness(
        probe(Answer::Permanent),
        Arc::new(InMemoryStore::new()),
        IdempotencyConfig::default(),
    );
    let event = outcome_event();
    h.invoker.invoke(event.clone(), &local()).await.unwrap();
    let record = &h.dead_letters.records()[0];
    assert_eq!(record.event_id.as_deref(), event["event_id"].as_str());
    assert_eq!(
        record.correlation_id.as_deref(),
        event["correlation_id"].as_str()
    );
    assert_eq!(record.detail_type.as_deref(), Some("WorkflowCompleted"));
    assert_eq!(
        record.event["event_id"], event["event_id"],
        "the event itself is kept"
    );
}

#[tokio::test]
async fn work_that_is_not_done_comes_back_as_a_follow_up_until_the_last_one() {
    let h = harness(
        probe(Answer::Again(30)),
        Arc::new(InMemoryStore::new()),
        IdempotencyConfig::default(),
    );
    let event = outcome_event();
    let before = Utc::now();
    h.invoker.invoke(event.clone(), &local()).await.unwrap();
    let sent = h.follow_ups.take();
    assert_eq!(sent.len(), 1, "one follow-up asked for");
    let first = &sent[0];
    assert_eq!(first.follow_up.check, 1);
    assert_eq!(first.follow_up.function, "monitor");
    assert_eq!(first.event, event, "the follow-up carries the event itself");
    let due_in = first.follow_up.due_at - before;
    assert!(
        (29..=31).contains(&due_in.num_seconds()),
        "due 30 s later, not {due_in}"
    );
    // Its delivery asks again: the next check, counted on.
    let follow_up_body = serde_json::to_value(first).unwrap();
    h.invoker.invoke(follow_up_body, &local()).await.unwrap();
    assert_eq!(h.follow_ups.take()[0].follow_up.check, 2);
    // The last allowed check still comes; one more is refused, naming why.
    let at = |check: u32| {
        let mut last: FollowUp = first.clone();
        last.follow_up.check = check;
        serde_json::to_value(last).unwrap()
    };
    h.invoker
        .invoke(at(MAX_FOLLOW_UPS - 1), &local())
        .await
        .unwrap();
    assert_eq!(h.follow_ups.take()[0].follow_up.check, MAX_FOLLOW_UPS);
    let gave_up = h.invoker.invoke(at(MAX_FOLLOW_UPS), &local()).await;
    assert!(h.follow_ups.take().is_empty(), "no follow-up past the last");
    let said = format!("{gave_up:?}");
    assert!(said.contains("gave up after"), "{said}");
}

#[tokio::test]
async fn the_dead_letter_of_an_event_that_does_not_decode_still_names_it() {
    // What can be read of a broken event is kept in its dead letter: an operator searches by
    // event id and correlation id, even when the event itself is not valid.
    let h = harness(
        probe(Answer::Nothing),
        Arc::new(InMemoryStore::new()),
        IdempotencyConfig::default(),
    );
    let mut broken = outcome_event();
    broken["schema_version"] = json!(42);
    broken["success"] = json!("not a boolean");
    let answer = h.invoker.invoke(broken.clone(), &local()).await;
    assert!(
        matches!(answer, Ok(InvocationOutcome::RecordedFailure { .. })),
        "{answer:?}"
    );
    let record = &h.dead_letters.records()[0];
    assert_eq!(record.event_id.as_deref(), broken["event_id"].as_str());
    assert_eq!(
        record.correlation_id.as_deref(),
        broken["correlation_id"].as_str()
    );
    assert_eq!(record.detail_type.as_deref(), Some("WorkflowCompleted"));
}

/// The in-memory store, noting whether each result it was given was marked published.
fn recording_store() -> (Arc<InterceptedStore>, Arc<std::sync::Mutex<Vec<bool>>>) {
    let completions = Arc::new(std::sync::Mutex::new(Vec::new()));
    let noted = completions.clone();
    let store = InterceptedStore::new().on_complete(move |result| {
        noted.lock().unwrap().push(result.published);
        None
    });
    (Arc::new(store), completions)
}

#[tokio::test]
async fn what_a_handler_emits_is_recorded_before_it_is_published() {
    // If the invocation dies between publishing and recording, its retry must publish the stored
    // events rather than run the handler (and its orders) again: the result is written before
    // the publish, then marked published. A handler that emits nothing needs only the one write.
    let (store, completions) = recording_store();
    let h = harness(probe(Answer::Emit(0)), store, IdempotencyConfig::default());
    h.invoker.invoke(outcome_event(), &local()).await.unwrap();
    assert_eq!(*completions.lock().unwrap(), vec![false, true]);

    let (quiet, completions) = recording_store();
    let h = harness(probe(Answer::Nothing), quiet, IdempotencyConfig::default());
    h.invoker.invoke(outcome_event(), &local()).await.unwrap();
    assert_eq!(*completions.lock().unwrap(), vec![true]);
}

#[tokio::test]
async fn a_permanent_failure_is_announced_once_its_dead_letter_is_recorded() {
    // The handler's WorkflowFailed goes out after the dead letter is written, naming it: the
    // workflow ends visibly at once instead of at the next sweep.
    let h = harness(
        probe(Answer::Permanent),
        Arc::new(InMemoryStore::new()),
        IdempotencyConfig::default(),
    );
    let outcome = h.invoker.invoke(outcome_event(), &local()).await.unwrap();
    let InvocationOutcome::RecordedFailure { record_id, .. } = outcome else {
        panic!("{outcome:?}")
    };
    let announced = h.published.events();
    assert_eq!(announced.len(), 1, "one announcement");
    let Event::WorkflowFailed(failed) = &announced[0] else {
        panic!("{:?}", announced[0])
    };
    assert_eq!(failed.failure_reason, "bad input");
    assert_eq!(failed.error_details["dead_letter"], json!(record_id));
}
