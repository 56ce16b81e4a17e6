//! `alchemiser workflows list|show`: the workflow ledger of a stage (the DynamoDB table the
//! monitor keeps), one line per workflow or one workflow's causation tree.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use alchemiser_ledger::render::{list_header, list_line, mermaid, tree};
use alchemiser_ledger::{in_causal_order, summarize, DynamoDbLedger, LedgerStore, WorkflowState};
use alchemiser_operations::Stage;
use anyhow::Context;
use chrono::Utc;
use serde_json::json;

/// Arguments of `workflows`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// One line per workflow started in the window: id, started, state, duration, last step.
    List {
        #[command(flatten)]
        ledger: LedgerArgs,
        /// How far back (e.g. `90m`, `24h`, `7d`).
        #[arg(long, default_value = "24h", value_parser = super::parse_window)]
        since: Duration,
        /// Only workflows in this state (started, signalled, planned, executing, completed,
        /// failed, timed_out).
        #[arg(long, value_parser = parse_state)]
        state: Option<WorkflowState>,
        /// One JSON object per workflow (its summary), one per line.
        #[arg(long)]
        json: bool,
    },
    /// One workflow: its causation tree with timings, each event's producer, consumer and
    /// outcome, the failure, dead letters with the redrive command, shadow results.
    Show {
        /// The workflow's correlation id.
        correlation_id: String,
        #[command(flatten)]
        ledger: LedgerArgs,
        /// The summary and every entry as JSON.
        #[arg(long, conflicts_with = "mermaid")]
        json: bool,
        /// A Mermaid sequence diagram (paste it into a pull request or a wiki).
        #[arg(long)]
        mermaid: bool,
    },
}

/// Which ledger.
#[derive(Debug, clap::Args)]
pub struct LedgerArgs {
    /// The stage (its ledger table is alchemiser-workflow-ledger-STAGE).
    #[arg(long)]
    pub stage: String,
    /// Use this table instead.
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
}

impl LedgerArgs {
    /// The stage and its ledger.
    pub async fn open(&self) -> anyhow::Result<(Stage, Arc<dyn LedgerStore>)> {
        let stage: Stage = self.stage.parse()?;
        let table = self
            .table
            .clone()
            .unwrap_or_else(|| stage.ledger_table_name());
        let sdk = super::aws_config().await?;
        let ledger = DynamoDbLedger::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            table,
            // Only read here; the retention of what the CLI writes (nothing) does not matter.
            Duration::from_secs(0),
        );
        Ok((stage, Arc::new(ledger)))
    }
}

fn parse_state(text: &str) -> Result<WorkflowState, String> {
    text.parse()
}

/// Runs `workflows list|show`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::List {
            ledger,
            since,
            state,
            json,
        } => {
            let (stage, store) = ledger.open().await?;
            let from =
                Utc::now() - chrono::TimeDelta::from_std(since).context("--since is too long")?;
            let mut summaries = store
                .summaries_since(from)
                .await
                .map_err(|e| super::aws_failure(&e, &stage, "workflow ledger table"))?;
            summaries.retain(|s| state.is_none_or(|wanted| s.state == wanted));
            summaries.sort_by_key(|s| s.started_at);
            if json {
                for summary in &summaries {
                    println!("{}", serde_json::to_string(summary)?);
                }
            } else {
                println!("{}", list_header());
                for summary in &summaries {
                    println!("{}", list_line(summary));
                }
                eprintln!(
                    "{} workflow(s) started since {} on stage {stage}",
                    summaries.len(),
                    from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Show {
            correlation_id,
            ledger,
            json,
            mermaid: diagram,
        } => {
            let (stage, store) = ledger.open().await?;
            let entries = store
                .entries(&correlation_id)
                .await
                .map_err(|e| super::aws_failure(&e, &stage, "workflow ledger table"))?;
            let Some(summary) = summarize(&correlation_id, &entries) else {
                anyhow::bail!(
                    "workflow `{correlation_id}` is not in the ledger of stage {stage} (no live event of it was recorded); list recent ones with `alchemiser workflows list --stage {stage}`"
                );
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"summary": summary, "entries": in_causal_order(&entries)})
                    )?
                );
            } else if diagram {
                print!("{}", mermaid(&summary, &entries));
            } else {
                print!("{}", tree(&summary, &entries, stage.as_str()));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
