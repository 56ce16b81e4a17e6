//! The workflow ledger: every workflow visible from start to end.
//!
//! A workflow is a chain of events with no owner; the ledger gives it one record per
//! correlation id — every event seen (type, ids, producer, consumer, time, outcome), its dead
//! letters, its timeout — and a state that is a pure function of those entries, so duplicate
//! and out-of-order deliveries change nothing (an execution history, as Step Functions and
//! Temporal give theirs, for a choreography).
//!
//! - [`model`]: entries, states, [`summarize`];
//! - [`store`]: the port, in memory, in a local SQLite file (feature `sqlite`) and on
//!   DynamoDB; the paged questions readers ask it ([`store::query`]);
//! - [`Monitor`]: the event handler that records every event;
//! - [`Sweep`]: the scheduled job that ends stalled workflows and those with dead letters,
//!   publishing WorkflowFailed;
//! - [`render`]: the causation tree, the Mermaid diagram, the list line;
//! - [`trades`]: the orders a trade report holds, one row each;
//! - [`shadow`]: the bus of a consumer in shadow mode, and the comparison of its results with
//!   the live owner's.

pub mod model;
mod monitor;
pub mod render;
pub mod shadow;
pub mod store;
mod sweep;
pub mod trades;

pub use model::{in_causal_order, summarize, Entry, EventEntry, Summary, WorkflowState};
pub use monitor::{Monitor, DEFAULT_WORKFLOW_DEADLINE};
pub use shadow::{compare, Comparison, DiffSummary, ShadowRecorder, Verdict};
pub use store::{
    DynamoDbLedger, LedgerError, LedgerStore, MemoryLedger, DEFAULT_RETENTION_DAYS,
    LONGEST_WORKFLOW,
};
#[cfg(feature = "sqlite")]
pub use store::{SqliteLedger, DEFAULT_LOCAL_LEDGER};
pub use sweep::{Sweep, DEFAULT_LOOKBACK, SWEEP_MODULE};
