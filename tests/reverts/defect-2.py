# Defect 2: the lease is given back while the plan is half done (on every outcome).
from revert import undo

undo(
    "lib/lambda/src/invoker/pipeline.rs",
    """                Ok(Ran::Published {
                    follow_up: Some(_), ..
                }) => {}""",
    """                Ok(Ran::Published {
                    follow_up: Some(_), ..
                }) => self.release_lease(guard).await,""",
)

# ... and the broker-log walls behind it (the old code had neither): no waiting for other
# plans' open orders, no refusal of a resumed plan another plan has traded past.

undo(
    "lib/trading/src/orders/engine.rs",
    """            if !others.is_empty() {
                return self
                    .stop(Refusal::Superseded { orders: others }, records, resumed)
                    .await;
            }""",
    """            let _ = others;""",
)

undo(
    "lib/trading/src/orders/engine.rs",
    """            if !busy.is_empty() {
                return Err(self.pending(""",
    """            if false && !busy.is_empty() {
                return Err(self.pending(""",
)
