//! The one-call set-up sending OTLP to receivers on 127.0.0.1: what arrives (ids, parents,
//! kinds, attributes, resource), over HTTP/protobuf, HTTP/JSON and gRPC; the flush on the way
//! out; and an exporter that cannot reach its receiver.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use baton_export::{Exporter, Protocol, Setup, Telemetry};
use common::{Receiver, hex};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind as ProtoKind;
use opentelemetry_sdk::trace::Sampler;

/// A set-up for tests: no detection, every trace sampled, the given exporter.
fn setup(exporter: Exporter) -> Telemetry {
    Setup::new()
        .with_service_name("checkout")
        .with_resource_attributes([
            KeyValue::new("cloud.platform", "aws_ecs"),
            KeyValue::new("deployment.environment.name", "test"),
        ])
        .with_aws_detection(false)
        .with_sampler(Sampler::AlwaysOn)
        .with_exporter(exporter)
        .build()
        .expect("the set-up builds")
}

/// A request span with a producer span under it; returns the X-Ray header the producer
/// would send on.
fn request_and_send(telemetry: &Telemetry) -> HashMap<String, String> {
    let tracer = telemetry.tracer("test");
    let request = tracer
        .span_builder("POST /checkout")
        .with_kind(SpanKind::Server)
        .with_attributes([KeyValue::new("http.request.method", "POST")])
        .start(&tracer);
    let cx = Context::new().with_span(request);
    let send = tracer
        .span_builder("send orders")
        .with_kind(SpanKind::Producer)
        .with_attributes([KeyValue::new("messaging.system", "aws_sqs")])
        .start_with_context(&tracer, &cx);
    let send_cx = cx.with_span(send);
    let mut carrier = HashMap::new();
    baton_xray::xray_propagator().inject_context(&send_cx, &mut carrier);
    send_cx.span().end();
    cx.span().end();
    carrier
}

