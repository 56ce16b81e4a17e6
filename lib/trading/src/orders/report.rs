//! What executing a plan came to, order by order: the report behind TradeExecuted, and the
//! numbers its consumers read (orders placed, filled, failed; the value traded).

use alchemiser_events::{Decimal, Symbol};
use serde::{Deserialize, Serialize};

use crate::broker::{OrderOutcome, OrderSide, OrderStatus};

/// Where one planned trade ended: the broker's status of its order, or why it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordStatus {
    /// The order filled in full.
    Filled,
    /// Part of it filled and the rest may still fill.
    PartiallyFilled,
    /// Taken by the broker, nothing filled yet.
    Pending,
    /// Canceled before it filled in full (what filled is in `filled_qty`).
    Canceled,
    /// Expired before it filled in full.
    Expired,
    /// Refused by the venue after the broker took it.
    Rejected,
    /// Replaced by an order someone else made.
    Replaced,
    /// The broker refused to take it (buying power, a bad symbol): it has no order.
    Failed,
    /// Not sent: the cash ran out before this buy.
    Skipped,
    /// Not sent, and not needed: a sell of a position the account no longer holds (another
    /// plan, or a person, already sold it).
    NotNeeded,
    /// Not sent: the plan stopped before it (a refusal after the plan started).
    NotPlaced,
    /// Not sent on purpose: a dry run.
    DryRun,
}

impl From<OrderStatus> for RecordStatus {
    fn from(status: OrderStatus) -> Self {
        match status {
            OrderStatus::Filled => RecordStatus::Filled,
            OrderStatus::PartiallyFilled => RecordStatus::PartiallyFilled,
            OrderStatus::Pending => RecordStatus::Pending,
            OrderStatus::Canceled => RecordStatus::Canceled,
            OrderStatus::Expired => RecordStatus::Expired,
            OrderStatus::Rejected => RecordStatus::Rejected,
            OrderStatus::Replaced => RecordStatus::Replaced,
        }
    }
}

impl RecordStatus {
    /// The name written in execution reports (`FILLED`, `NOT_PLACED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Filled => "FILLED",
            RecordStatus::PartiallyFilled => "PARTIALLY_FILLED",
            RecordStatus::Pending => "PENDING",
            RecordStatus::Canceled => "CANCELED",
            RecordStatus::Expired => "EXPIRED",
            RecordStatus::Rejected => "REJECTED",
            RecordStatus::Replaced => "REPLACED",
            RecordStatus::Failed => "FAILED",
            RecordStatus::Skipped => "SKIPPED",
            RecordStatus::NotNeeded => "NOT_NEEDED",
            RecordStatus::NotPlaced => "NOT_PLACED",
            RecordStatus::DryRun => "DRY_RUN",
        }
    }

    /// The order may still fill: its plan is not done.
    pub fn is_open(self) -> bool {
        matches!(self, RecordStatus::Pending | RecordStatus::PartiallyFilled)
    }

    /// The trade did what the plan intended (filled in full; not needed; or a dry run, which
    /// intends nothing).
    pub fn succeeded(self) -> bool {
        matches!(
            self,
            RecordStatus::Filled | RecordStatus::NotNeeded | RecordStatus::DryRun
        )
    }
}

/// What happened to one planned trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderRecord {
    /// The symbol.
    pub symbol: Symbol,
    /// `buy` or `sell`.
    pub side: OrderSide,
    /// Shares ordered (or that would have been, in a dry run).
    pub qty: Decimal,
    /// Price the quantity was sized at.
    pub price: Decimal,
    /// Idempotency key sent to the broker.
    pub client_order_id: String,
    /// Where it ended.
    pub status: RecordStatus,
    /// The broker's own word for the order's state (`filled`, `expired`, `done_for_day`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_status: Option<String>,
    /// The broker's order id, when the broker has the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Shares filled, when the broker has the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filled_qty: Option<Decimal>,
    /// Average fill price, when something filled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fill_price: Option<Decimal>,
    /// Why it did not fill in full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl OrderRecord {
    /// The broker has this order (it was taken, whatever became of it).
    pub fn placed(&self) -> bool {
        self.order_id.is_some()
    }

    /// What filled, at its fill price.
    pub fn filled_value(&self) -> Decimal {
        match (self.filled_qty, self.fill_price) {
            (Some(qty), Some(price)) => qty.checked_mul(price).unwrap_or(Decimal::MAX),
            _ => Decimal::ZERO,
        }
    }

    /// This record with the broker's view of its order.
    pub(crate) fn with_order(mut self, order: &OrderOutcome) -> Self {
        self.status = order.status.into();
        self.broker_status = Some(order.broker_status.clone());
        self.order_id = Some(order.order_id.clone());
        self.filled_qty = Some(order.filled_qty);
        self.fill_price = order.fill_price;
        if self.qty.is_zero() {
            self.qty = order.qty;
        }
        if self.price.is_zero() {
            self.price = order.fill_price.unwrap_or_default();
        }
        self.error = match order.status {
            OrderStatus::Filled | OrderStatus::Pending | OrderStatus::PartiallyFilled => None,
            OrderStatus::Replaced => Some(format!(
                "the broker reports the order replaced by {} (someone changed it by hand; the replacement is not followed)",
                order.replaced_by.as_deref().unwrap_or("another order")
            )),
            other => Some(format!(
                "the broker reports the order {} with {} of {} filled",
                other.as_str().to_ascii_lowercase(),
                order.filled_qty.normalize(),
                order.qty.normalize()
            )),
        };
        self
    }
}

