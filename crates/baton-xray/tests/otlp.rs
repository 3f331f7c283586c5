//! The OTLP path to an ADOT collector, end to end at the protocol level: spans made by a
//! provider from `xray_provider_builder` around opentelemetry-otlp's gRPC exporter reach an
//! OTLP trace receiver on 127.0.0.1 (a stand-in for the collector's `otlp` receiver) with
//! X-Ray-valid trace ids, their parents and kinds, the service name, and the same ids the
//! propagator writes into an outgoing `X-Amzn-Trace-Id`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind as ProtoKind;
use opentelemetry_sdk::Resource;

/// A received span and its resource's `service.name`.
type Received = (Option<String>, Span);

/// What the receiver got.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans.resource.and_then(|resource| {
                resource
                    .attributes
                    .into_iter()
                    .find(|kv| kv.key == "service.name")
                    .and_then(|kv| match kv.value?.value? {
                        Value::StringValue(name) => Some(name),
                        _ => None,
                    })
            });
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push((service.clone(), span));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// The gRPC exporter's channel runs on the Tokio runtime it was built in, while the batch
// processor exports from a thread of its own: a multi-threaded runtime keeps both going.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver_with_xray_ids_and_parents() {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{address}"))
        .with_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let provider = baton_xray::xray_provider_builder(exporter)
        .with_resource(Resource::builder().with_service_name("checkout").build())
        .build();
    let tracer = provider.tracer("otlp-test");

    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut root = tracer
        .span_builder("POST /orders")
        .with_kind(SpanKind::Server)
        .start(&tracer);
    root.set_attribute(KeyValue::new("aws.xray.annotation.order", "42"));
    let cx = Context::new().with_span(root);
    let producer = tracer
        .span_builder("send orders")
        .with_kind(SpanKind::Producer)
        .start_with_context(&tracer, &cx);
    let producer_cx = cx.with_span(producer);
    let mut carrier = HashMap::new();
    baton_xray::xray_propagator().inject_context(&producer_cx, &mut carrier);
    producer_cx.span().end();
    cx.span().end();
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();

    // Flushing blocks until the exporter is done; keep it off the runtime's own threads. The
    // SDK gives a flush 5 s; a first connection on a busy machine may take longer, so a
    // timeout here is not a failure: the spans must still arrive within 30 s.
    let flushed = provider.clone();
    let flush = tokio::task::spawn_blocking(move || flushed.force_flush())
        .await
        .unwrap();
    if let Err(error) = flush {
        eprintln!("force_flush: {error}; waiting for the export to finish");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while receiver.spans.lock().unwrap().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let spans = receiver.spans.lock().unwrap().clone();
    assert_eq!(spans.len(), 2, "both spans arrive: {spans:?}");
    let find = |name: &str| {
        spans
            .iter()
            .find(|(_, span)| span.name == name)
            .unwrap_or_else(|| panic!("no span {name}"))
    };
    let (service, root) = find("POST /orders");
    let (_, producer) = find("send orders");
    assert_eq!(service.as_deref(), Some("checkout"));

    // One trace; the producer is the server span's child; kinds kept.
    assert_eq!(root.trace_id.len(), 16);
    assert_eq!(producer.trace_id, root.trace_id);
    assert!(root.parent_span_id.is_empty(), "the server span is a root");
    assert_eq!(producer.parent_span_id, root.span_id);
    assert_eq!(root.kind, ProtoKind::Server as i32);
    assert_eq!(producer.kind, ProtoKind::Producer as i32);

    // X-Ray accepts the trace id: its first 32 bits are the epoch second it started.
    let epoch = u64::from(u32::from_be_bytes(root.trace_id[..4].try_into().unwrap()));
    assert!(
        (before..=after).contains(&epoch),
        "trace id {} starts with {epoch}, not a second in {before}..={after}",
        hex(&root.trace_id)
    );

    // What went downstream names the exported producer span.
    let trace = hex(&root.trace_id);
    assert_eq!(
        carrier.get("x-amzn-trace-id").map(String::as_str),
        Some(
            format!(
                "Root=1-{}-{};Parent={};Sampled=1",
                &trace[..8],
                &trace[8..],
                hex(&producer.span_id)
            )
            .as_str()
        )
    );
    assert_eq!(
        carrier.get("traceparent").map(String::as_str),
        Some(format!("00-{trace}-{}-01", hex(&producer.span_id)).as_str())
    );
    assert!(
        root.attributes
            .iter()
            .any(|kv| kv.key == "aws.xray.annotation.order")
    );

    let shutdown = provider.clone();
    tokio::task::spawn_blocking(move || shutdown.shutdown())
        .await
        .unwrap()
        .unwrap();
}
