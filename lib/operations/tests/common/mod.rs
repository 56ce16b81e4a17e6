//! Helpers shared by the emulator tests of this crate (the rest is in `alchemiser-testkit`).

use alchemiser_operations::Stage;

/// A stage name no other test run uses: `prefix` plus ten random characters.
pub fn unique_stage(prefix: &str) -> Stage {
    alchemiser_testkit::unique(prefix).parse().unwrap()
}
