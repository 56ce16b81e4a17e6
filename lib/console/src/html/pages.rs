//! The list pages: overview, workflows, orders, dead letters.

use alchemiser_events::text::printable;
use alchemiser_ledger::store::query::{SearchScope, Window};
use maud::{html, Markup};

use super::{
    duration, layout, money, or_dash, state, svg, text, time, workflow_href, Context, Section,
};
use crate::halt::HaltView;
use crate::view::workflow::LetterStatus;
use crate::view::{
    DeadLetterView, DeadLettersView, OrderView, OrdersView, OverviewView, WorkflowRow,
    WorkflowsView,
};

/// A window as asked for: "since" its start when it runs to now (its end lies a day ahead,
/// for clocks that run fast), else both ends.
fn window(context: &Context, window: &Window) -> Markup {
    html! {
        @if context.filter("to").is_empty() {
            span.window { "since " (time(window.from)) }
        } @else {
            span.window { (time(window.from)) " to " (time(window.to)) }
        }
    }
}

/// The window filter: `since` (a span back from now) or `from`/`to` dates.
fn window_form(context: &Context, spans: &[&str], extra: Markup) -> Markup {
    let since = context.filter("since");
    html! {
        form.filters method="get" action=(context.path) {
            label { "Last "
                select name="since" {
                    option value="" selected[since.is_empty()] { "(default)" }
                    @for span in spans {
                        option value=(span) selected[since == *span] { (span) }
                    }
                }
            }
            label { "or from " input type="date" name="from" value=(context.filter("from")); }
            label { "to " input type="date" name="to" value=(context.filter("to")); }
            (extra)
            button type="submit" { "Show" }
            " "
            a href=(context.path) { "reset" }
        }
    }
}

fn halt(view: &HaltView, stage: Option<&str>) -> Markup {
    html! {
        @match view {
            HaltView::NotApplicable => p.halt.na { "Trading halt: not applicable (a local ledger has no stage)." },
            HaltView::Running => p.halt.running { "Trading is running: the kill switch is off." },
            HaltView::Halted { reason, by, at } => p.halt.halted {
                strong { "Trading is HALTED" }
                @if let Some(reason) = reason { ": " (text(reason)) }
                @if let Some(by) = by { " — by " (text(by)) }
                @if let Some(at) = at { " at " (time(*at)) }
                ". Resume with " code { "alchemiser resume --stage " (stage.unwrap_or("STAGE")) } "."
            },
            HaltView::Unknown { why } => p.halt.unknown { strong { "Trading halt unknown: " } (text(why)) },
        }
    }
}

/// The overview page.
pub fn overview(context: &Context, view: &OverviewView) -> Markup {
    let body = html! {
        h1 { "Overview" }
        (halt(&view.trading_halt, context.source.stage()))
        section.card {
            h2 { "Last run" }
            @match &view.last_run {
                Some(row) => p.last-run {
                    a href=(workflow_href(&row.summary.correlation_id)) { (text(&row.summary.correlation_id)) }
                    " " (state(row.summary.state))
                    " started " (time(row.summary.started_at))
                    " · " (duration(row.duration_ms))
                    @if let Some(failure) = &row.summary.failure {
                        @if !row.summary.state.is_terminal() || row.summary.state != alchemiser_ledger::WorkflowState::Completed {
                            " · failed at " (text(&failure.step)) ": " span.reason { (text(&failure.reason)) }
                        }
                    }
                },
                None => p.empty { "No workflow recorded yet: run " code { "alchemiser run" } " to record one." },
            }
        }
        (window_form(context, &["1h", "24h", "7d", "30d", "90d"], html! {}))
        p { "Workflows started " (window(context, &view.window)) ":" }
        div.tiles {
            div.tile { span.n { (view.counts.total) } " runs" }
            div.tile.state-completed { span.n { (view.counts.completed) } " completed" }
            div.tile.state-failed { span.n { (view.counts.failed) } " failed" }
            div.tile.state-timed_out { span.n { (view.counts.timed_out) } " timed out" }
            div.tile { span.n { (view.counts.running) } " running" }
            div.tile { span.n { (view.duration_p50_ms.map_or("–".into(), duration)) } " p50 duration" }
            div.tile { span.n { (view.duration_p95_ms.map_or("–".into(), duration)) } " p95 duration" }
            a.tile href="/dead-letters" { span.n { (view.open_dead_letters) } " dead letters waiting" }
        }
        (svg::runs(&view.runs))
        div.columns {
            section.card {
                h2 { "Failures by step" }
                @if view.failures_by_step.is_empty() {
                    p.empty { "No failure in this window." }
                } @else {
                    table { thead { tr { th { "step" } th.num { "workflows" } } }
                        tbody { @for step in &view.failures_by_step {
                            tr { td { (text(&step.step)) } td.num { (step.count) } }
                        } }
                    }
                }
            }
            section.card {
                h2 { "Latest failures" }
                @if view.recent_failures.is_empty() {
                    p.empty { "None." }
                } @else {
                    (workflow_table(&view.recent_failures))
                }
            }
        }
    };
    layout(context, Section::Overview, "Overview", body)
}

