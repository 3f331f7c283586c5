//! What redaction costs per span, with the default policy: a span of 20 attributes shaped
//! like an SQS send (messaging, HTTP and AWS attributes, free-text notes), once clean and
//! once with four things to redact (a message body to drop, an `Authorization` header to
//! mask, an e-mail address and a card number inside notes); and a batch of 512 mixed spans
//! through `RedactingExporter` to an exporter that drops them. Heap allocations per span
//! are counted first with a global allocator that tallies every allocation (`stats_alloc`).
//!
//! `cargo bench -p baton-redact --bench redact -- --warm-up-time 1 --measurement-time 3`
//! `bash crates/baton-redact/benches/instructions.sh` (instructions per span, callgrind)
//!
//! With `BATON_REDACT_SPANS=clean:N` (or `mixed:N`) the binary only copies N spans of that
//! kind and redacts them, then exits, for callgrind; `clean-copy:N` and `mixed-copy:N` only
//! copy, so that the copies can be subtracted.

use std::alloc::System;
use std::borrow::Cow;
use std::future::{Future, ready};
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use baton_redact::{RedactingExporter, Redactor};
use criterion::{BatchSize, Criterion, Throughput};
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter, SpanLinks};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The 16 attributes both spans share.
fn common() -> Vec<KeyValue> {
    vec![
        KeyValue::new("messaging.system", "aws_sqs"),
        KeyValue::new("messaging.destination.name", "orders"),
        KeyValue::new("messaging.operation.type", "send"),
        KeyValue::new("messaging.operation.name", "SendMessage"),
        KeyValue::new(
            "messaging.message.id",
            "5fea7756-0ea4-451a-a703-a558b933e274",
        ),
        KeyValue::new("messaging.message.body.size", 512_i64),
        KeyValue::new("cloud.region", "eu-west-1"),
        KeyValue::new("aws.request_id", "b1a4f7e0-6c2d-5e8f-9a1b-3c4d5e6f7a8b"),
        KeyValue::new("server.address", "sqs.eu-west-1.amazonaws.com"),
        KeyValue::new("server.port", 443_i64),
        KeyValue::new(
            "url.full",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
        ),
        KeyValue::new("http.request.method", "POST"),
        KeyValue::new("http.response.status_code", 200_i64),
        KeyValue::new(
            "user_agent.original",
            "aws-sdk-rust/1.3.9 os/linux lang/rust/1.94.1",
        ),
        KeyValue::new("enduser.id", "u-1234567"),
        KeyValue::new("order.id", "ORD-20261125-000123456789"),
    ]
}

/// 20 attributes, nothing to redact.
fn clean_attributes() -> Vec<KeyValue> {
    let mut attributes = common();
    attributes.extend([
        KeyValue::new("messaging.batch.message_count", 1_i64),
        KeyValue::new(
            "http.request.header.content-type",
            "application/x-amz-json-1.0",
        ),
        KeyValue::new("order.note", "gift wrap, leave at the door after 18:00"),
        KeyValue::new("payment.summary", "paid by card, 3 items, total 42.50 EUR"),
    ]);
    attributes
}

/// 20 attributes, four to redact.
fn mixed_attributes() -> Vec<KeyValue> {
    let mut attributes = common();
    attributes.extend([
        KeyValue::new(
            "messaging.message.body",
            r#"{"order":"o-42","email":"jane@example.com","items":3}"#,
        ),
        KeyValue::new(
            "http.request.header.authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/eu-west-1/sqs/aws4_request",
        ),
        KeyValue::new(
            "order.note",
            "gift for jane.doe+gifts@example.com, leave at door",
        ),
        KeyValue::new("payment.summary", "paid with 4111 1111 1111 1111, 3 items"),
    ]);
    attributes
}

fn span(attributes: Vec<KeyValue>) -> SpanData {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(0x6920a1b0_aaaabbbbccccddddeeeeffff),
            SpanId::from(0x1122334455667788),
            TraceFlags::SAMPLED,
            false,
            Default::default(),
        ),
        parent_span_id: SpanId::from(0x0102030405060708),
        parent_span_is_remote: false,
        span_kind: SpanKind::Producer,
        name: Cow::Borrowed("send orders"),
        start_time: start,
        end_time: start + Duration::from_millis(12),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("bench").build(),
    }
}

