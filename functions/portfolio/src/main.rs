//! The portfolio Lambda: SignalGenerated → RebalancePlanned, planned against the broker account.
//! A thin entry point: it picks the adapters; everything else lives in lib/.

use std::sync::Arc;

use alchemiser_events::HandlerName;
use alchemiser_lambda::{broker_from_env, run_consumer};
use alchemiser_trading::{PlannerConfig, PortfolioHandler};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_consumer(HandlerName::Portfolio, |sdk| async move {
        let broker = broker_from_env(&sdk).await?;
        Ok(Arc::new(PortfolioHandler::new(broker, PlannerConfig::default())) as _)
    })
    .await
}
