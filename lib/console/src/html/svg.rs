//! Charts as inline SVG: sizes and positions as attributes, colours from the stylesheet's
//! classes (no `style` attribute: the Content-Security-Policy refuses inline styles). Every
//! element is closed explicitly: in HTML, an SVG element written as a void tag would swallow
//! what follows it.

use alchemiser_events::text::printable;
use alchemiser_events::Decimal;
use maud::{html, Markup};

use crate::view::workflow::{PlanView, TimelineStep};
use crate::view::Bucket;

use super::duration;

const WIDTH: i64 = 960;

/// `text` cut to `max` characters (an SVG text does not wrap or clip by itself).
fn cut(text: &str, max: usize) -> String {
    let shown = printable(text);
    if shown.chars().count() <= max {
        return shown.into_owned();
    }
    let mut kept: String = shown.chars().take(max.saturating_sub(1)).collect();
    kept.push('…');
    kept
}

/// The workflow's events, one row each in causal order, labelled with the function that
/// produced it (a colour per function): a bar from the event's cause to the event (the time
/// that function took, delivery included), a dot for an event at its cause's instant; the
/// duration in a column of its own, so no label covers a bar.
pub fn timeline(steps: &[TimelineStep]) -> Markup {
    const LABEL: i64 = 300;
    const DURATION: i64 = 90;
    const ROW: i64 = 26;
    let mut functions: Vec<&str> = Vec::new();
    for step in steps {
        if !functions.contains(&step.function.as_str()) {
            functions.push(&step.function);
        }
    }
    let colour = |function: &str| functions.iter().position(|f| *f == function).unwrap_or(0) % 6;
    let span = steps.iter().map(|s| s.at_ms).max().unwrap_or(0).max(1);
    let plot = WIDTH - LABEL - DURATION - 10;
    let x = |ms: i64| LABEL + (ms.clamp(0, span) * plot) / span;
    let rows = i64::try_from(steps.len()).unwrap_or(0);
    let height = rows * ROW + 28;
    html! {
        svg.timeline viewBox={ "0 0 " (WIDTH) " " (height) } role="img"
            aria-label="Timeline of the workflow's events by the function that produced them" {
            @for (i, step) in steps.iter().enumerate() {
                @let y = i64::try_from(i).unwrap_or(0) * ROW;
                @let (x0, x1) = (x(step.from_ms), x(step.at_ms));
                @let fill = colour(&step.function);
                rect class={ "lane" @if i % 2 == 1 { " odd" } } x="0" y=(y) width=(WIDTH) height=(ROW) {}
                text class={ "lane-label fn-" (fill) } x="8" y=(y + 17) { (cut(&step.function, 18)) }
                text.event-label x="150" y=(y + 17) { (step.event_type.as_str()) }
                @if step.duration_ms > 0 && x1 > x0 {
                    rect class={ "bar fn-" (fill) @if step.replay.is_some() { " replay" } } x=(x0) y=(y + 6) width=(x1 - x0) height="14" rx="3" {
                        title { (step.event_type.as_str()) " " (printable(&step.event_id)) ": " (duration(step.duration_ms)) " after its cause" }
                    }
                } @else {
                    circle class={ "dot fn-" (fill) } cx=(x1) cy=(y + 13) r="5" {
                        title { (step.event_type.as_str()) " " (printable(&step.event_id)) }
                    }
                }
                text.tick x=(WIDTH - 8) y=(y + 17) text-anchor="end" { "+" (duration(step.duration_ms)) }
            }
            line.axis x1=(LABEL) y1=(height - 24) x2=(LABEL + plot) y2=(height - 24) {}
            text.tick x=(LABEL) y=(height - 8) { "+0" }
            text.tick x=(LABEL + plot) y=(height - 8) text-anchor="end" { "+" (duration(span)) }
            text.tick x=(WIDTH - 8) y=(height - 8) text-anchor="end" { "after its cause" }
        }
    }
}

