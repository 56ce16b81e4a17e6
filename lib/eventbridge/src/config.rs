//! Publisher configuration: read from the environment once, overridable builder-style in tests.

use std::path::PathBuf;
use std::time::Duration;

use alchemiser_events::DEFAULT_SOURCE_PREFIX;
pub use alchemiser_settings::parse_flag;
use alchemiser_settings::SettingError;
use thiserror::Error;

/// Default event bus (`EVENTBRIDGE_BUS_NAME`).
pub const DEFAULT_BUS_NAME: &str = "alchemiser-trading-events-dev";
/// Default PutEvents request limit in bytes (`EVENTBRIDGE_MAX_REQUEST_BYTES`): 1 MiB, EventBridge's
/// limit since January 2026 (LocalStack still enforces the former 256 KiB: its tests set that).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1_048_576;
/// PutEvents accepts at most this many entries per call.
pub const MAX_ENTRIES_PER_REQUEST: usize = 10;
/// Default PutEvents requests one publish call keeps in flight (`EVENTBRIDGE_MAX_IN_FLIGHT`). At a
/// cloud round trip of 20–40 ms one request at a time caps a publisher at 250–500 events/s; eight
/// raise the ceiling eightfold while staying far below the account's PutEvents quota (which
/// throttling answers, and the publisher resends).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;
/// Largest accepted `EVENTBRIDGE_MAX_IN_FLIGHT`.
pub const MAX_IN_FLIGHT_LIMIT: usize = 64;
/// Default outbox file relative to the current directory when neither
/// `EVENTBRIDGE_OUTBOX_PATH` nor `XDG_STATE_HOME` is set.
pub const DEFAULT_OUTBOX_PATH: &str = ".alchemiser/outbox.jsonl";

/// A configuration value that cannot be used; the message names the variable and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A variable holds a value outside the accepted set.
    #[error("{variable}={value:?} is not valid: {accepted}")]
    Invalid {
        /// The environment variable.
        variable: String,
        /// What it holds.
        value: String,
        /// What it accepts, phrased as advice.
        accepted: String,
    },
}

impl From<SettingError> for ConfigError {
    fn from(error: SettingError) -> Self {
        match error {
            SettingError::Invalid {
                variable,
                value,
                hint,
            } => ConfigError::invalid(variable, &value, hint),
            SettingError::Missing { variable, hint } => ConfigError::invalid(variable, "", hint),
        }
    }
}

impl ConfigError {
    fn invalid(variable: &str, value: &str, accepted: impl Into<String>) -> Self {
        Self::Invalid {
            variable: variable.to_owned(),
            value: value.to_owned(),
            accepted: accepted.into(),
        }
    }
}

/// Where undelivered events are kept for a later `alchemiser outbox drain` (the outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxConfig {
    /// An append-only JSON-lines file (a workstation; one record per line).
    File(PathBuf),
    /// An SQS queue (Lambda, whose disk is ephemeral): one message per record.
    Sqs {
        /// The queue URL.
        queue_url: String,
    },
}

impl OutboxConfig {
    /// A short, human-readable location, used as `Undelivered::kept_in`: `file:PATH` or
    /// `sqs:URL`.
    pub fn location(&self) -> String {
        match self {
            OutboxConfig::File(path) => format!("file:{}", path.display()),
            OutboxConfig::Sqs { queue_url } => format!("sqs:{queue_url}"),
        }
    }
}

