# Defect 4: an order still open counts as a success: the plan is reported without waiting for
# its orders to be final.
from revert import undo

undo(
    "lib/trading/src/orders/report.rs",
    """    pub fn is_open(self) -> bool {
        matches!(self, RecordStatus::Pending | RecordStatus::PartiallyFilled)
    }""",
    """    pub fn is_open(self) -> bool {
        false
    }""",
)

undo(
    "lib/trading/src/orders/report.rs",
    """        matches!(
            self,
            RecordStatus::Filled | RecordStatus::NotNeeded | RecordStatus::DryRun
        )""",
    """        matches!(
            self,
            RecordStatus::Filled
                | RecordStatus::NotNeeded
                | RecordStatus::DryRun
                | RecordStatus::Pending
                | RecordStatus::PartiallyFilled
        )""",
)
