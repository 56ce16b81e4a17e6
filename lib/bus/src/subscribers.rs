//! Handlers subscribed per event type, and delivery to them: the one mechanism behind every bus
//! that runs handlers in this process.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use alchemiser_events::{Event, EventType};

use crate::report::{HandlerFailure, PublishReport};
use crate::{Delivery, EventHandler};

/// The handlers subscribed to each event type.
#[derive(Default)]
pub struct Subscribers(RwLock<HashMap<EventType, Vec<Arc<dyn EventHandler>>>>);

impl Subscribers {
    /// No subscriptions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribes `handler` to `event_type`.
    pub fn add(&self, event_type: EventType, handler: Arc<dyn EventHandler>) {
        // A poisoned lock still holds consistent data: a push cannot be half done.
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        map.entry(event_type).or_default().push(handler);
    }

    /// Runs every handler subscribed to `event`'s type and returns what they emitted. A failing
    /// handler does not stop the others; its failure goes into `report`.
    pub async fn deliver(
        &self,
        event: &Event,
        delivery: &Delivery,
        report: &mut PublishReport,
    ) -> Vec<Event> {
        let handlers = {
            let map = self.0.read().unwrap_or_else(|e| e.into_inner());
            map.get(&event.event_type()).cloned().unwrap_or_default()
        };
        let mut emitted = Vec::new();
        for handler in handlers {
            match handler.handle(event, delivery).await {
                Ok(events) => emitted.extend(events),
                Err(error) => {
                    tracing::warn!(
                        handler = handler.name(),
                        event_id = event.event_id(),
                        event_type = %event.event_type(),
                        %error,
                        "handler failed"
                    );
                    report.handler_failures.push(HandlerFailure {
                        handler: handler.name().to_owned(),
                        event_id: event.event_id().to_owned(),
                        event_type: event.event_type(),
                        error,
                    });
                }
            }
        }
        emitted
    }
}
