//! Tests across crates, kept out of the crates they exercise: the functions as their entry points
//! wire them — the consumer runtime (`alchemiser-lambda`) over the trading handlers
//! (`alchemiser-trading`) and the monitor (`alchemiser-ledger`) — run in process on real events.
//! The tests are in `tests/`; this library is empty (Cargo needs a target besides them).