/// Everything the EventBridge publisher needs to know.
///
/// `from_env()` reads:
///
/// | variable | default | meaning |
/// |---|---|---|
/// | `EVENTBRIDGE_BUS_NAME` | `alchemiser-trading-events-dev` | `EventBusName` of every entry |
/// | `EVENTBRIDGE_SOURCE_PREFIX` | `alchemiser` | `Source` = `{prefix}.{producer}` |
/// | `EVENTBRIDGE_VERIFY_BUS` | `true` | DescribeEventBus once before the first publish |
/// | `EVENTBRIDGE_MAX_REQUEST_BYTES` | `1048576` | PutEvents request size limit (262144 on LocalStack) |
/// | `EVENTBRIDGE_MAX_IN_FLIGHT` | `8` | PutEvents requests in flight per publish call (1 = sequential) |
/// | `EVENTBRIDGE_MAX_ATTEMPTS` | `5` | sends per entry, first one included |
/// | `EVENTBRIDGE_DEADLINE_MS` | `20000` | time budget of one publish call |
/// | `EVENTBRIDGE_BASE_BACKOFF_MS` / `EVENTBRIDGE_MAX_BACKOFF_MS` | `100` / `5000` | retry backoff |
/// | `EVENTBRIDGE_ATTEMPT_TIMEOUT_MS` | `10000` | one HTTP attempt (SDK operation timeout) |
/// | `EVENTBRIDGE_CONNECT_TIMEOUT_MS` | `3000` | TCP/TLS connect timeout |
/// | `EVENTBRIDGE_OUTBOX_QUEUE_URL` | unset | SQS outbox (takes precedence) |
/// | `EVENTBRIDGE_OUTBOX_PATH` | `$XDG_STATE_HOME/alchemiser/outbox.jsonl`, else `./.alchemiser/outbox.jsonl` | file outbox |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherConfig {
    /// The event bus name.
    pub bus_name: String,
    /// The `Source` prefix.
    pub source_prefix: String,
    /// Check with DescribeEventBus that the bus exists before the first publish (PutEvents to a
    /// missing bus reports success). Turn off for a role that may only put events.
    pub verify_bus: bool,
    /// PutEvents request size limit in bytes (AWS entry-size formula).
    pub max_request_bytes: usize,
    /// Entries per PutEvents call, 1..=10 (10 unless a benchmark forces fewer).
    pub batch_size: usize,
    /// PutEvents requests one publish call keeps in flight at most.
    pub max_in_flight: usize,
    /// How many times one entry is sent at most, first send included.
    pub max_attempts: u32,
    /// The time budget of one publish call; what is not delivered by then goes to the outbox.
    pub deadline: Duration,
    /// First retry backoff ceiling; doubles per attempt (full jitter: the sleep is uniform in
    /// `[0, ceiling]`).
    pub base_backoff: Duration,
    /// Largest backoff ceiling.
    pub max_backoff: Duration,
    /// Timeout of one HTTP attempt (also used as the SDK operation timeout).
    pub attempt_timeout: Duration,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Where undelivered events go.
    pub outbox: OutboxConfig,
}

impl Default for PublisherConfig {
    /// The defaults of `from_env()` with no variables set, except that the file outbox is
    /// `./.alchemiser/outbox.jsonl`.
    fn default() -> Self {
        Self {
            bus_name: DEFAULT_BUS_NAME.to_owned(),
            source_prefix: DEFAULT_SOURCE_PREFIX.to_owned(),
            verify_bus: true,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            batch_size: MAX_ENTRIES_PER_REQUEST,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_attempts: 5,
            deadline: Duration::from_secs(20),
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            outbox: OutboxConfig::File(PathBuf::from(DEFAULT_OUTBOX_PATH)),
        }
    }
}

