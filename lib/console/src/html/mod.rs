//! The pages, as HTML: maud templates, which escape every value they splice in (an event's
//! text is shown as text, whatever markup it holds); no scripts and no inline styles (the
//! Content-Security-Policy forbids both), one stylesheet; charts are inline SVG drawn with
//! presentation attributes and classes.

mod pages;
mod svg;
mod workflow;

use alchemiser_clock::format_duration;
use alchemiser_events::text::printable;
use alchemiser_events::Decimal;
use alchemiser_ledger::WorkflowState;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use maud::{html, Markup, DOCTYPE};

use crate::error::ConsoleError;
use crate::view::SourceView;

pub use pages::{dead_letters, orders, overview, workflows};
pub use workflow::workflow;

/// The stylesheet's address.
pub const STYLESHEET: &str = "/assets/console.css";
/// The icon's address.
pub const ICON: &str = "/assets/icon.svg";

/// Which menu entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The overview.
    Overview,
    /// Workflows (and one workflow).
    Workflows,
    /// Orders.
    Orders,
    /// Dead letters.
    DeadLetters,
    /// None (an error page).
    None,
}

/// What every page knows of its request: the ledger, the path and the parameters it keeps in
/// its links (its filters).
#[derive(Debug, Clone)]
pub struct Context {
    /// Which ledger.
    pub source: SourceView,
    /// The page's path.
    pub path: &'static str,
    /// The filters of the request (no page position, no format), kept by the page's links.
    pub filters: Vec<(String, String)>,
}

impl Context {
    /// The page with these filters and `extra` parameters.
    pub fn href(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = self
            .filters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .filter(|(k, _)| extra.iter().all(|(e, _)| e != k))
            .collect();
        pairs.extend(extra.iter().copied());
        href(self.path, &pairs)
    }

    /// A filter's value as the request gave it.
    pub fn filter(&self, name: &str) -> &str {
        self.filters
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// `path` with `pairs` as its query string, each value percent-encoded.
pub fn href(path: &str, pairs: &[(&str, &str)]) -> String {
    let pairs: Vec<&(&str, &str)> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    if pairs.is_empty() {
        return path.to_owned();
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    format!("{path}?{}", query.finish())
}

/// The page of one workflow.
pub fn workflow_href(correlation_id: &str) -> String {
    href("/workflow", &[("id", correlation_id)])
}

/// A page around `body`.
pub fn layout(context: &Context, section: Section, title: &str, body: Markup) -> Markup {
    let json = context.href(&[("format", "json")]);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · Alchemiser console" }
                link rel="stylesheet" href=(STYLESHEET);
                link rel="icon" href=(ICON) type="image/svg+xml";
            }
            body {
                header.top {
                    a.brand href="/" { "Alchemiser" }
                    nav {
                        (menu(section, Section::Overview, "/", "Overview"))
                        (menu(section, Section::Workflows, "/workflows", "Workflows"))
                        (menu(section, Section::Orders, "/orders", "Orders"))
                        (menu(section, Section::DeadLetters, "/dead-letters", "Dead letters"))
                    }
                    form.search method="get" action="/workflows" role="search" {
                        input type="search" name="q" placeholder="Search any id: workflow, event, plan, order, dead letter" aria-label="Search by id";
                        button type="submit" { "Find" }
                    }
                    span.source { (context.source.label()) }
                }
                main {
                    (body)
                }
                footer {
                    "Read-only. "
                    a href=(json) { "This page as JSON" }
                    " · times are UTC"
                }
            }
        }
    }
}

fn menu(current: Section, section: Section, path: &str, label: &str) -> Markup {
    html! {
        @if current == section {
            a.current href=(path) aria-current="page" { (label) }
        } @else {
            a href=(path) { (label) }
        }
    }
}

/// The page of an error: what went wrong, in one sentence saying what to do.
pub fn error(context: &Context, error: &ConsoleError) -> Markup {
    let body = html! {
        section.error {
            h1 { (error.title()) }
            p.sentence { (printable(&error.to_string())) }
            p { a href="/" { "Overview" } " · " a href="/workflows" { "Workflows" } }
        }
    };
    layout(context, Section::None, error.title(), body)
}

/// An instant as people read it: UTC to the second.
pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
        .replace('T', " ")
}

/// Milliseconds as a duration (`950ms`, `4.2s`, `3m05s`).
pub fn duration(ms: i64) -> String {
    format_duration(TimeDelta::milliseconds(ms))
}

/// A weight (0..1) as a percentage to two places.
pub fn percent(weight: Decimal) -> String {
    weight
        .checked_mul(Decimal::ONE_HUNDRED)
        .map_or_else(|| weight.to_string(), |p| format!("{:.2}%", p.round_dp(2)))
}

/// Money to the cent, with a thousands separator.
pub fn money(amount: Decimal) -> String {
    let rounded = amount.round_dp(2);
    let text = format!("{:.2}", rounded.abs());
    let (whole, cents) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}${grouped}.{cents}")
}

/// A workflow state as a coloured badge.
pub fn state(state: WorkflowState) -> Markup {
    html! { span class={ "badge state-" (state.as_str()) } { (state.as_str()) } }
}

/// A value from an event, shown as text (control characters escaped).
pub fn text(value: &str) -> Markup {
    html! { (printable(value)) }
}

/// An optional value, or a dash.
pub fn or_dash<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_grouped_and_signed() {
        assert_eq!(money(Decimal::new(123456789, 2)), "$1,234,567.89");
        assert_eq!(money(Decimal::new(-304000, 2)), "-$3,040.00");
        assert_eq!(money(Decimal::ZERO), "$0.00");
        assert_eq!(money(Decimal::new(999, 3)), "$1.00");
        assert_eq!(percent(Decimal::new(6, 1)), "60.00%");
    }

    #[test]
    fn links_encode_their_values() {
        assert_eq!(
            href("/workflow", &[("id", "a&b=<c> d")]),
            "/workflow?id=a%26b%3D%3Cc%3E+d"
        );
        assert_eq!(href("/orders", &[("symbol", "")]), "/orders");
    }
}