fn workflow_table(rows: &[WorkflowRow]) -> Markup {
    html! {
        table.workflows {
            thead { tr { th { "workflow" } th { "started" } th { "state" } th.num { "duration" } th { "last step" } th { "failure" } } }
            tbody {
                @for row in rows {
                    tr {
                        td.id { a href=(workflow_href(&row.summary.correlation_id)) { (text(&row.summary.correlation_id)) } }
                        td { (time(row.summary.started_at)) }
                        td { (state(row.summary.state)) @if row.summary.recovered { " " span.badge.recovered { "recovered" } } }
                        td.num { @if !row.summary.state.is_terminal() { "running " } (duration(row.duration_ms)) }
                        td { (row.summary.last_step.as_str()) }
                        td.reason { @if let Some(f) = &row.summary.failure { (text(&f.step)) ": " (text(&f.reason)) } }
                    }
                }
            }
        }
    }
}

fn pager(context: &Context, newer: Option<&String>, older: Option<&String>) -> Markup {
    html! {
        nav.pager {
            @if let Some(token) = newer { a rel="prev" href=(context.href(&[("before", token)])) { "← newer" } }
            @if newer.is_some() { a href=(context.href(&[])) { "newest" } }
            @if let Some(token) = older { a rel="next" href=(context.href(&[("after", token)])) { "older →" } }
        }
    }
}

/// The workflows page: a filtered page, or what a search found.
pub fn workflows(context: &Context, view: &WorkflowsView) -> Markup {
    let chosen = context.filter("state");
    let state_select = html! {
        label { "state "
            select name="state" {
                option value="" selected[chosen.is_empty()] { "any" }
                @for s in ["started", "signalled", "planned", "executing", "completed", "failed", "timed_out"] {
                    option value=(s) selected[chosen == s] { (s) }
                }
            }
        }
    };
    let body = html! {
        h1 { "Workflows" }
        @if let Some(search) = &view.search {
            p.search-result {
                @if search.found.workflows.is_empty() { "No workflow has the id " } @else { "Workflows with the id " }
                code { (text(&search.id)) }
                @match search.found.scope {
                    SearchScope::Everything => " (every id of the ledger searched).",
                    SearchScope::Window { workflows, complete: true } => {
                        " (searched: correlation ids, and every id of the " (workflows) " workflows started in the window)."
                    },
                    SearchScope::Window { workflows, complete: false } => {
                        " (searched: correlation ids, and every id of the newest " (workflows) " workflows of the window; narrow the window with from/to to search older ones)."
                    },
                }
            }
        } @else {
            (window_form(context, &["1h", "24h", "7d", "30d", "90d"], state_select))
            p { "Started " (window(context, &view.window))
                @if let Some(s) = view.state { ", state " (s.as_str()) }
                ", newest first." }
        }
        @if view.workflows.is_empty() {
            @if view.search.is_none() {
                p.empty { "No workflow matches. Widen the window, or record one with " code { "alchemiser run" } "." }
            }
        } @else {
            (workflow_table(&view.workflows))
        }
        (pager(context, view.newer_page.as_ref(), view.older_page.as_ref()))
    };
    layout(context, Section::Workflows, "Workflows", body)
}

/// A table of orders.
pub fn order_table(orders: &[OrderView], with_workflow: bool) -> Markup {
    html! {
        table.orders {
            thead { tr {
                @if with_workflow { th { "reported" } th { "workflow" } }
                th { "symbol" } th { "side" } th.num { "qty" } th.num { "price" }
                th { "status" } th.num { "filled" } th.num { "fill price" } th.num { "slippage (bp)" }
                th.num { "value" } th { "lifecycle" }
            } }
            tbody {
                @for order in orders {
                    @let o = &order.order;
                    tr {
                        @if with_workflow {
                            td { (time(o.at)) }
                            td.id { a href=(workflow_href(&o.correlation_id)) { (text(&o.correlation_id)) } }
                        }
                        td { (text(&o.symbol)) }
                        td { (text(&o.side)) }
                        td.num { (or_dash(o.qty)) }
                        td.num { (or_dash(o.price)) }
                        td { span class={ "badge order-" (if o.is_filled() { "filled" } else if o.succeeded() { "ok" } else { "bad" }) } { (text(&o.status)) }
                            @if let Some(error) = &o.error { div.reason { (text(error)) } } }
                        td.num { (or_dash(o.filled_qty)) }
                        td.num { (or_dash(o.fill_price)) }
                        td.num { (or_dash(order.slippage_bps)) }
                        td.num { (order.filled_value.map_or("–".into(), money)) }
                        td.lifecycle { @for (i, step) in order.lifecycle.iter().enumerate() {
                            @if i > 0 { " → " } span { (text(step)) }
                        } }
                    }
                }
            }
        }
    }
}