/// Checks what a receiver got for [`request_and_send`].
fn check_spans(
    spans: &[(
        HashMap<String, String>,
        opentelemetry_proto::tonic::trace::v1::Span,
    )],
    carrier: &HashMap<String, String>,
) {
    assert_eq!(spans.len(), 2, "{spans:?}");
    let (resource, send) = spans.iter().find(|(_, s)| s.name == "send orders").unwrap();
    let (_, request) = spans
        .iter()
        .find(|(_, s)| s.name == "POST /checkout")
        .unwrap();
    assert_eq!(resource["service.name"], "checkout");
    assert_eq!(resource["cloud.platform"], "aws_ecs");
    assert_eq!(resource["deployment.environment.name"], "test");
    assert_eq!(resource["telemetry.sdk.language"], "rust");
    assert_eq!(send.kind, ProtoKind::Producer as i32);
    assert_eq!(request.kind, ProtoKind::Server as i32);
    assert_eq!(send.parent_span_id, request.span_id);
    assert!(request.parent_span_id.is_empty());
    assert_eq!(send.trace_id, request.trace_id);
    // X-Ray-valid: the first four bytes are the epoch second the trace started.
    let epoch = u32::from_be_bytes(request.trace_id[..4].try_into().unwrap()) as u64;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(epoch) < 60,
        "trace id {}",
        hex(&request.trace_id)
    );
    // The header sent downstream names the same trace and the producer span.
    let header = &carrier["x-amzn-trace-id"];
    let id = hex(&send.trace_id);
    assert!(
        header.contains(&format!("Root=1-{}-{}", &id[..8], &id[8..])),
        "{header}"
    );
    assert!(
        header.contains(&format!("Parent={}", hex(&send.span_id))),
        "{header}"
    );
    assert!(header.contains("Sampled=1"), "{header}");
    assert!(
        request
            .attributes
            .iter()
            .any(|kv| kv.key == "http.request.method"),
        "{request:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_reaches_the_receiver_and_shutdown_sends_the_last_spans() {
    let receiver = Receiver::start().await;
    let telemetry = setup(Exporter::otlp().with_endpoint(receiver.url()));
    let stats = telemetry.stats();
    let carrier = request_and_send(&telemetry);
    // Nothing has been sent yet (the batch processor waits 5 s); shutting down sends it.
    telemetry.shutdown_async().await.unwrap();
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/v1/traces");
    assert_eq!(
        requests[0].header("content-type"),
        Some("application/x-protobuf")
    );
    check_spans(&receiver.spans(), &carrier);
    assert_eq!((stats.exported(), stats.failed()), (2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_reaches_the_receiver() {
    let receiver = Receiver::start().await;
    let telemetry = setup(
        Exporter::otlp()
            .with_endpoint(receiver.url())
            .with_protocol(Protocol::HttpJson),
    );
    let carrier = request_and_send(&telemetry);
    telemetry.shutdown_async().await.unwrap();
    let requests = receiver.requests();
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    // JSON as OTLP/JSON writes it: hex ids.
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    let span = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"].as_str().unwrap().len(), 32, "{span}");
    check_spans(&receiver.spans(), &carrier);
}

/// The local trace view as the receiver: the spans assemble into the trace X-Ray would show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_view_assembles_what_the_setup_sends() {
    let mut view = baton_trace::Collector::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .with_otlp("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .spawn();
    let url = format!("http://{}/v1/traces", view.otlp_addr().unwrap());
    let telemetry = setup(Exporter::otlp().with_endpoint(url));
    request_and_send(&telemetry);
    telemetry.shutdown_async().await.unwrap();
    let trace = view
        .wait_for(|t| t.len() >= 2, Duration::from_secs(10))
        .await
        .expect("the trace");
    let segment = trace.roots().next().unwrap();
    assert_eq!(segment.name, "checkout");
    assert_eq!(segment.origin.as_deref(), Some("AWS::ECS::Container"));
    let call = trace.children(segment).next().unwrap();
    assert_eq!(
        (call.name.as_str(), call.namespace.as_deref()),
        ("SQS", Some("aws"))
    );
    view.shutdown().await;
}

#[cfg(feature = "grpc")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_reaches_the_receiver() {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };

    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Grpc(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);
    #[tonic::async_trait]
    impl TraceService for Grpc {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            self.0.lock().unwrap().push(request.into_inner());
            Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: None,
            }))
        }
    }
    let grpc = Grpc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(grpc.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let telemetry = setup(
        Exporter::otlp()
            .with_endpoint(format!("http://{addr}"))
            .with_protocol(Protocol::Grpc),
    );
    let stats = telemetry.stats();
    let carrier = request_and_send(&telemetry);
    telemetry.shutdown_async().await.unwrap();
    let received = grpc.0.lock().unwrap().clone();
    let spans: Vec<_> = received
        .into_iter()
        .flat_map(|r| r.resource_spans)
        .flat_map(|rs| {
            let resource: HashMap<String, String> = rs
                .resource
                .clone()
                .map(|r| r.attributes)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|kv| Some((kv.key, common::text(kv.value?.value?))))
                .collect();
            rs.scope_spans
                .into_iter()
                .flat_map(|s| s.spans)
                .map(move |s| (resource.clone(), s))
        })
        .collect();
    check_spans(&spans, &carrier);
    assert_eq!(stats.exported(), 2);
}

