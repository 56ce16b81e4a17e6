//! The strategy Lambda: on the schedule (or a manual invoke), start one trading workflow by
//! publishing `WorkflowStarted` and `SignalGenerated` for the configured target allocation.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    alchemiser_lambda::run_strategy().await
}