/// The orders page.
pub fn orders(context: &Context, view: &OrdersView) -> Markup {
    let symbol = html! {
        label { "symbol " input type="text" name="symbol" size="8" value=(context.filter("symbol")) placeholder="any"; }
    };
    let body = html! {
        h1 { "Orders" }
        (window_form(context, &["24h", "7d", "30d", "90d"], symbol))
        p { "Reported " (window(context, &view.window))
            @if let Some(symbol) = &view.symbol { ", symbol " (text(symbol)) }
            ", newest first."
            @if let Some(read) = view.workflows_read { " (" (read) " workflows read one by one: a stage's ledger has no index of orders)" }
        }
        div.tiles {
            div.tile { span.n { (view.totals.orders) } " orders" }
            div.tile.state-completed { span.n { (view.totals.filled) } " filled" }
            div.tile.state-failed { span.n { (view.totals.not_filled) } " not done" }
            div.tile { span.n { (money(view.totals.bought)) } " bought" }
            div.tile { span.n { (money(view.totals.sold)) } " sold" }
            div.tile { span.n { (or_dash(view.page_mean_slippage_bps)) } " bp mean slippage (this page)" }
        }
        @if view.orders.is_empty() {
            p.empty { "No order matches." }
        } @else {
            (order_table(&view.orders, true))
        }
        (pager(context, view.newer_page.as_ref(), view.older_page.as_ref()))
    };
    layout(context, Section::Orders, "Orders", body)
}

/// A table of dead letters with their commands.
pub fn letter_table(letters: &[DeadLetterView], with_workflow: bool) -> Markup {
    html! {
        table.dead-letters {
            thead { tr {
                th { "sent" } @if with_workflow { th { "workflow" } }
                th { "message" } th { "status" } th { "kind" } th { "event" } th { "why" } th { "commands" }
            } }
            tbody {
                @for letter in letters {
                    @let l = &letter.record.letter;
                    tr {
                        td { (time(letter.record.at())) }
                        @if with_workflow {
                            td.id { a href=(workflow_href(&letter.record.correlation_id)) { (text(&letter.record.correlation_id)) } }
                        }
                        td.id { (text(&l.message_id)) }
                        td { span class={ "badge letter-" (letter.status.as_str()) } { (letter.status.as_str()) }
                            @if l.shadow { " " span.badge { "shadow" } }
                            @if l.refused { " " span.badge { "refused" } }
                            @if let Some(replay) = &l.replay { " " span.badge { "replay " (text(replay)) } } }
                        td { (text(&l.dead_letter_kind)) @if let Some(origin) = &l.origin { " · " (text(origin)) } }
                        td { (text(l.event_type.as_deref().unwrap_or("?"))) " " span.id { (text(l.event_id.as_deref().unwrap_or(""))) } }
                        td.reason { (text(&l.reason))
                            @if let Some(deleted) = &letter.record.deleted {
                                div.deleted { "deleted " (time(deleted.deleted_at)) " by " (text(&deleted.deleted_by)) ": " (text(&deleted.reason)) }
                            } }
                        td.commands {
                            code.command { (printable(&letter.inspect_command)) }
                            @if letter.status == LetterStatus::Waiting { code.command.redrive { (printable(&letter.redrive_command)) } }
                        }
                    }
                }
            }
        }
    }
}

/// The dead letters page.
pub fn dead_letters(context: &Context, view: &DeadLettersView) -> Markup {
    let body = html! {
        h1 { "Dead letters" }
        (window_form(context, &["24h", "7d", "14d", "30d"], html! {}))
        p { "Sent " (window(context, &view.window)) ": " (view.waiting) " waiting in the queue, newest first. "
            "A redrive resends the event as its sender wrote it and deletes the letter once delivered." }
        @if context.source.stage().is_none() && !view.letters.is_empty() {
            p.note { "A local ledger does not know the stage a letter came from: put it in place of STAGE." }
        }
        @if view.letters.is_empty() {
            p.empty { "No dead letter in this window." }
        } @else {
            (letter_table(&view.letters, true))
        }
    };
    layout(context, Section::DeadLetters, "Dead letters", body)
}
