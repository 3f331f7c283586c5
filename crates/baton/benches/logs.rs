//! What `baton::logs::TraceIdFormat` adds to writing one log event, against the same
//! `tracing-subscriber` format without it, in one run: JSON and plain lines, inside a traced
//! span and outside any span. Lines go to `io::sink()`, so the figures are formatting alone.
//!
//! `cargo bench -p baton --features logs --bench logs`

use std::hint::black_box;

use baton::logs::TraceIdFormat;
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::Context;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Dispatch;
use tracing_subscriber::fmt::format::{DefaultFields, Format, Full, Json, JsonFields};
use tracing_subscriber::layer::SubscriberExt;

fn json_dispatch(wrapped: bool) -> Dispatch {
    let format: Format<Json> = tracing_subscriber::fmt::format().json();
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .fmt_fields(JsonFields::new())
        .with_writer(std::io::sink);
    let registry = tracing_subscriber::registry();
    if wrapped {
        Dispatch::new(registry.with(layer.event_format(TraceIdFormat::new(format))))
    } else {
        Dispatch::new(registry.with(layer.event_format(format)))
    }
}

fn text_dispatch(wrapped: bool) -> Dispatch {
    let format: Format<Full> = tracing_subscriber::fmt::format();
    let layer = tracing_subscriber::fmt::layer()
        .fmt_fields(DefaultFields::new())
        .with_writer(std::io::sink);
    let registry = tracing_subscriber::registry();
    if wrapped {
        Dispatch::new(registry.with(layer.event_format(TraceIdFormat::new(format))))
    } else {
        Dispatch::new(registry.with(layer.event_format(format)))
    }
}

fn per_event(c: &mut Criterion) {
    let provider = SdkTracerProvider::builder()
        .with_id_generator(baton::XrayIdGenerator::default())
        .build();
    // The worker's case: a process span made current as an OpenTelemetry context.
    let cx = Context::new().with_span(provider.tracer("bench").start("process orders"));
    let mut group = c.benchmark_group("log_event");
    for (format, make) in [
        ("json", json_dispatch as fn(bool) -> Dispatch),
        ("text", text_dispatch),
    ] {
        for wrapped in [false, true] {
            let dispatch = make(wrapped);
            let name = if wrapped { "with_ids" } else { "plain" };
            tracing::dispatcher::with_default(&dispatch, || {
                group.bench_function(format!("{format}/in_span/{name}"), |b| {
                    let _attached = cx.clone().attach();
                    b.iter(|| tracing::info!(order = black_box(42), "paid"))
                });
                group.bench_function(format!("{format}/no_span/{name}"), |b| {
                    b.iter(|| tracing::info!(order = black_box(42), "paid"))
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, per_event);
criterion_main!(benches);
