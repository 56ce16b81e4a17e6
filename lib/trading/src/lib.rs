//! The trading domain of the Alchemiser: turning a target allocation into a rebalance plan,
//! placing its orders with a broker, and the four workflow handlers.
//!
//! Ports and adapters: the [`Broker`] port (`broker/`) has a [`PaperBroker`] (a JSON file, the
//! default) and an [`AlpacaBroker`] (Alpaca's REST API). The handlers (`handlers/`, one file
//! each, as `functions/src/bin/<handler>.rs`) speak the event contract and the bus port; order
//! placement lives in `orders`, the planner in `planner`. Nothing here knows about AWS.

mod broker;
mod halt;
mod handlers;
mod market;
mod orders;
mod planner;
mod schedule;

pub use broker::{
    Account, AlpacaBroker, AlpacaConfig, BookEntry, Broker, BrokerError, Call, Ending, Fault,
    Holdings, MarketHours, MissingKey, OrderOutcome, OrderRequest, OrderScript, OrderSide,
    OrderStatus, PaperBroker, PaperBrokerError, PaperOrder, PortfolioFile, PortfolioFileError,
    Position, ReadOnlyBroker, ScriptedBroker, UnsupportedPosition,
};
pub use halt::{CachedHalt, HaltError, HaltState, MemoryHalt, TradingHalt, HALT_CACHE};
// Every handler and what assembles them: a new handler is exported with its module.
pub use handlers::*;
pub use market::{CalendarError, MarketClock, NyseCalendar, NyseRules, Session, TradingDay};
pub use orders::{
    client_order_id, execute_plan, ExecutionMode, ExecutionReport, ExecutionSettings, LimitBreach,
    OrderRecord, PlanOutcome, RecordStatus, Refusal, RiskLimits, Venue, When, LIMIT_VARIABLES,
};
pub use planner::{plan_rebalance, PlanError, PlannerConfig, PortfolioSnapshot, RebalanceProposal};
pub use schedule::{
    new_york_date, todays_run, Anchor, RunAt, RunAtError, RunDecision, RUN_EARLY, RUN_WINDOW,
};
