//! The console's HTTP side: GET routes only (it changes nothing), each page as HTML or, with
//! `?format=json`, as its model; strict headers on every answer; and a check of the `Host`
//! header, so that a web page a person visits cannot reach the console through a DNS name it
//! points at 127.0.0.1 (DNS rebinding).

use std::net::IpAddr;
use std::sync::Arc;

use alchemiser_clock::Clock;
use alchemiser_ledger::store::query::Window;
use alchemiser_ledger::LedgerStore;
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::Markup;
use serde::Serialize;

use crate::error::ConsoleError;
use crate::halt::HaltSwitch;
use crate::html::{self, Context};
use crate::params::{Format, Params};
use crate::source::LedgerSource;
use crate::view::{self, DEAD_LETTER_RETENTION};

/// The Content-Security-Policy of every answer: nothing runs (no script from anywhere), styles
/// only from the console's own stylesheet (no inline style), images only its own, forms only to
/// itself, no framing, no base element.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const STYLESHEET: &str = include_str!("../assets/console.css");
const ICON: &str = include_str!("../assets/icon.svg");

/// What the pages read, and how.
pub struct Console {
    source: Arc<dyn LedgerSource>,
    halt: Arc<dyn HaltSwitch>,
    clock: Arc<dyn Clock>,
    hosts: Hosts,
}

/// Which `Host` headers the console answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hosts {
    /// Only names of this machine's loopback (127.0.0.1, localhost, [::1]): the console is bound
    /// to loopback.
    Loopback,
    /// Any (the console was bound to another address on purpose).
    Any,
}

impl Hosts {
    /// What a console bound to `address` answers.
    pub fn for_bind_address(address: IpAddr) -> Self {
        if address.is_loopback() {
            Hosts::Loopback
        } else {
            Hosts::Any
        }
    }

    fn allows(&self, host: Option<&str>) -> bool {
        match self {
            Hosts::Any => true,
            Hosts::Loopback => {
                let Some(host) = host else { return false };
                let name = match host.strip_prefix('[') {
                    Some(v6) => v6.split(']').next().unwrap_or_default(),
                    None => host.split(':').next().unwrap_or_default(),
                };
                matches!(
                    name.to_ascii_lowercase().as_str(),
                    "127.0.0.1" | "localhost" | "::1"
                )
            }
        }
    }
}

impl Console {
    /// A console over `source`, reading the kill switch from `halt` and the time from `clock`.
    pub fn new(
        source: Arc<dyn LedgerSource>,
        halt: Arc<dyn HaltSwitch>,
        clock: Arc<dyn Clock>,
        hosts: Hosts,
    ) -> Self {
        Self {
            source,
            halt,
            clock,
            hosts,
        }
    }

    /// The routes, with the headers and the host check on every answer.
    pub fn router(self) -> Router {
        let console = Arc::new(self);
        Router::new()
            .route("/", get(overview))
            .route("/workflows", get(workflows))
            .route("/workflow", get(workflow))
            .route("/orders", get(orders))
            .route("/dead-letters", get(dead_letters))
            .route("/assets/console.css", get(stylesheet))
            .route("/assets/icon.svg", get(icon))
            .fallback(no_such_page)
            .layer(axum::middleware::from_fn_with_state(console.clone(), guard))
            .with_state(console)
    }

    /// Answers on `listener` until the process stops.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    async fn store(&self) -> Result<Arc<dyn LedgerStore>, ConsoleError> {
        Ok(self.source.store().await?)
    }
}

type Shared = State<Arc<Console>>;

/// Every answer: refused for a foreign `Host`, and with the security headers.
async fn guard(State(console): Shared, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()));
    let mut response = if console.hosts.allows(host.as_deref()) {
        next.run(request).await
    } else {
        (
            StatusCode::MISDIRECTED_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "This console answers only at http://127.0.0.1 (or localhost) on its port: open it there.\n",
        )
            .into_response()
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// A page's answer: its HTML, or its model as JSON.
fn answer<T: Serialize>(format: Format, model: &T, page: impl FnOnce(&T) -> Markup) -> Response {
    match format {
        Format::Html => html_response(StatusCode::OK, page(model)),
        Format::Json => json_response(StatusCode::OK, model),
    }
}

fn html_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

fn json_response<T: Serialize + ?Sized>(status: StatusCode, model: &T) -> Response {
    match serde_json::to_string_pretty(model) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("the page's model does not encode as JSON: {error}\n"),
        )
            .into_response(),
    }
}

/// The page of `error`, in the format asked for.
fn failure(
    console: &Console,
    path: &'static str,
    format: Format,
    error: &ConsoleError,
) -> Response {
    let status = error.status();
    match format {
        Format::Json => json_response(
            status,
            &serde_json::json!({"error": {
                "kind": error.kind(),
                "status": status.as_u16(),
                "message": error.to_string(),
            }}),
        ),
        Format::Html => {
            let context = Context {
                source: console.source.describe(),
                path,
                filters: Vec::new(),
            };
            html_response(status, html::error(&context, error))
        }
    }
}

/// The format a request asks for, read leniently (for its error page, when its parameters
/// are what failed).
fn format_of(query: Option<&str>) -> Format {
    let json = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(name, value)| name == "format" && value == "json");
    if json {
        Format::Json
    } else {
        Format::Html
    }
}

