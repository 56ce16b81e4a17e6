//! Placing a plan's orders: sells first, then buys within the cash the sells freed.

use alchemiser_events::{Decimal, PlanItem, RebalancePlan, Symbol, TradeAction};
use rust_decimal::RoundingStrategy;
use serde::Serialize;

use crate::broker::{Broker, BrokerError, OrderRequest, OrderSide, OrderStatus};

/// Share quantities are sent with at most this many decimal places (rounded down, so an order
/// never costs more than planned).
const QTY_PLACES: u32 = 6;

/// Whether orders are really placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionMode {
    /// Place the orders.
    Live,
    /// Compute the orders and place none (e.g. an event replayed from the archive).
    DryRun {
        /// Why this run places nothing.
        reason: String,
    },
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
    /// `FILLED`, `ACCEPTED`, `FAILED`, `SKIPPED` or `DRY_RUN`.
    pub status: &'static str,
    /// The broker's order id, when placed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Average fill price, when filled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fill_price: Option<Decimal>,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl OrderRecord {
    fn placed(&self) -> bool {
        matches!(self.status, "FILLED" | "ACCEPTED" | "FAILED")
    }
    fn succeeded(&self) -> bool {
        matches!(self.status, "FILLED" | "ACCEPTED")
    }
    fn failed(&self) -> bool {
        matches!(self.status, "FAILED" | "SKIPPED")
    }
}

/// The outcome of executing one plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecutionReport {
    /// One record per BUY or SELL item, in the order executed.
    pub orders: Vec<OrderRecord>,
    /// True when nothing was placed on purpose.
    pub dry_run: bool,
    /// Why this was a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run_reason: Option<String>,
}

impl ExecutionReport {
    /// Orders sent to the broker.
    pub fn orders_placed(&self) -> u32 {
        self.orders.iter().filter(|o| o.placed()).count() as u32
    }
    /// Orders the broker filled or accepted.
    pub fn orders_succeeded(&self) -> u32 {
        self.orders.iter().filter(|o| o.succeeded()).count() as u32
    }
    /// Symbols whose trade failed or was skipped.
    pub fn failed_symbols(&self) -> Vec<String> {
        self.orders
            .iter()
            .filter(|o| o.failed())
            .map(|o| o.symbol.to_string())
            .collect()
    }
    /// A one-line reason when not every trade went through.
    pub fn failure_reason(&self) -> Option<String> {
        let failures: Vec<String> = self
            .orders
            .iter()
            .filter(|o| o.failed())
            .map(|o| {
                format!(
                    "{} {}: {}",
                    o.side.as_str(),
                    o.symbol,
                    o.error.as_deref().unwrap_or("failed")
                )
            })
            .collect();
        (!failures.is_empty()).then(|| failures.join("; "))
    }
}

