# Defect 8: a manual start has no idempotency key.
from revert import undo

undo(
    "lib/lambda/src/invoker/trigger.rs",
    """            .or_else(|| Some(context.request_id.clone()).filter(|id| !id.is_empty()));""",
    """            .or_else(|| Some(context.request_id.clone()).filter(|id| id.is_empty()));""",
)
