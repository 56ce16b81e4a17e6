//! The trading domain of the Alchemiser: turning a target allocation into a rebalance plan,
//! placing its orders with a broker, and the four workflow handlers.
//!
//! Ports and adapters: the [`Broker`] port (`broker/`) has a [`PaperBroker`] (a JSON file, the
//! default) and an [`AlpacaBroker`] (Alpaca's REST API). The handlers (`handlers/`, one file
//! each, as `functions/<handler>`) speak the event contract and the bus port; order placement
//! lives in `orders`, the planner in `planner`. Nothing here knows about AWS.

#![warn(missing_docs)]

mod broker;
mod handlers;
mod orders;
mod planner;

pub use broker::{
    Account, AlpacaBroker, AlpacaConfig, Broker, BrokerError, Call, Fault, Holdings, MissingKey,
    OrderOutcome, OrderRequest, OrderSide, OrderStatus, PaperBroker, PaperBrokerError,
    PortfolioFile, PortfolioFileError, Position, ReadOnlyBroker, ScriptedBroker,
    UnsupportedPosition, LOST_ANSWER,
};
pub use handlers::{
    AllocationError, ExecutionHandler, PortfolioHandler, StrategyHandler, Workflow, DRY_RUN_SCOPE,
    WORKFLOW_TYPE,
};
pub use orders::{
    client_order_id, execute_plan, ExecutionMode, ExecutionReport, ExecutionSettings, OrderRecord,
    PlanOutcome, Refusal, When,
};
pub use planner::{plan_rebalance, PlanError, PlannerConfig, PortfolioSnapshot, RebalanceProposal};
