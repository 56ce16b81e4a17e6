//! `alchemiser workflows list|show|sweep`: the workflow ledger of a stage (the DynamoDB table the
//! monitor keeps) or, without a stage, the local ledger `alchemiser run` records: one line per
//! workflow, one workflow's causation tree, or the monitor's sweep run now.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use alchemiser_console::WorkflowView;
use alchemiser_events::text::printable;
use alchemiser_ledger::render::{list_header, list_line, mermaid, tree};
use alchemiser_ledger::{
    summarize, DynamoDbLedger, LedgerError, LedgerStore, SqliteLedger, Summary, WorkflowState,
    DEFAULT_LOCAL_LEDGER, DEFAULT_LOOKBACK,
};
use alchemiser_operations::sweep::run_sweep;
use alchemiser_operations::Stage;
use anyhow::Context;
use chrono::Utc;

/// Arguments of `workflows`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// One line per workflow that reached its state in the window (it ended then, or, still
    /// running, had its latest event then): id, started, state, since when, duration, last step.
    List {
        #[command(flatten)]
        ledger: LedgerArgs,
        /// The window, back from now (e.g. `90m`, `24h`, `7d`): workflows that reached their
        /// state in it — ended in it, or, still running, had their latest event in it — whenever
        /// they started (up to 15 days before it).
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
    /// outcome (orders and fills, a refusal's check), the failure, dead letters with the redrive
    /// command, shadow results.
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
    /// Run the monitor's sweep now, as its schedule does (the stage's monitor function is
    /// invoked with a scheduler tick): workflows past their deadline time out, workflows with a
    /// dead letter fail. Prints what it ended.
    Sweep {
        #[command(flatten)]
        ledger: LedgerArgs,
        /// Invoke this function instead of alchemiser-monitor-STAGE.
        #[arg(long, value_name = "NAME")]
        function: Option<String>,
    },
}

/// Which ledger.
#[derive(Debug, clap::Args)]
pub struct LedgerArgs {
    /// The stage (its ledger table is alchemiser-workflow-ledger-STAGE). Without it: the local
    /// ledger `alchemiser run` records.
    #[arg(long)]
    pub stage: Option<String>,
    /// Use this table instead of the stage's.
    #[arg(long, value_name = "NAME", requires = "stage")]
    pub table: Option<String>,
    /// The local ledger file (default: $ALCHEMISER_LEDGER, else .alchemiser/ledger.sqlite3).
    #[arg(long, value_name = "FILE", conflicts_with = "stage")]
    pub ledger: Option<PathBuf>,
}

/// A ledger opened for reading: where it is, and the store.
pub enum Opened {
    /// The local file.
    Local(PathBuf),
    /// A stage's table, and the AWS configuration that reads it.
    Stage(Stage, Box<aws_config::SdkConfig>),
}

impl Opened {
    /// The stage the commands a page or a tree offers name (`local` for the local ledger, as
    /// `alchemiser run` prints it).
    pub fn stage_name(&self) -> &str {
        match self {
            Opened::Local(_) => "local",
            Opened::Stage(stage, _) => stage.as_str(),
        }
    }

    /// The ledger, said for a person.
    pub fn describe(&self) -> String {
        match self {
            Opened::Local(path) => format!("the local ledger {}", path.display()),
            Opened::Stage(stage, _) => format!("the ledger of stage {stage}"),
        }
    }

    /// A failure of the store, in one line saying what to do.
    pub fn failure(&self, error: &LedgerError) -> anyhow::Error {
        match self {
            Opened::Local(_) => anyhow::anyhow!("{}", alchemiser_bus::error_chain(error)),
            Opened::Stage(stage, _) => super::aws_failure(error, stage, "workflow ledger table"),
        }
    }
}

/// The local ledger file: `explicit`, else $ALCHEMISER_LEDGER, else
/// [`DEFAULT_LOCAL_LEDGER`] in the current directory.
pub fn local_ledger_path(explicit: Option<&PathBuf>) -> PathBuf {
    explicit
        .cloned()
        .or_else(|| {
            std::env::var_os("ALCHEMISER_LEDGER")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_LOCAL_LEDGER))
}

impl LedgerArgs {
    /// The ledger to read: the stage's table (after the AWS set-up check), or the local file
    /// (which must exist: a run records it).
    pub async fn open(&self) -> anyhow::Result<(Opened, Arc<dyn LedgerStore>)> {
        let Some(stage) = &self.stage else {
            let path = local_ledger_path(self.ledger.as_ref());
            if !path.exists() {
                anyhow::bail!(
                    "there is no ledger at {} yet: run `alchemiser run` to record a workflow there, or name a stage with --stage",
                    path.display()
                );
            }
            let store = SqliteLedger::open_read_only(&path)
                .map_err(|e| anyhow::anyhow!("{}", alchemiser_bus::error_chain(&e)))?;
            return Ok((Opened::Local(path), Arc::new(store)));
        };
        let stage: Stage = stage.parse()?;
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
        Ok((Opened::Stage(stage, Box::new(sdk)), Arc::new(ledger)))
    }
}

