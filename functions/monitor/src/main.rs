//! The monitor Lambda: TradeExecuted, WorkflowCompleted and WorkflowFailed → recorded outcomes in
//! structured logs and metrics. A thin entry point: no broker, nothing else to pick.

use std::sync::Arc;

use alchemiser_events::HandlerName;
use alchemiser_lambda::run_consumer;
use alchemiser_trading::MonitorHandler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_consumer(HandlerName::Monitor, |_| async {
        Ok(Arc::new(MonitorHandler::new()) as _)
    })
    .await
}
