//! The execution Lambda: RebalancePlanned → TradeExecuted → WorkflowCompleted | WorkflowFailed, placing the orders (dry run on archive replays unless ALLOW_REPLAY_EXECUTION=true).
//! Everything but the wiring lives in lib/: this is the thin entry point that picks adapters.

use alchemiser_events::HandlerName;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    alchemiser_lambda::run_consumer(HandlerName::Execution).await
}
