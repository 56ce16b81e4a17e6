//! The portfolio Lambda: SignalGenerated → RebalancePlanned, planned against the broker account.
//! Everything but the wiring lives in lib/: this is the thin entry point that picks adapters.

use alchemiser_events::HandlerName;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    alchemiser_lambda::run_consumer(HandlerName::Portfolio).await
}
