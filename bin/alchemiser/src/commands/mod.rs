//! One module per subcommand.

pub mod dlq;
pub mod invoke;
pub mod outbox;
pub mod publish;
pub mod replay;
pub mod routes;
pub mod run;
pub mod schemas;
pub mod validate;

use std::io::Read;
use std::path::Path;

use anyhow::Context;

/// The sample target allocation `run` and `invoke` use when none is given.
pub const SAMPLE_ALLOCATION: &str = include_str!("../../../../examples/allocation.json");
/// The sample paper account `run` and `invoke` use when none is given.
pub const SAMPLE_PORTFOLIO: &str = include_str!("../../../../examples/portfolio.json");

/// Reads a file, or standard input for `-`, naming the file in the error.
pub fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
        return Ok(bytes);
    }
    std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))
}