/// Dropped outside any runtime (a plain `main`), the guard still sends the last spans: the
/// set-up ran its exports on a runtime of its own.
#[test]
fn dropping_the_guard_sends_the_last_spans_without_a_runtime() {
    let receiver_runtime = tokio::runtime::Runtime::new().unwrap();
    let receiver = receiver_runtime.block_on(Receiver::start());
    let telemetry = setup(Exporter::otlp().with_endpoint(receiver.url()));
    let stats = telemetry.stats();
    let tracer = telemetry.tracer("test");
    tracer.in_span("last words", |_| {});
    drop(telemetry);
    let spans = receiver.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].1.name, "last words");
    assert_eq!(stats.exported(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_costs_the_application_nothing_and_spans_are_counted() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", closed.local_addr().unwrap());
    drop(closed);
    let telemetry = setup(
        Exporter::otlp()
            .with_endpoint(url)
            .with_timeout(Duration::from_millis(500)),
    );
    let stats = telemetry.stats();
    let tracer = telemetry.tracer("test");
    let started = Instant::now();
    for i in 0..100 {
        tracer.in_span(format!("work {i}"), |_| {});
    }
    // Ending spans never waits on the network.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let provider = telemetry.provider().clone();
    let flushed = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let result = provider.force_flush();
        (result, started.elapsed())
    })
    .await
    .unwrap();
    // The export gave up within its timeout (and retries): well inside the flush's 5 s.
    assert!(flushed.1 < Duration::from_secs(5), "{:?}", flushed.1);
    assert_eq!(stats.failed(), 100, "{stats:?}");
    assert_eq!(stats.exported(), 0);
    assert!(stats.batches_failed() >= 1);
    // And the application goes on: later spans are exported once a receiver is there
    // (not here), and shutdown does not hang.
    let started = Instant::now();
    let _ = telemetry.shutdown_async().await;
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_is_given_up_on_after_the_timeout() {
    let receiver = Receiver::black_hole().await;
    let telemetry = setup(
        Exporter::otlp()
            .with_endpoint(receiver.url())
            .with_timeout(Duration::from_millis(300)),
    );
    let stats = telemetry.stats();
    telemetry.tracer("test").in_span("unheard", |_| {});
    let started = Instant::now();
    let _ = telemetry.shutdown_async().await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(!receiver.requests().is_empty(), "the request was made");
    assert_eq!((stats.exported(), stats.failed()), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_receiver_s_spans_are_counted_as_failed() {
    let receiver = Receiver::judging(Arc::new(|_| 400)).await;
    let telemetry = setup(Exporter::otlp().with_endpoint(receiver.url()));
    let stats = telemetry.stats();
    telemetry.tracer("test").in_span("refused", |_| {});
    telemetry.shutdown_async().await.ok();
    assert_eq!(receiver.requests().len(), 1, "a 400 is not retried");
    assert_eq!((stats.exported(), stats.failed()), (0, 1));
}

/// The default sampler is X-Ray's, parent-based: local rules decide roots, and an upstream
/// decision in the incoming header is followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_sampler_applies_xray_rules_and_follows_upstream() {
    let receiver = Receiver::start().await;
    let never =
        baton_sampling::SamplingRules::new([baton_sampling::SamplingRule::new("never", 1, 0, 0.0)])
            .unwrap();
    let telemetry = Setup::new()
        .with_service_name("checkout")
        .with_aws_detection(false)
        .with_sampling_rules(never)
        .with_centralized_sampling(None::<String>)
        .with_exporter(Exporter::otlp().with_endpoint(receiver.url()))
        .build()
        .unwrap();
    let tracer = telemetry.tracer("test");
    for _ in 0..5 {
        tracer.in_span("root", |_| {});
    }
    // A message whose producer sampled its trace.
    let carrier: HashMap<String, String> = [(
        "x-amzn-trace-id".to_owned(),
        "Root=1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2b;Parent=1000000000000001;Sampled=1".to_owned(),
    )]
    .into();
    let parent = baton_xray::xray_propagator().extract(&carrier);
    tracer
        .span_builder("continued")
        .with_kind(SpanKind::Consumer)
        .start_with_context(&tracer, &parent)
        .end();
    telemetry.shutdown_async().await.unwrap();
    let names: Vec<String> = receiver.spans().into_iter().map(|(_, s)| s.name).collect();
    assert_eq!(names, ["continued"]);
}

/// Dropped on the thread of a current-thread runtime (a `#[tokio::main(flavor =
/// "current_thread")]` service, or this test): the last spans still go out, since the export
/// runs on the set-up's own runtime, not on the one the drop blocks.
#[tokio::test(flavor = "current_thread")]
async fn dropping_the_guard_on_a_current_thread_runtime_sends_the_last_spans() {
    // The receiver on a runtime of its own, which the drop below does not block.
    let (receiver_runtime, receiver) = std::thread::spawn(|| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let receiver = runtime.block_on(Receiver::start());
        (runtime, receiver)
    })
    .join()
    .unwrap();
    let telemetry = setup(Exporter::otlp().with_endpoint(receiver.url()));
    let stats = telemetry.stats();
    telemetry.tracer("test").in_span("last words", |_| {});
    let started = Instant::now();
    drop(telemetry);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(receiver.spans().len(), 1);
    assert_eq!(stats.exported(), 1);
    receiver_runtime.shutdown_background();
}
