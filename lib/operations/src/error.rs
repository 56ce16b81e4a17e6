//! Errors of the operations; each says what to do next.

use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
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
        /// What the service said, in one line (its error code and message).
        message: String,
        /// What to check next.
        hint: String,
        /// The SDK's whole account of the failure (printed with `-v`).
        details: String,
    },
    /// The stage's authenticity parameter cannot be read: nothing is republished unchecked.
    #[error("cannot read how stage {stage} checks who made an event ({parameter}: {reason}); nothing was republished. Deploy the stage with this version (`scripts/deploy {stage}`), or check that your role may ssm:GetParameter it (the operator role alchemiser-operator-{stage} may)")]
    NoAuthenticity {
        /// The stage.
        stage: String,
        /// The parameter read.
        parameter: String,
        /// Why it could not be used.
        reason: String,
    },
    /// The stage's archive does not exist where the configuration points.
    #[error("stage {stage} has no event archive `{archive}` in {region}: deploy it with `scripts/deploy {stage}`, or check AWS_PROFILE and AWS_REGION")]
    NoArchive {
        /// The stage.
        stage: String,
        /// The archive looked for.
        archive: String,
        /// The region asked.
        region: String,
    },
    /// The stage's bus does not exist where the configuration points.
    #[error("stage {stage} has no event bus `{bus}` in {region}: deploy it with `scripts/deploy {stage}`, or check AWS_PROFILE and AWS_REGION")]
    NoBus {
        /// The stage.
        stage: String,
        /// The bus looked for.
        bus: String,
        /// The region asked.
        region: String,
    },
    /// A rule named with `--rules` is not on the stage's bus.
    #[error("no rule `{rule}` on bus {bus}: list the stage's rules with `aws events list-rules --event-bus-name {bus} --query 'Rules[].Name' --output text`")]
    UnknownRule {
        /// The rule named.
        rule: String,
        /// The stage's bus.
        bus: String,
    },
    /// The function to invoke does not exist where the configuration points.
    #[error("stage {stage} has no function `{function}` in {region}: deploy it with `scripts/deploy {stage}`, or check AWS_PROFILE and AWS_REGION")]
    NoFunction {
        /// The stage.
        stage: String,
        /// The function looked for.
        function: String,
        /// The region asked.
        region: String,
    },
    /// The monitor ran the sweep and failed (the schedule's next tick tries again).
    #[error("the sweep failed in {function}: {error}; read its log: `aws logs tail /aws/lambda/{function} --since 10m`")]
    SweepFailed {
        /// The function.
        function: String,
        /// Its error (type and message).
        error: String,
    },
    /// A replay of that name exists (replay names are used once).
    #[error("a replay named {name} exists already (names are used once): pass another --name; see it with `aws events describe-replay --replay-name {name}`")]
    ReplayExists {
        /// The name.
        name: String,
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
    #[error("no message {id} in the dead-letter queue: run `{list_command}` for the ids (a message being redriven by someone else is hidden for a few minutes)")]
    MessageNotFound {
        /// The id asked for (shown as text).
        id: String,
        /// The command that lists the queue.
        list_command: String,
    },
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
    /// An AWS call failure with its SDK error and a hint: the service's code and message in
    /// one line, the SDK's whole account kept for `-v`.
    pub(crate) fn aws<E, R>(
        action: impl Into<String>,
        error: &SdkError<E, R>,
        hint: impl Into<String>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        Self::Aws {
            action: action.into(),
            message: sdk_failure(error),
            hint: hint.into(),
            details: aws_sdk_sqs::error::DisplayErrorContext(error).to_string(),
        }
    }

    /// The whole story behind the one line, for `-v`.
    pub fn details(&self) -> Option<&str> {
        match self {
            Self::Aws { details, .. } if !details.is_empty() => Some(details),
            _ => None,
        }
    }
}

/// What an AWS call's failure was, in one line: the service's error code and message, or that
/// the endpoint could not be reached or did not answer in time.
pub(crate) fn sdk_failure<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::ServiceError(failure) => {
            let failure = failure.err();
            one_line(&format!(
                "{}: {}",
                failure.code().unwrap_or("an error without a code"),
                failure.message().unwrap_or("no message")
            ))
        }
        SdkError::DispatchFailure(_) => {
            "the endpoint could not be reached (check the network, AWS_REGION and AWS_ENDPOINT_URL)"
                .into()
        }
        SdkError::TimeoutError(_) => "no answer in time".into(),
        SdkError::ResponseError(_) => "an answer that could not be read".into(),
        _ => "the request could not be built".into(),
    }
}

/// `text` on one line: line breaks become spaces (a service message may hold several).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
