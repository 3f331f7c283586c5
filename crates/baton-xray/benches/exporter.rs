//! What the X-Ray exporter costs: converting spans to segment documents (per span, and spans
//! per second on one core), and exporting a batch to a UDP socket.
//!
//! `cargo bench -p baton-xray --bench exporter -- --warm-up-time 1 --measurement-time 3`
//!
//! The batch is 512 spans (the batch processor's default export size) in 64 traces of 8
//! spans, shaped like Baton's: a CONSUMER `process` segment, an SQS `send` PRODUCER, an
//! HTTP client call, internal work; each with the messaging or HTTP attributes Baton and the
//! semantic conventions put there, and one X-Ray annotation.

use std::hint::black_box;
use std::net::UdpSocket;

use baton::{LinkPolicy, MessagingSpan, MessagingSystem};
use baton_xray::XrayExporter;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::trace::{Span, SpanKind, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData, SpanExporter};

const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

fn batch() -> Vec<SpanData> {
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_id_generator(baton::XrayIdGenerator::default())
        .with_simple_exporter(memory.clone())
        .build();
    let tracer = provider.tracer("bench");
    for i in 0..64 {
        let producer = baton::extract_header(&Context::new(), HEADER, "AWSTraceHeader");
        let mut process = MessagingSpan::process(MessagingSystem::Sqs, "orders")
            .message_id(format!("7d5ea1f4-0c61-4d2b-9f3a-{i:012}"))
            .region("eu-west-1")
            .start_process(&tracer, &producer, LinkPolicy::Parent);
        process.set_attribute(KeyValue::new("aws.xray.annotation.order_id", i as i64));
        let cx = Context::new().with_span(process);
        for _ in 0..2 {
            let mut send = MessagingSpan::send(MessagingSystem::Sqs, "invoices")
                .operation_name("SendMessage")
                .region("eu-west-1")
                .start(&tracer, &cx);
            send.set_attribute(KeyValue::new(
                "aws.request_id",
                "b1a4f7e0-6c2d-5e8f-9a1b-3c4d5e6f7a8b",
            ));
            send.end();
        }
        for _ in 0..2 {
            tracer
                .span_builder("GET")
                .with_kind(SpanKind::Client)
                .with_attributes([
                    KeyValue::new("http.request.method", "GET"),
                    KeyValue::new("url.full", "https://pricing.internal/prices/sku-123"),
                    KeyValue::new("server.address", "pricing.internal"),
                    KeyValue::new("http.response.status_code", 200),
                ])
                .start_with_context(&tracer, &cx)
                .end();
        }
        let work = tracer.start_with_context("validate order", &cx);
        let work_cx = cx.with_span(work);
        tracer.start_with_context("load customer", &work_cx).end();
        tracer.start_with_context("price items", &work_cx).end();
        work_cx.span().end();
        cx.span().end();
    }
    provider.force_flush().unwrap();
    let spans = memory.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 512);
    spans
}

fn encoder() -> XrayExporter {
    XrayExporter::builder()
        .with_daemon_address("127.0.0.1:9")
        .with_service_name("orders-worker")
        .build()
        .unwrap()
}

fn convert(c: &mut Criterion) {
    let spans = batch();
    let exporter = encoder();
    let mut bytes = 0usize;
    exporter.encode(&spans, |d| bytes += d.len());
    eprintln!("512 spans encode to {bytes} bytes");

    let mut group = c.benchmark_group("convert");
    group.throughput(Throughput::Elements(spans.len() as u64));
    group.bench_function("batch_of_512", |b| {
        b.iter(|| {
            let mut total = 0usize;
            exporter.encode(black_box(&spans), |d| total += d.len());
            total
        })
    });
    group.finish();

    // One span on its own: the cost a simple (unbatched) span processor pays per span.
    let one = std::slice::from_ref(&spans[0]);
    let mut group = c.benchmark_group("convert");
    group.throughput(Throughput::Elements(1));
    group.bench_function("single_span", |b| {
        b.iter(|| {
            let mut total = 0usize;
            exporter.encode(black_box(one), |d| total += d.len());
            total
        })
    });
    group.finish();
}

fn export(c: &mut Criterion) {
    let spans = batch();
    let mut group = c.benchmark_group("export_udp");
    group.throughput(Throughput::Elements(spans.len() as u64));

    // A listener that is never read: the kernel takes each datagram and drops what the full
    // buffer cannot hold, so this times conversion plus the send system calls.
    let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
    let exporter = XrayExporter::builder()
        .with_daemon_address(daemon.local_addr().unwrap().to_string())
        .with_service_name("orders-worker")
        .build()
        .unwrap();
    group.bench_function("batch_of_512_listening", |b| {
        b.iter_batched(
            || spans.clone(),
            |batch| futures_ready(exporter.export(batch)),
            BatchSize::LargeInput,
        )
    });

    // Nothing listens: half the sends fail at once with "connection refused".
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let absent = XrayExporter::builder()
        .with_daemon_address(format!("127.0.0.1:{port}"))
        .build()
        .unwrap();
    group.bench_function("batch_of_512_daemon_absent", |b| {
        b.iter_batched(
            || spans.clone(),
            |batch| futures_ready(absent.export(batch)),
            BatchSize::LargeInput,
        )
    });
    group.finish();
    drop(daemon);
}

/// The exporter's future is ready at once; poll it once.
fn futures_ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => unreachable!("export never waits"),
    }
}

criterion_group!(benches, convert, export);
criterion_main!(benches);