impl PublisherConfig {
    /// Reads the configuration from the process environment (see the table above).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let text = |name: &str, default: &str| -> String {
            match lookup(name) {
                Some(value) if !value.trim().is_empty() => value.trim().to_owned(),
                _ => default.to_owned(),
            }
        };
        let millis = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            match lookup(name) {
                Some(value) if !value.trim().is_empty() => value
                    .trim()
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| {
                        ConfigError::invalid(
                            name,
                            &value,
                            "expected a whole number of milliseconds, e.g. 5000",
                        )
                    }),
                _ => Ok(default),
            }
        };
        let max_request_bytes = match lookup("EVENTBRIDGE_MAX_REQUEST_BYTES") {
            Some(value) if !value.trim().is_empty() => match value.trim().parse::<usize>() {
                Ok(bytes) if bytes >= 1024 => bytes,
                _ => {
                    return Err(ConfigError::invalid(
                        "EVENTBRIDGE_MAX_REQUEST_BYTES",
                        &value,
                        "expected a whole number of bytes ≥ 1024, e.g. 1048576 (1 MiB, the default) or 262144 (256 KiB, LocalStack's)",
                    ))
                }
            },
            _ => defaults.max_request_bytes,
        };
        let max_in_flight = match lookup("EVENTBRIDGE_MAX_IN_FLIGHT") {
            Some(value) if !value.trim().is_empty() => match value.trim().parse::<usize>() {
                Ok(requests) if (1..=MAX_IN_FLIGHT_LIMIT).contains(&requests) => requests,
                _ => {
                    return Err(ConfigError::invalid(
                        "EVENTBRIDGE_MAX_IN_FLIGHT",
                        &value,
                        format!("expected a whole number from 1 to {MAX_IN_FLIGHT_LIMIT} (PutEvents requests in flight; 1 sends one at a time)"),
                    ))
                }
            },
            _ => defaults.max_in_flight,
        };
        let max_attempts =
            match lookup("EVENTBRIDGE_MAX_ATTEMPTS") {
                Some(value) if !value.trim().is_empty() => match value.trim().parse::<u32>() {
                    Ok(attempts) if (1..=100).contains(&attempts) => attempts,
                    _ => return Err(ConfigError::invalid(
                        "EVENTBRIDGE_MAX_ATTEMPTS",
                        &value,
                        "expected a whole number from 1 to 100 (sends per entry, first included)",
                    )),
                },
                _ => defaults.max_attempts,
            };
        let outbox = match lookup("EVENTBRIDGE_OUTBOX_QUEUE_URL") {
            Some(url) if !url.trim().is_empty() => OutboxConfig::Sqs {
                queue_url: url.trim().to_owned(),
            },
            _ => match lookup("EVENTBRIDGE_OUTBOX_PATH") {
                Some(path) if !path.trim().is_empty() => OutboxConfig::File(PathBuf::from(path)),
                _ => match lookup("XDG_STATE_HOME") {
                    Some(state) if !state.trim().is_empty() => OutboxConfig::File(
                        PathBuf::from(state).join("alchemiser").join("outbox.jsonl"),
                    ),
                    _ => defaults.outbox.clone(),
                },
            },
        };
        let config = Self {
            bus_name: text("EVENTBRIDGE_BUS_NAME", DEFAULT_BUS_NAME),
            source_prefix: text("EVENTBRIDGE_SOURCE_PREFIX", DEFAULT_SOURCE_PREFIX),
            verify_bus: match lookup("EVENTBRIDGE_VERIFY_BUS") {
                Some(value) => parse_flag("EVENTBRIDGE_VERIFY_BUS", &value, true)?,
                None => true,
            },
            max_request_bytes,
            batch_size: defaults.batch_size,
            max_in_flight,
            max_attempts,
            deadline: millis("EVENTBRIDGE_DEADLINE_MS", defaults.deadline)?,
            base_backoff: millis("EVENTBRIDGE_BASE_BACKOFF_MS", defaults.base_backoff)?,
            max_backoff: millis("EVENTBRIDGE_MAX_BACKOFF_MS", defaults.max_backoff)?,
            attempt_timeout: millis("EVENTBRIDGE_ATTEMPT_TIMEOUT_MS", defaults.attempt_timeout)?,
            connect_timeout: millis("EVENTBRIDGE_CONNECT_TIMEOUT_MS", defaults.connect_timeout)?,
            outbox,
        };
        Ok(config)
    }

    /// Sets the bus name.
    pub fn with_bus_name(mut self, bus_name: impl Into<String>) -> Self {
        self.bus_name = bus_name.into();
        self
    }

    /// Sets the `Source` prefix.
    pub fn with_source_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.source_prefix = prefix.into();
        self
    }

    /// Sets the request size limit in bytes.
    pub fn with_max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }

    /// Sets entries per PutEvents call, clamped to 1..=10.
    pub fn with_batch_size(mut self, entries: usize) -> Self {
        self.batch_size = entries.clamp(1, MAX_ENTRIES_PER_REQUEST);
        self
    }

    /// Sets how many PutEvents requests one publish call keeps in flight (at least 1).
    pub fn with_max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests.max(1);
        self
    }

    /// Sets the number of sends per entry (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the time budget of one publish call.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sets the backoff: first ceiling `base`, doubling up to `max`.
    pub fn with_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.base_backoff = base;
        self.max_backoff = max.max(base);
        self
    }

    /// Sets the per-attempt and connect timeouts.
    pub fn with_timeouts(mut self, attempt: Duration, connect: Duration) -> Self {
        self.attempt_timeout = attempt;
        self.connect_timeout = connect;
        self
    }

    /// Sets the outbox.
    pub fn with_outbox(mut self, outbox: OutboxConfig) -> Self {
        self.outbox = outbox;
        self
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<PublisherConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        PublisherConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_without_variables() {
        let config = from(&[]).unwrap();
        assert_eq!(config, PublisherConfig::default());
        assert_eq!(config.bus_name, "alchemiser-trading-events-dev");
        assert_eq!(config.source_prefix, "alchemiser");
        assert_eq!(config.max_request_bytes, 1_048_576);
        assert_eq!(config.max_in_flight, DEFAULT_MAX_IN_FLIGHT);
        assert!(config.verify_bus);
    }

    #[test]
    fn variables_override_defaults() {
        let config = from(&[
            ("EVENTBRIDGE_BUS_NAME", "bus-x"),
            ("EVENTBRIDGE_SOURCE_PREFIX", "acme"),
            ("EVENTBRIDGE_VERIFY_BUS", "FALSE"),
            ("EVENTBRIDGE_MAX_REQUEST_BYTES", "1048576"),
            ("EVENTBRIDGE_MAX_ATTEMPTS", "3"),
            ("EVENTBRIDGE_MAX_IN_FLIGHT", "1"),
            ("EVENTBRIDGE_DEADLINE_MS", "1500"),
            ("EVENTBRIDGE_OUTBOX_PATH", "/tmp/o.jsonl"),
        ])
        .unwrap();
        assert_eq!(config.bus_name, "bus-x");
        assert_eq!(config.source_prefix, "acme");
        assert!(!config.verify_bus);
        assert_eq!(config.max_request_bytes, 1_048_576);
        assert_eq!(config.max_attempts, 3);
        assert_eq!(config.max_in_flight, 1);
        assert_eq!(config.deadline, Duration::from_millis(1500));
        assert_eq!(config.outbox, OutboxConfig::File("/tmp/o.jsonl".into()));
    }

    #[test]
    fn queue_url_wins_over_path_and_xdg_state_home_is_used() {
        let config = from(&[
            ("EVENTBRIDGE_OUTBOX_QUEUE_URL", "http://q/1/outbox"),
            ("EVENTBRIDGE_OUTBOX_PATH", "/tmp/o.jsonl"),
        ])
        .unwrap();
        assert_eq!(config.outbox.location(), "sqs:http://q/1/outbox");
        let config = from(&[("XDG_STATE_HOME", "/state")]).unwrap();
        assert_eq!(
            config.outbox,
            OutboxConfig::File("/state/alchemiser/outbox.jsonl".into())
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_the_accepted_values() {
        let error = from(&[("EVENTBRIDGE_VERIFY_BUS", "maybe")]).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("EVENTBRIDGE_VERIFY_BUS") && text.contains("true, false, 1 or 0"));
        let error = from(&[("EVENTBRIDGE_MAX_REQUEST_BYTES", "lots")]).unwrap_err();
        assert!(error.to_string().contains("EVENTBRIDGE_MAX_REQUEST_BYTES"));
        let error = from(&[("EVENTBRIDGE_DEADLINE_MS", "-1")]).unwrap_err();
        assert!(error.to_string().contains("EVENTBRIDGE_DEADLINE_MS"));
        let error = from(&[("EVENTBRIDGE_MAX_ATTEMPTS", "0")]).unwrap_err();
        assert!(error.to_string().contains("1 to 100"));
        for bad in ["0", "65", "eight"] {
            let error = from(&[("EVENTBRIDGE_MAX_IN_FLIGHT", bad)]).unwrap_err();
            assert!(
                error.to_string().contains("EVENTBRIDGE_MAX_IN_FLIGHT")
                    && error.to_string().contains("1 to 64"),
                "{error}"
            );
        }
    }

    #[test]
    fn batch_size_is_clamped() {
        assert_eq!(PublisherConfig::default().with_batch_size(0).batch_size, 1);
        assert_eq!(
            PublisherConfig::default().with_batch_size(50).batch_size,
            10
        );
    }
}
