//! The orders a TradeExecuted reports, one row each, read from the event the ledger kept: what
//! the console's order tables and the local store's order index hold.
//!
//! The report's `execution_data.orders` is read leniently: the Rust execution writes its order
//! records (`qty`, `price`, `status` in capitals, `fill_price`, ...), the Python system writes
//! fewer fields (`notional`, a lower-case `status`); a field this code does not know is left
//! alone, a missing one stays empty, a number may come as a string or a JSON number.

use std::str::FromStr;

use alchemiser_events::{Decimal, EventType};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::EventEntry;

/// One order of a trade report, with where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRow {
    /// The workflow.
    pub correlation_id: String,
    /// The TradeExecuted that reports it.
    pub event_id: String,
    /// Its place in that report (0 = first).
    pub position: usize,
    /// When the report was made (the TradeExecuted's time).
    pub at: DateTime<Utc>,
    /// The plan it executes (`execution_data.plan_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
    /// The symbol, upper case.
    pub symbol: String,
    /// `buy` or `sell`, lower case (as the broker spells it).
    pub side: String,
    /// Shares ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qty: Option<Decimal>,
    /// Dollars ordered, for an order given as an amount (the Python system's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notional: Option<Decimal>,
    /// The price the plan's amount was turned into shares at: the quote when execution sized
    /// the order, the price the plan meant to trade at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    /// Where it ended, as the report writes it (`FILLED`, `CANCELED`, `filled`, ...).
    pub status: String,
    /// The broker's own word for the order's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_status: Option<String>,
    /// The idempotency key sent to the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_order_id: Option<String>,
    /// The broker's order id, when the broker took it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Shares filled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filled_qty: Option<Decimal>,
    /// Average fill price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill_price: Option<Decimal>,
    /// Why it did not fill in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Nothing was sent on purpose (a dry run of the whole plan).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// The archive replay the report derives from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
}

/// The orders of `event`, when it is a TradeExecuted whose detail the ledger kept.
pub fn orders_of(correlation_id: &str, event: &EventEntry) -> Vec<OrderRow> {
    if event.event_type != EventType::TradeExecuted {
        return Vec::new();
    }
    let Some(data) = event.detail.as_ref().and_then(|d| d.get("execution_data")) else {
        return Vec::new();
    };
    let plan_id = text(data.get("plan_id"));
    let dry_run = data.get("dry_run").and_then(Value::as_bool) == Some(true);
    data.get("orders")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(position, order)| {
            let field = |key: &str| text(order.get(key));
            let number = |key: &str| decimal(order.get(key));
            OrderRow {
                correlation_id: correlation_id.to_owned(),
                event_id: event.event_id.clone(),
                position,
                at: event.time.0,
                plan_id: plan_id.clone(),
                symbol: field("symbol").unwrap_or_default().to_uppercase(),
                side: field("side").unwrap_or_default().to_lowercase(),
                qty: number("qty"),
                notional: number("notional"),
                price: number("price").filter(|p| !p.is_zero()),
                status: field("status").unwrap_or_else(|| "unknown".into()),
                broker_status: field("broker_status"),
                client_order_id: field("client_order_id"),
                order_id: field("order_id"),
                filled_qty: number("filled_qty"),
                fill_price: number("fill_price"),
                error: field("error").or_else(|| field("reason")),
                dry_run,
                replay: event.replay.clone(),
            }
        })
        .collect()
}

/// Whether a report's `status` says the order filled in full.
pub fn is_filled(status: &str) -> bool {
    status.eq_ignore_ascii_case("filled")
}

