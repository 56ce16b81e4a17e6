//! `alchemiser replay --stage S --from TIME --to TIME [--rules R...] [--wait] [--force]
//! [--name NAME]`: replay a stage's archive to its bus (the work is in `alchemiser-operations`).

use std::process::ExitCode;
use std::time::Duration;

use alchemiser_operations::{
    parse_time, ReplayRequest, ReplayWindow, Replayer, Stage, DRY_RUN_REMINDER,
};

/// Arguments of `replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The stage: archive alchemiser-event-archive-STAGE to bus alchemiser-trading-events-STAGE.
    #[arg(long)]
    stage: String,
    /// Window start, RFC 3339 with any offset (e.g. 2026-11-28T13:00:00Z).
    #[arg(long, value_name = "TIME")]
    from: String,
    /// Window end, RFC 3339; at least 10 minutes ago unless --force.
    #[arg(long, value_name = "TIME")]
    to: String,
    /// Replay only to these rules (names, on the stage's bus); default: every rule.
    #[arg(long, value_name = "RULE", num_args = 1..)]
    rules: Vec<String>,
    /// Follow the replay with a progress bar until it ends.
    #[arg(long)]
    wait: bool,
    /// Accept a window ending less than 10 minutes ago (the archive may miss its last events).
    #[arg(long)]
    force: bool,
    /// Replay name (default: alchemiser-STAGE-YYYYMMDDTHHMMSS.mmm, now in UTC).
    #[arg(long)]
    name: Option<String>,
    /// With --wait: give up waiting after this many seconds (the replay goes on).
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    timeout: u64,
}

/// Starts the replay; with `--wait`, follows it to the end.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stage: Stage = args.stage.parse()?;
    let now = chrono::Utc::now();
    let window = ReplayWindow::new(
        parse_time(&args.from)?,
        parse_time(&args.to)?,
        now,
        args.force,
    )?;
    let request = ReplayRequest {
        name: args.name.unwrap_or_else(|| stage.replay_name(now)),
        stage,
        window,
        rules: args.rules,
    };
    println!("{DRY_RUN_REMINDER}");
    let replayer = Replayer::new(&super::aws_config().await?);
    let started = replayer.start(&request).await?;
    let rules = if started.filter_arns.is_empty() {
        "every rule".to_owned()
    } else {
        started.filter_arns.join(", ")
    };
    println!(
        "replay {} {}: {} .. {} (UTC) from {} to {} ({rules})",
        started.name,
        started.state,
        window.from().to_rfc3339(),
        window.to().to_rfc3339(),
        started.archive_arn,
        started.bus_arn
    );
    if !args.wait {
        println!(
            "follow it with: aws events describe-replay --replay-name {}",
            started.name
        );
        return Ok(ExitCode::SUCCESS);
    }
    let bar = indicatif::ProgressBar::new(1000);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {percent}% {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let result = replayer
        .wait(
            &started.name,
            Duration::from_secs(2),
            Duration::from_secs(args.timeout),
            |status| {
                bar.set_position(status.progress_permille());
                let last = status
                    .last_replayed
                    .map(|t| format!(", last event {}", t.to_rfc3339()))
                    .unwrap_or_default();
                bar.set_message(format!("{}{last}", status.state));
            },
        )
        .await;
    bar.finish_and_clear();
    let status = result?;
    println!("replay {} {}", status.name, status.state);
    Ok(ExitCode::SUCCESS)
}
