//! The trading domain of the Alchemiser: turning a target allocation into a rebalance plan,
//! placing its orders with a broker, and the four workflow handlers.
//!
//! Ports and adapters: the [`Broker`] port has a [`PaperBroker`] (a JSON file, the default) and
//! an [`AlpacaBroker`] (Alpaca's REST API). Handlers speak the event contract and the bus port;
//! nothing here knows about AWS.

#![warn(missing_docs)]

mod alpaca;
mod broker;
mod execution;
mod handlers;
mod paper;
mod planner;

pub use alpaca::{AlpacaBroker, AlpacaConfig};
pub use broker::{
    Account, Broker, BrokerError, OrderOutcome, OrderRequest, OrderSide, OrderStatus, Position,
};
pub use execution::{execute_plan, ExecutionMode, ExecutionReport, OrderRecord};
pub use handlers::{
    ExecutionHandler, MonitorHandler, PortfolioHandler, StrategyHandler, Workflow, WorkflowOutcome,
    WORKFLOW_TYPE,
};
pub use paper::{PaperBroker, PaperBrokerError, PortfolioFile};
pub use planner::{plan_rebalance, PlanError, PlannerConfig, PortfolioSnapshot, RebalanceProposal};
