//! The execution Lambda: RebalancePlanned → TradeExecuted → WorkflowCompleted | WorkflowFailed,
//! placing the orders; a dry run on archive replays unless ALLOW_REPLAY_EXECUTION=true.
//! A thin entry point: it picks the adapters; everything else lives in lib/.

use std::sync::Arc;

use alchemiser_events::HandlerName;
use alchemiser_lambda::{allow_replay_execution, broker_from_env, run_consumer};
use alchemiser_trading::ExecutionHandler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_consumer(HandlerName::Execution, |sdk| async move {
        let broker = broker_from_env(&sdk).await?;
        Ok(Arc::new(ExecutionHandler::new(broker, allow_replay_execution()?)) as _)
    })
    .await
}
