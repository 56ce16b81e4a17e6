//! Settings from the environment, parsed one way everywhere.
//!
//! Every crate that reads a setting — the Lambda runtime, the publisher, the execution limits,
//! the wiring of each function, the CLI — parses it here: one flag syntax (`true/false/1/0`, any
//! case), whole numbers, durations in seconds or days, and decimal amounts written as such (never
//! through a float, no sign, no exponent). Unset or blank means the default. Each error names the
//! variable, its value and what it accepts, and is raised at cold start, so a misconfigured
//! function fails to initialise with that message instead of misbehaving later.
//!
//! [`Settings`] reads from any lookup (a test's map, the CLI's flags); the free functions read
//! the process environment.

use std::time::Duration;

use rust_decimal::Decimal;
use thiserror::Error;

/// A setting is missing or holds something unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SettingError {
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

impl SettingError {
    /// The variable at fault.
    pub fn variable(&self) -> &'static str {
        match self {
            SettingError::Missing { variable, .. } | SettingError::Invalid { variable, .. } => {
                variable
            }
        }
    }

    fn invalid(variable: &'static str, value: &str, hint: impl Into<String>) -> Self {
        SettingError::Invalid {
            variable,
            value: value.to_owned(),
            hint: hint.into(),
        }
    }
}

/// What a flag accepts, in every error about one.
const FLAG_HINT: &str = "expected true, false, 1 or 0 (case-insensitive)";

/// Parses a flag's value: `true/false/1/0`, any case; blank means `default`.
pub fn parse_flag(
    variable: &'static str,
    value: &str,
    default: bool,
) -> Result<bool, SettingError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" => Ok(default),
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(SettingError::invalid(variable, value, FLAG_HINT)),
    }
}

/// Parses an amount written as a decimal (`25000`, `0.5`): digits and one point, no sign, no
/// exponent, never through a float; zero only when `zero_allowed`.
pub fn parse_amount(
    variable: &'static str,
    value: &str,
    zero_allowed: bool,
) -> Result<Decimal, SettingError> {
    let text = value.trim();
    let plain = !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.');
    let amount: Decimal = if plain { text.parse().ok() } else { None }.ok_or_else(|| {
        SettingError::invalid(
            variable,
            text,
            "a decimal number such as 25000 or 0.5 (no sign, no exponent)",
        )
    })?;
    if amount.is_zero() && !zero_allowed {
        return Err(SettingError::invalid(
            variable,
            text,
            "must be greater than 0",
        ));
    }
    Ok(amount)
}

/// Settings read through a lookup: a variable's value, or `None` when unset.
pub struct Settings<F> {
    lookup: F,
}

impl Settings<fn(&str) -> Option<String>> {
    /// The process environment.
    pub fn process() -> Self {
        Settings {
            lookup: |variable: &str| std::env::var(variable).ok(),
        }
    }
}

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    /// Settings read through `lookup` (a test's map, the CLI's flags).
    pub fn from_lookup(lookup: F) -> Self {
        Settings { lookup }
    }

    /// The variable's value, trimmed; `None` when unset or blank.
    pub fn text(&self, variable: &str) -> Option<String> {
        (self.lookup)(variable)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// A required, non-empty variable.
    pub fn required(
        &self,
        variable: &'static str,
        hint: &'static str,
    ) -> Result<String, SettingError> {
        self.text(variable)
            .ok_or(SettingError::Missing { variable, hint })
    }

    /// A flag ([`parse_flag`]); unset or blank means `default`.
    pub fn flag(&self, variable: &'static str, default: bool) -> Result<bool, SettingError> {
        match self.text(variable) {
            None => Ok(default),
            Some(value) => parse_flag(variable, &value, default),
        }
    }

    /// A whole number (a size in bytes, a count); unset or blank means `default`.
    pub fn whole_number(&self, variable: &'static str, default: u64) -> Result<u64, SettingError> {
        self.whole(variable, default, "a whole number")
    }

    /// A whole number of seconds; unset or blank means `default`.
    pub fn seconds(&self, variable: &'static str, default: u64) -> Result<Duration, SettingError> {
        self.whole(variable, default, "a whole number of seconds")
            .map(Duration::from_secs)
    }

    /// A whole number of days; unset or blank means `default`.
    pub fn days(&self, variable: &'static str, default: u64) -> Result<Duration, SettingError> {
        let days = self.whole(variable, default, "a whole number of days")?;
        Ok(Duration::from_secs(days.saturating_mul(24 * 3600)))
    }

    /// An amount ([`parse_amount`]); unset or blank means `default`.
    pub fn amount(
        &self,
        variable: &'static str,
        default: Decimal,
        zero_allowed: bool,
    ) -> Result<Decimal, SettingError> {
        match self.text(variable) {
            None => Ok(default),
            Some(value) => parse_amount(variable, &value, zero_allowed),
        }
    }

    fn whole(&self, variable: &'static str, default: u64, hint: &str) -> Result<u64, SettingError> {
        match self.text(variable) {
            None => Ok(default),
            Some(value) => value
                .parse::<u64>()
                .map_err(|_| SettingError::invalid(variable, &value, hint)),
        }
    }
}

