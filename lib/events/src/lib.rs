//! The Alchemiser event contract.
//!
//! Everything that crosses the bus is defined here, once: the typed events and their wire format
//! (compatible with the Python system that runs today), the validation rules, the EventBridge
//! envelope, the routing table (event type → `Source` → consuming handler), the handler registry
//! (each handler's timeout, memory, needs and schedule: [`HANDLERS`]) and the JSON Schemas
//! generated from the Rust types, the dead-letter format ([`FailureRecord`]) and sample events of
//! every type ([`samples`]). This crate knows nothing of AWS SDKs or of trading logic.

mod canonical;
mod dead_letter;
mod decode;
mod error;
mod event;
mod primitives;
mod provenance;
mod registry;
mod routing;
pub mod samples;
mod schema;
mod signature;
pub mod text;
mod validate;

pub use canonical::canonical_json;
pub use dead_letter::{
    DeadLetter, DeadLetterKind, FailureRecord, NotRedrivable, PERMANENT_CLASS, REFUSED_CLASS,
};
pub use decode::{decode, decode_value, Envelope, EnvelopeMeta, ReceivedEvent};
pub use error::{ContractError, ParseError};
// Every public item of the wire model is the contract: a new payload is exported with it.
pub use event::*;
pub use primitives::{Symbol, SymbolMap, Timestamp};
pub use provenance::{Provenance, PROVENANCE_KEY};
pub use registry::{
    HandlerName, HandlerSpec, HandlerSpecDocument, Need, Schedule, DEFAULT_WORKFLOW_DEADLINE,
    HANDLERS, SWEEP_EVERY_MINUTES,
};
pub use routing::{
    Language, Producer, Route, RoutingDocument, UnknownProducer, DEFAULT_SOURCE_PREFIX,
    PYTHON_SOURCE_PREFIX,
};
pub use schema::{schema_for, schemas};
pub use signature::{
    signing_digest, signing_digest_before_replay_mark, Signature, SIGNATURE_ALGORITHM,
    SIGNATURE_KEY,
};

/// Money, prices, quantities and weights: exact decimals, never floats.
pub use rust_decimal::Decimal;