/// Each symbol's current and target weight of the plan, side by side.
pub fn weights(plan: &PlanView) -> Markup {
    let rows: Vec<(&str, Decimal, Decimal)> = plan
        .items
        .iter()
        .map(|item| {
            (
                item.symbol.as_str(),
                item.current_weight.unwrap_or_default(),
                item.target_weight.unwrap_or_default(),
            )
        })
        .collect();
    // Half the page wide: it sits in a column beside the signal.
    const CHART: i64 = 480;
    const LABEL: i64 = 60;
    let row = 44;
    let plot = Decimal::from(CHART - LABEL - 70);
    let width_of = |weight: Decimal| -> i64 {
        let clamped = weight.clamp(Decimal::ZERO, Decimal::ONE);
        clamped
            .checked_mul(plot)
            .and_then(|w| i64::try_from(w.round()).ok())
            .unwrap_or(0)
    };
    let height = i64::try_from(rows.len()).unwrap_or(0) * row + 24;
    html! {
        svg.weights viewBox={ "0 0 " (CHART) " " (height) } role="img"
            aria-label="Current and target weight of each symbol" {
            rect.legend-current x=(LABEL) y="2" width="12" height="12" {}
            text.tick x=(LABEL + 18) y="13" { "current" }
            rect.legend-target x=(LABEL + 90) y="2" width="12" height="12" {}
            text.tick x=(LABEL + 108) y="13" { "target" }
            @for (i, (symbol, current, target)) in rows.iter().enumerate() {
                @let y = i64::try_from(i).unwrap_or(0) * row + 22;
                text.lane-label x="8" y=(y + 22) { (cut(symbol, 8)) }
                rect.current x=(LABEL) y=(y + 2) width=(width_of(*current)) height="14" {}
                text.tick x=(LABEL + width_of(*current) + 6) y=(y + 14) { (super::percent(*current)) }
                rect.target x=(LABEL) y=(y + 20) width=(width_of(*target)) height="14" {}
                text.tick x=(LABEL + width_of(*target) + 6) y=(y + 32) { (super::percent(*target)) }
            }
        }
    }
}

/// Runs per period, stacked by how they ended.
pub fn runs(buckets: &[Bucket]) -> Markup {
    let height = 160;
    let plot_height: i64 = 120;
    let most = buckets
        .iter()
        .map(|b| b.counts.total)
        .max()
        .unwrap_or(0)
        .max(1);
    let count = i64::try_from(buckets.len()).unwrap_or(1).max(1);
    let slot = ((WIDTH - 60) / count).max(1);
    let bar = (slot - 2).max(1);
    let scale = |n: usize| -> i64 {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let most = i64::try_from(most).unwrap_or(i64::MAX);
        (n.saturating_mul(plot_height) / most).max(1)
    };
    // (x, y, height, state, count, period start) of each stacked part.
    let mut parts = Vec::new();
    for (i, bucket) in buckets.iter().enumerate() {
        let x = 52 + i64::try_from(i).unwrap_or(0) * slot;
        let mut top = plot_height + 4;
        for (state, n) in [
            ("completed", bucket.counts.completed),
            ("failed", bucket.counts.failed),
            ("timed_out", bucket.counts.timed_out),
            ("running", bucket.counts.running),
        ] {
            if n > 0 {
                let h = scale(n);
                top -= h;
                parts.push((x, top, h, state, n, bucket.from));
            }
        }
    }
    html! {
        svg.runs viewBox={ "0 0 " (WIDTH) " " (height) } role="img"
            aria-label="Workflows started per period, by how they ended" {
            line.axis x1="50" y1=(plot_height + 4) x2=(WIDTH - 10) y2=(plot_height + 4) {}
            text.tick x="44" y="14" text-anchor="end" { (most) }
            text.tick x="44" y=(plot_height + 4) text-anchor="end" { "0" }
            @for (x, y, h, state, n, from) in &parts {
                rect class={ "run state-" (state) } x=(x) y=(y) width=(bar) height=(h) {
                    title { (super::time(*from)) ": " (n) " " (state) }
                }
            }
            @if let (Some(first), Some(last)) = (buckets.first(), buckets.last()) {
                text.tick x="52" y=(height - 8) { (super::time(first.from)) }
                text.tick x=(WIDTH - 10) y=(height - 8) text-anchor="end" { (super::time(last.from)) }
            }
        }
    }
}
