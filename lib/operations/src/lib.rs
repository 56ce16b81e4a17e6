//! What the people running the Alchemiser need on a bad day: archive replays, the
//! dead-letter queue, and the stage's trading halt switch.
//!
//! - [`replay`]: check a replay window ([`ReplayWindow`]), start a replay of a stage's archive to
//!   its bus (rule ARNs as filters), and follow it with DescribeReplay until it ends.
//! - [`sweep`]: run the monitor's sweep now, by invoking the stage's monitor function as its
//!   schedule does.
//! - [`dlq`]: read the dead-letter queue without consuming it, understand the three kinds of
//!   record that land there ([`DeadLetter::parse`]), and redrive chosen ones to the stage's bus
//!   through the [`alchemiser_eventbridge::EventBridgePublisher`], deleting a message only once
//!   its event was delivered.
//! - [`halt`]: halt and resume a stage's trading (its SSM parameter, signed with the caller's
//!   identity) and read the switch's history, the audit of who halted when and why.
//!
//! Why a crate of its own rather than modules of `alchemiser-eventbridge`: that crate is linked
//! into every Lambda and holds only what publishing needs. These operations are run by people
//! from the CLI and need another SDK (SSM, for the stage's parameters); keeping them here keeps
//! the functions' dependency graph and zips unchanged, and keeps the CLI modules thin
//! (arguments and printing only). The dead-letter format they read is the contract's
//! ([`alchemiser_events::FailureRecord`]).
//!
//! Every AWS client comes from [`alchemiser_aws::load_sdk_config`] (the standard chain, so
//! `AWS_ENDPOINT_URL` points them at LocalStack or moto; rustls + ring).

mod authenticity;
pub mod dlq;
mod error;
pub mod halt;
mod identity;
mod outbox;
pub mod replay;
mod stage;
pub mod sweep;

pub use authenticity::{stage_authenticity, stage_signer};
pub use dlq::{
    dead_letter_from_message, format_age, redrive_publisher_config, DeadLetter, DeadLetterKind,
    DeadLetterQueue, HeldLetter, NotRedrivable, Peeked, RedriveFailure, RedriveReport,
    RedriveSelection, Redriven,
};
pub use error::OperationsError;
pub use halt::{HaltSwitch, HaltVersion};
pub use identity::caller_identity;
pub use outbox::{StageDrainAdmission, OUTBOX_DRAIN};
pub use replay::{
    check_replay_name, parse_time, ReplayRequest, ReplayStatus, ReplayWindow, Replayer,
    StartedReplay, ARCHIVE_DELAY, DRY_RUN_REMINDER,
};
pub use stage::Stage;
