//! Baton's X-Ray daemon exporter beside `opentelemetry-aws` 0.21's, on the same spans: the
//! shape of the demo's trace (a service sending to SNS, a consumer continuing it with a link,
//! its handler, its SQS delete, and a message that arrived without a trace header). Each
//! exporter sends real datagrams to a UDP socket; the local trace view assembles them as
//! X-Ray would. What this shows is what the README and docs/BENCHMARKS.md say of the two.

use std::net::UdpSocket;
use std::time::Duration;

use baton_trace::{Assembler, NodeKind, Trace};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData, SpanExporter};

/// Each service's resource and finished spans.
fn demo_like_spans() -> Vec<(Resource, Vec<SpanData>)> {
    let service = |name: &'static str| {
        let spans = InMemorySpanExporter::default();
        let resource = Resource::builder_empty().with_service_name(name).build();
        let provider = SdkTracerProvider::builder()
            .with_id_generator(baton::XrayIdGenerator::default())
            .with_resource(resource.clone())
            .with_simple_exporter(spans.clone())
            .build();
        (provider, spans, resource)
    };
    let (checkout, checkout_spans, checkout_resource) = service("checkout");
    let (fulfilment, fulfilment_spans, fulfilment_resource) = service("fulfilment");

    let tracer = checkout.tracer("demo");
    let request = tracer
        .span_builder("POST /checkout")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("http.response.status_code", 200),
        ])
        .start(&tracer);
    let cx = Context::new().with_span(request);
    let publish = tracer
        .span_builder("orders publish")
        .with_kind(SpanKind::Producer)
        .with_attributes([
            KeyValue::new("messaging.system", "aws.sns"),
            KeyValue::new("rpc.system", "aws-api"),
            KeyValue::new("rpc.service", "SNS"),
            KeyValue::new("rpc.method", "Publish"),
        ])
        .start_with_context(&tracer, &cx);
    let publish_cx = cx.with_span(publish);
    let mut carrier = std::collections::HashMap::new();
    baton::XrayPropagator::new().inject_context(&publish_cx, &mut carrier);
    publish_cx.span().end();
    cx.span().end();

    let tracer = fulfilment.tracer("demo");
    let parent = baton::XrayPropagator::new().extract(&carrier);
    let producer = parent.span().span_context().clone();
    let process = tracer
        .span_builder("orders process")
        .with_kind(SpanKind::Consumer)
        .with_attributes([
            KeyValue::new("messaging.system", "aws_sqs"),
            KeyValue::new("messaging.operation.type", "process"),
        ])
        .with_links(vec![opentelemetry::trace::Link::with_context(producer)])
        .start_with_context(&tracer, &parent);
    let process_cx = parent.with_span(process);
    tracer
        .span_builder("handle order")
        .with_attributes([KeyValue::new("aws.xray.annotation.order_id", "42")])
        .start_with_context(&tracer, &process_cx)
        .end();
    tracer
        .span_builder("settle fulfilment")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("rpc.system", "aws-api"),
            KeyValue::new("rpc.service", "SQS"),
            KeyValue::new("rpc.method", "DeleteMessageBatch"),
        ])
        .start_with_context(&tracer, &process_cx)
        .end();
    process_cx.span().end();
    // A message that came without a trace header: its process span starts a trace.
    tracer
        .span_builder("orders process")
        .with_kind(SpanKind::Consumer)
        .start(&tracer)
        .end();

    vec![
        (
            checkout_resource,
            checkout_spans.get_finished_spans().unwrap(),
        ),
        (
            fulfilment_resource,
            fulfilment_spans.get_finished_spans().unwrap(),
        ),
    ]
}

/// Every datagram that arrives on `socket` until it is quiet for a moment.
fn drain(socket: &UdpSocket) -> Vec<String> {
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = vec![0u8; 70_000];
    let mut out = Vec::new();
    while let Ok(len) = socket.recv(&mut buf) {
        out.push(String::from_utf8_lossy(&buf[..len]).into_owned());
    }
    out
}

/// The datagrams assembled into traces, as the trace view (and X-Ray) would.
fn assemble(datagrams: &[String]) -> Vec<Trace> {
    let mut assembler = Assembler::new();
    for datagram in datagrams {
        assembler
            .ingest(datagram.as_bytes(), std::time::Instant::now())
            .unwrap_or_else(|e| panic!("{e}: {datagram}"));
    }
    assembler.traces()
}

