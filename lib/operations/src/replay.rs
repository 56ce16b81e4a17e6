//! Archive replays: StartReplay of a stage's archive to its bus, followed with DescribeReplay.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::operation::start_replay::StartReplayError;
use aws_sdk_eventbridge::primitives::DateTime as AwsDateTime;
use aws_sdk_eventbridge::types::{ReplayDestination, ReplayState};
use chrono::{DateTime, Utc};

use crate::error::OperationsError;
use crate::stage::Stage;

/// How late events may reach the archive: a window must end at least this long ago (unless
/// forced), else the replay may miss events that happened inside it.
pub const ARCHIVE_DELAY: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// Printed on every replay: the execution function trades replayed events only where allowed.
pub const DRY_RUN_REMINDER: &str = "Reminder: the execution function runs replayed events (those with a `replay-name`) as a dry run and places no orders, unless the stage sets ALLOW_REPLAY_EXECUTION=true (infra/config/stages.json: allowReplayExecution).";

/// Parses an RFC 3339 time with any offset (`Z`, `+00:00`, `-05:00`) into UTC.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, OperationsError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| OperationsError::InvalidTime {
            value: text.to_owned(),
            reason: error.to_string(),
        })
}

/// A checked replay window `[from, to)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayWindow {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

impl ReplayWindow {
    /// Checks a window against `now`: `from` must be before `to`, and `to` at least
    /// [`ARCHIVE_DELAY`] before `now` unless `force` (events reach the archive late).
    pub fn new(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
        force: bool,
    ) -> Result<Self, OperationsError> {
        if from >= to {
            return Err(OperationsError::EmptyWindow { from, to });
        }
        let latest = now - ARCHIVE_DELAY;
        if to > latest && !force {
            return Err(OperationsError::WindowTooRecent { to, latest });
        }
        Ok(Self { from, to })
    }

    /// Window start.
    pub fn from(&self) -> DateTime<Utc> {
        self.from
    }

    /// Window end.
    pub fn to(&self) -> DateTime<Utc> {
        self.to
    }
}

/// Checks a replay name the way EventBridge does: 1–64 of `[A-Za-z0-9._-]`.
pub fn check_replay_name(name: &str) -> Result<(), OperationsError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if valid {
        Ok(())
    } else {
        Err(OperationsError::InvalidReplayName(name.to_owned()))
    }
}

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    /// The stage: archive `alchemiser-event-archive-<stage>` to bus `alchemiser-trading-events-<stage>`.
    pub stage: Stage,
    /// The checked window.
    pub window: ReplayWindow,
    /// Rule names to limit the replay to (none: every rule of the bus).
    pub rules: Vec<String>,
    /// The replay's name (see [`Stage::replay_name`] for the default).
    pub name: String,
}

/// A replay EventBridge accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedReplay {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Its state right after the start (usually STARTING).
    pub state: String,
    /// The archive replayed.
    pub archive_arn: String,
    /// The bus it replays to.
    pub bus_arn: String,
    /// The rules it is limited to (empty: all).
    pub filter_arns: Vec<String>,
}

/// A replay's progress, from DescribeReplay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayStatus {
    /// Its name.
    pub name: String,
    /// STARTING, RUNNING, CANCELLING, COMPLETED, CANCELLED or FAILED.
    pub state: String,
    /// EventBridge's reason for the state, if any.
    pub state_reason: Option<String>,
    /// Window start.
    pub event_start: Option<DateTime<Utc>>,
    /// Window end.
    pub event_end: Option<DateTime<Utc>>,
    /// Time of the last event replayed so far.
    pub last_replayed: Option<DateTime<Utc>>,
    /// When the replay finished.
    pub replay_end: Option<DateTime<Utc>>,
}

impl ReplayStatus {
    /// True once the replay can change no more (COMPLETED, CANCELLED, FAILED).
    pub fn is_finished(&self) -> bool {
        matches!(self.state.as_str(), "COMPLETED" | "CANCELLED" | "FAILED")
    }

