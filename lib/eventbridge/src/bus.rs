//! `EventBridgeBus`, the `EventBus` adapter over [`EventBridgePublisher`], and the factory that
//! picks a bus from the environment.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use alchemiser_bus::{
    Delivery, EventBus, EventHandler, InMemoryBus, PublishReport, Subscribers, Undelivered,
};
use alchemiser_events::{Event, EventType};
use async_trait::async_trait;

use crate::config::{parse_flag, ConfigError, PublisherConfig};
use crate::publisher::EventBridgePublisher;

/// Events one publish may cascade into through local handlers (hybrid mode); the in-memory
/// bus's default limit.
pub const LOCAL_CASCADE_LIMIT: usize = 10_000;

/// Publishes to Amazon EventBridge. In hybrid mode (`EVENTBRIDGE_LOCAL_HANDLERS=true`, the
/// Python `enable_local_handlers`) it also runs the handlers subscribed in this process, and the
/// events they emit are published the same way (to EventBridge and to local handlers).
pub struct EventBridgeBus {
    publisher: Arc<EventBridgePublisher>,
    local_handlers: bool,
    subscribers: Subscribers,
    published: AtomicU64,
}

impl EventBridgeBus {
    /// A bus over `publisher`; `local_handlers` turns hybrid mode on.
    pub fn new(publisher: Arc<EventBridgePublisher>, local_handlers: bool) -> Self {
        Self {
            publisher,
            local_handlers,
            subscribers: Subscribers::new(),
            published: AtomicU64::new(0),
        }
    }

    /// The publisher (for its stats and `drain`).
    pub fn publisher(&self) -> &Arc<EventBridgePublisher> {
        &self.publisher
    }

    /// Whether subscribed handlers run in this process.
    pub fn local_handlers(&self) -> bool {
        self.local_handlers
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: Vec<Event>) -> PublishReport {
        let mut report = PublishReport::default();
        let mut queue: VecDeque<Event> = events.into();
        let mut processed = 0usize;
        while !queue.is_empty() {
            let room = LOCAL_CASCADE_LIMIT.saturating_sub(processed);
            if room == 0 {
                let reason = format!(
                    "publish cascaded past {LOCAL_CASCADE_LIMIT} events through local handlers; \
                     a handler is probably re-emitting what it consumes"
                );
                tracing::error!(%reason, "EventBridge bus stopped a cascade");
                report
                    .undelivered
                    .extend(queue.drain(..).map(|event| Undelivered {
                        event_id: event.event_id().to_owned(),
                        event_type: event.event_type(),
                        code: Some("CascadeLimit".into()),
                        reason: reason.clone(),
                        parked_at: None,
                    }));
                break;
            }
            let batch: Vec<Event> = queue.drain(..room.min(queue.len())).collect();
            processed += batch.len();
            let local = if self.local_handlers {
                batch.clone()
            } else {
                Vec::new()
            };
            let sent = self.publisher.publish(batch).await;
            self.published
                .fetch_add(sent.delivered.len() as u64, Ordering::Relaxed);
            report.merge(sent);
            for event in local {
                let emitted = self
                    .subscribers
                    .deliver(&event, &Delivery::live(), &mut report)
                    .await;
                queue.extend(emitted);
            }
        }
        report
    }

    fn subscribe(&self, event_type: EventType, handler: Arc<dyn EventHandler>) {
        if !self.local_handlers {
            tracing::warn!(
                handler = handler.name(),
                %event_type,
                "handler subscribed to an EventBridge bus without local handlers: it will not run here \
                 (set EVENTBRIDGE_LOCAL_HANDLERS=true for hybrid mode)"
            );
        }
        self.subscribers.add(event_type, handler);
    }

    /// Events EventBridge accepted through this bus.
    fn published_count(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
}

/// Picks the bus from the process environment; see [`bus_from_lookup`].
pub fn bus_from_env() -> Result<Arc<dyn EventBus>, ConfigError> {
    bus_from_lookup(|name| std::env::var(name).ok())
}

/// Picks the bus: `USE_EVENTBRIDGE` (`true/false/1/0`, case-insensitive, default false) chooses
/// [`EventBridgeBus`] (configured by [`PublisherConfig::from_lookup`], hybrid when
/// `EVENTBRIDGE_LOCAL_HANDLERS` is true) or [`InMemoryBus`]. Any other value is an error naming
/// the variable. No AWS call is made here: the client is created on first publish.
pub fn bus_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Arc<dyn EventBus>, ConfigError> {
    let use_eventbridge = match lookup("USE_EVENTBRIDGE") {
        Some(value) => parse_flag("USE_EVENTBRIDGE", &value, false)?,
        None => false,
    };
    if !use_eventbridge {
        return Ok(Arc::new(InMemoryBus::new()));
    }
    let local = match lookup("EVENTBRIDGE_LOCAL_HANDLERS") {
        Some(value) => parse_flag("EVENTBRIDGE_LOCAL_HANDLERS", &value, false)?,
        None => false,
    };
    let config = PublisherConfig::from_lookup(&lookup)?;
    let publisher = Arc::new(EventBridgePublisher::new(config));
    Ok(Arc::new(EventBridgeBus::new(publisher, local)))
}
