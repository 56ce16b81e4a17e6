//! The contract's rules beyond shape that every event shares (the header's) and the checks the
//! payloads' own rules are made of; each broken rule is reported with the field's path.

use rust_decimal::Decimal;

use crate::error::ContractError;
use crate::event::EventHeader;

/// Target allocations must sum to 1 within this tolerance.
pub(crate) const ALLOCATION_SUM_TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// Largest plausible dollar amount; anything above is an upstream bug, not a trade.
const MAX_MONEY: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0); // 1e15

pub(crate) type Checked = Result<(), ContractError>;

impl EventHeader {
    /// Ids present, producer named, schema version 1.x.
    pub fn validate(&self) -> Checked {
        id("event_id", &self.event_id)?;
        id("correlation_id", &self.correlation_id)?;
        id("causation_id", &self.causation_id)?;
        non_empty("source_module", &self.source_module)?;
        self.validate_provenance()?;
        if self.schema_version.split('.').next() != Some("1") {
            return Err(ContractError::rule(
                "schema_version",
                format!(
                    "is `{}` but this consumer reads version 1.x only",
                    self.schema_version
                ),
            ));
        }
        Ok(())
    }
}

/// An id: not empty, and printable text — no control character (an escape sequence, a line
/// break) and no character that reorders text around it, which would reach every terminal and
/// log line that shows the id. The error names the character, never shows it.
pub(crate) fn id(field: &str, value: &str) -> Checked {
    non_empty(field, value)?;
    if let Some((position, bad)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| crate::text::is_hidden_control(*c))
    {
        return Err(ContractError::rule(
            field,
            format!(
                "contains the control character U+{:04X} at character {}: ids are printable text",
                u32::from(bad),
                position + 1
            ),
        ));
    }
    Ok(())
}

pub(crate) fn non_empty(field: &str, value: &str) -> Checked {
    if value.trim().is_empty() {
        return Err(ContractError::rule(field, "must not be empty"));
    }
    Ok(())
}

pub(crate) fn weight_in_unit_range(field: &str, weight: Decimal) -> Checked {
    if weight < Decimal::ZERO || weight > Decimal::ONE {
        return Err(ContractError::rule(
            field,
            format!("must be a weight between 0 and 1 (found {weight})"),
        ));
    }
    Ok(())
}

pub(crate) fn money(field: &str, amount: Decimal, signed: bool) -> Checked {
    if !signed && amount < Decimal::ZERO {
        return Err(ContractError::rule(
            field,
            format!("must not be negative (found {amount})"),
        ));
    }
    if amount.abs() > MAX_MONEY {
        return Err(ContractError::rule(
            field,
            format!("is implausibly large ({amount}); amounts above 1e15 are rejected"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_hold_the_values_their_names_promise() {
        assert_eq!(ALLOCATION_SUM_TOLERANCE.to_string(), "0.01");
        assert_eq!(MAX_MONEY, Decimal::from(1_000_000_000_000_000_i64));
    }
}
