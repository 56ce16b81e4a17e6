//! Errors of the operations; each says what to do next.

use chrono::{DateTime, Utc};
use thiserror::Error;

fn rfc(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Why an operation could not be done, phrased so that the reader knows the next step.
#[derive(Debug, Error)]
pub enum OperationsError {
    /// The stage name breaks the naming rule.
    #[error(
        "invalid stage `{0}`: use 1-20 lowercase letters, digits and inner hyphens (dev, prod, pr-42)"
    )]
    InvalidStage(String),
    /// A time that is not RFC 3339.
    #[error("`{value}` is not an RFC 3339 time ({reason}): write e.g. 2026-11-28T14:30:00Z or 2026-11-28T09:30:00-05:00")]
    InvalidTime {
        /// What was given.
        value: String,
        /// The parser's complaint.
        reason: String,
    },
    /// The window is empty or reversed.
    #[error(
        "the replay window is empty: --from {from} is not before --to {to}; swap or widen them"
    )]
    EmptyWindow {
        /// Window start (UTC).
        from: DateTime<Utc>,
        /// Window end (UTC).
        to: DateTime<Utc>,
    },
    /// The window ends too recently for the archive to hold all its events.
    #[error("the replay window ends at {}, later than 10 minutes ago ({}): events reach the archive late, so the replay may miss some; end it earlier or pass --force", rfc(to), rfc(latest))]
    WindowTooRecent {
        /// Window end (UTC).
        to: DateTime<Utc>,
        /// The latest end accepted without `--force`.
        latest: DateTime<Utc>,
    },
    /// A replay name EventBridge would refuse.
    #[error("invalid replay name `{0}`: use 1-64 letters, digits, `.`, `-` or `_`")]
    InvalidReplayName(String),
    /// An AWS call failed.
    #[error("{action} failed: {message}. {hint}")]
    Aws {
        /// The call and its target, e.g. `DescribeArchive alchemiser-event-archive-dev`.
        action: String,
        /// The SDK's error, with its context.
        message: String,
        /// What to check next.
        hint: String,
    },
    /// The dead-letter queue could not be read or changed.
    #[error(transparent)]
    Queue(#[from] alchemiser_deadletters::QueueError),
    /// Neither the SSM parameter nor the queue name led to the dead-letter queue.
    #[error("cannot find the dead-letter queue of stage {stage}: SSM parameter {parameter}: {ssm_error}; GetQueueUrl {queue_name}: {queue_error}. Deploy the stage (scripts/deploy {stage}) or pass --queue-url")]
    QueueNotFound {
        /// The stage.
        stage: String,
        /// The SSM parameter tried.
        parameter: String,
        /// Why it did not answer.
        ssm_error: String,
        /// The queue name tried.
        queue_name: String,
        /// Why GetQueueUrl failed.
        queue_error: String,
    },
    /// No message with that id is in the queue (or it is held by another reader).
    #[error("no message {0} in the dead-letter queue: run `alchemiser dlq list` for the ids (a message being redriven by someone else is hidden for a few minutes)")]
    MessageNotFound(String),
    /// The replay ended in a state other than COMPLETED.
    #[error("replay {name} ended {state}: {reason}. Check it with `aws events describe-replay --replay-name {name}`")]
    ReplayEnded {
        /// The replay.
        name: String,
        /// Its final state.
        state: String,
        /// EventBridge's reason, if any.
        reason: String,
    },
    /// The replay did not end within the wait.
    #[error("replay {name} still {state} after {waited_secs} s: it goes on in the background; follow it with `aws events describe-replay --replay-name {name}`")]
    ReplayTimeout {
        /// The replay.
        name: String,
        /// Its last state.
        state: String,
        /// How long we waited.
        waited_secs: u64,
    },
}

impl OperationsError {
    /// An AWS call failure with its SDK error and a hint.
    pub(crate) fn aws(
        action: impl Into<String>,
        error: impl std::error::Error,
        hint: impl Into<String>,
    ) -> Self {
        Self::Aws {
            action: action.into(),
            message: aws_sdk_sqs::error::DisplayErrorContext(&error).to_string(),
            hint: hint.into(),
        }
    }
}
