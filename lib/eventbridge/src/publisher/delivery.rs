//! One publish call's delivery: batch the entries, send each round's requests (a bounded number
//! in flight), settle every entry from its answer, back off and resend what a resend can fix,
//! until each entry is delivered or given up — within the deadline.

use aws_sdk_eventbridge::types::PutEventsResultEntry;
use futures_util::stream::{self, StreamExt};
use tokio::time::Instant;

use super::{add, Clients, EventBridgePublisher, CODE_DEADLINE, CODE_ENTRY_TOO_LARGE};
use crate::config::PublisherConfig;
use crate::entry::{plan_batches, Entry};
use crate::retry::{backoff_ceiling, full_jitter, is_retryable_entry_code, Failure};

/// What became of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryOutcome {
    /// EventBridge returned an event id for it.
    Delivered,
    /// Given up, with the last failure and how many times it was sent.
    Failed { failure: Failure, sends: u32 },
}

/// One entry on its way.
#[derive(Debug, Default)]
struct EntryState {
    size: usize,
    sends: u32,
    /// The last retryable failure, reported if the entry is given up later.
    last_failure: Option<Failure>,
    outcome: Option<EntryOutcome>,
}

/// What one PutEvents request came back with.
enum Answer {
    /// Not sent: the deadline had passed.
    NotSent,
    /// Sent, but the deadline passed before the answer.
    CutOff,
    /// The request failed as a whole.
    Failed(Failure),
    /// EventBridge answered, one result per entry (index-aligned).
    Answered(Vec<PutEventsResultEntry>),
}

/// The state of one publish call's delivery.
struct Delivery<'a> {
    publisher: &'a EventBridgePublisher,
    entries: &'a [Entry],
    states: Vec<EntryState>,
    deadline: Instant,
}

impl EventBridgePublisher {
    /// Sends entries with batching and retries; says what became of each, index-aligned.
    pub(crate) async fn deliver(&self, entries: &[Entry]) -> Vec<EntryOutcome> {
        let config = &self.config;
        let mut delivery = Delivery {
            publisher: self,
            entries,
            states: entries
                .iter()
                .map(|entry| EntryState {
                    size: entry.size(),
                    ..EntryState::default()
                })
                .collect(),
            deadline: Instant::now() + config.deadline,
        };
        let pending = delivery.set_aside_oversized();
        if !pending.is_empty() {
            let clients = self.clients().await;
            let checked = match config.verify_bus {
                true => self.ensure_bus(clients, delivery.deadline).await,
                false => Ok(()),
            };
            match checked {
                Ok(()) => delivery.run(clients, pending).await,
                Err(failure) => delivery.give_up_all(&pending, &failure),
            }
        }
        let outcomes = delivery.finish();
        let delivered = outcomes
            .iter()
            .filter(|o| matches!(o, EntryOutcome::Delivered))
            .count();
        add(&self.counters.delivered, delivered);
        outcomes
    }
}

