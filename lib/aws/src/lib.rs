//! One way to build the AWS SDK configuration, shared by every crate that creates AWS clients
//! (the functions, the publisher, the operator tools).
//!
//! The standard configuration chain is kept, so `AWS_ENDPOINT_URL` and the per-service
//! `AWS_ENDPOINT_URL_<SERVICE>` variables point clients at emulators, and `AWS_PROFILE`,
//! `AWS_REGION` and the credential providers work as in the AWS CLI. On top of it: an HTTPS client
//! on rustls + ring (no aws-lc-sys to compile), bounded timeouts, and an explicit retry budget.

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

/// The region `sdk` calls, for messages ("the configured region" when it has none).
pub fn region_name(sdk: &SdkConfig) -> String {
    sdk.region()
        .map_or_else(|| "the configured region".to_owned(), ToString::to_string)
}

/// Why no AWS call can work yet, said in one line with what to set or run (as the AWS CLI
/// does); the provider chain's full story is in [`SetupError::details`].
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// No region from `AWS_REGION` or the profile.
    #[error("no AWS region: set AWS_REGION (e.g. `export AWS_REGION=us-east-1`) or give the profile one (`aws configure set region us-east-1{profile_flag}`)")]
    NoRegion {
        /// ` --profile NAME` when a profile is selected, else empty.
        profile_flag: String,
    },
    /// `AWS_PROFILE` names a profile neither the config nor the credentials file has.
    #[error("the AWS profile `{profile}` is not in {files}: check AWS_PROFILE (`aws configure list-profiles` lists them)")]
    NoProfile {
        /// The profile named.
        profile: String,
        /// The files looked in.
        files: String,
    },
    /// No credentials from any provider of the chain.
    #[error("no AWS credentials{for_profile}: {hint}")]
    NoCredentials {
        /// ` for profile NAME` when a profile is selected, else empty.
        for_profile: String,
        /// What to set or run.
        hint: String,
        /// Every provider's answer (shown with `-v`).
        details: String,
    },
}

impl SetupError {
    /// The full account of what each credential provider said, for `-v`.
    pub fn details(&self) -> Option<&str> {
        match self {
            SetupError::NoRegion { .. } | SetupError::NoProfile { .. } => None,
            SetupError::NoCredentials { details, .. } => Some(details),
        }
    }
}

/// Checks that `sdk` has a region and that its credential chain yields credentials, before any
/// call: a missing region or profile, an expired SSO session or no credentials at all each
/// become one [`SetupError`] line instead of the chain of every provider's failure on each call.
pub async fn check_setup(sdk: &SdkConfig) -> Result<(), SetupError> {
    use aws_credential_types::provider::ProvideCredentials;

    let profile = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty());
    if let Some(profile) = &profile {
        let files = profile_files();
        let known = files.iter().any(|path| {
            std::fs::read_to_string(path).is_ok_and(|text| {
                text.lines().map(str::trim).any(|line| {
                    line == format!("[{profile}]") || line == format!("[profile {profile}]")
                })
            })
        });
        if !known {
            return Err(SetupError::NoProfile {
                profile: profile.clone(),
                files: files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            });
        }
    }
    if sdk.region().is_none() {
        return Err(SetupError::NoRegion {
            profile_flag: profile
                .as_ref()
                .map(|p| format!(" --profile {p}"))
                .unwrap_or_default(),
        });
    }
    let for_profile = profile
        .as_ref()
        .map(|p| format!(" for profile `{p}`"))
        .unwrap_or_default();
    let Some(provider) = sdk.credentials_provider() else {
        return Err(SetupError::NoCredentials {
            for_profile,
            hint: "no credential provider is configured".into(),
            details: String::new(),
        });
    };
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(error) => {
            let sso = profile.as_deref().is_some_and(|p| {
                profile_files()
                    .iter()
                    .filter_map(|path| std::fs::read_to_string(path).ok())
                    .any(|text| is_sso_profile(&text, p))
            });
            Err(SetupError::NoCredentials {
                for_profile,
                hint: credentials_hint(&error, profile.as_deref().filter(|_| sso)),
                details: chain(&error),
            })
        }
    }
}

/// What to do when no credentials came: to log in again for an SSO profile (`sso_profile`),
/// else what to set. Never "run with -v": the CLI says that once, under the error.
fn credentials_hint(
    error: &aws_credential_types::provider::error::CredentialsError,
    sso_profile: Option<&str>,
) -> String {
    use aws_credential_types::provider::error::CredentialsError;
    if let Some(profile) = sso_profile {
        return format!(
            "the SSO session of profile `{profile}` has expired or was never started: run `aws sso login --profile {profile}`"
        );
    }
    match error {
        CredentialsError::ProviderTimedOut(_) => {
            "loading credentials timed out (no instance metadata here?): set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        }
        CredentialsError::InvalidConfiguration(_) => {
            "the profile's configuration is not usable: check AWS_PROFILE and ~/.aws/config"
        }
        _ => {
            "set AWS_PROFILE to a profile with credentials (~/.aws/config, ~/.aws/credentials), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        }
    }
    .to_owned()
}

/// Whether `profile` is an SSO profile in the config file text `config`: its section names an
/// `sso_session` or an `sso_start_url`.
fn is_sso_profile(config: &str, profile: &str) -> bool {
    let headers = [format!("[profile {profile}]"), format!("[{profile}]")];
    let mut inside = false;
    for line in config.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = headers.iter().any(|h| h == line);
        } else if inside {
            let key = line.split('=').next().unwrap_or_default().trim();
            if key == "sso_session" || key == "sso_start_url" {
                return true;
            }
        }
    }
    false
}

/// The shared config and credentials files, where the AWS CLI and SDKs look for profiles.
fn profile_files() -> Vec<std::path::PathBuf> {
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    let file = |variable: &str, default: &str| {
        std::env::var_os(variable)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| home.join(".aws").join(default))
    };
    vec![
        file("AWS_CONFIG_FILE", "config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
    ]
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::Region;
    use aws_credential_types::Credentials;

    #[test]
    fn sso_profiles_are_told_from_the_others() {
        let config = "[default]\nregion = us-east-1\n\n[profile trading]\nsso_session = corp\n\n[profile legacy]\nsso_start_url = https://x.awsapps.com/start\n\n[profile keys]\nregion = eu-west-1\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n";
        assert!(is_sso_profile(config, "trading"));
        assert!(is_sso_profile(config, "legacy"));
        assert!(!is_sso_profile(config, "keys"));
        assert!(!is_sso_profile(config, "default"));
        assert!(
            !is_sso_profile(config, "corp"),
            "a session is not a profile"
        );
    }

    #[tokio::test]
    async fn a_missing_region_or_credentials_is_one_line_with_what_to_set() {
        let no_region = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        let error = check_setup(&no_region).await.unwrap_err();
        assert!(error.to_string().contains("set AWS_REGION"), "{error}");
        assert!(!error.to_string().contains('\n'));

        let no_credentials = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build();
        let error = check_setup(&no_credentials).await.unwrap_err();
        assert!(matches!(error, SetupError::NoCredentials { .. }), "{error}");

        let ready = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                    "AKID", "secret", None, None, "test",
                )),
            )
            .build();
        check_setup(&ready).await.unwrap();
    }
}