/// A variable of the process environment, trimmed; `None` when unset or blank.
pub fn text(variable: &str) -> Option<String> {
    Settings::process().text(variable)
}

/// A required, non-empty variable of the process environment.
pub fn required(variable: &'static str, hint: &'static str) -> Result<String, SettingError> {
    Settings::process().required(variable, hint)
}

/// A flag of the process environment; unset or blank means `default`.
pub fn flag(variable: &'static str, default: bool) -> Result<bool, SettingError> {
    Settings::process().flag(variable, default)
}

/// A whole number of seconds from the process environment; unset means `default`.
pub fn seconds(variable: &'static str, default: u64) -> Result<Duration, SettingError> {
    Settings::process().seconds(variable, default)
}

/// A whole number from the process environment; unset means `default`.
pub fn whole_number(variable: &'static str, default: u64) -> Result<u64, SettingError> {
    Settings::process().whole_number(variable, default)
}

/// A whole number of days from the process environment; unset means `default`.
pub fn days(variable: &'static str, default: u64) -> Result<Duration, SettingError> {
    Settings::process().days(variable, default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Settings<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(move |name: &str| map.get(name).cloned())
    }

    #[test]
    fn flags_accept_true_false_1_0_in_any_case_and_blank_is_the_default() {
        for (text, value) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("false", false),
            ("0", false),
            (" False ", false),
        ] {
            assert_eq!(parse_flag("X", text, !value).unwrap(), value, "{text}");
        }
        assert!(parse_flag("X", "", true).unwrap());
        assert!(!parse_flag("X", "  ", false).unwrap());
        let error = parse_flag("USE_EVENTBRIDGE", "yes", false).unwrap_err();
        assert_eq!(
            error.to_string(),
            "USE_EVENTBRIDGE=`yes` is not valid: expected true, false, 1 or 0 (case-insensitive)"
        );
    }

    #[test]
    fn amounts_are_plain_decimals_never_signed_or_exponents() {
        assert_eq!(
            parse_amount("A", "25000", false).unwrap(),
            Decimal::from(25000)
        );
        assert_eq!(parse_amount("A", "0.5", false).unwrap(), Decimal::new(5, 1));
        assert_eq!(parse_amount("A", "0", true).unwrap(), Decimal::ZERO);
        for bad in ["-1", "+1", "1e3", "1,000", "", "abc", "1.2.3"] {
            assert!(parse_amount("A", bad, true).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_amount("MAX_ORDER_NOTIONAL", "0", false)
                .unwrap_err()
                .to_string(),
            "MAX_ORDER_NOTIONAL=`0` is not valid: must be greater than 0"
        );
    }

    #[test]
    fn unset_or_blank_is_the_default_and_bad_values_name_the_variable() {
        let s = settings(&[
            ("BLANK", "  "),
            ("SECONDS", " 90 "),
            ("DAYS", "2"),
            ("BAD", "ten"),
        ]);
        assert_eq!(s.seconds("UNSET", 30).unwrap(), Duration::from_secs(30));
        assert_eq!(s.seconds("BLANK", 30).unwrap(), Duration::from_secs(30));
        assert_eq!(s.seconds("SECONDS", 30).unwrap(), Duration::from_secs(90));
        assert_eq!(s.days("DAYS", 1).unwrap(), Duration::from_secs(2 * 86_400));
        let error = s.whole_number("BAD", 1).unwrap_err();
        assert_eq!(error.variable(), "BAD");
        assert_eq!(error.to_string(), "BAD=`ten` is not valid: a whole number");
        assert_eq!(
            s.required("UNSET", "the queue's URL")
                .unwrap_err()
                .to_string(),
            "UNSET is not set: the queue's URL"
        );
        assert_eq!(s.required("BLANK", "x").unwrap_err().variable(), "BLANK");
        assert_eq!(
            s.amount("UNSET", Decimal::ONE, false).unwrap(),
            Decimal::ONE
        );
    }
}
