# Defect 6: replayed and live deliveries share one idempotency key.
from revert import undo

undo(
    "lib/lambda/src/invoker/consumer.rs",
    """            .chain([self.scope, self.handler.idempotency_scope(event), replayed])""",
    """            .chain([self.scope, self.handler.idempotency_scope(event), replayed.and(None)])""",
)
