//! The steps every invocation shares once it knows what to run, each named: claim the key, run
//! the handler, record the result, publish what it emitted, mark the record published. A
//! permanent failure is recorded as a dead letter instead.

use std::future::Future;
use std::time::{Duration, Instant};

use alchemiser_bus::{error_chain, CheckAgain, Handled, HandlerError, PublishReport};
use alchemiser_events::{Event, FailureRecord};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Adapters, InvocationContext, InvocationError, InvocationOutcome};
use crate::follow_ups::{FollowUp, FollowUpNote, MAX_FOLLOW_UPS};
use crate::idempotency::{payload_hash, Claim, ClaimRequest, Lease, LeaseRequest, StoredResult};
use alchemiser_metrics::OrderCounts;

/// An event refused for who made it (unsigned, forged, altered) is recorded and kept, never
/// announced as its workflow's failure: a forger would choose the workflow.
pub(crate) use alchemiser_events::{PERMANENT_CLASS as PERMANENT, REFUSED_CLASS as REFUSED};

/// How long an event waits before it asks again for a lease another event holds: briefly at
/// first (most work under a lease ends within seconds), then once a minute — the holder keeps it
/// at most until its own work ends, which its handler bounds.
pub(crate) fn lease_wait(check: u32) -> Duration {
    if check < 10 {
        Duration::from_secs(30)
    } else {
        Duration::from_secs(60)
    }
}

/// What guards one unit of work: its idempotency key, the hash of the payload it stands for, the
/// lease it must hold while it runs (if any), and how it is delivered again when its work is not
/// done (if it can be).
pub(crate) struct Guard {
    pub(crate) key: String,
    pub(crate) payload_hash: String,
    pub(crate) lease: Option<LeaseSpec>,
    pub(crate) follow_up: Option<FollowUpSpec>,
}

/// A lease and who holds it: the work it guards, across all its follow-ups (so a follow-up
/// takes over its own lease).
pub(crate) struct LeaseSpec {
    pub(crate) name: String,
    pub(crate) holder: String,
}

/// What a follow-up of this delivery carries: the payload as first delivered, and which
/// follow-up this delivery is.
pub(crate) struct FollowUpSpec {
    pub(crate) payload: Value,
    pub(crate) check: u32,
}

impl Guard {
    pub(crate) fn new(key: String, payload: &Value) -> Self {
        Self {
            key,
            payload_hash: payload_hash(payload),
            lease: None,
            follow_up: None,
        }
    }

    pub(crate) fn with_lease(mut self, lease: Option<LeaseSpec>) -> Self {
        self.lease = lease;
        self
    }

    pub(crate) fn with_follow_ups(mut self, follow_up: FollowUpSpec) -> Self {
        self.follow_up = Some(follow_up);
        self
    }
}

/// What a permanent failure is about, for its record.
#[derive(Default)]
pub(crate) struct FailureContext {
    pub(crate) event_id: Option<String>,
    pub(crate) detail_type: Option<String>,
    pub(crate) correlation_id: Option<String>,
}

impl FailureContext {
    /// What can still be read from a payload that failed to decode, so that the DLQ record of a
    /// bad event names it (an operator searches by event id and correlation id).
    pub(crate) fn salvaged(payload: &Value) -> Self {
        let detail = match payload.get("detail") {
            Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
            Some(detail) => detail.clone(),
            None => payload.clone(),
        };
        let text = |value: &Value, field: &str| {
            value.get(field).and_then(Value::as_str).map(str::to_owned)
        };
        Self {
            event_id: text(&detail, "event_id"),
            detail_type: text(payload, "detail-type").or_else(|| text(&detail, "event_type")),
            correlation_id: text(&detail, "correlation_id"),
        }
    }

    pub(crate) fn of(event: &Event) -> Self {
        Self {
            event_id: Some(event.event_id().to_owned()),
            detail_type: Some(event.event_type().to_string()),
            correlation_id: Some(event.header().correlation_id.clone()),
        }
    }
}