/// The outcome of executing one plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExecutionReport {
    /// One record per BUY or SELL item, sells first.
    pub orders: Vec<OrderRecord>,
    /// True when nothing was placed on purpose.
    pub dry_run: bool,
    /// Why this was a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run_reason: Option<String>,
    /// Orders of this plan that an earlier attempt had placed (found, not placed again).
    pub resumed: u32,
}

impl ExecutionReport {
    fn count(&self, which: impl Fn(&OrderRecord) -> bool) -> u32 {
        u32::try_from(self.orders.iter().filter(|o| which(o)).count()).unwrap_or(u32::MAX)
    }

    /// Orders the broker has (taken, whatever became of them).
    pub fn orders_placed(&self) -> u32 {
        self.count(OrderRecord::placed)
    }

    /// Orders filled in full.
    pub fn orders_succeeded(&self) -> u32 {
        self.count(|o| o.status == RecordStatus::Filled)
    }

    /// Symbols whose trade did not do what the plan intended.
    pub fn failed_symbols(&self) -> Vec<String> {
        self.orders
            .iter()
            .filter(|o| !o.status.succeeded())
            .map(|o| o.symbol.to_string())
            .collect()
    }

    /// The value traded: Σ filled × fill price; in a dry run, Σ qty × sizing price.
    pub fn total_trade_value(&self) -> Decimal {
        self.orders
            .iter()
            .map(|o| match o.status {
                RecordStatus::DryRun => o.qty.checked_mul(o.price).unwrap_or(Decimal::MAX),
                _ => o.filled_value(),
            })
            .fold(Decimal::ZERO, |sum, value| sum.saturating_add(value))
            .round_dp(2)
    }

    /// A one-line reason when not every trade did what the plan intended, naming each.
    pub fn failure_reason(&self) -> Option<String> {
        let failures: Vec<String> = self
            .orders
            .iter()
            .filter(|o| !o.status.succeeded())
            .map(|o| {
                format!(
                    "{} {} {}: {}",
                    o.side.as_str(),
                    o.symbol,
                    o.status.as_str(),
                    o.error.as_deref().unwrap_or("did not fill")
                )
            })
            .collect();
        (!failures.is_empty()).then(|| failures.join("; "))
    }

    /// What was placed, in one line (`sell TLT 30.4: FILLED 30.4 at 100.00`), for a refusal of a
    /// plan that had started.
    pub fn placed_summary(&self) -> Option<String> {
        let placed: Vec<String> = self
            .orders
            .iter()
            .filter(|o| o.placed())
            .map(|o| {
                let filled = o.filled_qty.unwrap_or_default().normalize();
                match o.fill_price {
                    Some(price) => format!(
                        "{} {} {}: {} {filled} at {price}",
                        o.side.as_str(),
                        o.symbol,
                        o.qty.normalize(),
                        o.status.as_str()
                    ),
                    None => format!(
                        "{} {} {}: {} {filled}",
                        o.side.as_str(),
                        o.symbol,
                        o.qty.normalize(),
                        o.status.as_str()
                    ),
                }
            })
            .collect();
        (!placed.is_empty()).then(|| placed.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        status: RecordStatus,
        qty: &str,
        price: &str,
        filled: Option<(&str, &str)>,
    ) -> OrderRecord {
        OrderRecord {
            symbol: Symbol::parse("SPY").unwrap(),
            side: OrderSide::Buy,
            qty: qty.parse().unwrap(),
            price: price.parse().unwrap(),
            client_order_id: "c".into(),
            status,
            broker_status: None,
            order_id: None,
            filled_qty: filled.map(|(qty, _)| qty.parse().unwrap()),
            fill_price: filled.map(|(_, price)| price.parse().unwrap()),
            error: None,
        }
    }

    #[test]
    fn the_value_traded_is_what_filled_or_in_a_dry_run_what_would_have_been_sized() {
        let report = |orders| ExecutionReport {
            orders,
            ..ExecutionReport::default()
        };
        // 4 of 10 filled at 101: 404, not the 10 sized at 100.
        let traded = report(vec![
            record(RecordStatus::Canceled, "10", "100", Some(("4", "101"))),
            record(RecordStatus::Pending, "5", "100", None),
        ]);
        assert_eq!(traded.total_trade_value().to_string(), "404");
        let dry = report(vec![
            record(RecordStatus::DryRun, "10", "100.005", None),
            record(RecordStatus::DryRun, "2", "50", None),
        ]);
        assert_eq!(dry.total_trade_value().to_string(), "1100.05");
    }
}
