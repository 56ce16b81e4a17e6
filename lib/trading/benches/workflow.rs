//! Whole workflows per second on the in-memory bus with the paper broker (target ≥ 20,000/s on
//! one core), and the planner's cost for 500 symbols.
//!
//! `cargo bench -p alchemiser-trading --bench workflow`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alchemiser_bus::{EventBus, InMemoryBus};
use alchemiser_events::{Decimal, Symbol, SymbolMap};
use alchemiser_ledger::{MemoryLedger, Monitor};
use alchemiser_trading::{
    plan_rebalance, ExecutionSettings, PaperBroker, PlannerConfig, PortfolioFile,
    PortfolioSnapshot, Position, StrategyHandler, Workflow,
};
use criterion::{black_box, criterion_main, Criterion, Throughput};

fn account() -> PortfolioFile {
    PortfolioFile::from_json(
        r#"{"cash": "0.00", "positions": [
            {"symbol": "SPY", "qty": "30", "price": "100.00"},
            {"symbol": "TLT", "qty": "70", "price": "100.00"}]}"#,
    )
    .expect("valid account")
}

/// One bus wired like `alchemiser run`; each iteration gets a fresh paper account so every
/// workflow really trades.
fn workflow(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let allocation: SymbolMap<Decimal> =
        serde_json::from_str(r#"{"SPY": "0.6", "TLT": "0.4"}"#).expect("allocation");
    let strategy = StrategyHandler::new(allocation, "static");

    let run_one = || {
        let broker = Arc::new(PaperBroker::in_memory(account()));
        let bus = InMemoryBus::new();
        Workflow::new(
            broker,
            PlannerConfig::default(),
            ExecutionSettings::default(),
            |_| alchemiser_clock::system(),
            Arc::new(Monitor::new(Arc::new(MemoryLedger::new()))),
        )
        .subscribe_all(&bus);
        let report = runtime.block_on(
            bus.publish(
                strategy
                    .start("bench", alchemiser_events::Timestamp::now(), None)
                    .expect("start"),
            ),
        );
        assert!(report.is_complete() && report.delivered.len() == 5);
    };

    let mut group = c.benchmark_group("workflow");
    group.throughput(Throughput::Elements(1));
    group.bench_function("in_memory_paper_broker", |b| b.iter(run_one));
    group.finish();

    // A plain figure next to criterion's: workflows per second over one second of work.
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        run_one();
        count += 1;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    println!("workflows/s (one core, in-memory bus, paper broker): {rate:.0} (target >= 20000)");
}

fn planner_500_symbols(c: &mut Criterion) {
    let symbols: Vec<Symbol> = (0..500)
        .map(|i| Symbol::parse(&format!("S{i:03}")).expect("symbol"))
        .collect();
    let weight = Decimal::ONE / Decimal::from(500);
    let target: SymbolMap<Decimal> = symbols.iter().map(|s| (s.clone(), weight)).collect();
    let snapshot = PortfolioSnapshot {
        cash: Decimal::from(10_000),
        positions: symbols
            .iter()
            .step_by(2)
            .enumerate()
            .map(|(i, s)| Position {
                symbol: s.clone(),
                qty: Decimal::from(i as i64 % 7 + 1),
                price: Decimal::new(10_000 + i as i64, 2),
            })
            .collect(),
        prices: symbols
            .iter()
            .skip(1)
            .step_by(2)
            .map(|s| (s.clone(), Decimal::new(5_000, 2)))
            .collect::<BTreeMap<_, _>>(),
        portfolio_value: None,
    };
    let config = PlannerConfig::default();
    c.bench_function("planner/500_symbols", |b| {
        b.iter(|| plan_rebalance(black_box(&target), black_box(&snapshot), &config).expect("plan"))
    });
}

// criterion_group! writes a public function without a doc comment (the workspace lints ask for
// one on every public item): in a private module it is no public item of the crate.
mod group {
    use super::{planner_500_symbols, workflow};
    criterion::criterion_group!(benches, workflow, planner_500_symbols);
}
criterion_main!(group::benches);
