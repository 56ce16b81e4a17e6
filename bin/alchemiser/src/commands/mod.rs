//! One module per subcommand.

pub mod console;
pub mod dlq;
pub mod halt;
pub mod invoke;
pub mod outbox;
pub mod publish;
pub mod replay;
pub mod routes;
pub mod run;
pub mod schemas;
pub mod settings;
pub mod shadow;
pub mod sign;
pub mod simulate;
pub mod validate;
pub mod workflows;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use alchemiser_operations::Stage;
use anyhow::Context;

/// The AWS configuration of an operator command, checked first: without a region or
/// credentials the command stops with one line saying what to set (`-v` for the details).
pub async fn aws_config() -> anyhow::Result<aws_config::SdkConfig> {
    let sdk = alchemiser_aws::load_sdk_config().await;
    alchemiser_aws::check_setup(&sdk).await?;
    Ok(sdk)
}

/// An AWS failure of a command on `stage`, in one line: a resource that does not exist means
/// the stage is not deployed where the configuration points.
pub fn aws_failure(
    error: &(dyn std::error::Error + 'static),
    stage: &Stage,
    what: &str,
) -> anyhow::Error {
    let debug = format!("{error:?}");
    if debug.contains("ResourceNotFoundException") || debug.contains("QueueDoesNotExist") {
        let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "the configured region".into());
        return anyhow::anyhow!(
            "stage {stage} has no {what} in {region}: deploy it with `scripts/deploy {stage}`, or check AWS_PROFILE and AWS_REGION"
        );
    }
    if debug.contains("DispatchFailure") || debug.contains("TimeoutError") {
        return Explained {
            line: format!(
                "cannot reach AWS for the {what} of stage {stage}: check the network, AWS_REGION and AWS_ENDPOINT_URL"
            ),
            details: alchemiser_bus::error_chain(error),
        }
        .into();
    }
    anyhow::anyhow!("{}", alchemiser_bus::error_chain(error))
}

/// An error said in one line, with the whole story kept for `-v`.
#[derive(Debug)]
pub struct Explained {
    /// What went wrong and what to do.
    pub line: String,
    /// Every cause.
    pub details: String,
}

impl std::fmt::Display for Explained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.line)
    }
}

impl std::error::Error for Explained {}

/// A progress bar on standard error for a long bulk run (`what`: "events", "messages"), with
/// the count, the rate and the time left; hidden for `total` below `shown_from`, and by
/// indicatif itself when standard error is not a terminal.
pub fn progress_bar(total: usize, shown_from: usize, what: &str) -> indicatif::ProgressBar {
    if total < shown_from {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    let template = format!(
        "{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {what} ({{per_sec}}, {{eta}} left)"
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// A running count on standard error for a bulk run of unknown length, with its rate.
pub fn progress_counter(what: &str) -> indicatif::ProgressBar {
    let counter = indicatif::ProgressBar::new_spinner();
    let template = format!("{{elapsed_precise}} {{pos}} {what} ({{per_sec}})");
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        counter.set_style(style);
    }
    counter
}

/// A time window: `90m`, `24h`, `7d`, `1w`, `2h30m`.
pub fn parse_window(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{text}` has no unit: write {text}h for hours, {text}m for minutes or {text}d for days"
        ));
    }
    humantime::parse_duration(text).map_err(|_| {
        format!("`{text}` is not a duration: write a number and a unit, e.g. 90m, 24h, 7d or 2h30m")
    })
}

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