/// The most event JSON an idempotency record keeps: DynamoDB items hold 400 KB, less the key,
/// hash and attributes.
pub const MAX_RECORDED_RESULT_BYTES: usize = 350 * 1024;

/// The shared steps of one function.
pub(crate) struct Pipeline {
    pub(crate) function: String,
    pub(crate) adapters: Adapters,
    signer: Option<std::sync::Arc<dyn alchemiser_signing::Signer>>,
}

impl Pipeline {
    pub(crate) fn new(function: impl Into<String>, adapters: Adapters) -> Self {
        let function = function.into();
        let signer = adapters.authenticity.signer_for(&function);
        Self {
            function,
            adapters,
            signer,
        }
    }

    /// Signs each event this function emits (its own signature replaces its cause's).
    async fn sign(&self, events: &mut [Event]) -> Result<(), alchemiser_signing::SigningError> {
        if let Some(signer) = &self.signer {
            for event in events.iter_mut() {
                alchemiser_signing::sign(signer.as_ref(), event).await?;
            }
        }
        Ok(())
    }

    fn now(&self) -> DateTime<Utc> {
        self.adapters.clock.now()
    }

    /// Records a permanent failure and acknowledges it; if it cannot be recorded, the invocation
    /// fails so that Lambda's on-failure destination keeps the event.
    pub(crate) async fn permanent(
        &self,
        payload: &Value,
        context: FailureContext,
        reason: String,
    ) -> Result<InvocationOutcome, InvocationError> {
        self.record_failure(payload, context, reason, PERMANENT)
            .await
    }

    /// Records a failure of class `class` (`permanent`, or `refused` for an event refused for
    /// who made it: a forgery must not end a genuine workflow) and acknowledges it; if it cannot
    /// be recorded, the invocation fails so that Lambda's on-failure destination keeps the event.
    pub(crate) async fn record_failure(
        &self,
        payload: &Value,
        context: FailureContext,
        reason: String,
        class: &'static str,
    ) -> Result<InvocationOutcome, InvocationError> {
        tracing::error!(error_class = class, %reason, "event refused");
        self.adapters.metrics.failure(class);
        let record = FailureRecord {
            function: self.function.clone(),
            reason: reason.clone(),
            error_class: class.into(),
            event_id: context.event_id,
            detail_type: context.detail_type,
            correlation_id: context.correlation_id,
            failed_at: self.now(),
            event: payload.clone(),
        };
        let dead_letters = &self.adapters.dead_letters;
        match dead_letters.record(&record).await {
            Ok(record_id) => Ok(InvocationOutcome::RecordedFailure {
                reason,
                recorded_at: dead_letters.location(),
                record_id,
            }),
            Err(error) => {
                let record_error = error_chain(&error);
                tracing::error!(%record_error, "could not record the permanent failure as a dead letter; failing the invocation");
                Err(InvocationError::Unrecorded {
                    reason,
                    record_error,
                })
            }
        }
    }

