//! What Baton's interceptor and Tower forms add per call to SNS Publish, EventBridge PutEvents
//! and Step Functions StartExecution, beside the hand-written baselines (a PRODUCER span started
//! and ended by hand, its header set by hand in the same carriers; and the same with the span
//! Baton records), measured interleaved (as `baton-sqs`'s `interleaved` bench): each
//! of 41 rounds times 200 raw calls and 200 instrumented calls back to back, alternating which
//! goes first; medians over rounds. Against an in-process HTTP client answering from memory.
//!
//! `cargo bench -p baton-integration --bench service_interleaved`

use std::cell::RefCell;
use std::time::Instant;

mod services;
mod support;

use opentelemetry::Context;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
use tokio::runtime::Runtime;

const ROUNDS: usize = 41;
const CALLS: usize = 200;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn block(runtime: &Runtime, op: &mut dyn FnMut(&Runtime)) -> f64 {
    let start = Instant::now();
    for _ in 0..CALLS {
        op(runtime);
    }
    start.elapsed().as_secs_f64() * 1e6 / CALLS as f64
}

fn compare(
    runtime: &Runtime,
    label: &str,
    base: &mut dyn FnMut(&Runtime),
    with: &mut dyn FnMut(&Runtime),
) {
    for _ in 0..3 {
        block(runtime, base);
        block(runtime, with);
    }
    let (mut bases, mut diffs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (b, w) = if round % 2 == 0 {
            let b = block(runtime, base);
            (b, block(runtime, with))
        } else {
            let w = block(runtime, with);
            (block(runtime, base), w)
        };
        bases.push(b);
        diffs.push(w - b);
        ratios.push(w / b);
    }
    println!(
        "{label:<64} base {:>6.1} µs   added {:>+5.2} µs   {:>+5.1} %",
        median(bases),
        median(diffs),
        (median(ratios) - 1.0) * 100.0
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let provider = services::tracer_provider();
    let caller = Context::new().with_span(provider.tracer("app").start("request"));
    let variants: Vec<(&str, RefCell<services::Variant<'_>>)> =
        services::variants(&provider, &caller)
            .into_iter()
            .map(|(name, variant)| (name, RefCell::new(variant)))
            .collect();
    let find = |name: &str| {
        &variants
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no variant {name}"))
            .1
    };
    for (label, base, with) in services::COMPARISONS {
        let (mut base, mut with) = (find(base).borrow_mut(), find(with).borrow_mut());
        compare(&runtime, label, &mut *base, &mut *with);
    }
}
