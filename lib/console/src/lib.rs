//! The operator console: a read-only web page per question an operator asks of the ledger —
//! did the last run complete, what did it plan, what filled and at what price, what failed and
//! how to resend it — served by `alchemiser console` on 127.0.0.1.
//!
//! - [`view`]: one model per page, built through the ledger's store port; the JSON of the page
//!   and of the CLI's `--json`;
//! - [`html`]: the pages (maud templates: every value escaped; no script; inline SVG charts);
//! - [`server`]: the routes (GET only), the security headers, the host check;
//! - [`params`]: query strings read strictly (a bad one is a 400 page);
//! - [`source`]: where the ledger is (a local file here; a stage's table from the CLI), and
//!   what a page says when it cannot be read;
//! - [`halt`]: the kill switch's port.

pub mod error;
pub mod halt;
pub mod html;
pub mod params;
pub mod server;
pub mod source;
pub mod view;

pub use error::ConsoleError;
pub use halt::{HaltSwitch, HaltView, NoSwitch};
pub use server::{Console, Hosts, CONTENT_SECURITY_POLICY};
pub use source::{LedgerSource, LocalFile, Unavailable};
pub use view::{SourceView, WorkflowView};
