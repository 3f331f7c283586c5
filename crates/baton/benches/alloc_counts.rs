//! Heap allocations per operation, Baton against `opentelemetry-aws`, counted with a global
//! allocator that tallies every allocation (`stats_alloc`). Deterministic, unlike timings.
//!
//! `cargo bench -p baton --bench alloc_counts`

use std::alloc::System;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
const ROUNDS: usize = 1000;

fn count(label: &str, mut op: impl FnMut()) {
    op(); // warm any lazy statics
    let region = Region::new(GLOBAL);
    for _ in 0..ROUNDS {
        op();
    }
    let stats = region.change();
    println!(
        "{label:<40} {:>5.1} allocations/op {:>7.1} bytes/op",
        stats.allocations as f64 / ROUNDS as f64,
        stats.bytes_allocated as f64 / ROUNDS as f64
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let carrier = HashMap::from([("x-amzn-trace-id".to_string(), HEADER.to_string())]);
    let sc = baton::TraceHeader::parse(HEADER)
        .unwrap()
        .span_context()
        .unwrap();
    let cx = baton::XrayPropagator::new().extract_with_context(&Context::new(), &carrier);
    let base = Context::new();
    let ours = baton::XrayPropagator::new();
    let theirs = opentelemetry_aws::trace::XrayPropagator::new();
    let mut buffer = String::with_capacity(128);

    count("parse to SpanContext: baton", || {
        black_box(
            baton::TraceHeader::parse(black_box(HEADER))
                .ok()
                .and_then(|h| h.span_context()),
        );
    });
    count("parse to SpanContext: opentelemetry-aws", || {
        black_box(
            opentelemetry_aws::trace::xray_propagator::span_context_from_str(black_box(HEADER)),
        );
    });
    count("format into a buffer: baton", || {
        buffer.clear();
        write!(buffer, "{}", baton::format_header(black_box(&sc)).unwrap()).unwrap();
    });
    count("format to String: opentelemetry-aws", || {
        black_box(
            opentelemetry_aws::trace::xray_propagator::span_context_to_string(black_box(&sc)),
        );
    });
    count("extract: baton", || {
        black_box(ours.extract_with_context(&base, black_box(&carrier)));
    });
    count("extract: opentelemetry-aws", || {
        black_box(theirs.extract_with_context(&base, black_box(&carrier)));
    });
    count("inject (incl. the map): baton", || {
        let mut out: HashMap<String, String> = HashMap::with_capacity(1);
        ours.inject_context(&cx, &mut out);
        black_box(out);
    });
    count("inject (incl. the map): opentelemetry-aws", || {
        let mut out: HashMap<String, String> = HashMap::with_capacity(1);
        theirs.inject_context(&cx, &mut out);
        black_box(out);
    });
}
