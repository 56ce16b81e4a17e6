//! The page of one workflow.

use alchemiser_events::text::printable;
use alchemiser_ledger::shadow::Verdict;
use maud::{html, Markup};

use super::pages::{letter_table, order_table};
use super::{duration, layout, money, percent, state, svg, text, time, Context, Section};
use crate::view::WorkflowView;

/// The page of `view`.
pub fn workflow(context: &Context, view: &WorkflowView) -> Markup {
    let summary = &view.summary;
    let body = html! {
        h1.workflow-id { "Workflow " span.id { (text(&summary.correlation_id)) } }
        p.summary {
            (state(summary.state))
            @if summary.recovered { " " span.badge.recovered { "recovered after a failure" } }
            " started " (time(summary.started_at))
            @if let Some(end) = summary.ended_at { " · ended " (time(end)) " · ran " (duration((end - summary.started_at).num_milliseconds())) }
            " · last step " (summary.last_step.as_str())
            " · " (summary.entries) " entries"
        }
        @if let Some(failure) = &view.failure {
            section.card.failure {
                h2 { "Failure" }
                p { "At " strong { (text(&failure.step)) } " (" (time(failure.at)) ")"
                    @if let Some(check) = &failure.check { ", check " code { (text(check)) } } ":" }
                p.reason.failure-reason { (text(&failure.reason)) }
            }
        }
        section.card {
            h2 { "Timeline" }
            @if view.timeline.is_empty() { p.empty { "No event recorded." } } @else { (svg::timeline(&view.timeline)) }
        }
        section.card {
            h2 { "Causation" }
            table.causation {
                thead { tr { th { "event" } th { "from → to" } th.num { "at" } th { "outcome" } } }
                tbody {
                    @for row in &view.causation {
                        tr {
                            td.tree { span.prefix { (row.prefix) } strong { (row.event_type.as_str()) } " " span.id { (text(&row.event_id)) }
                                @if let Some(replay) = &row.replay { " " span.badge { "replay " (text(replay)) } } }
                            td { (text(&row.producer)) @if let Some(to) = &row.handled_by { " → " (text(to)) } }
                            td.num { "+" (duration(row.at_ms)) }
                            td.reason { @if let Some(outcome) = &row.outcome { (text(outcome)) }
                                @if let Some(check) = &row.check { " " span.badge { "check " (text(check)) } } }
                        }
                    }
                }
            }
        }
        div.columns {
            section.card {
                h2 { "Signal" }
                @match &view.signal {
                    Some(signal) => {
                        p { "Target weights of " span.id { (text(&signal.event_id)) }
                            @if !signal.strategies.is_empty() { " from " @for (i, s) in signal.strategies.iter().enumerate() { @if i > 0 { ", " } strong.strategy { (text(s)) } } } }
                        table.signal { thead { tr { th { "symbol" } th.num { "target weight" } } }
                            tbody { @for w in &signal.target_weights { tr { td { (text(&w.symbol)) } td.num { (percent(w.weight)) } } } } }
                    },
                    None => p.empty { "The ledger has no signal of this workflow (recorded before signals were kept, or none was made)." },
                }
            }
            section.card {
                h2 { "Plan" }
                @match &view.plan {
                    Some(plan) => {
                        p { "Plan " span.id { (text(&plan.plan_id)) }
                            @if let Some(v) = plan.total_portfolio_value { " · account " (money(v)) }
                            @if let Some(v) = plan.total_trade_value { " · to trade " (money(v)) } }
                        (svg::weights(plan))
                    },
                    None => p.empty { "No plan was made." },
                }
            }
        }
        @if let Some(plan) = &view.plan {
            section.card {
                h2 { "Plan items" }
                table.plan {
                    thead { tr { th { "symbol" } th { "action" } th.num { "current weight" } th.num { "target weight" }
                        th.num { "current value" } th.num { "target value" } th.num { "trade amount" } } }
                    tbody { @for item in &plan.items {
                        tr {
                            td { (text(&item.symbol)) } td { (text(&item.action)) }
                            td.num { (item.current_weight.map_or("–".into(), percent)) }
                            td.num { (item.target_weight.map_or("–".into(), percent)) }
                            td.num { (item.current_value.map_or("–".into(), money)) }
                            td.num { (item.target_value.map_or("–".into(), money)) }
                            td.num { (item.trade_amount.map_or("–".into(), money)) }
                        }
                    } }
                }
            }
        }
        section.card {
            h2 { "Orders and fills" }
            @if view.orders.is_empty() {
                p.empty { "No order was reported." }
            } @else {
                (order_table(&view.orders, false))
                p.note { "Slippage: how much worse than the price the order was sized at it filled, in basis points (a buy paying more, a sell receiving less; negative is better)." }
            }
        }
        @if !view.dead_letters.is_empty() {
            section.card {
                h2 { "Dead letters" }
                (letter_table(&view.dead_letters, false))
                @if context.source.stage().is_none() {
                    p.note { "A local ledger does not know the stage a letter came from: put it in place of STAGE." }
                }
            }
        }
        @if let Some(timeout) = &view.timeout {
            section.card {
                h2 { "Timed out" }
                p { "The sweep found no terminal event within " (duration(i64::try_from(timeout.deadline_secs).unwrap_or(i64::MAX / 1000).saturating_mul(1000)))
                    " of its start, at " (time(timeout.at)) "; the last step reached was " (timeout.last_step.as_str()) "." }
            }
        }
        @if !view.shadows.is_empty() {
            section.card {
                h2 { "Shadow results" }
                table.shadows {
                    thead { tr { th { "shadow" } th { "for event" } th { "recorded" } th.num { "events" } th { "against the live owner" } } }
                    tbody { @for shadow in &view.shadows {
                        tr {
                            td { (text(&shadow.entry.handler)) }
                            td.id { (text(&shadow.entry.cause_event_id)) }
                            td { (time(shadow.entry.recorded_at)) }
                            td.num { (shadow.entry.events.len()) @if let Some(omitted) = &shadow.entry.omitted { div.reason { (text(omitted)) } } }
                            td {
                                @match &shadow.comparison {
                                    None => "not compared (only plans and trades are)",
                                    Some(c) => {
                                        @let verdict = match c.verdict { Verdict::Match => "match", Verdict::Mismatch => "mismatch", Verdict::NoLiveResult => "no live result yet", Verdict::NoShadowResult => "no comparable shadow result" };
                                        span class={ "badge verdict-" (verdict.replace(' ', "-")) } { (verdict) }
                                        @if let Some(live) = &c.live_event_id { " vs " span.id { (text(live)) } }
                                        @if !c.differences.is_empty() {
                                            table.differences { thead { tr { th { "field" } th { "shadow" } th { "live" } } }
                                                tbody { @for d in &c.differences { tr { td { (text(&d.field)) } td { (text(&d.shadow)) } td { (text(&d.live)) } } } } }
                                        }
                                    }
                                }
                            }
                        }
                    } }
                }
            }
        }
        details.raw {
            summary { "Every entry (" (view.entries.len()) ")" }
            pre { (raw_json(view)) }
        }
        p { a href=(context.href(&[("format", "json")])) { "This workflow as JSON" } " (what " code { "alchemiser workflows show ID --json" } " prints)" }
    };
    layout(
        context,
        Section::Workflows,
        &format!("Workflow {}", printable(&summary.correlation_id)),
        body,
    )
}

/// The entries as JSON, each line shown as text (JSON escapes control characters in strings,
/// not the characters that reorder text).
fn raw_json(view: &WorkflowView) -> String {
    serde_json::to_string_pretty(&view.entries)
        .unwrap_or_default()
        .lines()
        .map(|line| printable(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}
