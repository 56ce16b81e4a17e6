//! Which failures a resend can fix, and how long to wait before it.

use std::time::Duration;

use aws_sdk_eventbridge::config::http::HttpResponse;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};

/// Per-entry PutEvents error codes worth a resend (AWS documents only these two).
pub const RETRYABLE_ENTRY_CODES: [&str; 2] = ["ThrottlingException", "InternalFailure"];

/// Whole-request error codes worth a resend.
const RETRYABLE_REQUEST_CODES: [&str; 9] = [
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "InternalException",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
];

/// Whether a per-entry error code is retryable.
pub fn is_retryable_entry_code(code: &str) -> bool {
    RETRYABLE_ENTRY_CODES.contains(&code)
}

/// A classified failure of one request or one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The AWS error code, or a local one (`Timeout`, `ConnectionError`, `Http503`, ...).
    pub code: String,
    /// What happened, for people.
    pub reason: String,
    /// Whether sending the same thing again may succeed.
    pub retryable: bool,
}

impl Failure {
    /// A failure from an AWS SDK error of any operation.
    pub fn from_sdk<E>(operation: &str, error: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        // Every cause, in one line: what a person reads in an outbox record or a log line (the
        // SDK's own context display appends its debug dump of the error).
        let detail = alchemiser_bus::error_chain(error);
        match error {
            SdkError::TimeoutError(_) => Self {
                code: "Timeout".into(),
                reason: format!("{operation} timed out: {detail}"),
                retryable: true,
            },
            SdkError::DispatchFailure(failure) => Self {
                code: if failure.is_timeout() {
                    "Timeout".into()
                } else {
                    "ConnectionError".into()
                },
                reason: format!("{operation} could not be sent: {detail}"),
                // `is_user` means a configuration mistake (bad endpoint URL): retrying cannot help.
                retryable: !failure.is_user(),
            },
            SdkError::ResponseError(_) => Self {
                code: "ResponseError".into(),
                reason: format!("{operation} got an unreadable response: {detail}"),
                retryable: true,
            },
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let code = service
                    .err()
                    .code()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("Http{status}"));
                let retryable = status >= 500
                    || status == 429
                    || RETRYABLE_REQUEST_CODES.contains(&code.as_str());
                Self {
                    reason: format!("{operation} failed with HTTP {status} {code}: {detail}"),
                    code,
                    retryable,
                }
            }
            // ConstructionFailure (e.g. no region configured) and future variants: a resend of
            // the same request fails the same way.
            _ => Self {
                code: "RequestNotBuilt".into(),
                reason: format!(
                    "{operation} could not be built: {detail}; check AWS_REGION and the credentials"
                ),
                retryable: false,
            },
        }
    }
}

/// The ceiling of the backoff before send number `attempt + 1` (after `attempt` sends):
/// `min(max, base · 2^(attempt-1))`.
pub fn backoff_ceiling(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    base.saturating_mul(1u32 << exponent).min(max)
}

/// Full jitter: a uniformly random sleep in `[0, ceiling]`.
pub fn full_jitter(ceiling: Duration) -> Duration {
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        assert_eq!(backoff_ceiling(1, base, max), Duration::from_millis(100));
        assert_eq!(backoff_ceiling(2, base, max), Duration::from_millis(200));
        assert_eq!(backoff_ceiling(4, base, max), Duration::from_millis(800));
        assert_eq!(backoff_ceiling(5, base, max), max);
        assert_eq!(backoff_ceiling(500, base, max), max);
        for _ in 0..100 {
            assert!(full_jitter(Duration::from_millis(5)) <= Duration::from_millis(5));
        }
    }

    #[test]
    fn only_throttling_and_internal_failure_are_retryable_entry_codes() {
        assert!(is_retryable_entry_code("ThrottlingException"));
        assert!(is_retryable_entry_code("InternalFailure"));
        assert!(!is_retryable_entry_code("MalformedDetail"));
        assert!(!is_retryable_entry_code("AccessDeniedException"));
        assert!(!is_retryable_entry_code("InvalidArgument"));
    }
}