/// The stage's kill switch in one line: running, or halted since when, by whom and why (with the
/// command that resumes it), or why it cannot be read.
async fn trading_line(sdk: &aws_config::SdkConfig, stage: &Stage) -> String {
    match alchemiser_operations::HaltSwitch::new(sdk, stage.clone())
        .current()
        .await
    {
        Ok(state) if state.halted => format!(
            "trading on stage {stage} is {} (resume: `alchemiser resume --stage {stage}`)",
            printable(&state.describe())
        ),
        Ok(state) => format!("trading on stage {stage}: {}", state.describe()),
        Err(error) => format!(
            "trading on stage {stage}: the halt switch cannot be read ({}); execution places nothing while it cannot",
            printable(&error.to_string())
        ),
    }
}

fn parse_state(text: &str) -> Result<WorkflowState, String> {
    text.parse()
}

/// Runs `workflows list|show|sweep`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    match args.action {
        Action::List {
            ledger,
            since,
            state,
            json,
        } => {
            let (opened, store) = ledger.open().await?;
            let from = now - chrono::TimeDelta::from_std(since).context("--since is too long")?;
            let mut summaries = store
                .reached_since(from)
                .await
                .map_err(|e| opened.failure(&e))?;
            summaries.retain(|s| state.is_none_or(|wanted| s.state == wanted));
            if json {
                for summary in &summaries {
                    println!("{}", serde_json::to_string(summary)?);
                }
            } else {
                println!("{}", list_header());
                for summary in &summaries {
                    println!("{}", list_line(summary, now));
                }
                eprintln!(
                    "{} workflow(s){} that reached their state since {} in {} (STATE SINCE: when they ended, or, still running, their latest event)",
                    summaries.len(),
                    state.map(|s| format!(" {s}")).unwrap_or_default(),
                    from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    opened.describe()
                );
            }
            // Beside a stage's workflows, whether any can trade now: a halt is why a list is all
            // failures.
            if let Opened::Stage(stage, sdk) = &opened {
                eprintln!("{}", trading_line(sdk, stage).await);
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Show {
            correlation_id,
            ledger,
            json,
            mermaid: diagram,
        } => {
            let (opened, store) = ledger.open().await?;
            let entries = store
                .entries(&correlation_id)
                .await
                .map_err(|e| opened.failure(&e))?;
            let Some(summary) = summarize(&correlation_id, &entries) else {
                let list = match &opened {
                    Opened::Local(_) => "alchemiser workflows list".to_owned(),
                    Opened::Stage(stage, _) => format!("alchemiser workflows list --stage {stage}"),
                };
                anyhow::bail!(
                    "workflow `{}` is not in {} (no live event of it was recorded); list recent ones with `{list}`",
                    printable(&correlation_id),
                    opened.describe()
                );
            };
            if json {
                // The console's model of the workflow page: its summary and entries (in causal
                // order), and what follows from them.
                let stage = match &opened {
                    Opened::Local(_) => None,
                    Opened::Stage(stage, _) => Some(stage.as_str()),
                };
                let view = WorkflowView::of(summary, &entries, stage);
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else if diagram {
                print!("{}", mermaid(&summary, &entries));
            } else {
                print!("{}", tree(&summary, &entries, opened.stage_name(), now));
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Sweep { ledger, function } => {
            let (opened, store) = ledger.open().await?;
            let Opened::Stage(stage, sdk) = opened else {
                anyhow::bail!(
                    "the sweep runs on a stage's monitor: name the stage with --stage (a local ledger has no sweep)"
                );
            };
            let lookback = chrono::TimeDelta::from_std(DEFAULT_LOOKBACK).unwrap_or_default();
            let open_before = store
                .open_since(now - lookback)
                .await
                .map_err(|e| super::aws_failure(&e, &stage, "workflow ledger table"))?;
            let run = run_sweep(&sdk, &stage, function).await?;
            println!(
                "swept stage {stage} with {} (tick {}): published {} WorkflowFailed ({} delivered, {} kept in the function's outbox)",
                run.function,
                run.tick_id,
                run.emitted.len(),
                run.delivered,
                run.kept
            );
            let mut ended = 0;
            for before in &open_before {
                let after = store
                    .summary(&before.correlation_id)
                    .await
                    .map_err(|e| super::aws_failure(&e, &stage, "workflow ledger table"))?;
                if let Some(after) = after.filter(|a| a.state != before.state) {
                    ended += 1;
                    println!("{}", ended_line(&after));
                }
            }
            println!(
                "{} open workflow(s) looked at, {ended} ended by this sweep; see one with `alchemiser workflows show ID --stage {stage}`",
                open_before.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What the sweep made of a workflow: its new state, the step and the reason.
fn ended_line(summary: &Summary) -> String {
    let why = summary
        .failure
        .as_ref()
        .map(|f| format!(" at {}: {}", printable(&f.step), printable(&f.reason)))
        .unwrap_or_default();
    format!(
        "{} {}{why}",
        summary.state,
        printable(&summary.correlation_id)
    )
}
