//! Reading a function's settings from its environment: each error names the variable and what
//! it should hold, and is raised at cold start, so a misconfigured function fails to initialise
//! with that message instead of misbehaving later.

use std::time::Duration;

use thiserror::Error;

/// A variable is missing or holds something unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvError {
    /// A required variable is missing or empty.
    #[error("{variable} is not set: {hint}")]
    Missing {
        /// The variable.
        variable: &'static str,
        /// What it should hold.
        hint: &'static str,
    },
    /// A variable holds something unusable.
    #[error("{variable}=`{value}` is not valid: {hint}")]
    Invalid {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What is accepted.
        hint: String,
    },
}

/// A required, non-empty variable.
pub fn required(variable: &'static str, hint: &'static str) -> Result<String, EnvError> {
    std::env::var(variable)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .ok_or(EnvError::Missing { variable, hint })
}

/// A boolean flag (`true/false/1/0`, any case); unset or empty means `default`.
pub fn flag(variable: &'static str, default: bool) -> Result<bool, EnvError> {
    let Ok(value) = std::env::var(variable) else {
        return Ok(default);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "" => Ok(default),
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(EnvError::Invalid {
            variable,
            value,
            hint: "expected true, false, 1 or 0 (case-insensitive)".into(),
        }),
    }
}

/// A whole number of seconds; unset means `default`.
pub fn seconds(variable: &'static str, default: u64) -> Result<Duration, EnvError> {
    whole(variable, default, "a whole number of seconds").map(Duration::from_secs)
}

/// A whole number (a size in bytes, say); unset means `default`.
pub fn whole_number(variable: &'static str, default: u64) -> Result<u64, EnvError> {
    whole(variable, default, "a whole number")
}

/// A whole number of days; unset means `default`.
pub fn days(variable: &'static str, default: u64) -> Result<Duration, EnvError> {
    let days = whole(variable, default, "a whole number of days")?;
    Ok(Duration::from_secs(days.saturating_mul(24 * 3600)))
}

fn whole(variable: &'static str, default: u64, hint: &str) -> Result<u64, EnvError> {
    match std::env::var(variable) {
        Err(_) => Ok(default),
        Ok(value) => value.trim().parse::<u64>().map_err(|_| EnvError::Invalid {
            variable,
            value,
            hint: hint.into(),
        }),
    }
}
