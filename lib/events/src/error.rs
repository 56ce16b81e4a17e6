//! The contract's errors: every message names the field or value and the rule it broke.

use thiserror::Error;

use crate::primitives::MAX_SYMBOL_LEN;

/// A single value that is not one the contract accepts (a symbol, a timestamp, a name).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// A symbol that is empty or too long.
    #[error("symbol `{text}` must be 1–{MAX_SYMBOL_LEN} characters long (it has {length})")]
    SymbolLength {
        /// The text given.
        text: String,
        /// Its length in characters after trimming.
        length: usize,
    },
    /// A symbol with a character outside the allowed set.
    #[error(
        "symbol `{text}` contains `{bad}`; only letters, digits, `.`, `-` and `/` are allowed"
    )]
    SymbolCharacter {
        /// The text given.
        text: String,
        /// The first character that is not allowed.
        bad: char,
    },
    /// A date and time without an offset: its instant is ambiguous.
    #[error("timestamp `{0}` has no timezone offset; write it in UTC with `Z` (e.g. `2025-11-03T14:35:00Z`)")]
    TimestampWithoutOffset(String),
    /// Not an RFC 3339 timestamp at all.
    #[error(
        "`{text}` is not an RFC 3339 timestamp ({reason}); expected e.g. `2025-11-03T14:35:00Z`"
    )]
    NotATimestamp {
        /// The text given.
        text: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A name that is not one of a known set (an event type, a handler).
    #[error("unknown {kind} `{found}`; known {kind}s: {known}")]
    Unknown {
        /// What was being named, e.g. `event type`.
        kind: &'static str,
        /// The name given.
        found: String,
        /// The known names, comma-separated.
        known: String,
    },
}

/// Why an input is not a valid Alchemiser event. Each variant says what to fix.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ContractError {
    /// The input had no content at all.
    #[error(
        "input is empty: expected an EventBridge envelope or an event detail as a JSON object"
    )]
    Empty,
    /// The input is not JSON.
    #[error("input is not valid JSON: {0}")]
    NotJson(String),
    /// The input is JSON but not an object.
    #[error("expected a JSON object (an EventBridge envelope or an event detail), found {found}")]
    NotAnObject {
        /// The JSON kind that was found instead, e.g. `an array`.
        found: &'static str,
    },
    /// The envelope's `detail` is a string that does not hold a JSON object.
    #[error("envelope `detail` is a string but not a JSON object: {0}")]
    DetailNotJson(String),
    /// The event type is not one the contract knows.
    #[error("`{field}`: unknown event type `{found}`; known types: {known}")]
    UnknownEventType {
        /// Where the type was read (`event_type` or `detail-type`).
        field: &'static str,
        /// The value that was found.
        found: String,
        /// The known types, comma-separated.
        known: String,
    },
    /// A field is missing or has a value of the wrong shape (reported by the decoder).
    #[error("`{field}`: {message}")]
    Malformed {
        /// Dotted path of the offending field, e.g. `rebalance_plan.items[0].priority`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A field is well-formed but breaks a rule of the contract.
    #[error("`{field}` {rule}")]
    Rule {
        /// Dotted path of the offending field.
        field: String,
        /// The rule it broke, phrased to follow the field name.
        rule: String,
    },
    /// The envelope says one type, the detail another.
    #[error("envelope `detail-type` is `{envelope}` but the detail's `event_type` is `{detail}`: they must be equal")]
    DetailTypeMismatch {
        /// The envelope's `detail-type`.
        envelope: String,
        /// The detail's `event_type`.
        detail: String,
    },
}

impl ContractError {
    pub(crate) fn rule(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::Rule {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// The dotted path of the field at fault, when the error concerns one field.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Malformed { field, .. } | Self::Rule { field, .. } => Some(field),
            Self::UnknownEventType { field, .. } => Some(field),
            _ => None,
        }
    }
}
