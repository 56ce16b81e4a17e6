//! The execution Lambda: RebalancePlanned → TradeExecuted → WorkflowCompleted | WorkflowFailed,
//! placing the orders of fresh, live plans; stale or drifted plans are refused, plans derived from
//! archive replays run dry unless ALLOW_REPLAY_EXECUTION=true.
//! A thin entry point: it picks the adapters; everything else lives in lib/.

use std::sync::Arc;

use alchemiser_events::HandlerName;
use alchemiser_lambda::run_function;
use alchemiser_trading::ExecutionHandler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_function(HandlerName::Execution, |env| async move {
        let broker = alchemiser_wiring::broker(env.sdk()).await?;
        let handler = ExecutionHandler::new(broker, alchemiser_wiring::execution_settings()?);
        Ok::<_, alchemiser_wiring::WiringError>(env.consumer(Arc::new(handler)))
    })
    .await
}
