//! Handlers subscribed per event type, and delivery to them: the one mechanism behind every bus
//! that runs handlers in this process.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use alchemiser_clock::Clock;
use alchemiser_events::{Event, EventType};

use crate::report::{HandlerError, HandlerFailure, PublishReport};
use crate::{Delivery, EventHandler};

/// The most follow-ups one event gets in process before the bus reports it as not done: a
/// handler that keeps asking would otherwise never end.
pub const MAX_IN_PROCESS_CHECKS: u32 = 1_000;

/// The handlers subscribed to each event type, and the clock their follow-ups wait on.
pub struct Subscribers {
    handlers: RwLock<HashMap<EventType, Vec<Arc<dyn EventHandler>>>>,
    clock: Arc<dyn Clock>,
}

impl Default for Subscribers {
    fn default() -> Self {
        Self {
            handlers: RwLock::default(),
            clock: alchemiser_clock::system(),
        }
    }
}

impl Subscribers {
    /// No subscriptions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Follow-ups wait on `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Subscribes `handler` to `event_type`.
    pub fn add(&self, event_type: EventType, handler: Arc<dyn EventHandler>) {
        // A poisoned lock still holds consistent data: a push cannot be half done.
        let mut map = self.handlers.write().unwrap_or_else(|e| e.into_inner());
        map.entry(event_type).or_default().push(handler);
    }

    /// Runs every handler subscribed to `event`'s type and returns what they emitted. A failing
    /// handler does not stop the others; its failure goes into `report`. A handler that asks to
    /// see the event again gets it again after the wait it asked for (on the bus's clock), as its
    /// next follow-up.
    pub async fn deliver(
        &self,
        event: &Event,
        delivery: &Delivery,
        report: &mut PublishReport,
    ) -> Vec<Event> {
        let handlers = {
            let map = self.handlers.read().unwrap_or_else(|e| e.into_inner());
            map.get(&event.event_type()).cloned().unwrap_or_default()
        };
        let mut emitted = Vec::new();
        for handler in handlers {
            match self.until_done(handler.as_ref(), event, delivery).await {
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

    async fn until_done(
        &self,
        handler: &dyn EventHandler,
        event: &Event,
        delivery: &Delivery,
    ) -> Result<Vec<Event>, HandlerError> {
        let mut delivery = delivery.clone();
        let mut emitted = Vec::new();
        loop {
            let handled = handler.handle(event, &delivery).await?;
            emitted.extend(handled.events);
            let Some(again) = handled.check_again else {
                return Ok(emitted);
            };
            if delivery.check >= MAX_IN_PROCESS_CHECKS {
                return Err(HandlerError::Transient(format!(
                    "still not done after {MAX_IN_PROCESS_CHECKS} follow-ups: {}",
                    again.why
                )));
            }
            tracing::info!(handler = handler.name(), event_id = event.event_id(), after = ?again.after, why = %again.why, "handler asked to check again");
            self.clock.sleep(again.after).await;
            delivery = delivery.clone().follow_up(delivery.check + 1);
        }
    }
}
