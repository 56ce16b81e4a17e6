//! The monitor Lambda: every event of every workflow → the workflow ledger (DynamoDB), workflow
//! metrics and logs; on its schedule, the sweep: workflows with a dead letter or past their
//! deadline end with a WorkflowFailed. A thin entry point: it picks the adapters; everything
//! else lives in lib/.

use std::sync::Arc;

use alchemiser_events::HandlerName;
use alchemiser_lambda::run_function;
use alchemiser_ledger::{Monitor, Sweep};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_function(HandlerName::Monitor, |env| async move {
        alchemiser_wiring::live_only(&env, HandlerName::Monitor)?;
        let ledger = alchemiser_wiring::ledger(env.sdk())?;
        let monitor = Monitor::new(ledger.clone()).with_metrics(env.adapters().metrics.clone());
        let sweep = Sweep::new(
            ledger,
            alchemiser_wiring::dead_letters(env.sdk())?,
            alchemiser_wiring::workflow_deadline()?,
            env.stage(),
        )
        .with_shadows(alchemiser_wiring::shadow_functions())
        .with_authenticity(env.adapters().authenticity.clone());
        Ok::<_, alchemiser_wiring::WiringError>(
            env.consumer_and_schedule(Arc::new(monitor), Arc::new(sweep)),
        )
    })
    .await
}