/// Whether a report's `status` says the trade did what the plan intended: filled, not needed
/// (nothing left to sell), or a dry run (which intends nothing).
pub fn succeeded(status: &str) -> bool {
    ["filled", "not_needed", "dry_run"]
        .iter()
        .any(|s| status.eq_ignore_ascii_case(s))
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A decimal given as a string or a JSON number (read from its text: never through a float).
fn decimal(value: Option<&Value>) -> Option<Decimal> {
    let text = text(value)?;
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

impl OrderRow {
    /// What tells this row apart among the rows of one time: workflow, report, place. Ids never
    /// hold control characters (the contract refuses them), so the separator cannot occur in
    /// them.
    pub fn row_key(&self) -> String {
        format!(
            "{}\u{1f}{}\u{1f}{:05}",
            self.correlation_id, self.event_id, self.position
        )
    }

    /// A buy (else a sell).
    pub fn is_buy(&self) -> bool {
        self.side == "buy"
    }

    /// The order filled in full.
    pub fn is_filled(&self) -> bool {
        is_filled(&self.status)
    }

    /// The trade did what the plan intended: filled, not needed, or a dry run.
    pub fn succeeded(&self) -> bool {
        succeeded(&self.status)
    }

    /// What filled, at its fill price: filled quantity × fill price; for a report that gives
    /// only an amount and says it filled (the Python system's), that amount.
    pub fn filled_value(&self) -> Option<Decimal> {
        match (self.filled_qty, self.fill_price) {
            (Some(qty), Some(price)) => qty.checked_mul(price).map(|v| v.round_dp(2)),
            _ if self.is_filled() => self.notional,
            _ => None,
        }
    }

    /// How much worse than its price the order filled, in basis points of that price: for a
    /// buy, paying more; for a sell, receiving less (negative: better than the price). `None`
    /// without both prices. Rounded to 0.01 bp.
    pub fn slippage_bps(&self) -> Option<Decimal> {
        let price = self.price.filter(|p| !p.is_zero())?;
        let fill = self.fill_price?;
        let worse = if self.is_buy() {
            fill.checked_sub(price)?
        } else {
            price.checked_sub(fill)?
        };
        Some(
            worse
                .checked_mul(Decimal::from(10_000))?
                .checked_div(price)?
                .round_dp(2),
        )
    }

    /// The ids a person may search this order by: the broker's order id and the client order id.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.order_id
            .as_deref()
            .into_iter()
            .chain(self.client_order_id.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alchemiser_events::Timestamp;
    use serde_json::json;

    fn trade(orders: Value) -> EventEntry {
        EventEntry {
            event_id: "trade-1".into(),
            event_type: EventType::TradeExecuted,
            causation_id: "plan-event".into(),
            producer: "execution".into(),
            source: None,
            time: Timestamp(Utc::now()),
            recorded_at: Utc::now(),
            handled_by: None,
            outcome: None,
            replay: None,
            detail: Some(json!({"execution_data": {"plan_id": "plan-1", "orders": orders}})),
        }
    }

    #[test]
    fn slippage_is_what_the_fill_cost_against_the_price_in_basis_points() {
        let rows = orders_of(
            "w",
            &trade(json!([
                {"symbol": "spy", "side": "buy", "qty": "10", "price": "500.00", "status": "FILLED",
                 "filled_qty": "10", "fill_price": "500.25"},
                {"symbol": "TLT", "side": "sell", "qty": 3, "price": 100, "status": "FILLED",
                 "filled_qty": 3, "fill_price": 100.1}
            ])),
        );
        assert_eq!(rows[0].symbol, "SPY");
        assert_eq!(rows[0].slippage_bps(), Some(Decimal::new(5, 0)));
        assert_eq!(rows[0].filled_value(), Some(Decimal::new(500250, 2)));
        // A sell that fills higher than its price did better: negative slippage.
        assert_eq!(rows[1].slippage_bps(), Some(Decimal::new(-10, 0)));
        assert_eq!(rows[1].plan_id.as_deref(), Some("plan-1"));
    }

    #[test]
    fn a_report_in_the_python_systems_form_reads_with_what_it_has() {
        let rows = orders_of(
            "w",
            &trade(
                json!([{"symbol": "TLT", "side": "sell", "notional": "3040.00", "status": "filled"}]),
            ),
        );
        let [row] = &rows[..] else { panic!("{rows:?}") };
        assert_eq!(row.notional, Some(Decimal::new(304000, 2)));
        assert_eq!(row.filled_value(), Some(Decimal::new(304000, 2)));
        assert_eq!(row.slippage_bps(), None);
        assert!(row.is_filled());
    }

    #[test]
    fn a_price_of_zero_has_no_slippage_rather_than_a_division_by_zero() {
        let rows = orders_of(
            "w",
            &trade(
                json!([{"symbol": "X", "side": "buy", "price": "0", "fill_price": "1", "status": "FILLED"}]),
            ),
        );
        assert_eq!(rows[0].slippage_bps(), None);
    }
}
