//! The stage's pre-trade limits ([`RiskLimits`]) and how they are read from settings: the
//! variables of the team plan (`MAX_ORDER_NOTIONAL`, ...), from the environment in Lambda or from
//! the CLI's flags, through the one parser here so both refuse the same values the same way.

use alchemiser_events::{Decimal, Symbol};
use alchemiser_settings::{SettingError, Settings};

/// The stage's pre-trade limits (issue 23). A plan that breaks one as a whole is refused before
/// its first order; an order that would break one once the plan has started stops the plan
/// (what is open is canceled, what was placed is reported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskLimits {
    /// The largest notional (shares × the price they are sized at) of one order, buy or sell
    /// (`MAX_ORDER_NOTIONAL`).
    pub max_order_notional: Decimal,
    /// The largest turnover of one plan as a fraction of the account's equity: the larger of
    /// what it buys and what it sells (`MAX_PLAN_TURNOVER`). 1 lets a plan rotate the whole
    /// account once; more than that no unleveraged rebalance needs.
    pub max_plan_turnover: Decimal,
    /// The most bought per trading day across all plans, counted from the broker's orders of
    /// the day: what filled, and what open buys may still fill (`MAX_DAILY_BUY_NOTIONAL`).
    pub max_daily_buy_notional: Decimal,
    /// The most orders per trading day, counted from the broker's orders of the day, whoever
    /// placed them (`MAX_DAILY_ORDERS`).
    pub max_daily_orders: u32,
    /// Sells that failed (unfilled, at the price they were sized at) worth more than this block
    /// the plan's buys (`MAX_FAILED_SELL_NOTIONAL`).
    pub max_failed_sell_notional: Decimal,
    /// The only symbols ever bought; empty: any (`BUY_ALLOW_LIST`).
    pub buy_allow_list: Vec<Symbol>,
}

impl Default for RiskLimits {
    /// The production stage's numbers (infra/config/stages.json): an order of at most 25,000, a
    /// plan turning over at most the account once, 100,000 bought and 40 orders per trading day,
    /// buys blocked after 500 of failed sells (the Python system's threshold), any symbol.
    /// Safe rather than permissive: a stage with a larger account raises them, and a limit too
    /// tight shows at once as a refused plan (WorkflowFailed and an alarm), never as a loss.
    fn default() -> Self {
        Self {
            max_order_notional: Decimal::new(25_000, 0),
            max_plan_turnover: Decimal::ONE,
            max_daily_buy_notional: Decimal::new(100_000, 0),
            max_daily_orders: 40,
            max_failed_sell_notional: Decimal::new(500, 0),
            buy_allow_list: Vec::new(),
        }
    }
}

impl RiskLimits {
    /// Limits that never trip (a test or a simulation that studies something else).
    pub fn unlimited() -> Self {
        Self {
            max_order_notional: Decimal::MAX,
            max_plan_turnover: Decimal::MAX,
            max_daily_buy_notional: Decimal::MAX,
            max_daily_orders: u32::MAX,
            max_failed_sell_notional: Decimal::MAX,
            buy_allow_list: Vec::new(),
        }
    }

    /// Whether `symbol` may be bought.
    pub fn may_buy(&self, symbol: &Symbol) -> bool {
        self.buy_allow_list.is_empty() || self.buy_allow_list.contains(symbol)
    }
}

