//! Where the console's ledger comes from — a local file, or a stage's table (the CLI's adapter)
//! — and what a page says when it cannot be read: one sentence saying what to run, as the CLI
//! says it.

use std::path::PathBuf;
use std::sync::Arc;

use alchemiser_ledger::{LedgerError, LedgerStore, SqliteLedger};
use async_trait::async_trait;
use tokio::sync::OnceCell;

use crate::view::SourceView;

/// Why the ledger cannot be read now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// A local ledger that no run has recorded into yet.
    #[error("there is no ledger at {path} yet: run `alchemiser run` to record a workflow there, or open a stage's ledger with `alchemiser console --stage STAGE`")]
    NoLedgerYet {
        /// The file.
        path: String,
    },
    /// The AWS set-up is missing something (region, profile, credentials).
    #[error("{line}")]
    AwsSetup {
        /// What is missing and what to run, as the CLI's set-up check says it.
        line: String,
    },
    /// The stage's table is not where the configuration points.
    #[error("stage {stage} has no workflow ledger table ({table}) in {region}: deploy it with `scripts/deploy {stage}`, or check AWS_PROFILE and AWS_REGION")]
    StageNotDeployed {
        /// The stage.
        stage: String,
        /// The table looked for.
        table: String,
        /// The region looked in.
        region: String,
    },
    /// The store failed to answer.
    #[error("the ledger did not answer ({line}): reload the page to try again")]
    Failed {
        /// What failed.
        line: String,
    },
}

/// Where the pages read their ledger.
#[async_trait]
pub trait LedgerSource: Send + Sync {
    /// The store, or why there is none to read now.
    async fn store(&self) -> Result<Arc<dyn LedgerStore>, Unavailable>;

    /// What a failure of the store means, said for a person.
    fn explain(&self, error: &LedgerError) -> Unavailable {
        Unavailable::Failed {
            line: error_line(error),
        }
    }

    /// Which ledger it is.
    fn describe(&self) -> SourceView;
}

/// An error and its causes in one line.
pub fn error_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

/// A local ledger file, opened for reading once it exists (a run may create it after the
/// console started).
#[derive(Debug)]
pub struct LocalFile {
    path: PathBuf,
    opened: OnceCell<Arc<SqliteLedger>>,
}

impl LocalFile {
    /// The ledger at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            opened: OnceCell::new(),
        }
    }
}

#[async_trait]
impl LedgerSource for LocalFile {
    async fn store(&self) -> Result<Arc<dyn LedgerStore>, Unavailable> {
        if let Some(ledger) = self.opened.get() {
            return Ok(ledger.clone());
        }
        if !self.path.exists() {
            return Err(Unavailable::NoLedgerYet {
                path: self.path.display().to_string(),
            });
        }
        let ledger = self
            .opened
            .get_or_try_init(|| async {
                SqliteLedger::open_read_only(&self.path)
                    .map(Arc::new)
                    .map_err(|e| self.explain(&e))
            })
            .await?;
        Ok(ledger.clone())
    }

    fn describe(&self) -> SourceView {
        SourceView::Local {
            path: self.path.display().to_string(),
        }
    }
}
