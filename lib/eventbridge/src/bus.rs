//! The bus a process publishes through, picked from its environment.

use std::sync::Arc;

use alchemiser_bus::{EventBus, InMemoryBus};

use crate::config::{parse_flag, ConfigError, PublisherConfig};
use crate::publisher::EventBridgePublisher;

/// The bus the environment asks for.
pub enum ConfiguredBus {
    /// `USE_EVENTBRIDGE=false`: delivery to handlers in this process only.
    InMemory(Arc<InMemoryBus>),
    /// `USE_EVENTBRIDGE=true`: Amazon EventBridge.
    EventBridge(Arc<EventBridgePublisher>),
    /// `USE_EVENTBRIDGE=true` and `EVENTBRIDGE_LOCAL_HANDLERS=true` (the Python system's
    /// `enable_local_handlers`): EventBridge, and the handlers subscribed here run too.
    Hybrid {
        /// Where local handlers subscribe; it forwards every event to the publisher.
        local: Arc<InMemoryBus>,
        /// The EventBridge publisher.
        publisher: Arc<EventBridgePublisher>,
    },
}

impl ConfiguredBus {
    /// What to publish through.
    pub fn bus(&self) -> Arc<dyn EventBus> {
        match self {
            ConfiguredBus::InMemory(bus) => bus.clone(),
            ConfiguredBus::EventBridge(publisher) => publisher.clone(),
            ConfiguredBus::Hybrid { local, .. } => local.clone(),
        }
    }

    /// Where local handlers subscribe, when they run in this process.
    pub fn local(&self) -> Option<&InMemoryBus> {
        match self {
            ConfiguredBus::InMemory(bus) | ConfiguredBus::Hybrid { local: bus, .. } => Some(bus),
            ConfiguredBus::EventBridge(_) => None,
        }
    }
}

/// Picks the bus from the process environment; see [`bus_from_lookup`].
pub fn bus_from_env() -> Result<Arc<dyn EventBus>, ConfigError> {
    configured_bus(|name| std::env::var(name).ok()).map(|configured| configured.bus())
}

/// Picks the bus through `lookup`: `USE_EVENTBRIDGE` (`true/false/1/0`, case-insensitive,
/// default false) chooses EventBridge (configured by [`PublisherConfig::from_lookup`], hybrid
/// when `EVENTBRIDGE_LOCAL_HANDLERS` is true) or the in-memory bus. Any other value is an error
/// naming the variable. No AWS call is made here: the client is created on first publish.
pub fn bus_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Arc<dyn EventBus>, ConfigError> {
    configured_bus(lookup).map(|configured| configured.bus())
}

/// As [`bus_from_lookup`], keeping what was chosen (so local handlers can subscribe).
pub fn configured_bus(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<ConfiguredBus, ConfigError> {
    let use_eventbridge = match lookup("USE_EVENTBRIDGE") {
        Some(value) => parse_flag("USE_EVENTBRIDGE", &value, false)?,
        None => false,
    };
    if !use_eventbridge {
        return Ok(ConfiguredBus::InMemory(Arc::new(InMemoryBus::new())));
    }
    let local = match lookup("EVENTBRIDGE_LOCAL_HANDLERS") {
        Some(value) => parse_flag("EVENTBRIDGE_LOCAL_HANDLERS", &value, false)?,
        None => false,
    };
    let publisher = Arc::new(EventBridgePublisher::new(PublisherConfig::from_lookup(
        &lookup,
    )?));
    Ok(if local {
        ConfiguredBus::Hybrid {
            local: Arc::new(InMemoryBus::forwarding_to(publisher.clone())),
            publisher,
        }
    } else {
        ConfiguredBus::EventBridge(publisher)
    })
}
