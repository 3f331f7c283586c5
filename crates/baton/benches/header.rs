//! Baton's X-Ray header against `opentelemetry-aws`'s, side by side in one run:
//! parse (header text to `SpanContext`), format, and extract / inject through the propagator;
//! then Baton alone on long headers (1 KiB to 64 KiB).
//!
//! `cargo bench -p baton --bench header`

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;

const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.bench_function("baton", |b| {
        b.iter(|| {
            baton::TraceHeader::parse(black_box(HEADER))
                .ok()
                .and_then(|h| h.span_context())
        })
    });
    group.bench_function("opentelemetry-aws", |b| {
        b.iter(|| {
            opentelemetry_aws::trace::xray_propagator::span_context_from_str(black_box(HEADER))
        })
    });
    group.finish();
}

fn format(c: &mut Criterion) {
    let sc = baton::TraceHeader::parse(HEADER)
        .unwrap()
        .span_context()
        .unwrap();
    let mut group = c.benchmark_group("format");
    group.bench_function("baton", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(96);
            write!(out, "{}", baton::format_header(black_box(&sc)).unwrap()).unwrap();
            out
        })
    });
    group.bench_function("opentelemetry-aws", |b| {
        b.iter(|| opentelemetry_aws::trace::xray_propagator::span_context_to_string(black_box(&sc)))
    });
    group.finish();
}

fn extract(c: &mut Criterion) {
    let carrier = HashMap::from([("x-amzn-trace-id".to_string(), HEADER.to_string())]);
    let ours = baton::XrayPropagator::new();
    let theirs = opentelemetry_aws::trace::XrayPropagator::new();
    let base = Context::new();
    // Both must agree before their speed is compared.
    assert_eq!(
        ours.extract_with_context(&base, &carrier)
            .span()
            .span_context()
            .span_id(),
        theirs
            .extract_with_context(&base, &carrier)
            .span()
            .span_context()
            .span_id()
    );
    let mut group = c.benchmark_group("extract");
    group.bench_function("baton", |b| {
        b.iter(|| ours.extract_with_context(black_box(&base), black_box(&carrier)))
    });
    group.bench_function("opentelemetry-aws", |b| {
        b.iter(|| theirs.extract_with_context(black_box(&base), black_box(&carrier)))
    });
    group.finish();
}

fn inject(c: &mut Criterion) {
    let carrier = HashMap::from([("x-amzn-trace-id".to_string(), HEADER.to_string())]);
    let cx = baton::XrayPropagator::new().extract_with_context(&Context::new(), &carrier);
    let ours = baton::XrayPropagator::new();
    let theirs = opentelemetry_aws::trace::XrayPropagator::new();
    let mut group = c.benchmark_group("inject");
    group.bench_function("baton", |b| {
        b.iter(|| {
            let mut out: HashMap<String, String> = HashMap::with_capacity(1);
            ours.inject_context(black_box(&cx), &mut out);
            out
        })
    });
    group.bench_function("opentelemetry-aws", |b| {
        b.iter(|| {
            let mut out: HashMap<String, String> = HashMap::with_capacity(1);
            theirs.inject_context(black_box(&cx), &mut out);
            out
        })
    });
    group.finish();
}

/// A header of `len` bytes: the typical one followed by short unknown fields, one in ten
/// without `=`.
fn long_header(len: usize) -> String {
    let mut out = HEADER.to_owned();
    let mut i = 0;
    while out.len() < len {
        if i % 10 == 9 {
            write!(out, ";junk{i}").unwrap();
        } else {
            write!(out, ";k{i}=v{i}").unwrap();
        }
        i += 1;
    }
    out.truncate(len);
    out
}

/// Baton alone (opentelemetry-aws fails such headers): parse and build the next hop's header
/// from headers of growing length, to show the time per byte staying flat.
fn long(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_long");
    for len in [1024, 10 * 1024, 64 * 1024] {
        let input = long_header(len);
        group.throughput(criterion::Throughput::Bytes(len as u64));
        group.bench_function(format!("baton/{len}"), |b| {
            let mut out = String::with_capacity(1100);
            b.iter(|| {
                let header = baton::TraceHeader::parse(black_box(&input)).unwrap();
                out.clear();
                let parent = opentelemetry::trace::SpanId::from(0x00f0_67aa_0ba9_02b7_u64);
                write!(out, "{}", header.pass_on(parent, header.sampled())).unwrap();
                out.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse, format, extract, inject, long);
criterion_main!(benches);