impl Delivery<'_> {
    fn config(&self) -> &PublisherConfig {
        &self.publisher.config
    }

    /// Entries over the request limit can never be sent: they fail now. Returns the others.
    fn set_aside_oversized(&mut self) -> Vec<usize> {
        let limit = self.config().max_request_bytes;
        let mut pending = Vec::new();
        for (index, entry) in self.entries.iter().enumerate() {
            let size = self.states[index].size;
            if size <= limit {
                pending.push(index);
                continue;
            }
            self.states[index].outcome = Some(EntryOutcome::Failed {
                failure: Failure {
                    code: CODE_ENTRY_TOO_LARGE.into(),
                    reason: format!(
                        "event {} ({}) is {size} bytes by the PutEvents entry-size formula, over the {limit}-byte request limit \
                         (EVENTBRIDGE_MAX_REQUEST_BYTES); it was not sent: shrink the event or raise the limit if the bus allows",
                        entry.event_id, entry.event_type
                    ),
                    retryable: false,
                },
                sends: 0,
            });
        }
        pending
    }

    fn give_up_all(&mut self, indices: &[usize], failure: &Failure) {
        for &index in indices {
            let sends = self.states[index].sends;
            self.states[index].outcome = Some(EntryOutcome::Failed {
                failure: failure.clone(),
                sends,
            });
        }
    }

    /// Rounds of requests until nothing is left to resend, or attempts or time run out.
    async fn run(&mut self, clients: &Clients, mut pending: Vec<usize>) {
        let config = self.config().clone();
        for round in 1u32.. {
            let sizes: Vec<usize> = pending.iter().map(|&i| self.states[i].size).collect();
            let (batches, _) = plan_batches(&sizes, config.batch_size, config.max_request_bytes);
            let batches: Vec<Vec<usize>> = batches
                .into_iter()
                .map(|batch| batch.into_iter().map(|b| pending[b]).collect())
                .collect();
            let answers = self.send_round(clients, round, batches).await;
            let mut retry = Vec::new();
            for (indices, answer) in answers {
                retry.extend(self.settle(&indices, answer));
            }
            if retry.is_empty() {
                return;
            }
            let sleep = full_jitter(backoff_ceiling(
                round,
                config.base_backoff,
                config.max_backoff,
            ));
            let give_up = if round >= config.max_attempts {
                Some(format!(
                    "gave up after {round} attempts (EVENTBRIDGE_MAX_ATTEMPTS)"
                ))
            } else if Instant::now() + sleep >= self.deadline {
                Some(format!(
                    "gave up after {round} attempts: the publish deadline of {:?} (EVENTBRIDGE_DEADLINE_MS) would pass before the next",
                    config.deadline
                ))
            } else {
                None
            };
            if let Some(why) = give_up {
                for index in retry {
                    let state = &mut self.states[index];
                    let last = state
                        .last_failure
                        .take()
                        .unwrap_or_else(|| deadline_failure(&config));
                    state.outcome = Some(EntryOutcome::Failed {
                        failure: Failure {
                            reason: format!("{}; {why}", last.reason),
                            ..last
                        },
                        sends: state.sends,
                    });
                }
                return;
            }
            tokio::time::sleep(sleep).await;
            pending = retry;
        }
    }

    /// Sends one round's requests, at most `max_in_flight` at a time; returns each batch's answer.
    async fn send_round(
        &self,
        clients: &Clients,
        round: u32,
        batches: Vec<Vec<usize>>,
    ) -> Vec<(Vec<usize>, Answer)> {
        let in_flight = self.config().max_in_flight.max(1);
        stream::iter(batches)
            .map(|indices| async move {
                let answer = self.send(clients, round, &indices).await;
                (indices, answer)
            })
            .buffer_unordered(in_flight)
            .collect()
            .await
    }

    /// One PutEvents request for `indices`.
    async fn send(&self, clients: &Clients, round: u32, indices: &[usize]) -> Answer {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Answer::NotSent;
        }
        let counters = &self.publisher.counters;
        add(&counters.requests, 1);
        add(&counters.entries_sent, indices.len());
        if round > 1 {
            add(&counters.entry_retries, indices.len());
        }
        let bus_name = &self.config().bus_name;
        let request = clients
            .events
            .put_events()
            .set_entries(Some(
                indices
                    .iter()
                    .map(|&i| self.entries[i].to_sdk(bus_name))
                    .collect(),
            ))
            .send();
        match tokio::time::timeout(remaining, request).await {
            Err(_) => {
                add(&counters.failed_requests, 1);
                Answer::CutOff
            }
            Ok(Err(error)) => {
                add(&counters.failed_requests, 1);
                let failure = Failure::from_sdk("PutEvents", &error);
                tracing::debug!(code = %failure.code, reason = %failure.reason, "PutEvents request failed");
                Answer::Failed(failure)
            }
            Ok(Ok(output)) => Answer::Answered(output.entries.unwrap_or_default()),
        }
    }

    /// Settles each entry of one request from its answer; returns those to resend.
    fn settle(&mut self, indices: &[usize], answer: Answer) -> Vec<usize> {
        let mut retry = Vec::new();
        if !matches!(answer, Answer::NotSent) {
            for &index in indices {
                self.states[index].sends += 1;
            }
        }
        match answer {
            Answer::NotSent => {
                for &index in indices {
                    let config = self.config().clone();
                    self.states[index]
                        .last_failure
                        .get_or_insert_with(|| deadline_failure(&config));
                    retry.push(index);
                }
            }
            Answer::CutOff => {
                // Keep each entry's earlier (more telling) failure when it has one; they are
                // all given up after this round.
                let cut = format!(
                    "PutEvents was still waiting when the publish deadline ({:?}) passed",
                    self.config().deadline
                );
                for &index in indices {
                    let state = &mut self.states[index];
                    state.last_failure = Some(match state.last_failure.take() {
                        Some(earlier) => Failure {
                            reason: format!("{}; the resend was cut off: {cut}", earlier.reason),
                            ..earlier
                        },
                        None => Failure {
                            code: "Timeout".into(),
                            reason: cut.clone(),
                            retryable: true,
                        },
                    });
                    retry.push(index);
                }
            }
            Answer::Failed(failure) => {
                for &index in indices {
                    let state = &mut self.states[index];
                    if failure.retryable {
                        state.last_failure = Some(failure.clone());
                        retry.push(index);
                    } else {
                        state.outcome = Some(EntryOutcome::Failed {
                            failure: failure.clone(),
                            sends: state.sends,
                        });
                    }
                }
            }
            Answer::Answered(results) => {
                for (position, &index) in indices.iter().enumerate() {
                    let event_id = &self.entries[index].event_id;
                    let state = &mut self.states[index];
                    match results.get(position) {
                        Some(result) if result.error_code().is_some() => {
                            let code = result.error_code().unwrap_or_default().to_owned();
                            let failure = Failure {
                                reason: format!(
                                    "PutEvents rejected event {event_id}: {code}: {}",
                                    result.error_message().unwrap_or("no message")
                                ),
                                retryable: is_retryable_entry_code(&code),
                                code,
                            };
                            if failure.retryable {
                                state.last_failure = Some(failure);
                                retry.push(index);
                            } else {
                                state.outcome = Some(EntryOutcome::Failed {
                                    failure,
                                    sends: state.sends,
                                });
                            }
                        }
                        Some(result) if result.event_id().is_some() => {
                            state.outcome = Some(EntryOutcome::Delivered);
                        }
                        // No id and no error code, or a short response: the outcome is unknown,
                        // so send it again (at least once beats lost).
                        _ => {
                            state.last_failure = Some(Failure {
                                code: "UnknownEntryResult".into(),
                                reason: format!(
                                    "PutEvents answered {} results for {} entries, without an id for event {event_id}",
                                    results.len(),
                                    indices.len(),
                                ),
                                retryable: true,
                            });
                            retry.push(index);
                        }
                    }
                }
            }
        }
        retry
    }

    fn finish(self) -> Vec<EntryOutcome> {
        self.states
            .into_iter()
            .map(|state| {
                state.outcome.unwrap_or_else(|| match lost_track() {
                    EntryOutcome::Failed { failure, .. } => EntryOutcome::Failed {
                        failure,
                        sends: state.sends,
                    },
                    delivered => delivered,
                })
            })
            .collect()
    }
}

pub(super) fn deadline_failure(config: &PublisherConfig) -> Failure {
    Failure {
        code: CODE_DEADLINE.into(),
        reason: format!(
            "not sent: the publish deadline of {:?} (EVENTBRIDGE_DEADLINE_MS) had passed",
            config.deadline
        ),
        retryable: true,
    }
}

/// The outcome of an entry the publisher lost track of: a bug, but the event is kept in the outbox, not lost.
pub(super) fn lost_track() -> EntryOutcome {
    EntryOutcome::Failed {
        failure: Failure {
            code: "Internal".into(),
            reason: "the publisher lost track of this entry (a bug); it was kept in the outbox"
                .into(),
            retryable: false,
        },
        sends: 0,
    }
}