    /// Progress in per mille (0..=1000): where the last replayed event lies between the window's
    /// start and end; 1000 once COMPLETED.
    pub fn progress_permille(&self) -> u64 {
        if self.state == "COMPLETED" {
            return 1000;
        }
        match (self.event_start, self.event_end, self.last_replayed) {
            (Some(start), Some(end), Some(last)) if end > start => {
                let total = (end - start).num_milliseconds().max(1);
                let done = (last - start).num_milliseconds().clamp(0, total);
                u64::try_from(done * 1000 / total).unwrap_or(0)
            }
            _ => 0,
        }
    }
}

/// Whether the service answered that the thing asked for does not exist.
fn is_not_found<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
        == Some("ResourceNotFoundException")
}

/// StartReplay's failure, with the next step that fits it: too many replays at once, a refused
/// request, or the service's own failure (LocalStack's stock StartReplay fails whenever the
/// archive holds events in the window: scripts/localstack runs the project's replacement).
fn start_replay_failure<R: std::fmt::Debug>(
    name: &str,
    error: &SdkError<StartReplayError, R>,
) -> OperationsError {
    let code = error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code);
    let hint = match code {
        Some("LimitExceededException") => {
            "EventBridge runs few replays per account at a time: wait for the running ones (`aws events list-replays --state RUNNING`)"
        }
        Some("ValidationException") => "Check --from, --to and --rules",
        _ if std::env::var_os("AWS_ENDPOINT_URL").is_some() => {
            "EventBridge could not start it; on LocalStack, StartReplay works only with the project's EventBridge provider (start LocalStack with scripts/localstack, which sets PROVIDER_OVERRIDE_EVENTS=alchemiser_replay)"
        }
        _ => "EventBridge could not start it: try again in a minute under another --name; check `aws events list-replays` first",
    };
    OperationsError::aws(format!("StartReplay {name}"), error, hint)
}

fn to_aws(time: DateTime<Utc>) -> AwsDateTime {
    AwsDateTime::from_millis(time.timestamp_millis())
}

fn from_aws(time: Option<&AwsDateTime>) -> Option<DateTime<Utc>> {
    time.and_then(|t| t.to_millis().ok())
        .and_then(DateTime::from_timestamp_millis)
}

/// Starts and follows archive replays.
#[derive(Debug, Clone)]
pub struct Replayer {
    events: aws_sdk_eventbridge::Client,
    /// The region it calls, for messages.
    region: String,
}

