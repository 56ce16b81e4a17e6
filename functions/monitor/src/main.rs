//! The monitor Lambda: TradeExecuted, WorkflowCompleted and WorkflowFailed → recorded outcomes in
//! structured logs and metrics. A thin entry point: no broker, nothing else to pick.

use std::sync::Arc;

use alchemiser_events::HandlerName;
use alchemiser_lambda::run_function;
use alchemiser_trading::MonitorHandler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_function(HandlerName::Monitor, |env| async move {
        Ok::<_, std::convert::Infallible>(env.consumer(Arc::new(MonitorHandler::new())))
    })
    .await
}
