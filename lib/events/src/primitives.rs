//! Wire primitives shared by every event: UTC timestamps, ticker symbols and symbol-keyed maps.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ParseError;

/// A point in time, always UTC.
///
/// Read from RFC 3339 with any offset (`Z`, `+00:00`, `-05:00`, ...); a timestamp without an
/// offset is rejected because its instant is ambiguous. Written as RFC 3339 UTC with microseconds
/// and `Z`, as the Python system writes it (`2025-11-03T14:35:00.500000Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self(Utc::now())
    }

    /// Parses an RFC 3339 timestamp that carries a timezone offset.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(parsed) => Ok(Self(parsed.with_timezone(&Utc))),
            Err(_) if is_naive_datetime(text.trim()) => {
                Err(ParseError::TimestampWithoutOffset(text.to_owned()))
            }
            Err(err) => Err(ParseError::NotATimestamp {
                text: text.to_owned(),
                reason: err.to_string(),
            }),
        }
    }

    /// The wire form: RFC 3339, UTC, microseconds, `Z`.
    pub fn to_wire(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

fn is_naive_datetime(text: &str) -> bool {
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .any(|format| NaiveDateTime::parse_from_str(text, format).is_ok())
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.to_wire())
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        Self(value)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_wire())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimestampVisitor;
        impl Visitor<'_> for TimestampVisitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad("an RFC 3339 timestamp string with a timezone offset")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Timestamp, E> {
                Timestamp::parse(value).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(TimestampVisitor)
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 with a timezone offset; written as UTC with `Z`."
        })
    }
}

/// Longest ticker symbol the contract accepts.
pub const MAX_SYMBOL_LEN: usize = 10;

/// A ticker symbol: 1–10 characters, upper case (input is normalised), letters, digits, `.`, `-`
/// or `/` (e.g. `BRK.B`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Symbol(String);

impl Symbol {
    /// Normalises and checks a symbol.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let symbol = text.trim().to_ascii_uppercase();
        let length = symbol.chars().count();
        if length == 0 || length > MAX_SYMBOL_LEN {
            return Err(ParseError::SymbolLength {
                text: text.to_owned(),
                length,
            });
        }
        if let Some(bad) = symbol
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '/')))
        {
            return Err(ParseError::SymbolCharacter {
                text: text.to_owned(),
                bad,
            });
        }
        Ok(Self(symbol))
    }

    /// The symbol as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl std::str::FromStr for Symbol {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Self, ParseError> {
        Self::parse(text)
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SymbolVisitor;
        impl Visitor<'_> for SymbolVisitor {
            type Value = Symbol;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad("a ticker symbol string")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Symbol, E> {
                Symbol::parse(value).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(SymbolVisitor)
    }
}

impl JsonSchema for Symbol {
    fn schema_name() -> Cow<'static, str> {
        "Symbol".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_SYMBOL_LEN,
            "pattern": "^[A-Za-z0-9./-]+$"
        })
    }
}

/// A map keyed by symbol, sorted by symbol. Keys are normalised to upper case on input, and a
/// symbol that appears twice (in any case) is an error rather than a silent overwrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SymbolMap<V>(pub BTreeMap<Symbol, V>);

impl<V> Default for SymbolMap<V> {
    fn default() -> Self {
        Self(BTreeMap::new())
    }
}

impl<V> SymbolMap<V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<V> std::ops::Deref for SymbolMap<V> {
    type Target = BTreeMap<Symbol, V>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<V> std::ops::DerefMut for SymbolMap<V> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<V> FromIterator<(Symbol, V)> for SymbolMap<V> {
    fn from_iter<I: IntoIterator<Item = (Symbol, V)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SymbolMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SymbolMapVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for SymbolMapVisitor<V> {
            type Value = SymbolMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad("an object keyed by ticker symbol")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = BTreeMap::new();
                while let Some(symbol) = access.next_key::<Symbol>()? {
                    let value = access.next_value::<V>()?;
                    if map.contains_key(&symbol) {
                        return Err(de::Error::custom(format!(
                            "symbol `{symbol}` appears more than once (symbols are compared case-insensitively)"
                        )));
                    }
                    map.insert(symbol, value);
                }
                Ok(SymbolMap(map))
            }
        }
        deserializer.deserialize_map(SymbolMapVisitor(std::marker::PhantomData))
    }
}

impl<V: JsonSchema> JsonSchema for SymbolMap<V> {
    fn schema_name() -> Cow<'static, str> {
        format!("SymbolMap_{}", V::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let value = generator.subschema_for::<V>();
        json_schema!({
            "type": "object",
            "propertyNames": { "minLength": 1, "maxLength": MAX_SYMBOL_LEN, "pattern": "^[A-Za-z0-9./-]+$" },
            "additionalProperties": value
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_accept_any_offset_and_write_utc_z() {
        for (input, wire) in [
            ("2025-11-03T14:35:00Z", "2025-11-03T14:35:00.000000Z"),
            ("2025-11-03T14:35:00.5+00:00", "2025-11-03T14:35:00.500000Z"),
            ("2025-11-03T09:35:00-05:00", "2025-11-03T14:35:00.000000Z"),
        ] {
            assert_eq!(Timestamp::parse(input).unwrap().to_wire(), wire, "{input}");
        }
    }

    #[test]
    fn naive_timestamps_are_rejected_with_a_reason() {
        let err = Timestamp::parse("2025-11-03T14:35:00").unwrap_err();
        assert!(err.to_string().contains("no timezone offset"), "{err}");
        let err = Timestamp::parse("yesterday").unwrap_err();
        assert!(
            err.to_string().contains("not an RFC 3339 timestamp"),
            "{err}"
        );
    }

    #[test]
    fn symbols_are_normalised_and_bounded() {
        assert_eq!(Symbol::parse(" brk.b ").unwrap().as_str(), "BRK.B");
        let message = |text: &str| Symbol::parse(text).unwrap_err().to_string();
        assert!(message("").contains("1–10 characters"));
        assert!(message("ABCDEFGHIJK").contains("1–10 characters"));
        assert!(message("SP Y").contains("contains ` `"));
    }

    #[test]
    fn symbol_maps_reject_case_insensitive_duplicates() {
        let err = serde_json::from_str::<SymbolMap<u32>>(r#"{"spy": 1, "SPY": 2}"#).unwrap_err();
        assert!(
            err.to_string().contains("`SPY` appears more than once"),
            "{err}"
        );
        let map = serde_json::from_str::<SymbolMap<u32>>(r#"{"tlt": 1, "spy": 2}"#).unwrap();
        assert_eq!(serde_json::to_string(&map).unwrap(), r#"{"SPY":2,"TLT":1}"#);
    }
}