/// Names of the segments (the services X-Ray's map shows) across traces.
fn segments(traces: &[Trace]) -> Vec<String> {
    let mut names: Vec<String> = traces
        .iter()
        .flat_map(|t| t.nodes().iter())
        .filter(|n| n.kind == NodeKind::Segment)
        .map(|n| n.name.clone())
        .collect();
    names.sort();
    names
}

fn nodes(traces: &[Trace]) -> usize {
    traces.iter().map(Trace::len).sum()
}

#[tokio::test]
async fn the_two_daemon_exporters_on_the_demo_s_spans() {
    let services = demo_like_spans();
    let span_count: usize = services.iter().map(|(_, s)| s.len()).sum();
    assert_eq!(span_count, 6);

    // Baton's.
    let baton_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (resource, spans) in &services {
        let mut exporter = baton_xray::XrayExporter::builder()
            .with_daemon_address(baton_socket.local_addr().unwrap().to_string())
            .build()
            .unwrap();
        exporter.set_resource(resource);
        exporter.export(spans.clone()).await.unwrap();
    }
    let baton = drain(&baton_socket);

    // opentelemetry-aws 0.21's, with its defaults.
    let peer_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut peer_results = Vec::new();
    for (resource, spans) in &services {
        let client = opentelemetry_aws::xray_exporter::daemon_client::XrayDaemonClient::new(
            peer_socket.local_addr().unwrap(),
        )
        .unwrap();
        let mut exporter = opentelemetry_aws::xray_exporter::XrayExporter::new(client);
        exporter.set_resource(resource);
        peer_results.push(exporter.export(spans.clone()).await);
    }
    let peer = drain(&peer_socket);
    assert!(peer_results.iter().all(Result::is_ok), "{peer_results:?}");

    let baton_traces = assemble(&baton);
    let peer_traces = assemble(&peer);

    // Baton: all 6 spans arrive, in 3 datagrams: each service's segment with its subsegments embedded, and the
    // trace the header-less message started.
    assert_eq!(nodes(&baton_traces), 6);
    assert_eq!(baton.len(), 3, "{baton:#?}");
    // Both services are segments, so both are on X-Ray's service map, and the consumer's
    // segment hangs under the SNS call that carried the message.
    assert_eq!(
        segments(&baton_traces),
        ["checkout", "fulfilment", "fulfilment"]
    );
    let joined = baton_traces
        .iter()
        .find(|t| t.services().contains(&"checkout"))
        .unwrap();
    let sns = joined.nodes().iter().find(|n| n.name == "SNS").unwrap();
    let consumer = joined
        .nodes()
        .iter()
        .find(|n| n.name == "fulfilment")
        .unwrap();
    assert_eq!(consumer.parent_id.as_deref(), Some(sns.id.as_str()));
    assert_eq!(consumer.links.len(), 1, "the producer link is kept");
    let handler = joined
        .nodes()
        .iter()
        .find(|n| n.name == "handle order")
        .unwrap();
    assert_eq!(handler.annotations["order_id"], serde_json::json!("42"));
    assert!(baton.iter().all(|d| !d.contains("\"in_progress\"")));

    // opentelemetry-aws: only SERVER spans become segments. The consumer's process span is
    // sent as a subsegment, so `fulfilment` is not a service on the map; the process span of
    // the header-less message (a root that is not SERVER) fails translation and is dropped;
    // every span is a datagram of its own; links are not written; `aws.xray.annotation.*`
    // attributes are not annotations (its prefix is `annotation.`).
    assert_eq!(nodes(&peer_traces), 5, "{peer:#?}");
    assert_eq!(peer.len(), 5);
    assert_eq!(segments(&peer_traces), ["checkout"]);
    assert!(peer.iter().all(|d| !d.contains("\"links\"")));
    let peer_handler = peer_traces
        .iter()
        .flat_map(|t| t.nodes().iter())
        .find(|n| n.name == "handle order")
        .unwrap();
    assert!(peer_handler.annotations.is_empty(), "{peer_handler:?}");
    let peer_consumer = peer_traces
        .iter()
        .flat_map(|t| t.nodes().iter())
        .find(|n| n.name == "orders process")
        .unwrap();
    assert_eq!(peer_consumer.kind, NodeKind::Subsegment);
}
