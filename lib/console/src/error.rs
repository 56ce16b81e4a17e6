//! What a request can come to other than its page: each kind with its HTTP status and one
//! sentence saying what to do next.

use axum::http::StatusCode;

use crate::params::BadRequest;
use crate::source::Unavailable;

/// Why a page cannot be shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsoleError {
    /// The query string is not one the page answers.
    #[error(transparent)]
    BadRequest(#[from] BadRequest),
    /// No workflow with that id in the ledger.
    #[error("workflow `{id}` is not in the {ledger} (no live event of it was recorded): search for another of its ids on the Workflows page")]
    NoSuchWorkflow {
        /// The id, as text.
        id: String,
        /// Which ledger.
        ledger: String,
    },
    /// No page at that address.
    #[error("there is no page at `{path}`: start from the Overview")]
    NoSuchPage {
        /// The path, as text.
        path: String,
    },
    /// The ledger cannot be read now.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

impl ConsoleError {
    /// The HTTP status it answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::NoSuchWorkflow { .. } | ConsoleError::NoSuchPage { .. } => {
                StatusCode::NOT_FOUND
            }
            ConsoleError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A title for its page.
    pub fn title(&self) -> &'static str {
        match self {
            ConsoleError::BadRequest(_) => "Bad request",
            ConsoleError::NoSuchWorkflow { .. } => "No such workflow",
            ConsoleError::NoSuchPage { .. } => "No such page",
            ConsoleError::Unavailable(Unavailable::NoLedgerYet { .. }) => "No ledger yet",
            ConsoleError::Unavailable(Unavailable::AwsSetup { .. }) => "AWS not set up",
            ConsoleError::Unavailable(Unavailable::StageNotDeployed { .. }) => "Stage not deployed",
            ConsoleError::Unavailable(Unavailable::Failed { .. }) => "Ledger unavailable",
        }
    }

    /// A stable name for programs reading the JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            ConsoleError::BadRequest(_) => "bad_request",
            ConsoleError::NoSuchWorkflow { .. } => "no_such_workflow",
            ConsoleError::NoSuchPage { .. } => "no_such_page",
            ConsoleError::Unavailable(Unavailable::NoLedgerYet { .. }) => "no_ledger_yet",
            ConsoleError::Unavailable(Unavailable::AwsSetup { .. }) => "aws_setup",
            ConsoleError::Unavailable(Unavailable::StageNotDeployed { .. }) => "stage_not_deployed",
            ConsoleError::Unavailable(Unavailable::Failed { .. }) => "ledger_unavailable",
        }
    }
}