/// An exporter that drops every batch, so that only redaction is measured.
#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        black_box(batch);
        ready(Ok(()))
    }
}

fn allocations(redactor: &Redactor) {
    const ROUNDS: usize = 10_000;
    println!("heap allocations per span (20 attributes, default policy):");
    let mut clean = span(clean_attributes());
    assert!(redactor.redact(&mut clean).is_empty());
    let region = Region::new(GLOBAL);
    for _ in 0..ROUNDS {
        black_box(redactor.redact(black_box(&mut clean)));
    }
    let stats = region.change();
    println!(
        "  {:<44} {:>5.1} allocations {:>7.1} bytes",
        "clean span",
        stats.allocations as f64 / ROUNDS as f64,
        stats.bytes_allocated as f64 / ROUNDS as f64
    );

    let spans: Vec<SpanData> = (0..ROUNDS).map(|_| span(mixed_attributes())).collect();
    let mut spans = black_box(spans);
    let region = Region::new(GLOBAL);
    for span in &mut spans {
        black_box(redactor.redact(span));
    }
    let stats = region.change();
    println!(
        "  {:<44} {:>5.1} allocations {:>7.1} bytes",
        "mixed span (1 dropped, 1 key, 2 values masked)",
        stats.allocations as f64 / ROUNDS as f64,
        stats.bytes_allocated as f64 / ROUNDS as f64
    );
}

/// The callgrind mode: redact `count` spans of one kind, then exit.
fn redact_only(mode: &str) {
    let (kind, count) = mode.split_once(':').expect("BATON_REDACT_SPANS=kind:N");
    let count: usize = count.parse().expect("a count");
    let (kind, redact) = match kind.strip_suffix("-copy") {
        Some(kind) => (kind, false),
        None => (kind, true),
    };
    let redactor = Redactor::new();
    let template = span(match kind {
        "clean" => clean_attributes(),
        "mixed" => mixed_attributes(),
        other => panic!("unknown kind {other}"),
    });
    let mut spans: Vec<SpanData> = (0..count).map(|_| template.clone()).collect();
    if redact {
        for span in &mut spans {
            black_box(redactor.redact(black_box(span)));
        }
    }
    black_box(spans);
}

fn main() {
    if let Ok(mode) = std::env::var("BATON_REDACT_SPANS") {
        return redact_only(&mode);
    }
    let redactor = Redactor::new();
    let mut check = span(mixed_attributes());
    let summary = redactor.redact(&mut check);
    assert_eq!(
        (summary.dropped, summary.masked_keys, summary.masked_values),
        (1, 1, 2)
    );
    allocations(&redactor);

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("redact");
    group.throughput(Throughput::Elements(1));
    let mut clean = span(clean_attributes());
    group.bench_function("clean_span_20_attributes", |b| {
        b.iter(|| black_box(redactor.redact(black_box(&mut clean))))
    });
    let mixed = span(mixed_attributes());
    group.bench_function("mixed_span_20_attributes", |b| {
        b.iter_batched_ref(
            || mixed.clone(),
            |span| black_box(redactor.redact(span)),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    let mut group = criterion.benchmark_group("export");
    group.throughput(Throughput::Elements(512));
    let exporter = RedactingExporter::new(Discard);
    let batch: Vec<SpanData> = (0..512).map(|_| span(mixed_attributes())).collect();
    group.bench_function("batch_of_512_mixed", |b| {
        b.iter_batched(
            || batch.clone(),
            |batch| futures_now(exporter.export(batch)),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("batch_of_512_mixed_unwrapped", |b| {
        b.iter_batched(
            || batch.clone(),
            |batch| futures_now(Discard.export(batch)),
            BatchSize::LargeInput,
        )
    });
    group.finish();
    criterion.final_summary();
}

/// Polls a future that is ready at once.
fn futures_now<F: Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    match std::pin::pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the exporters here are ready at once"),
    }
}