impl RiskLimits {
    /// The limits `setting` gives (a variable's value, `None` or blank when unset: the default).
    /// Amounts are decimals written as such (`25000`, `0.5`): never through a float, no
    /// exponent, no sign.
    pub fn from_settings(
        setting: impl Fn(&'static str) -> Option<String>,
    ) -> Result<Self, SettingError> {
        let defaults = Self::default();
        // The lookup names only the variables read here, all of them static.
        let settings = Settings::from_lookup(|variable: &str| {
            LIMIT_VARIABLES
                .iter()
                .find(|known| **known == variable)
                .and_then(|known| setting(known))
        });
        let max_daily_orders = match settings.text("MAX_DAILY_ORDERS") {
            None => defaults.max_daily_orders,
            Some(text) => match text.parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(SettingError::Invalid {
                        variable: "MAX_DAILY_ORDERS",
                        value: text,
                        hint: "a whole number of orders, at least 1".into(),
                    })
                }
            },
        };
        let mut buy_allow_list = Vec::new();
        for name in settings
            .text("BUY_ALLOW_LIST")
            .unwrap_or_default()
            .split(',')
        {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            let symbol = Symbol::parse(name).map_err(|e| SettingError::Invalid {
                variable: "BUY_ALLOW_LIST",
                value: name.to_owned(),
                hint: format!("a comma-separated list of ticker symbols ({e})"),
            })?;
            if !buy_allow_list.contains(&symbol) {
                buy_allow_list.push(symbol);
            }
        }
        Ok(Self {
            max_order_notional: settings.amount(
                "MAX_ORDER_NOTIONAL",
                defaults.max_order_notional,
                false,
            )?,
            max_plan_turnover: settings.amount(
                "MAX_PLAN_TURNOVER",
                defaults.max_plan_turnover,
                false,
            )?,
            max_daily_buy_notional: settings.amount(
                "MAX_DAILY_BUY_NOTIONAL",
                defaults.max_daily_buy_notional,
                false,
            )?,
            max_daily_orders,
            // 0 is a choice: any failed sell blocks the buys.
            max_failed_sell_notional: settings.amount(
                "MAX_FAILED_SELL_NOTIONAL",
                defaults.max_failed_sell_notional,
                true,
            )?,
            buy_allow_list,
        })
    }
}

/// The variables of the pre-trade limits, as the stack sets them (`riskLimits`).
pub const LIMIT_VARIABLES: [&str; 6] = [
    "MAX_ORDER_NOTIONAL",
    "MAX_PLAN_TURNOVER",
    "MAX_DAILY_BUY_NOTIONAL",
    "MAX_DAILY_ORDERS",
    "MAX_FAILED_SELL_NOTIONAL",
    "BUY_ALLOW_LIST",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<RiskLimits, SettingError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RiskLimits::from_settings(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn unset_and_blank_settings_are_the_safe_defaults() {
        assert_eq!(parse(&[]).unwrap(), RiskLimits::default());
        assert_eq!(
            parse(&[("MAX_ORDER_NOTIONAL", " "), ("BUY_ALLOW_LIST", "")]).unwrap(),
            RiskLimits::default()
        );
        assert_eq!(
            RiskLimits::default().max_failed_sell_notional,
            Decimal::new(500, 0)
        );
    }

    #[test]
    fn every_limit_is_read_exactly() {
        let limits = parse(&[
            ("MAX_ORDER_NOTIONAL", "1234.56"),
            ("MAX_PLAN_TURNOVER", "0.35"),
            ("MAX_DAILY_BUY_NOTIONAL", "99999.99"),
            ("MAX_DAILY_ORDERS", "12"),
            ("MAX_FAILED_SELL_NOTIONAL", "0"),
            ("BUY_ALLOW_LIST", "spy, TLT,SPY,"),
        ])
        .unwrap();
        assert_eq!(limits.max_order_notional.to_string(), "1234.56");
        assert_eq!(limits.max_plan_turnover.to_string(), "0.35");
        assert_eq!(limits.max_daily_buy_notional.to_string(), "99999.99");
        assert_eq!(limits.max_daily_orders, 12);
        assert!(limits.max_failed_sell_notional.is_zero());
        let names: Vec<String> = limits
            .buy_allow_list
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["SPY", "TLT"]);
    }

    #[test]
    fn bad_values_are_one_line_naming_the_variable() {
        for (variable, value, says) in [
            ("MAX_ORDER_NOTIONAL", "1e5", "no exponent"),
            ("MAX_ORDER_NOTIONAL", "-5", "no sign"),
            ("MAX_ORDER_NOTIONAL", "0", "greater than 0"),
            ("MAX_PLAN_TURNOVER", "0.0", "greater than 0"),
            ("MAX_DAILY_BUY_NOTIONAL", "lots", "decimal number"),
            ("MAX_FAILED_SELL_NOTIONAL", "5OO", "decimal number"),
            ("MAX_DAILY_ORDERS", "0", "at least 1"),
            ("MAX_DAILY_ORDERS", "2.5", "whole number"),
            ("BUY_ALLOW_LIST", "SPY,not a symbol", "ticker symbols"),
        ] {
            let error = parse(&[(variable, value)]).unwrap_err();
            let line = error.to_string();
            assert!(
                line.starts_with(variable) && line.contains(says) && !line.contains('\n'),
                "{line}"
            );
        }
    }
}
