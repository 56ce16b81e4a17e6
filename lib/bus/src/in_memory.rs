//! In-process delivery: the default bus for `alchemiser run` and for tests.

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
pub struct InMemoryBus {
    subscribers: Subscribers,
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
            published: AtomicU64::new(0),
            cascade_limit: limit,
        }
    }
}

#[async_trait]
impl EventBus for InMemoryBus {
    async fn publish(&self, events: Vec<Event>) -> PublishReport {
        let mut report = PublishReport::default();
        let mut queue: VecDeque<Event> = events.into();
        let mut processed = 0usize;
        let delivery = Delivery::live();
        while let Some(event) = queue.pop_front() {
            if processed >= self.cascade_limit {
                let reason = format!(
                    "publish cascaded past {} events; a handler is probably re-emitting what it consumes",
                    self.cascade_limit
                );
                tracing::error!(event_id = event.event_id(), %reason, "in-memory bus stopped a cascade");
                for event in std::iter::once(event).chain(queue.drain(..)) {
                    report.undelivered.push(Undelivered {
                        event_id: event.event_id().to_owned(),
                        event_type: event.event_type(),
                        code: Some("CascadeLimit".into()),
                        reason: reason.clone(),
                        parked_at: None,
                    });
                }
                break;
            }
            processed += 1;
            self.published.fetch_add(1, Ordering::Relaxed);
            let emitted = self
                .subscribers
                .deliver(&event, &delivery, &mut report)
                .await;
            queue.extend(emitted);
            report.delivered.push(event.event_id().to_owned());
        }
        report
    }

    fn subscribe(&self, event_type: EventType, handler: Arc<dyn EventHandler>) {
        self.subscribers.add(event_type, handler);
    }

    fn published_count(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
}