    /// Runs `work` at most once per guard (when there is one), publishes what it emits and
    /// records the result; schedules the follow-up the work asks for, keeping its lease.
    pub(crate) async fn guarded<W>(
        &self,
        guard: Option<Guard>,
        payload: &Value,
        failure: FailureContext,
        context: &InvocationContext,
        work: W,
    ) -> Result<InvocationOutcome, InvocationError>
    where
        W: Future<Output = Result<Handled, HandlerError>>,
    {
        let started = Instant::now();
        if let Some(guard) = &guard {
            if let Some(done) = self.claim(guard, payload, &failure, context).await? {
                return Ok(done);
            }
            if let Some(deferred) = self.lease(guard, context).await? {
                return Ok(deferred);
            }
        }
        let outcome = self
            .run_and_publish(guard.as_ref(), payload, failure, work)
            .await;
        if let Some(guard) = &guard {
            match &outcome {
                // Not done: the lease is the follow-up's (extended when it was scheduled).
                Ok(Ran::Published {
                    follow_up: Some(_), ..
                }) => {}
                // Done, refused, or failed before its result was recorded: give it back. A
                // handler's transient failure changed nothing it would need to keep the lease
                // for (one that did asks for a follow-up instead).
                _ => self.release_lease(guard).await,
            }
        }
        let (emitted, report, follow_up) = match outcome? {
            Ran::Published {
                emitted,
                report,
                follow_up,
            } => (emitted, report, follow_up),
            Ran::Refused(outcome) => return Ok(outcome),
        };
        let orders = emitted
            .iter()
            .filter_map(|e| match e {
                Event::TradeExecuted(t) => Some(t),
                _ => None,
            })
            .fold(OrderCounts::default(), |sum, t| OrderCounts {
                placed: sum.placed.saturating_add(t.orders_placed),
                failed: sum
                    .failed
                    .saturating_add(u32::try_from(t.failed_symbols.len()).unwrap_or(u32::MAX)),
            });
        self.adapters.metrics.handled(started.elapsed(), orders);
        tracing::info!(
            emitted = emitted.len(),
            delivered = report.delivered.len(),
            kept = report.undelivered.len(),
            follow_up = follow_up.as_ref().map(|f| f.follow_up.check),
            "handled"
        );
        Ok(match follow_up {
            Some(follow_up) => InvocationOutcome::Deferred {
                check: follow_up.follow_up.check,
                due_at: follow_up.follow_up.due_at,
                why: follow_up.follow_up.why,
            },
            None => InvocationOutcome::Handled { emitted, report },
        })
    }

    /// Steps 2 to 5: run the handler, record what it emitted (and the follow-up it asked for),
    /// publish it, schedule the follow-up, mark it published.
    async fn run_and_publish<W>(
        &self,
        guard: Option<&Guard>,
        payload: &Value,
        failure: FailureContext,
        work: W,
    ) -> Result<Ran, InvocationError>
    where
        W: Future<Output = Result<Handled, HandlerError>>,
    {
        let handled = match work.await {
            Ok(handled) => handled,
            Err(error) => {
                return self
                    .handler_failed(guard, payload, failure, error)
                    .await
                    .map(Ran::Refused)
            }
        };
        let mut emitted = handled.events;
        if let Err(error) = self.sign(&mut emitted).await {
            let reason = error_chain(&error);
            tracing::error!(error_class = "transient", %reason, "could not sign what the handler emitted; nothing published");
            if let Some(guard) = guard {
                self.give_back(guard).await;
            }
            self.adapters.metrics.failure("transient");
            return Err(InvocationError::Transient(reason));
        }
        let follow_up = match (handled.check_again, guard) {
            (None, _) => None,
            (Some(again), Some(guard)) => match self.follow_up_of(guard, &again) {
                Ok(follow_up) => Some(follow_up),
                Err(reason) => {
                    self.give_back(guard).await;
                    return self
                        .permanent(payload, failure, reason)
                        .await
                        .map(Ran::Refused);
                }
            },
            (Some(again), None) => {
                let reason = format!(
                    "the handler asked to see this input again ({}), but it has no idempotency key to follow up under",
                    again.why
                );
                return self
                    .permanent(payload, failure, reason)
                    .await
                    .map(Ran::Refused);
            }
        };
        // What can never be recorded or published is a permanent failure now, not a retry loop.
        let size: usize = emitted.iter().map(|e| e.to_json().len()).sum();
        let never = if guard.is_some() && size > MAX_RECORDED_RESULT_BYTES {
            Some(format!(
                "the handler's result ({size} bytes of events) is over the {MAX_RECORDED_RESULT_BYTES} bytes an idempotency record holds (DynamoDB items are at most 400 KB): not recorded, not published"
            ))
        } else {
            emitted
                .iter()
                .find_map(|event| self.adapters.bus.refuses(event))
                .map(|why| format!("an event the handler emitted can never be published: {why}"))
        };
        if let Some(reason) = never {
            if let Some(guard) = guard {
                self.give_back(guard).await;
            }
            return self
                .permanent(payload, failure, reason)
                .await
                .map(Ran::Refused);
        }
        let stored = self.record(guard, &emitted, follow_up.clone()).await?;
        let report = self.publish(&emitted).await?;
        if let (Some(guard), Some(follow_up)) = (guard, &follow_up) {
            self.schedule(guard, follow_up).await?;
        }
        self.mark_published(guard, stored).await;
        Ok(Ran::Published {
            emitted,
            report,
            follow_up,
        })
    }

