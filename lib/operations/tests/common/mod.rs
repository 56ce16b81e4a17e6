//! Helpers shared by the emulator tests of this crate (the rest is in `alchemiser-testkit`).

use alchemiser_operations::Stage;

/// A stage name no other test run uses: `prefix` plus ten random characters.
pub fn unique_stage(prefix: &str) -> Stage {
    alchemiser_testkit::unique(prefix).parse().unwrap()
}

/// Runs the CLI (`ALCHEMISER_BIN`, which scripts/test-operations sets) with `args`: its standard
/// output, standard error and exit code.
#[allow(dead_code)] // Each test target uses its own part of this module.
pub fn cli(args: &[&str]) -> (String, String, Option<i32>) {
    let bin = std::env::var("ALCHEMISER_BIN")
        .expect("ALCHEMISER_BIN is not set: scripts/test-operations sets it");
    let output = std::process::Command::new(bin).args(args).output().unwrap();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.code(),
    )
}
