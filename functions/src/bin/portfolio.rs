//! The portfolio Lambda: SignalGenerated → RebalancePlanned, planned against the broker account.
//! In shadow mode (`ALCHEMISER_MODE=shadow`) the plan is recorded in the ledger, not published.
//! A thin entry point: it picks the adapters; everything else lives in lib/.

use std::sync::Arc;

use alchemiser_events::HandlerName;
use alchemiser_lambda::run_function;
use alchemiser_trading::{PlannerConfig, PortfolioHandler};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_function(HandlerName::Portfolio, |env| async move {
        let broker = alchemiser_wiring::broker(env.sdk()).await?;
        let (env, broker) = alchemiser_wiring::for_mode(env, HandlerName::Portfolio, broker)?;
        let handler = PortfolioHandler::new(broker, PlannerConfig::default());
        Ok::<_, alchemiser_wiring::WiringError>(env.consumer(Arc::new(handler)))
    })
    .await
}
