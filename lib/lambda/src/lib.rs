//! The glue every Alchemiser Lambda shares, and that `alchemiser invoke` runs too.
//!
//! One invocation: decode the EventBridge envelope (or bare detail) → refuse event types the
//! routing table does not send to this function → claim the event in the idempotency store →
//! run the handler → publish what it emits → record the result. Errors are classified:
//! transient ones are returned so Lambda's async retries run; permanent ones are recorded in the
//! failure queue with their reason and acknowledged, so they never loop through retries.

#![warn(missing_docs)]

mod aws;
mod dynamodb;
mod environment;
mod failure;
mod idempotency;
mod invoker;
pub mod logging;
pub mod metrics;
mod strategy;

pub use aws::load_sdk_config;
pub use dynamodb::DynamoDbStore;
pub use environment::{
    allow_replay_execution, broker_from_env, consumer_from_env, handler_service, run_consumer,
    run_strategy, strategy_from_env, EnvironmentError,
};
pub use failure::{FailureRecord, FailureSink, MemoryFailureSink, SqsFailureSink};
pub use idempotency::{
    Claim, IdempotencyConfig, IdempotencyStore, InMemoryStore, StoreError, StoredResult,
};
pub use invoker::{InvocationError, InvocationOutcome, Invoke, Invoker};
pub use strategy::{StrategyInvoker, StrategyOutcome};