    /// The follow-up `again` asks for, or why there can be none.
    fn follow_up_of(&self, guard: &Guard, again: &CheckAgain) -> Result<FollowUp, String> {
        let Some(spec) = &guard.follow_up else {
            return Err(format!(
                "the handler asked to see this event again ({}), but this function has no follow-up queue; \
                 set FOLLOW_UP_QUEUE_URL",
                again.why
            ));
        };
        let check = spec.check.saturating_add(1);
        if check > MAX_FOLLOW_UPS {
            return Err(format!(
                "gave up after {MAX_FOLLOW_UPS} follow-ups; the last said: {}",
                again.why
            ));
        }
        Ok(FollowUp {
            follow_up: FollowUpNote {
                function: self.function.clone(),
                check,
                due_at: self.now()
                    + chrono::TimeDelta::from_std(again.after).unwrap_or(chrono::TimeDelta::MAX),
                why: again.why.clone(),
            },
            event: spec.payload.clone(),
        })
    }

    /// Keeps the guard's lease until `follow_up` is due (and a grace after), then sends it. A
    /// lease or a follow-up that cannot be written fails the invocation: its retry finds the
    /// result recorded but not published, and does both again. A lease someone else took
    /// meanwhile (this work was interrupted for longer than its grace) is the follow-up's to
    /// wait for.
    async fn schedule(&self, guard: &Guard, follow_up: &FollowUp) -> Result<(), InvocationError> {
        if let Some(lease) = &guard.lease {
            let request = LeaseRequest {
                name: &lease.name,
                holder: &lease.holder,
                now: self.now(),
                until: self
                    .adapters
                    .idempotency
                    .lease_until(self.now(), Some(follow_up.follow_up.due_at)),
            };
            match self.adapters.store.acquire_lease(&request).await {
                Ok(Lease::Acquired) => {}
                Ok(Lease::Held { holder, .. }) => {
                    tracing::warn!(lease = %lease.name, %holder, "the lease was taken over while this work was interrupted; the follow-up waits for it");
                }
                Err(error) => {
                    let reason = format!(
                        "could not keep `{}` until the follow-up: {}",
                        lease.name,
                        error_chain(&error)
                    );
                    tracing::error!(error_class = "transient", %reason, "lease not extended");
                    self.adapters.metrics.failure("transient");
                    return Err(InvocationError::Transient(reason));
                }
            }
        }
        self.send_follow_up(follow_up).await
    }

    /// Takes the guard's lease, if it has one. Someone else holding it defers the event: a
    /// follow-up asks again a little later (a function without follow-ups fails the invocation
    /// for a Lambda retry instead).
    async fn lease(
        &self,
        guard: &Guard,
        context: &InvocationContext,
    ) -> Result<Option<InvocationOutcome>, InvocationError> {
        let Some(lease) = &guard.lease else {
            return Ok(None);
        };
        let now = self.now();
        let request = LeaseRequest {
            name: &lease.name,
            holder: &lease.holder,
            now,
            until: self.adapters.idempotency.lease_until(now, context.deadline),
        };
        let refusal = match self.adapters.store.acquire_lease(&request).await {
            Ok(Lease::Acquired) => return Ok(None),
            Ok(Lease::Held { holder, until }) => {
                let wait = lease_wait(guard.follow_up.as_ref().map_or(0, |f| f.check));
                let why = format!(
                    "`{}` is held by `{holder}` until {until} at the latest: one at a time; asking again in {}s",
                    lease.name,
                    wait.as_secs()
                );
                if guard.follow_up.is_some() {
                    return self.defer(guard, why, wait).await.map(Some);
                }
                why
            }
            Err(error) => error_chain(&error),
        };
        tracing::warn!(error_class = "transient", reason = %refusal, "lease not taken; Lambda will retry");
        self.give_back(guard).await;
        self.adapters.metrics.failure("transient");
        Err(InvocationError::Transient(refusal))
    }

