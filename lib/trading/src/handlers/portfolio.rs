//! The portfolio handler: `SignalGenerated` → `RebalancePlanned`.

use std::collections::BTreeMap;
use std::sync::Arc;

use alchemiser_bus::{Delivery, EventHandler, Handled, HandlerError};
use alchemiser_clock::Clock;
use alchemiser_events::{
    derived_id, Event, EventType, HandlerName, RebalancePlan, RebalancePlanned, SignalGenerated,
    Timestamp, SCHEMA_VERSION,
};
use async_trait::async_trait;
use serde_json::{json, Map};

use super::{failed_workflow, follow, wrong_event};
use crate::broker::{Broker, BrokerError, UnsupportedPosition};
use crate::planner::{plan_rebalance, PlannerConfig, PortfolioSnapshot};

/// This handler's name: its function, its `Source` module and its events' `source_module`.
const NAME: HandlerName = HandlerName::Portfolio;

/// `SignalGenerated` → `RebalancePlanned`, from the broker's account.
pub struct PortfolioHandler {
    broker: Arc<dyn Broker>,
    config: PlannerConfig,
    clock: Arc<dyn Clock>,
}

impl PortfolioHandler {
    /// A portfolio handler planning against `broker`'s account.
    pub fn new(broker: Arc<dyn Broker>, config: PlannerConfig) -> Self {
        Self {
            broker,
            config,
            clock: alchemiser_clock::system(),
        }
    }

    /// Plans are timed by `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    async fn snapshot(
        &self,
        signal: &SignalGenerated,
    ) -> Result<(PortfolioSnapshot, Vec<UnsupportedPosition>), BrokerError> {
        let account = self.broker.account().await?;
        let holdings = self.broker.holdings().await?;
        let mut prices = BTreeMap::new();
        for symbol in signal.consolidated_portfolio.target_allocations.keys() {
            if !holdings.positions.iter().any(|p| &p.symbol == symbol) {
                prices.insert(symbol.clone(), self.broker.latest_price(symbol).await?);
            }
        }
        let snapshot = PortfolioSnapshot {
            cash: account.cash,
            positions: holdings.positions,
            prices,
            portfolio_value: account.portfolio_value,
        };
        Ok((snapshot, holdings.unsupported))
    }

    /// The plan id of a signal: derived from the signal's event id alone, so planning the same
    /// signal again (a redelivery after a lost record, a replay) gives the same plan id — hence
    /// the same client order ids, which the broker never places twice.
    pub fn plan_id(signal: &SignalGenerated) -> String {
        format!("plan-{}", derived_id(&["plan", &signal.header.event_id]))
    }

    /// Plans the rebalance for one signal.
    pub async fn plan(&self, signal: &SignalGenerated) -> Result<RebalancePlanned, HandlerError> {
        let (snapshot, left_alone) = self.snapshot(signal).await?;
        let proposal = plan_rebalance(
            &signal.consolidated_portfolio.target_allocations,
            &snapshot,
            &self.config,
        )
        .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        let header = follow(
            &signal.header,
            EventType::RebalancePlanned,
            NAME.as_str(),
            Timestamp(self.clock.now()),
        );
        let mut metadata = Map::new();
        if !left_alone.is_empty() {
            // Reported, never traded: positions the contract cannot represent.
            metadata.insert("positions_left_alone".into(), json!(left_alone));
        }
        let plan = RebalancePlan {
            schema_version: SCHEMA_VERSION.into(),
            correlation_id: header.correlation_id.clone(),
            causation_id: signal.header.event_id.clone(),
            timestamp: header.timestamp,
            plan_id: Self::plan_id(signal),
            strategy_id: None,
            items: proposal.items,
            total_portfolio_value: proposal.total_portfolio_value,
            total_trade_value: proposal.total_trade_value,
            max_drift_tolerance: self.config.max_drift_tolerance,
            execution_urgency: Default::default(),
            estimated_duration_minutes: None,
            metadata: (!metadata.is_empty()).then_some(metadata),
        };
        Ok(RebalancePlanned {
            header,
            rebalance_plan: plan,
            allocation_comparison: proposal.allocation_comparison,
            trades_required: proposal.trades_required,
        })
    }
}

#[async_trait]
impl EventHandler for PortfolioHandler {
    fn name(&self) -> &str {
        NAME.as_str()
    }

    async fn handle(&self, event: &Event, _: &Delivery) -> Result<Handled, HandlerError> {
        match event {
            Event::SignalGenerated(signal) => {
                Ok(Handled::done(vec![self.plan(signal).await?.into()]))
            }
            other => Err(wrong_event(NAME.as_str(), other)),
        }
    }

    fn on_permanent_failure(&self, event: &Event, reason: &str, dead_letter: &str) -> Vec<Event> {
        vec![failed_workflow(
            event.header(),
            NAME.as_str(),
            reason,
            dead_letter,
            Timestamp(self.clock.now()),
        )]
    }
}