impl Replayer {
    /// A replayer using `sdk` (e.g. [`alchemiser_aws::load_sdk_config`]).
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            events: aws_sdk_eventbridge::Client::new(sdk),
            region: alchemiser_aws::region_name(sdk),
        }
    }

    /// Looks up the archive, bus and rule ARNs, then calls StartReplay (once: a StartReplay
    /// that failed may have registered the replay, and a retry under the same name would only
    /// report that it exists).
    pub async fn start(&self, request: &ReplayRequest) -> Result<StartedReplay, OperationsError> {
        check_replay_name(&request.name)?;
        let stage = &request.stage;
        let archive = stage.archive_name();
        let bus = stage.bus_name();
        let region = self.region.clone();
        let archive_arn = match self
            .events
            .describe_archive()
            .archive_name(&archive)
            .send()
            .await
        {
            Ok(output) => output.archive_arn.unwrap_or_default(),
            Err(error) if is_not_found(&error) => {
                return Err(OperationsError::NoArchive {
                    stage: stage.to_string(),
                    archive,
                    region,
                })
            }
            Err(error) => {
                return Err(OperationsError::aws(
                    format!("DescribeArchive {archive}"),
                    &error,
                    format!("Check that your role may read stage {stage}'s archive"),
                ))
            }
        };
        let bus_arn = match self.events.describe_event_bus().name(&bus).send().await {
            Ok(output) => output.arn.unwrap_or_default(),
            Err(error) if is_not_found(&error) => {
                return Err(OperationsError::NoBus {
                    stage: stage.to_string(),
                    bus,
                    region,
                })
            }
            Err(error) => {
                return Err(OperationsError::aws(
                    format!("DescribeEventBus {bus}"),
                    &error,
                    format!("Check that your role may read stage {stage}'s bus"),
                ))
            }
        };
        let mut filter_arns = Vec::new();
        for rule in &request.rules {
            let described = self
                .events
                .describe_rule()
                .name(rule)
                .event_bus_name(&bus)
                .send()
                .await;
            match described {
                Ok(output) => filter_arns.push(output.arn.unwrap_or_default()),
                Err(error) if is_not_found(&error) => {
                    return Err(OperationsError::UnknownRule {
                        rule: rule.clone(),
                        bus,
                    })
                }
                Err(error) => {
                    return Err(OperationsError::aws(
                        format!("DescribeRule {rule} on {bus}"),
                        &error,
                        "Check that your role may read the stage's rules",
                    ))
                }
            }
        }
        let destination = ReplayDestination::builder()
            .arn(&bus_arn)
            .set_filter_arns((!filter_arns.is_empty()).then(|| filter_arns.clone()))
            .build()
            .map_err(|e| OperationsError::Aws {
                action: "StartReplay (destination)".into(),
                message: e.to_string(),
                hint: "This is a bug.".into(),
                details: String::new(),
            })?;
        let output = self
            .events
            .start_replay()
            .replay_name(&request.name)
            .description(format!("alchemiser replay of stage {stage}"))
            .event_source_arn(&archive_arn)
            .event_start_time(to_aws(request.window.from()))
            .event_end_time(to_aws(request.window.to()))
            .destination(destination)
            .customize()
            .config_override(
                aws_sdk_eventbridge::config::Builder::default()
                    .retry_config(aws_config::retry::RetryConfig::disabled()),
            )
            .send()
            .await;
        let output = match output {
            Ok(output) => output,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_already_exists_exception()) =>
            {
                return Err(OperationsError::ReplayExists {
                    name: request.name.clone(),
                })
            }
            Err(error) => return Err(start_replay_failure(&request.name, &error)),
        };
        Ok(StartedReplay {
            name: request.name.clone(),
            arn: output.replay_arn.unwrap_or_default(),
            state: output
                .state
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| ReplayState::Starting.as_str().to_owned()),
            archive_arn,
            bus_arn,
            filter_arns,
        })
    }

    /// One DescribeReplay.
    pub async fn status(&self, name: &str) -> Result<ReplayStatus, OperationsError> {
        let output = self
            .events
            .describe_replay()
            .replay_name(name)
            .send()
            .await
            .map_err(|e| {
                OperationsError::aws(
                    format!("DescribeReplay {name}"),
                    &e,
                    "Check the name with `aws events list-replays`",
                )
            })?;
        Ok(ReplayStatus {
            name: name.to_owned(),
            state: output
                .state
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "UNKNOWN".into()),
            state_reason: output.state_reason.clone(),
            event_start: from_aws(output.event_start_time.as_ref()),
            event_end: from_aws(output.event_end_time.as_ref()),
            last_replayed: from_aws(output.event_last_replayed_time.as_ref()),
            replay_end: from_aws(output.replay_end_time.as_ref()),
        })
    }

    /// Polls DescribeReplay every `interval` until the replay finishes or `timeout` passes,
    /// calling `on_progress` with every status. COMPLETED is `Ok`; CANCELLED or FAILED is
    /// [`OperationsError::ReplayEnded`]; still running after `timeout` is
    /// [`OperationsError::ReplayTimeout`].
    pub async fn wait(
        &self,
        name: &str,
        interval: Duration,
        timeout: Duration,
        mut on_progress: impl FnMut(&ReplayStatus),
    ) -> Result<ReplayStatus, OperationsError> {
        let started = tokio::time::Instant::now();
        loop {
            let status = self.status(name).await?;
            on_progress(&status);
            if status.is_finished() {
                if status.state == "COMPLETED" {
                    return Ok(status);
                }
                return Err(OperationsError::ReplayEnded {
                    name: name.to_owned(),
                    state: status.state,
                    reason: status
                        .state_reason
                        .unwrap_or_else(|| "no reason given".into()),
                });
            }
            if started.elapsed() >= timeout {
                return Err(OperationsError::ReplayTimeout {
                    name: name.to_owned(),
                    state: status.state,
                    waited_secs: started.elapsed().as_secs(),
                });
            }
            tokio::time::sleep(interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, h, m, 0).unwrap()
    }

    #[test]
    fn times_with_any_offset_become_utc() {
        assert_eq!(parse_time("2026-11-28T14:30:00Z").unwrap(), at(14, 30));
        assert_eq!(parse_time("2026-11-28T14:30:00+00:00").unwrap(), at(14, 30));
        assert_eq!(parse_time("2026-11-28T09:30:00-05:00").unwrap(), at(14, 30));
        assert_eq!(
            parse_time(" 2026-11-28T16:30:00+02:00 ").unwrap(),
            at(14, 30)
        );
    }

    #[test]
    fn times_without_offset_or_garbage_are_refused() {
        for bad in [
            "2026-11-28T14:30:00",
            "yesterday",
            "",
            "2026-13-01T00:00:00Z",
        ] {
            let error = parse_time(bad).unwrap_err();
            assert!(error.to_string().contains("RFC 3339"), "{error}");
        }
    }

    #[test]
    fn window_must_not_be_empty_or_reversed() {
        let now = at(18, 0);
        for (from, to) in [(at(12, 0), at(12, 0)), (at(13, 0), at(12, 0))] {
            let error = ReplayWindow::new(from, to, now, true).unwrap_err();
            assert!(
                matches!(error, OperationsError::EmptyWindow { .. }),
                "{error}"
            );
            assert!(error.to_string().contains("swap"), "{error}");
        }
    }

    #[test]
    fn window_ending_less_than_ten_minutes_ago_needs_force() {
        let now = at(18, 0);
        let error = ReplayWindow::new(at(12, 0), at(17, 51), now, false).unwrap_err();
        assert!(matches!(error, OperationsError::WindowTooRecent { .. }));
        assert!(error.to_string().contains("--force"), "{error}");
        // In the future too.
        assert!(ReplayWindow::new(at(12, 0), at(19, 0), now, false).is_err());
        // Exactly ten minutes ago is fine; so is anything with --force.
        let window = ReplayWindow::new(at(12, 0), at(17, 50), now, false).unwrap();
        assert_eq!((window.from(), window.to()), (at(12, 0), at(17, 50)));
        assert!(ReplayWindow::new(at(12, 0), at(17, 59), now, true).is_ok());
    }

    #[test]
    fn replay_names_follow_eventbridge_rules() {
        assert!(check_replay_name("alchemiser-dev-20261128T140000").is_ok());
        assert!(check_replay_name("a.b_c-1").is_ok());
        for bad in ["", "has space", "slash/", &"x".repeat(65)] {
            assert!(check_replay_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn progress_follows_the_last_replayed_event() {
        let mut status = ReplayStatus {
            name: "r".into(),
            state: "RUNNING".into(),
            state_reason: None,
            event_start: Some(at(12, 0)),
            event_end: Some(at(14, 0)),
            last_replayed: None,
            replay_end: None,
        };
        assert_eq!(status.progress_permille(), 0);
        status.last_replayed = Some(at(13, 0));
        assert_eq!(status.progress_permille(), 500);
        status.last_replayed = Some(at(15, 0));
        assert_eq!(status.progress_permille(), 1000);
        assert!(!status.is_finished());
        status.last_replayed = None;
        status.state = "COMPLETED".into();
        assert_eq!(status.progress_permille(), 1000);
        assert!(status.is_finished());
    }
}