    /// The event waits for a lease: it is recorded as handled with a follow-up to ask again, and
    /// the follow-up is sent.
    async fn defer(
        &self,
        guard: &Guard,
        why: String,
        wait: Duration,
    ) -> Result<InvocationOutcome, InvocationError> {
        tracing::info!(key = %guard.key, %why, "waiting for a lease");
        let again = CheckAgain { after: wait, why };
        let follow_up = match self.follow_up_of(guard, &again) {
            Ok(follow_up) => follow_up,
            Err(reason) => {
                self.give_back(guard).await;
                return Err(InvocationError::Transient(reason));
            }
        };
        let stored = self
            .record(Some(guard), &[], Some(follow_up.clone()))
            .await?;
        self.send_follow_up(&follow_up).await?;
        self.mark_published(Some(guard), stored).await;
        Ok(InvocationOutcome::Deferred {
            check: follow_up.follow_up.check,
            due_at: follow_up.follow_up.due_at,
            why: follow_up.follow_up.why,
        })
    }

    async fn send_follow_up(&self, follow_up: &FollowUp) -> Result<(), InvocationError> {
        let Some(follow_ups) = &self.adapters.follow_ups else {
            return Err(InvocationError::Transient(
                "this function has no follow-up queue (FOLLOW_UP_QUEUE_URL)".into(),
            ));
        };
        if let Err(error) = follow_ups.schedule(follow_up).await {
            let reason = error_chain(&error);
            tracing::error!(error_class = "transient", %reason, "follow-up not scheduled");
            self.adapters.metrics.failure("transient");
            return Err(InvocationError::Transient(reason));
        }
        Ok(())
    }

    async fn release_lease(&self, guard: &Guard) {
        let Some(lease) = &guard.lease else { return };
        if let Err(error) = self
            .adapters
            .store
            .release_lease(&lease.name, &lease.holder)
            .await
        {
            let error = error_chain(&error);
            tracing::warn!(%error, "could not give the lease back; it lapses at the invocation's deadline");
        }
    }

    /// Gives the claim back (a retry may run at once), best effort.
    async fn give_back(&self, guard: &Guard) {
        if let Err(error) = self.adapters.store.release(&guard.key).await {
            let error = error_chain(&error);
            tracing::warn!(%error, "could not release the claim; a retry waits for it to lapse");
        }
    }

    /// Step 1: claims the key. `None` means run the handler; `Some` is the whole outcome (a
    /// duplicate, or a refused payload); an error fails the invocation (Lambda retries).
    async fn claim(
        &self,
        guard: &Guard,
        payload: &Value,
        failure: &FailureContext,
        context: &InvocationContext,
    ) -> Result<Option<InvocationOutcome>, InvocationError> {
        let now = self.now();
        let request = ClaimRequest {
            key: &guard.key,
            payload_hash: &guard.payload_hash,
            now,
            in_progress_until: self
                .adapters
                .idempotency
                .in_progress_until(now, context.deadline),
        };
        match self.adapters.store.claim(&request).await {
            // Fail closed: never run a handler with side effects unguarded.
            Err(error) => {
                let reason = error_chain(&error);
                tracing::warn!(error_class = "transient", %reason, "idempotency store unavailable; failing closed");
                self.adapters.metrics.failure("transient");
                Err(InvocationError::Transient(reason))
            }
            Ok(Claim::Acquired) => Ok(None),
            Ok(Claim::Completed(stored)) => self.duplicate(guard, stored).await.map(Some),
            Ok(Claim::InProgress { expires_at }) => {
                let reason = format!(
                    "`{}` is being handled by another invocation (its claim lapses at {expires_at}); retry later",
                    guard.key
                );
                tracing::warn!(error_class = "transient", %reason, "event in progress elsewhere; Lambda will retry");
                self.adapters.metrics.failure("transient");
                Err(InvocationError::Transient(reason))
            }
            Ok(Claim::PayloadMismatch { stored_hash }) => {
                let reason = format!(
                    "`{}` was handled before for a different payload (stored hash {stored_hash}, this one {}): \
                     the producer reused an event id; this event was not handled — give it a new event_id and publish it again",
                    guard.key, guard.payload_hash
                );
                let context = FailureContext {
                    event_id: failure.event_id.clone(),
                    detail_type: failure.detail_type.clone(),
                    correlation_id: failure.correlation_id.clone(),
                };
                self.permanent(payload, context, reason).await.map(Some)
            }
        }
    }

