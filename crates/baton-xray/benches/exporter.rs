//! What the X-Ray exporter costs: converting spans to segment documents (per span, and spans
//! per second on one core), and exporting a batch to a UDP socket.
//!
//! `cargo bench -p baton-xray --bench exporter -- --warm-up-time 1 --measurement-time 3`
//!
//! The `encode_peers` group puts the same batch through the two other encodings a service
//! might export with, in the same run: OTLP/protobuf (the SDK's conversion and prost, what
//! `opentelemetry-otlp` sends) and `opentelemetry-aws` 0.21's X-Ray exporter (its translation,
//! then each document as compact JSON, what its daemon client writes).
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

/// A sink for `opentelemetry-aws`'s documents that writes each as its daemon client does
/// (header line, compact JSON) into a buffer, without sending.
#[derive(Clone, Debug, Default)]
struct PeerSink {
    bytes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    documents: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl opentelemetry_aws::xray_exporter::SegmentDocumentExporter for PeerSink {
    type Error = std::io::Error;

    fn export_segment_documents(
        &self,
        batch: Vec<opentelemetry_aws::xray_exporter::SegmentDocument<'_>>,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send {
        let mut buf = Vec::with_capacity(4096);
        let mut total = 0;
        for document in &batch {
            buf.clear();
            buf.extend_from_slice(b"{\"format\": \"json\", \"version\": 1}\n");
            let written = serde_json::to_writer(&mut buf, document).map_err(std::io::Error::other);
            if let Err(error) = written {
                return std::future::ready(Err(error));
            }
            total += buf.len();
        }
        self.bytes
            .fetch_add(total, std::sync::atomic::Ordering::Relaxed);
        self.documents
            .fetch_add(batch.len(), std::sync::atomic::Ordering::Relaxed);
        std::future::ready(Ok(()))
    }
}

fn encode_peers(c: &mut Criterion) {
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use prost::Message as _;

    let spans = batch();
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name("orders-worker")
        .build();
    let mut group = c.benchmark_group("encode_peers");
    group.throughput(Throughput::Elements(spans.len() as u64));

    let baton = encoder();
    group.bench_function("baton_xray_segments", |b| {
        b.iter(|| {
            let mut total = 0usize;
            baton.encode(black_box(&spans), |d| total += d.len());
            total
        })
    });

    let attributes = ResourceAttributesWithSchema::from(&resource);
    let mut buf = Vec::with_capacity(256 * 1024);
    group.bench_function("otlp_protobuf", |b| {
        b.iter_batched(
            || spans.clone(),
            |batch| {
                let request =
                    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
                        resource_spans: group_spans_by_resource_and_scope(batch, &attributes),
                    };
                buf.clear();
                request.encode(&mut buf).unwrap();
                buf.len()
            },
            BatchSize::LargeInput,
        )
    });

    // Its translation checks the trace id's time, which these ids (the header's, from 2016)
    // would fail: turn that check off, as its docs say to for old ids.
    let mut peer = opentelemetry_aws::xray_exporter::XrayExporter::new(PeerSink::default())
        .with_translator(
            opentelemetry_aws::xray_exporter::SegmentTranslator::new().skip_timestamp_validation(),
        );
    peer.set_resource(&resource);
    {
        // One run first, to say what it makes of the batch.
        let sink = PeerSink::default();
        let probe = opentelemetry_aws::xray_exporter::XrayExporter::new(sink.clone())
            .with_translator(
                opentelemetry_aws::xray_exporter::SegmentTranslator::new()
                    .skip_timestamp_validation(),
            );
        let mut probe = probe;
        probe.set_resource(&resource);
        futures_ready(probe.export(spans.clone())).unwrap();
        let request = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(spans.clone(), &attributes),
        };
        eprintln!(
            "512 spans: OTLP/protobuf {} bytes; opentelemetry-aws {} documents, {} bytes",
            request.encoded_len(),
            sink.documents.load(std::sync::atomic::Ordering::Relaxed),
            sink.bytes.load(std::sync::atomic::Ordering::Relaxed),
        );
    }
    group.bench_function("opentelemetry_aws_segments", |b| {
        b.iter_batched(
            || spans.clone(),
            |batch| futures_ready(peer.export(batch)).unwrap(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, convert, export, encode_peers);
criterion_main!(benches);