/// The filters of a query string: every parameter but the page position and the format,
/// kept by the page's links.
fn filters_of(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(name, value)| {
            !matches!(name.as_ref(), "after" | "before" | "format") && !value.trim().is_empty()
        })
        .map(|(name, value)| (name.into_owned(), value.trim().to_owned()))
        .collect()
}

/// Runs a page: parses its parameters, builds its answer, or answers the error in the format
/// asked for.
async fn page<F, Fut>(
    console: Arc<Console>,
    path: &'static str,
    query: Option<String>,
    allowed: &[&str],
    build: F,
) -> Response
where
    F: FnOnce(Arc<Console>, Params, Context) -> Fut,
    Fut: std::future::Future<Output = Result<Response, ConsoleError>>,
{
    let params = match Params::parse(query.as_deref(), allowed) {
        Ok(params) => params,
        Err(error) => {
            return failure(&console, path, format_of(query.as_deref()), &error.into());
        }
    };
    let format = params.format;
    let context = Context {
        source: console.source.describe(),
        path,
        filters: filters_of(query.as_deref()),
    };
    match build(console.clone(), params, context).await {
        Ok(response) => response,
        Err(error) => failure(&console, path, format, &error),
    }
}

/// A ledger read, its failure explained for the source.
async fn read<T>(
    console: &Console,
    work: impl std::future::Future<Output = Result<T, alchemiser_ledger::LedgerError>>,
) -> Result<T, ConsoleError> {
    work.await
        .map_err(|e| ConsoleError::Unavailable(console.source.explain(&e)))
}

const WINDOW: &[&str] = &["since", "from", "to"];

async fn overview(State(console): Shared, RawQuery(query): RawQuery) -> Response {
    page(
        console,
        "/",
        query,
        WINDOW,
        |console, params, context| async move {
            let now = console.clock.now();
            let window = params.window(now, std::time::Duration::from_secs(24 * 3600))?;
            let store = console.store().await?;
            let halt = console.halt.read().await;
            let model = read(
                &console,
                view::overview(store.as_ref(), now, window, &context.source, halt),
            )
            .await?;
            Ok(answer(params.format, &model, |m| {
                html::overview(&context, m)
            }))
        },
    )
    .await
}

async fn workflows(State(console): Shared, RawQuery(query): RawQuery) -> Response {
    let allowed = [
        "since", "from", "to", "state", "after", "before", "limit", "q",
    ];
    page(
        console,
        "/workflows",
        query,
        &allowed,
        |console, params, context| async move {
            let now = console.clock.now();
            let query = params.workflow_query(now)?;
            let search = params.id("q")?;
            let store = console.store().await?;
            let model = read(
                &console,
                view::workflows(store.as_ref(), now, &query, search.as_deref()),
            )
            .await?;
            // One workflow found: its page is what the person searched for.
            if let (Format::Html, Some(_), [only]) =
                (params.format, &model.search, model.workflows.as_slice())
            {
                return Ok(
                    Redirect::to(&html::workflow_href(&only.summary.correlation_id))
                        .into_response(),
                );
            }
            Ok(answer(params.format, &model, |m| {
                html::workflows(&context, m)
            }))
        },
    )
    .await
}

async fn workflow(State(console): Shared, RawQuery(query): RawQuery) -> Response {
    page(console, "/workflow", query, &["id"], |console, params, context| async move {
        let Some(id) = params.id("id")? else {
            return Err(crate::params::BadRequest {
                parameter: "id".into(),
                why: "is missing: give the workflow's correlation id (or search any of its ids on the Workflows page)".into(),
            }
            .into());
        };
        let store = console.store().await?;
        let model = read(&console, view::workflow(store.as_ref(), &id, &context.source))
            .await?
            .ok_or_else(|| ConsoleError::NoSuchWorkflow {
                id: alchemiser_events::text::printable(&id).into_owned(),
                ledger: context.source.label(),
            })?;
        Ok(answer(params.format, &model, |m| html::workflow(&context, m)))
    })
    .await
}

async fn orders(State(console): Shared, RawQuery(query): RawQuery) -> Response {
    let allowed = ["since", "from", "to", "symbol", "after", "before", "limit"];
    page(
        console,
        "/orders",
        query,
        &allowed,
        |console, params, context| async move {
            let query = params.order_query(console.clock.now())?;
            let store = console.store().await?;
            let model = read(&console, view::orders(store.as_ref(), &query)).await?;
            Ok(answer(params.format, &model, |m| html::orders(&context, m)))
        },
    )
    .await
}

async fn dead_letters(State(console): Shared, RawQuery(query): RawQuery) -> Response {
    page(
        console,
        "/dead-letters",
        query,
        WINDOW,
        |console, params, context| async move {
            let now = console.clock.now();
            let default = DEAD_LETTER_RETENTION.to_std().unwrap_or_default();
            let window: Window = params.window(now, default)?;
            let store = console.store().await?;
            let model = read(
                &console,
                view::dead_letters(store.as_ref(), window, &context.source),
            )
            .await?;
            Ok(answer(params.format, &model, |m| {
                html::dead_letters(&context, m)
            }))
        },
    )
    .await
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}

async fn icon() -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], ICON).into_response()
}

async fn no_such_page(State(console): Shared, request: Request) -> Response {
    let format = format_of(request.uri().query());
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let error = "The console is read-only: it answers GET only.\n";
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            error,
        )
            .into_response();
    }
    let path = alchemiser_events::text::printable(request.uri().path())
        .chars()
        .take(200)
        .collect();
    failure(&console, "/", format, &ConsoleError::NoSuchPage { path })
}