    /// Step 2's failure path: a transient failure gives the claim back and fails the invocation
    /// (Lambda retries); a permanent one gives it back too — so the event redriven from the DLQ
    /// after a fix runs rather than being skipped as a duplicate — and is recorded.
    async fn handler_failed(
        &self,
        guard: Option<&Guard>,
        payload: &Value,
        failure: FailureContext,
        error: HandlerError,
    ) -> Result<InvocationOutcome, InvocationError> {
        if let Some(guard) = guard {
            self.give_back(guard).await;
        }
        match error {
            HandlerError::Transient(reason) => {
                tracing::warn!(error_class = "transient", %reason, "handler failed; Lambda will retry");
                self.adapters.metrics.failure("transient");
                Err(InvocationError::Transient(reason))
            }
            HandlerError::Permanent(reason) => self.permanent(payload, failure, reason).await,
        }
    }

    /// Step 3: records what the handler emitted, before publishing: if this invocation dies
    /// now, the next delivery publishes the stored events instead of running the handler (and
    /// its orders) again. A record that cannot be written fails the invocation without
    /// publishing: Lambda's retry finds the claim lapsed or released, runs the handler again, and
    /// the handler's derived ids make its second run the same as its first.
    async fn record(
        &self,
        guard: Option<&Guard>,
        emitted: &[Event],
        follow_up: Option<FollowUp>,
    ) -> Result<StoredResult, InvocationError> {
        let nothing_to_lose = emitted.is_empty() && follow_up.is_none();
        let stored = StoredResult {
            events: emitted.iter().map(Event::to_value).collect(),
            published: false,
            follow_up,
        };
        // A handler that emitted nothing (the monitor) has nothing to lose between the two
        // writes: the one write after the no-op publish is enough.
        let Some(guard) = guard.filter(|_| !nothing_to_lose) else {
            return Ok(stored);
        };
        match self
            .adapters
            .store
            .complete(&guard.key, &guard.payload_hash, &stored, self.now())
            .await
        {
            Ok(()) => Ok(stored),
            Err(error) => {
                let reason = format!(
                    "the result of `{}` could not be recorded, so nothing was published: {}",
                    guard.key,
                    error_chain(&error)
                );
                tracing::error!(error_class = "transient", %reason, "failing closed");
                self.give_back(guard).await;
                self.adapters.metrics.failure("transient");
                Err(InvocationError::Transient(reason))
            }
        }
    }

    /// After a recorded permanent failure: publishes what the handler says about it (its
    /// workflow's WorkflowFailed). Best effort: the dead letter is the durable record, and the
    /// sweep fails the workflow from it if this publish is lost.
    pub(crate) async fn announce(&self, mut events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        if let Err(error) = self.sign(&mut events).await {
            let error = error_chain(&error);
            tracing::warn!(%error, "the failure's announcement could not be signed; the sweep will fail the workflow from the dead letter");
            return;
        }
        let report = self.adapters.bus.publish(events).await;
        for lost in report.undelivered.iter().filter(|u| u.kept_in.is_none()) {
            tracing::warn!(event_id = %lost.event_id, reason = %lost.reason, "the failure's announcement was not published; the sweep will fail the workflow from the dead letter");
        }
    }

