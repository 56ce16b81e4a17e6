//! The portfolio handler: `SignalGenerated` → `RebalancePlanned`.

use std::collections::BTreeMap;
use std::sync::Arc;

use alchemiser_bus::{Delivery, EventHandler, HandlerError};
use alchemiser_events::{
    Event, EventType, RebalancePlan, RebalancePlanned, SignalGenerated, SCHEMA_VERSION,
};
use async_trait::async_trait;

use super::{follow, wrong_event};
use crate::broker::{Broker, BrokerError};
use crate::planner::{plan_rebalance, PlannerConfig, PortfolioSnapshot};

/// `SignalGenerated` → `RebalancePlanned`, from the broker's account.
pub struct PortfolioHandler {
    broker: Arc<dyn Broker>,
    config: PlannerConfig,
}

impl PortfolioHandler {
    /// A portfolio handler planning against `broker`'s account.
    pub fn new(broker: Arc<dyn Broker>, config: PlannerConfig) -> Self {
        Self { broker, config }
    }

    async fn snapshot(&self, signal: &SignalGenerated) -> Result<PortfolioSnapshot, BrokerError> {
        let cash = self.broker.account().await?.cash;
        let positions = self.broker.positions().await?;
        let mut prices = BTreeMap::new();
        for symbol in signal.consolidated_portfolio.target_allocations.keys() {
            if !positions.iter().any(|p| &p.symbol == symbol) {
                prices.insert(symbol.clone(), self.broker.latest_price(symbol).await?);
            }
        }
        Ok(PortfolioSnapshot {
            cash,
            positions,
            prices,
        })
    }

    /// Plans the rebalance for one signal.
    pub async fn plan(&self, signal: &SignalGenerated) -> Result<RebalancePlanned, HandlerError> {
        let snapshot = self.snapshot(signal).await?;
        let proposal = plan_rebalance(
            &signal.consolidated_portfolio.target_allocations,
            &snapshot,
            &self.config,
        )
        .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        let header = follow(&signal.header, EventType::RebalancePlanned, "portfolio");
        let plan = RebalancePlan {
            schema_version: SCHEMA_VERSION.into(),
            correlation_id: header.correlation_id.clone(),
            causation_id: signal.header.event_id.clone(),
            timestamp: header.timestamp,
            plan_id: format!("plan-{}", uuid_suffix(&header.event_id)),
            strategy_id: None,
            items: proposal.items,
            total_portfolio_value: proposal.total_portfolio_value,
            total_trade_value: proposal.total_trade_value,
            max_drift_tolerance: self.config.max_drift_tolerance,
            execution_urgency: Default::default(),
            estimated_duration_minutes: None,
            metadata: None,
        };
        Ok(RebalancePlanned {
            header,
            rebalance_plan: plan,
            allocation_comparison: proposal.allocation_comparison,
            trades_required: proposal.trades_required,
        })
    }
}

/// The random part of a generated event id, reused so a plan's id names its event.
fn uuid_suffix(event_id: &str) -> &str {
    event_id
        .strip_prefix(EventType::RebalancePlanned.id_prefix())
        .map(|rest| rest.trim_start_matches('-'))
        .unwrap_or(event_id)
}

#[async_trait]
impl EventHandler for PortfolioHandler {
    fn name(&self) -> &str {
        "portfolio"
    }

    async fn handle(&self, event: &Event, _: &Delivery) -> Result<Vec<Event>, HandlerError> {
        match event {
            Event::SignalGenerated(signal) => Ok(vec![self.plan(signal).await?.into()]),
            other => Err(wrong_event("portfolio", other)),
        }
    }
}
