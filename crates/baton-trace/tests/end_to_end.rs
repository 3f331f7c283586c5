//! The real exporter into the real collector: two services, one trace.

use std::time::Duration;

use baton_trace::{Collector, CollectorHandle, NodeKind, render_service_map, render_waterfall};
use baton_xray::XrayExporter;
use opentelemetry::trace::{
    Span, SpanContext, SpanKind, TraceContextExt, Tracer, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// `cx` as the consumer sees it after the message carried it: a remote context.
fn carried(cx: &SpanContext) -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        cx.trace_id(),
        cx.span_id(),
        cx.trace_flags(),
        true,
        cx.trace_state().clone(),
    ))
}

/// A service's tracer provider, exporting to the collector as to an X-Ray daemon.
fn service(name: &'static str, collector: &CollectorHandle) -> SdkTracerProvider {
    let exporter = XrayExporter::builder()
        .with_daemon_address(collector.local_addr().to_string())
        .build()
        .unwrap();
    SdkTracerProvider::builder()
        .with_id_generator(baton::XrayIdGenerator::default())
        .with_resource(Resource::builder_empty().with_service_name(name).build())
        .with_simple_exporter(exporter)
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_and_a_consumer_service_make_one_trace_with_an_edge_through_the_queue() {
    let mut collector = Collector::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .spawn();
    let checkout = service("checkout", &collector);
    let fulfilment = service("fulfilment", &collector);

    // checkout: a request that sends a message.
    let tracer = checkout.tracer("e2e");
    let request = tracer
        .span_builder("POST /checkout")
        .with_kind(SpanKind::Server)
        .start(&tracer);
    let request_id = request.span_context().span_id();
    let cx = Context::new().with_span(request);
    let mut send = tracer
        .span_builder("send orders")
        .with_kind(SpanKind::Producer)
        .with_attributes([
            KeyValue::new("messaging.system", "aws_sqs"),
            KeyValue::new("messaging.operation.name", "SendMessage"),
            KeyValue::new("aws.xray.annotation.order_id", "o-42"),
        ])
        .start_with_context(&tracer, &cx);
    let message = send.span_context().clone();
    send.end();
    cx.span().end();

    // fulfilment: processes the message, continuing the producer's trace.
    let tracer = fulfilment.tracer("e2e");
    let remote = carried(&message);
    let process = tracer
        .span_builder("process orders")
        .with_kind(SpanKind::Consumer)
        .start_with_context(&tracer, &remote);
    let process_id = process.span_context().span_id();
    let cx = Context::new().with_span(process);
    tracer.start_with_context("save order", &cx).end();
    cx.span().end();

    let trace_id = baton_trace::xray_trace_id(message.trace_id());
    let trace = collector
        .wait_for_nodes(&trace_id, 4, Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("the trace never completed: {:#?}", collector.traces()));

    let tree: Vec<(usize, NodeKind, &str, String)> = trace
        .nodes()
        .iter()
        .map(|n| (n.depth, n.kind, n.name.as_str(), n.id.clone()))
        .collect();
    assert_eq!(
        tree,
        [
            (0, NodeKind::Segment, "checkout", request_id.to_string()),
            (
                1,
                NodeKind::Subsegment,
                "SQS",
                message.span_id().to_string()
            ),
            (2, NodeKind::Segment, "fulfilment", process_id.to_string()),
            (3, NodeKind::Subsegment, "save order", tree[3].3.clone()),
        ]
    );
    let send = &trace.nodes()[1];
    assert_eq!(send.namespace.as_deref(), Some("aws"));
    assert_eq!(send.aws_str("operation"), Some("SendMessage"));
    assert_eq!(send.annotations["order_id"], "o-42");
    assert_eq!(send.service.as_deref(), Some("checkout"));
    assert_eq!(trace.orphans().count(), 0);
    assert_eq!(trace.services(), ["checkout", "fulfilment"]);

    assert_eq!(
        render_service_map(&trace),
        "checkout --SQS SendMessage--> orders --> fulfilment\n"
    );
    let waterfall = render_waterfall(&trace, 100);
    assert!(waterfall.starts_with(&format!("trace {trace_id}  4 nodes, 2 services, ")));
    assert!(
        waterfall.contains("└─ SQS SendMessage (orders)"),
        "{waterfall}"
    );
    assert!(waterfall.contains("   └─ [fulfilment]"), "{waterfall}");

    let stats = collector.shutdown().await;
    assert_eq!(stats.malformed, 0);
    assert_eq!(stats.nodes, 4);
    checkout.shutdown().unwrap();
    fulfilment.shutdown().unwrap();
}

#[tokio::test]
async fn a_root_producer_script_reaches_its_consumer_through_its_call() {
    // A script that sends without a request of its own: the exporter writes a segment for
    // the script and a subsegment for the call; the consumer's parent is the segment.
    let mut collector = Collector::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .spawn();
    let script = service("loader", &collector);
    let worker = service("worker", &collector);

    let tracer = script.tracer("e2e");
    let mut send = tracer
        .span_builder("publish orders-topic")
        .with_kind(SpanKind::Producer)
        .with_attributes([
            KeyValue::new("messaging.system", "aws_sns"),
            KeyValue::new("messaging.operation.name", "Publish"),
            KeyValue::new("messaging.destination.name", "orders-topic"),
        ])
        .start(&tracer);
    let message = send.span_context().clone();
    send.end();
    let tracer = worker.tracer("e2e");
    tracer
        .span_builder("process orders")
        .with_kind(SpanKind::Consumer)
        .start_with_context(&tracer, &carried(&message))
        .end();

    let trace_id = baton_trace::xray_trace_id(message.trace_id());
    let trace = collector
        .wait_for_nodes(&trace_id, 3, Duration::from_secs(10))
        .await
        .expect("the three parts arrive");
    assert_eq!(
        render_service_map(&trace),
        "loader --SNS Publish--> orders-topic --> worker\n"
    );
    collector.shutdown().await;
}
