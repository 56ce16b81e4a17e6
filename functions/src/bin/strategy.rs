//! The strategy Lambda: on the schedule (or a manual invoke), start one trading workflow by
//! publishing `WorkflowStarted` and `SignalGenerated` for the configured target allocation; a
//! scheduled tick that is not today's run by the broker's calendar (`STRATEGY_RUN_AT`) starts none.
//! A thin entry point: it picks the handler and its settings; everything else lives in lib/.

use std::sync::Arc;

use alchemiser_events::HandlerName;
use alchemiser_lambda::run_function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_function(HandlerName::Strategy, |env| async move {
        alchemiser_wiring::live_only(&env, HandlerName::Strategy)?;
        let strategy = alchemiser_wiring::scheduled_strategy(env.sdk()).await?;
        Ok::<_, alchemiser_wiring::WiringError>(env.trigger(Arc::new(strategy)))
    })
    .await
}