/// Executes `plan` with `broker`. Fails as a whole only if the account cannot be read before
/// any order is placed (nothing has happened, so the event can be retried safely); a failure of
/// one order fails that order and the others go on.
pub async fn execute_plan(
    plan: &RebalancePlan,
    broker: &dyn Broker,
    mode: &ExecutionMode,
) -> Result<ExecutionReport, BrokerError> {
    let positions = broker.positions().await?;
    let mut cash = broker.account().await?.cash;
    let dry_run = matches!(mode, ExecutionMode::DryRun { .. });
    let mut orders = Vec::new();

    let (sells, buys): (Vec<&PlanItem>, Vec<&PlanItem>) = plan
        .items
        .iter()
        .filter(|item| item.action != TradeAction::Hold)
        .partition(|item| item.action == TradeAction::Sell);

    for item in sells {
        let held = positions
            .iter()
            .find(|p| p.symbol == item.symbol)
            .map_or(Decimal::ZERO, |p| p.qty);
        let record = match broker.latest_price(&item.symbol).await {
            Err(error) => failed(
                plan,
                item,
                OrderSide::Sell,
                Decimal::ZERO,
                Decimal::ZERO,
                &error,
            ),
            Ok(price) => {
                // Selling out of a position sells every share, so no dust is left behind.
                let wanted = if item.target_weight.is_zero() {
                    held
                } else {
                    shares(item.trade_amount.abs(), price).min(held)
                };
                let record = place(plan, item, OrderSide::Sell, wanted, price, broker, mode).await;
                if record.succeeded() || record.status == "DRY_RUN" {
                    cash += record.qty * record.fill_price.unwrap_or(price);
                }
                record
            }
        };
        orders.push(record);
    }
    if !dry_run {
        // The broker is the truth about what the sells freed (fees, partial fills).
        cash = broker.account().await.map(|a| a.cash).unwrap_or(cash);
    }
    for item in buys {
        let record = match broker.latest_price(&item.symbol).await {
            Err(error) => failed(
                plan,
                item,
                OrderSide::Buy,
                Decimal::ZERO,
                Decimal::ZERO,
                &error,
            ),
            Ok(price) => {
                let notional = item.trade_amount.min(cash).max(Decimal::ZERO);
                let qty = shares(notional, price);
                let record = if qty.is_zero() {
                    OrderRecord {
                        error: Some(format!(
                            "insufficient cash: {cash} available for a {} buy",
                            item.trade_amount
                        )),
                        ..record(plan, item, OrderSide::Buy, qty, price, "SKIPPED")
                    }
                } else {
                    place(plan, item, OrderSide::Buy, qty, price, broker, mode).await
                };
                if record.succeeded() || record.status == "DRY_RUN" {
                    cash -= record.qty * record.fill_price.unwrap_or(price);
                }
                record
            }
        };
        orders.push(record);
    }
    Ok(ExecutionReport {
        orders,
        dry_run,
        dry_run_reason: match mode {
            ExecutionMode::DryRun { reason } => Some(reason.clone()),
            ExecutionMode::Live => None,
        },
    })
}

async fn place(
    plan: &RebalancePlan,
    item: &PlanItem,
    side: OrderSide,
    qty: Decimal,
    price: Decimal,
    broker: &dyn Broker,
    mode: &ExecutionMode,
) -> OrderRecord {
    if qty.is_zero() {
        return OrderRecord {
            error: Some("nothing to trade at the current price".into()),
            ..record(plan, item, side, qty, price, "SKIPPED")
        };
    }
    if let ExecutionMode::DryRun { .. } = mode {
        return record(plan, item, side, qty, price, "DRY_RUN");
    }
    let request = OrderRequest {
        symbol: item.symbol.clone(),
        side,
        qty,
        client_order_id: client_order_id(plan, item, side),
    };
    match broker.place_market_order(&request).await {
        Ok(outcome) => OrderRecord {
            order_id: Some(outcome.order_id),
            fill_price: outcome.fill_price,
            ..record(
                plan,
                item,
                side,
                qty,
                price,
                match outcome.status {
                    OrderStatus::Filled => "FILLED",
                    OrderStatus::Accepted => "ACCEPTED",
                },
            )
        },
        Err(error) => failed(plan, item, side, qty, price, &error),
    }
}

fn failed(
    plan: &RebalancePlan,
    item: &PlanItem,
    side: OrderSide,
    qty: Decimal,
    price: Decimal,
    error: &BrokerError,
) -> OrderRecord {
    tracing::warn!(symbol = %item.symbol, side = side.as_str(), %error, "order failed");
    OrderRecord {
        error: Some(error.to_string()),
        ..record(plan, item, side, qty, price, "FAILED")
    }
}

fn record(
    plan: &RebalancePlan,
    item: &PlanItem,
    side: OrderSide,
    qty: Decimal,
    price: Decimal,
    status: &'static str,
) -> OrderRecord {
    OrderRecord {
        symbol: item.symbol.clone(),
        side,
        qty,
        price,
        client_order_id: client_order_id(plan, item, side),
        status,
        order_id: None,
        fill_price: None,
        error: None,
    }
}

/// One key per plan, symbol and side: a redelivered plan asks the broker for the same order.
fn client_order_id(plan: &RebalancePlan, item: &PlanItem, side: OrderSide) -> String {
    format!("{}-{}-{}", plan.plan_id, item.symbol, side.as_str())
}

fn shares(notional: Decimal, price: Decimal) -> Decimal {
    if price <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    (notional / price)
        .round_dp_with_strategy(QTY_PLACES, RoundingStrategy::ToZero)
        .normalize()
}
