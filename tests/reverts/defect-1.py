# Defect 1: a resumed buy's cost subtracted again from the cash read after its fill.
from revert import undo

undo(
    "lib/trading/src/orders/engine.rs",
    """            for record in records[sell_count..].iter().filter(|r| r.status.is_open()) {
                let open = record.qty - record.filled_qty.unwrap_or_default();""",
    """            for record in records[sell_count..].iter().filter(|r| r.placed()) {
                let open = record.qty;""",
)