    /// Step 4: publishes; an event neither delivered nor kept in the outbox fails the invocation.
    async fn publish(&self, emitted: &[Event]) -> Result<PublishReport, InvocationError> {
        let report = self.adapters.bus.publish(emitted.to_vec()).await;
        let lost: Vec<String> = report
            .undelivered
            .iter()
            .filter(|u| u.kept_in.is_none())
            .map(|u| format!("{} {}: {}", u.event_type, u.event_id, u.reason))
            .collect();
        if !lost.is_empty() {
            self.adapters.metrics.failure("transient");
            return Err(InvocationError::Transient(format!(
                "{} event(s) neither delivered nor kept in the outbox: {}",
                lost.len(),
                lost.join("; ")
            )));
        }
        Ok(report)
    }

    /// Step 5: marks the record published, so a later duplicate publishes nothing.
    async fn mark_published(&self, guard: Option<&Guard>, stored: StoredResult) {
        let Some(guard) = guard else { return };
        let published = StoredResult {
            published: true,
            ..stored
        };
        if let Err(error) = self
            .adapters
            .store
            .complete(&guard.key, &guard.payload_hash, &published, self.now())
            .await
        {
            let error = error_chain(&error);
            tracing::warn!(%error, "published, but could not mark the record published");
        }
    }

    /// A duplicate delivery: publish the stored events (and send the stored follow-up) if the
    /// first delivery stopped before it.
    async fn duplicate(
        &self,
        guard: &Guard,
        stored: StoredResult,
    ) -> Result<InvocationOutcome, InvocationError> {
        let key = guard.key.as_str();
        self.adapters.metrics.duplicate();
        if stored.published {
            tracing::info!(key, "duplicate delivery: already handled, skipped");
            return Ok(InvocationOutcome::Duplicate { republished: 0 });
        }
        let mut events = Vec::with_capacity(stored.events.len());
        for value in &stored.events {
            match serde_json::from_value::<Event>(value.clone()) {
                Ok(event) => events.push(event),
                // Never marked published: the record stays as it is, and the invocation fails
                // until a version of this function that reads it publishes it.
                Err(error) => {
                    let reason = format!(
                        "`{key}` was handled, but a stored event no longer decodes ({error}); nothing was published \
                         and the record is kept: deploy a version that reads it (or roll back), then redrive"
                    );
                    tracing::error!(error_class = "transient", %reason, "stored result unreadable");
                    self.adapters.metrics.failure("transient");
                    return Err(InvocationError::Transient(reason));
                }
            }
        }
        tracing::warn!(
            key,
            events = events.len(),
            "handled earlier but not published: publishing the stored events"
        );
        let report = self.adapters.bus.publish(events.clone()).await;
        if report.undelivered.iter().any(|u| u.kept_in.is_none()) {
            return Err(InvocationError::Transient(format!(
                "republishing the stored events of `{key}` failed; retry later"
            )));
        }
        if let Some(follow_up) = &stored.follow_up {
            self.schedule(guard, follow_up).await?;
        }
        self.mark_published(Some(guard), stored).await;
        Ok(InvocationOutcome::Duplicate {
            republished: events.len(),
        })
    }
}

/// What running the handler came to, short of an invocation error.
pub(crate) enum Ran {
    /// It emitted these events, and they were published; the follow-up it asked for, if any,
    /// was scheduled.
    Published {
        emitted: Vec<Event>,
        report: PublishReport,
        follow_up: Option<FollowUp>,
    },
    /// It refused the event for good (recorded as a permanent failure).
    Refused(InvocationOutcome),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lease_is_asked_for_again_briefly_at_first_then_once_a_minute() {
        // Most work under a lease ends within seconds: the first ten checks come after 30 s,
        // later ones after a minute, never at once (a busy loop on the store).
        assert_eq!(lease_wait(0), Duration::from_secs(30));
        assert_eq!(lease_wait(9), Duration::from_secs(30));
        assert_eq!(lease_wait(10), Duration::from_secs(60));
        assert_eq!(lease_wait(u32::MAX), Duration::from_secs(60));
    }
}
