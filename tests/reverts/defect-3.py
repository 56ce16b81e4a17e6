# Defect 3: the age check runs before the plan's orders are looked up, and the refusal says
# nothing was placed.
from revert import undo

undo(
    "lib/trading/src/orders/engine.rs",
    """        let items: Vec<&PlanItem> = sells.iter().chain(buys).copied().collect();""",
    """        if let Some(refusal) = age_refusal(
            self.plan,
            self.when.workflow_started_at,
            self.settings,
            self.clock.now(),
        ) {
            return Ok(PlanOutcome::Refused {
                refusal,
                report: self.report(&[], 0),
            });
        }
        let items: Vec<&PlanItem> = sells.iter().chain(buys).copied().collect();""",
)
