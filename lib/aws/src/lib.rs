//! One way to build the AWS SDK configuration, shared by every crate that creates AWS clients
//! (the functions, the publisher, the operator tools).
//!
//! The standard configuration chain is kept, so `AWS_ENDPOINT_URL` and the per-service
//! `AWS_ENDPOINT_URL_<SERVICE>` variables point clients at emulators, and `AWS_PROFILE`,
//! `AWS_REGION` and the credential providers work as in the AWS CLI. On top of it: an HTTPS client
//! on rustls + ring (no aws-lc-sys to compile), bounded timeouts, and an explicit retry budget.

#![warn(missing_docs)]

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Timeouts and retries of the SDK clients built from one configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSettings {
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of one HTTP attempt.
    pub attempt_timeout: Duration,
    /// Timeout of one operation, retries included.
    pub operation_timeout: Duration,
    /// Attempts per operation, the first one included (1 = the SDK never retries; the caller
    /// decides resends itself).
    pub max_attempts: u32,
}

impl Default for ClientSettings {
    /// The settings of every client but the publisher's: the SDK's standard retries (3 attempts).
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(15),
            max_attempts: 3,
        }
    }
}

/// Loads the standard configuration chain with the default [`ClientSettings`].
pub async fn load_sdk_config() -> SdkConfig {
    load_with(
        aws_config::defaults(BehaviorVersion::latest()),
        ClientSettings::default(),
    )
    .await
}

/// Loads a configuration from `loader` (the standard chain, or one with an endpoint, region and
/// static credentials for tests) with the project's HTTPS client and `settings`.
pub async fn load_with(loader: ConfigLoader, settings: ClientSettings) -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(settings.connect_timeout)
        .operation_attempt_timeout(settings.attempt_timeout)
        .operation_timeout(settings.operation_timeout)
        .build();
    loader
        .http_client(http_client)
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1)))
        .timeout_config(timeouts)
        .load()
        .await
}
