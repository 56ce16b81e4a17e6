//! The EventBridge adapter of the [`alchemiser_bus::EventBus`] port.
//!
//! - [`EventBridgePublisher`] maps events to PutEvents entries (`Source` from the routing table,
//!   `DetailType` = event type, `Detail` = the event's JSON, `Time` = its timestamp, `Resources` =
//!   `correlation:<id>`, `causation:<id>`), batches them (≤ 10 entries, ≤ the request size limit
//!   by the AWS entry-size formula), resends what a resend can fix, and keeps every event it could
//!   not deliver in an outbox (a JSON-lines file, or an SQS queue) with the reason.
//!   The publisher is itself an `EventBus`; hybrid mode (local handlers too) is an
//!   [`alchemiser_bus::InMemoryBus`] forwarding to it.
//! - [`bus_from_env`] picks the in-memory, EventBridge or hybrid bus from `USE_EVENTBRIDGE`.
//!
//! A separate crate from `alchemiser-bus` so that the AWS SDK stays out of the domain crates'
//! dependency graph.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use alchemiser_bus::EventBus;
//! use alchemiser_eventbridge::{EventBridgePublisher, PublisherConfig};
//!
//! // Lambda: set EVENTBRIDGE_OUTBOX_QUEUE_URL so undelivered events go to SQS.
//! let publisher: Arc<dyn EventBus> = Arc::new(EventBridgePublisher::new(PublisherConfig::from_env()?));
//! // or: let bus = alchemiser_eventbridge::bus_from_env()?;  // Arc<dyn EventBus>
//! # Ok(()) }
//! ```

// The README's examples are doc-tests: a stale one fails `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod bus;
mod config;
mod entry;
mod outbox;
mod publisher;
mod retry;

pub use bus::{bus_from_env, bus_from_lookup, configured_bus, ConfiguredBus};
pub use config::{
    parse_flag, ConfigError, OutboxConfig, PublisherConfig, DEFAULT_BUS_NAME,
    DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_OUTBOX_PATH, MAX_ENTRIES_PER_REQUEST,
    MAX_IN_FLIGHT_LIMIT,
};
pub use entry::{plan_batches, Entry, Outgoing, TIME_BYTES};
pub use outbox::{
    FileOutbox, FileOutboxLock, OutboxError, OutboxLine, OutboxRecord, SqsOutbox, SqsOutboxMessage,
    UndecodableRecord, LOCK_WAIT,
};
pub use publisher::{
    Admission, DrainAdmission, DrainProgress, DrainReport, EventBridgePublisher, PublisherStats,
    ResendEverything, CODE_DEADLINE, CODE_ENTRY_TOO_LARGE, CODE_UNKNOWN_PRODUCER,
};
pub use retry::{is_retryable_entry_code, Failure, RETRYABLE_ENTRY_CODES};
