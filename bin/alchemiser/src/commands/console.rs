//! `alchemiser console [--stage S | --ledger FILE] [--port N] [--bind ADDR]`: the read-only
//! operator console on 127.0.0.1, over the local ledger `alchemiser run` records or a stage's
//! DynamoDB ledger. This file picks the adapters (the stage's table, its kill switch in SSM);
//! the pages are `alchemiser-console`'s.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use alchemiser_console::{
    Console, HaltSwitch, HaltView, Hosts, LedgerSource, LocalFile, NoSwitch, SourceView,
    Unavailable,
};
use alchemiser_ledger::{DynamoDbLedger, LedgerError, LedgerStore};
use alchemiser_operations::Stage;
use async_trait::async_trait;
use tokio::sync::Mutex;

use super::workflows::local_ledger_path;

/// The port the console listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8470;

/// Arguments of `console`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show this stage's ledger (its DynamoDB table, on AWS or LocalStack). Without it: the
    /// local ledger `alchemiser run` records.
    #[arg(long)]
    stage: Option<String>,
    /// With --stage: this table instead of alchemiser-workflow-ledger-STAGE.
    #[arg(long, value_name = "NAME", requires = "stage")]
    table: Option<String>,
    /// The local ledger file (default: $ALCHEMISER_LEDGER, else .alchemiser/ledger.sqlite3).
    #[arg(long, value_name = "FILE", conflicts_with = "stage")]
    ledger: Option<PathBuf>,
    /// The port (0: any free one; the address is printed).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// The address to listen on. Anything but loopback shows the ledger to the network: only
    /// on a machine and network you trust.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
}

/// Runs the console until the process is stopped (Ctrl-C).
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (source, halt): (Arc<dyn LedgerSource>, Arc<dyn HaltSwitch>) = match &args.stage {
        None => (
            Arc::new(LocalFile::new(local_ledger_path(args.ledger.as_ref()))),
            Arc::new(NoSwitch),
        ),
        Some(stage) => {
            let stage: Stage = stage.parse()?;
            let aws = Arc::new(StageAws::default());
            let table = args
                .table
                .clone()
                .unwrap_or_else(|| stage.ledger_table_name());
            (
                Arc::new(StageLedger {
                    stage: stage.clone(),
                    table,
                    aws: aws.clone(),
                    store: Mutex::new(None),
                }),
                Arc::new(SsmHalt { stage, aws }),
            )
        }
    };
    let described = source.describe();
    // Checked once now, so that a missing set-up is said at the terminal too (the pages say it
    // again until it is fixed: a person may log in while the console runs).
    if let Err(unavailable) = source.store().await {
        eprintln!("note: {unavailable}");
    }
    let address = SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
                "port {} is in use on {}: pass another with --port N (or --port 0 for any free one)",
                args.port,
                args.bind
            ),
            _ => anyhow::anyhow!("cannot listen on {address}: {error}"),
        })?;
    let bound = listener.local_addr()?;
    let shown = match described {
        SourceView::Local { path } => format!("the local ledger {path}"),
        SourceView::Stage { stage, table } => format!("stage {stage} (table {table})"),
    };
    if !args.bind.is_loopback() {
        eprintln!(
            "warning: listening on {}: anyone who can reach this address sees the ledger",
            args.bind
        );
    }
    // The address alone on standard output, for scripts that start the console on port 0.
    println!("http://{bound}/");
    eprintln!("the console shows {shown}, read-only; Ctrl-C stops it");
    Console::new(
        source,
        halt,
        alchemiser_clock::system(),
        Hosts::for_bind_address(args.bind),
    )
    .serve(listener)
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// The AWS configuration of a stage, checked on first use and kept once it works (a person
/// may log in while the console runs: until then every page says what to run).
#[derive(Default)]
struct StageAws {
    sdk: Mutex<Option<aws_config::SdkConfig>>,
}

impl StageAws {
    async fn sdk(&self) -> Result<aws_config::SdkConfig, Unavailable> {
        let mut cached = self.sdk.lock().await;
        if let Some(sdk) = cached.as_ref() {
            return Ok(sdk.clone());
        }
        let sdk = alchemiser_aws::load_sdk_config().await;
        alchemiser_aws::check_setup(&sdk)
            .await
            .map_err(|e| Unavailable::AwsSetup {
                line: e.to_string(),
            })?;
        *cached = Some(sdk.clone());
        Ok(sdk)
    }
}

/// A stage's DynamoDB ledger.
struct StageLedger {
    stage: Stage,
    table: String,
    aws: Arc<StageAws>,
    store: Mutex<Option<Arc<dyn LedgerStore>>>,
}

#[async_trait]
impl LedgerSource for StageLedger {
    async fn store(&self) -> Result<Arc<dyn LedgerStore>, Unavailable> {
        let mut store = self.store.lock().await;
        if let Some(store) = store.as_ref() {
            return Ok(store.clone());
        }
        let sdk = self.aws.sdk().await?;
        let ledger: Arc<dyn LedgerStore> = Arc::new(DynamoDbLedger::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            self.table.clone(),
            // Read only: the retention of what it writes (nothing) does not matter.
            Duration::ZERO,
        ));
        *store = Some(ledger.clone());
        Ok(ledger)
    }

    fn explain(&self, error: &LedgerError) -> Unavailable {
        let debug = format!("{error:?}");
        if debug.contains("ResourceNotFoundException") {
            return Unavailable::StageNotDeployed {
                stage: self.stage.to_string(),
                table: self.table.clone(),
                region: std::env::var("AWS_REGION")
                    .unwrap_or_else(|_| "the configured region".into()),
            };
        }
        let refused = [
            "ExpiredToken",
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "InvalidSignatureException",
        ];
        if refused.iter().any(|code| debug.contains(code)) {
            return Unavailable::AwsSetup {
                line: "AWS refused the credentials (expired or not valid for this account): log in again (`aws sso login` for an SSO profile) or check AWS_PROFILE".into(),
            };
        }
        if debug.contains("DispatchFailure") || debug.contains("TimeoutError") {
            return Unavailable::Failed {
                line: "cannot reach AWS: check the network, AWS_REGION and AWS_ENDPOINT_URL".into(),
            };
        }
        Unavailable::Failed {
            line: alchemiser_bus::error_chain(error),
        }
    }

    fn describe(&self) -> SourceView {
        SourceView::Stage {
            stage: self.stage.to_string(),
            table: self.table.clone(),
        }
    }
}

/// The stage's kill switch, read as `alchemiser halt`, `resume` and `workflows list` read it.
struct SsmHalt {
    stage: Stage,
    aws: Arc<StageAws>,
}

#[async_trait]
impl HaltSwitch for SsmHalt {
    async fn read(&self) -> HaltView {
        let sdk = match self.aws.sdk().await {
            Ok(sdk) => sdk,
            Err(unavailable) => {
                return HaltView::Unknown {
                    why: unavailable.to_string(),
                }
            }
        };
        match alchemiser_operations::HaltSwitch::new(&sdk, self.stage.clone())
            .current()
            .await
        {
            Ok(state) if state.halted => HaltView::Halted {
                reason: state.reason,
                by: state.by,
                at: state.at,
            },
            Ok(_) => HaltView::Running,
            Err(error) => HaltView::Unknown {
                why: format!("{error}; execution places no order while the switch cannot be read"),
            },
        }
    }
}
