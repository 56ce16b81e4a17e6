//! The execution Lambda: RebalancePlanned → TradeExecuted → WorkflowCompleted | WorkflowFailed,
//! placing the orders of fresh, live plans; stale or drifted plans and plans of timed-out
//! workflows are refused, plans derived from archive replays run dry unless
//! ALLOW_REPLAY_EXECUTION=true; the stage's pre-trade limits and kill switch are checked before every
//! order. In shadow mode (`ALCHEMISER_MODE=shadow`) every plan runs dry on a
//! read-only broker and the outcome is recorded in the ledger, not published.
//! A thin entry point: it picks the adapters; everything else lives in lib/.

use std::sync::Arc;

use alchemiser_events::HandlerName;
use alchemiser_lambda::{run_function, RunMode};
use alchemiser_trading::ExecutionHandler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_function(HandlerName::Execution, |env| async move {
        let broker = alchemiser_wiring::broker(env.sdk()).await?;
        let (env, broker) = alchemiser_wiring::for_mode(env, HandlerName::Execution, broker)?;
        let handler = ExecutionHandler::new(broker, alchemiser_wiring::execution_settings()?)
            .with_halt(alchemiser_wiring::trading_halt(env.sdk()))
            .with_metrics(env.adapters().metrics.clone());
        let handler = match env.mode() {
            RunMode::Shadow => handler.in_shadow(),
            RunMode::Live => handler,
        };
        Ok::<_, alchemiser_wiring::WiringError>(env.consumer(Arc::new(handler)))
    })
    .await
}
