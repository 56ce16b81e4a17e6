//! `alchemiser shadow diff --stage S [--since 24h] [--json]`: each result a shadow consumer
//! recorded in the stage's ledger, against the live owner's event of the same workflow.

use std::process::ExitCode;
use std::time::Duration;

use alchemiser_ledger::shadow::{DiffSummary, Verdict};
use alchemiser_ledger::{compare, Comparison};
use anyhow::Context;
use chrono::Utc;
use serde_json::json;

use super::workflows::LedgerArgs;

/// Arguments of `shadow`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Pair every shadow result with the live event of its workflow and print what differs:
    /// plan items (action, trade amount, target value, priority), totals, trade outcomes.
    /// Exits 1 when anything differs.
    Diff {
        #[command(flatten)]
        ledger: LedgerArgs,
        /// How far back (workflows started since then; e.g. `90m`, `24h`, `7d`).
        #[arg(long, default_value = "24h", value_parser = super::parse_window)]
        since: Duration,
        /// One JSON document: every comparison and the summary.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `shadow diff`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Action::Diff {
        ledger,
        since,
        json,
    } = args.action;
    let (opened, store) = ledger.open().await?;
    let from = Utc::now() - chrono::TimeDelta::from_std(since).context("--since is too long")?;
    let mut summaries = store
        .summaries_since(from)
        .await
        .map_err(|e| opened.failure(&e))?;
    summaries.sort_by_key(|s| s.started_at);
    let mut comparisons: Vec<Comparison> = Vec::new();
    for summary in &summaries {
        let entries = store
            .entries(&summary.correlation_id)
            .await
            .map_err(|e| opened.failure(&e))?;
        comparisons.extend(compare(&summary.correlation_id, &entries));
    }
    let totals = DiffSummary::of(&comparisons);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "stage": opened.stage_name(),
                "since": from,
                "comparisons": comparisons,
                "summary": totals,
            }))?
        );
    } else {
        for comparison in &comparisons {
            print!("{}", describe(comparison));
        }
        println!(
            "{} shadow result(s) in {} workflow(s) since {}: {} match, {} mismatch, {} without a live result, {} without a shadow result",
            totals.compared,
            summaries.len(),
            from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            totals.matches,
            totals.mismatches,
            totals.no_live_result,
            totals.no_shadow_result
        );
    }
    Ok(if totals.mismatches == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn describe(comparison: &Comparison) -> String {
    let verdict = match comparison.verdict {
        Verdict::Match => "MATCH",
        Verdict::Mismatch => "MISMATCH",
        Verdict::NoLiveResult => "NO LIVE RESULT",
        Verdict::NoShadowResult => "NO SHADOW RESULT",
    };
    let mut text = format!(
        "{}  {:<9}  {:<16}  {verdict}\n",
        comparison.correlation_id, comparison.handler, comparison.event_type
    );
    for difference in &comparison.differences {
        text.push_str(&format!(
            "    {}: shadow {}, live {}\n",
            difference.field, difference.shadow, difference.live
        ));
    }
    text
}
