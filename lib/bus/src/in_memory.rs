//! In-process delivery: the default bus for `alchemiser run` and for tests, and the local half of
//! hybrid mode (local handlers plus a remote bus).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use alchemiser_events::{Event, EventType};
use async_trait::async_trait;

use crate::report::{PublishReport, Undelivered};
use crate::subscribers::Subscribers;
use crate::{Delivery, EventBus, EventHandler};

/// Events one publish call may cascade into before the bus stops it: a handler that keeps
/// emitting events it also consumes would otherwise loop forever.
pub const DEFAULT_CASCADE_LIMIT: usize = 10_000;

/// Delivers each published event to the handlers subscribed to its type, then publishes what
/// they emit, breadth first, until nothing is left. A failing handler does not stop the others;
/// its failure is in the report.
///
/// With a remote bus ([`InMemoryBus::forwarding_to`]) every wave of events is first published
/// there, and the remote bus's report says which were delivered; the local handlers run either
/// way (the Python system's `enable_local_handlers`).
pub struct InMemoryBus {
    subscribers: Subscribers,
    remote: Option<Arc<dyn EventBus>>,
    published: AtomicU64,
    cascade_limit: usize,
}

impl Default for InMemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryBus {
    /// An empty bus with the default cascade limit.
    pub fn new() -> Self {
        Self::with_cascade_limit(DEFAULT_CASCADE_LIMIT)
    }

    /// An empty bus that stops a publish after `limit` events.
    pub fn with_cascade_limit(limit: usize) -> Self {
        Self {
            subscribers: Subscribers::new(),
            remote: None,
            published: AtomicU64::new(0),
            cascade_limit: limit,
        }
    }

    /// Handlers' follow-ups wait on `clock` (a manual clock moves instead of sleeping).
    pub fn with_clock(mut self, clock: Arc<dyn alchemiser_clock::Clock>) -> Self {
        self.subscribers = self.subscribers.with_clock(clock);
        self
    }

    /// A bus that publishes every event to `remote` as well as delivering it locally.
    pub fn forwarding_to(remote: Arc<dyn EventBus>) -> Self {
        Self {
            remote: Some(remote),
            ..Self::new()
        }
    }

    /// Subscribes `handler` to events of `event_type`.
    pub fn subscribe(&self, event_type: EventType, handler: Arc<dyn EventHandler>) {
        self.subscribers.add(event_type, handler);
    }

    /// How many events this bus has delivered (or the remote bus accepted) since it was created.
    pub fn published_count(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl EventBus for InMemoryBus {
    fn refuses(&self, event: &Event) -> Option<String> {
        self.remote
            .as_ref()
            .and_then(|remote| remote.refuses(event))
    }

    async fn publish(&self, events: Vec<Event>) -> PublishReport {
        let mut report = PublishReport::default();
        let mut queue: VecDeque<Event> = events.into();
        let mut processed = 0usize;
        let delivery = Delivery::in_process();
        while !queue.is_empty() {
            let room = self.cascade_limit.saturating_sub(processed);
            if room == 0 {
                let reason = format!(
                    "publish cascaded past {} events; a handler is probably re-emitting what it consumes",
                    self.cascade_limit
                );
                tracing::error!(%reason, "bus stopped a cascade");
                report
                    .undelivered
                    .extend(queue.drain(..).map(|event| Undelivered {
                        event_id: event.event_id().to_owned(),
                        event_type: event.event_type(),
                        code: Some("CascadeLimit".into()),
                        reason: reason.clone(),
                        kept_in: None,
                    }));
                break;
            }
            let wave: Vec<Event> = queue.drain(..room.min(queue.len())).collect();
            processed += wave.len();
            let delivered = match &self.remote {
                Some(remote) => {
                    let sent = remote.publish(wave.clone()).await;
                    let count = sent.delivered.len();
                    report.merge(sent);
                    count
                }
                None => {
                    report
                        .delivered
                        .extend(wave.iter().map(|e| e.event_id().to_owned()));
                    wave.len()
                }
            };
            self.published
                .fetch_add(delivered as u64, Ordering::Relaxed);
            for event in &wave {
                let emitted = self
                    .subscribers
                    .deliver(event, &delivery, &mut report)
                    .await;
                queue.extend(emitted);
            }
        }
        report
    }
}
