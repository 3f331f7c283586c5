//! PutEvents against a stub HTTP client: the exact entries the SDK sends, and the spans; the
//! consumer-side envelope.

use std::sync::{Arc, Mutex};

use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region, RuntimeComponents};
use aws_sdk_eventbridge::operation::put_events::PutEventsInput;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use baton::{TracerHandle, XrayIdGenerator, attr};
use baton_eventbridge::{EventBridgePropagation, EventBridgeService, EventEnvelope};
use opentelemetry::trace::{FutureExt, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, InMemorySpanExporterBuilder, SdkTracerProvider, SpanData,
};
use serde_json::Value;
use tower::{Service, ServiceExt};
use tracing_subscriber::layer::SubscriberExt;

/// Answers PutEvents like EventBridge (entry ids `ev-0`, `ev-1`, …; `fail` makes that entry
/// fail) and records every request body.
#[derive(Clone, Debug, Default)]
struct Stub {
    bodies: Arc<Mutex<Vec<String>>>,
    fail: Arc<Mutex<Option<usize>>>,
    hang: Arc<Mutex<bool>>,
}

impl HttpConnector for Stub {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if *self.hang.lock().unwrap() {
            return HttpConnectorFuture::new(std::future::pending());
        }
        let body = String::from_utf8(request.body().bytes().unwrap().to_vec()).unwrap();
        let count = serde_json::from_str::<Value>(&body).unwrap()["Entries"]
            .as_array()
            .map_or(0, Vec::len);
        self.bodies.lock().unwrap().push(body);
        let fail = *self.fail.lock().unwrap();
        let entries: Vec<Value> = (0..count)
            .map(|i| {
                if Some(i) == fail {
                    serde_json::json!({"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."})
                } else {
                    serde_json::json!({"EventId": format!("ev-{i}")})
                }
            })
            .collect();
        let response = serde_json::json!({"FailedEntryCount": usize::from(fail.is_some()), "Entries": entries});
        let mut response = HttpResponse::new(
            StatusCode::try_from(200).unwrap(),
            SdkBody::from(response.to_string()),
        );
        response.headers_mut().insert("x-amzn-requestid", "req-1");
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.1");
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for Stub {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl Stub {
    fn config(&self) -> aws_sdk_eventbridge::config::Builder {
        aws_sdk_eventbridge::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "stub"))
            .endpoint_url("http://stub.invalid")
            .http_client(self.clone())
    }

    fn entries(&self, index: usize) -> Vec<Value> {
        let body: Value = serde_json::from_str(&self.bodies.lock().unwrap()[index]).unwrap();
        body["Entries"].as_array().unwrap().clone()
    }
}

struct Spans {
    provider: SdkTracerProvider,
    exporter: InMemorySpanExporter,
}

impl Spans {
    fn new() -> Self {
        let exporter = InMemorySpanExporterBuilder::new().build();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_id_generator(XrayIdGenerator::default())
            .build();
        Spans { provider, exporter }
    }
    fn config(&self) -> EventBridgePropagation {
        EventBridgePropagation::new().with_tracer(TracerHandle::new(self.provider.tracer("test")))
    }
    fn named(&self, name: &str) -> Vec<SpanData> {
        self.provider.force_flush().unwrap();
        self.exporter
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }
}

fn header_of(span: &SpanData) -> String {
    let id = span.span_context.trace_id().to_string();
    format!(
        "Root=1-{}-{};Parent={};Sampled=1",
        &id[..8],
        &id[8..],
        span.span_context.span_id()
    )
}

fn entry(detail: &str) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .event_bus_name("shop")
        .source("shop.orders")
        .detail_type("OrderPlaced")
        .detail(detail)
        .build()
}

async fn put(
    stub: &Stub,
    config: EventBridgePropagation,
    entries: Vec<PutEventsRequestEntry>,
    cx: Context,
) {
    let client = aws_sdk_eventbridge::Client::from_conf(
        stub.config().interceptor(config.interceptor()).build(),
    );
    client
        .put_events()
        .set_entries(Some(entries))
        .send()
        .with_context(cx)
        .await
        .unwrap();
}

#[tokio::test]
async fn one_event_carries_the_send_span_in_trace_header_and_detail() {
    let stub = Stub::default();
    let spans = Spans::new();
    let root = Context::new().with_span(spans.provider.tracer("app").start("checkout"));
    put(
        &stub,
        spans.config(),
        vec![entry(r#"{ "order" : 42, "items": [1.50, 2] }"#)],
        root.clone(),
    )
    .await;
    root.span().end();

    let send = spans.named("send shop").remove(0);
    let header = header_of(&send);
    let sent = stub.entries(0);
    // Only the field is inserted; the rest of the detail is byte for byte the caller's.
    assert_eq!(
        sent[0]["Detail"].as_str().unwrap(),
        format!(r#"{{"traceHeader":"{header}", "order" : 42, "items": [1.50, 2] }}"#)
    );
    assert_eq!(sent[0]["TraceHeader"], header);
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_eq!(
        send.parent_span_id,
        spans.named("checkout")[0].span_context.span_id()
    );
    assert_eq!(
        send.attributes,
        vec![
            KeyValue::new(attr::MESSAGING_SYSTEM, "aws_eventbridge"),
            KeyValue::new(attr::MESSAGING_OPERATION_TYPE, "send"),
            KeyValue::new(attr::MESSAGING_DESTINATION_NAME, "shop"),
            KeyValue::new(attr::MESSAGING_OPERATION_NAME, "PutEvents"),
            KeyValue::new(attr::CLOUD_REGION, "eu-west-1"),
            KeyValue::new(attr::MESSAGING_MESSAGE_ID, "ev-0"),
            KeyValue::new(attr::AWS_REQUEST_ID, "req-1"),
        ]
    );
    assert!(spans.named("create shop").is_empty());
}

/// Counts WARN events.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<usize>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::WARN {
            *self.0.lock().unwrap() += 1;
        }
    }
}

#[test]
fn details_baton_cannot_extend_are_sent_exactly_as_given() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let oversized = format!(r#"{{"blob":"{}"}}"#, "x".repeat(256 * 1024 - 60));
    #[rustfmt::skip]
    let cases: Vec<(&str, String, bool, usize)> = vec![
        // (case, detail, detail changed, warnings)
        ("empty object", "{}".into(), true, 0),
        ("leading whitespace", "  \n{\"a\":1}".into(), true, 0),
        ("an array", "[1,2]".into(), false, 1),
        ("a string", "\"hello\"".into(), false, 1),
        ("invalid JSON", "{oops".into(), false, 1),
        ("the caller's own traceHeader", r#"{"traceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}"#.into(), false, 0),
        ("too large", oversized, false, 1),
    ];
    for (case, detail, changed, warnings) in cases {
        let stub = Stub::default();
        let spans = Spans::new();
        let counter = Warnings::default();
        let _guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(counter.clone()));
        runtime.block_on(put(
            &stub,
            spans.config(),
            vec![entry(&detail)],
            Context::new(),
        ));
        let sent = stub.entries(0);
        let sent_detail = sent[0]["Detail"].as_str().unwrap();
        let header = header_of(&spans.named("send shop")[0]);
        if changed {
            let parsed: Value = serde_json::from_str(sent_detail).unwrap();
            assert_eq!(parsed["traceHeader"], header, "{case}");
        } else {
            assert_eq!(sent_detail, detail, "{case}");
        }
        // The entry's TraceHeader is set either way (it never touches the detail): to the
        // caller's own header if the detail has one, so the event carries one trace.
        let expected = if case == "the caller's own traceHeader" {
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_string()
        } else {
            header
        };
        assert_eq!(sent[0]["TraceHeader"], expected, "{case}");
        assert_eq!(*counter.0.lock().unwrap(), warnings, "{case}: warnings");
    }
}

#[tokio::test]
async fn several_events_get_a_create_span_each() {
    let stub = Stub::default();
    *stub.fail.lock().unwrap() = Some(1);
    let spans = Spans::new();
    let mut mine = entry(r#"{"n":2}"#);
    mine.trace_header =
        Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into());
    put(
        &stub,
        spans.config(),
        vec![entry(r#"{"n":0}"#), entry(r#"{"n":1}"#), mine],
        Context::new(),
    )
    .await;

    let send = spans.named("send shop").remove(0);
    assert_eq!(send.status, Status::error("1 of 3 entries failed"));
    assert!(
        send.attributes
            .contains(&KeyValue::new(attr::MESSAGING_BATCH_MESSAGE_COUNT, 3))
    );
    let creates = spans.named("create shop");
    assert_eq!(
        creates.len(),
        2,
        "no create span for the entry with the caller's own trace"
    );
    let sent = stub.entries(0);
    for (i, sent_entry) in sent.iter().enumerate().take(2) {
        let detail: Value = serde_json::from_str(sent_entry["Detail"].as_str().unwrap()).unwrap();
        let create = creates
            .iter()
            .find(|c| header_of(c) == detail["traceHeader"])
            .unwrap_or_else(|| panic!("entry {i} carries no create span's context"));
        assert_eq!(create.parent_span_id, send.span_context.span_id());
        match i {
            1 => {
                assert_eq!(create.status, Status::error("Detail is malformed."));
                assert!(
                    create
                        .attributes
                        .contains(&KeyValue::new(attr::ERROR_TYPE, "MalformedDetail"))
                );
            }
            _ => assert!(create.attributes.contains(&KeyValue::new(
                attr::MESSAGING_MESSAGE_ID,
                format!("ev-{i}")
            ))),
        }
    }
    // The caller's own entry TraceHeader is kept.
    assert_eq!(
        sent[2]["TraceHeader"],
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    );
}

#[tokio::test]
async fn detail_field_can_be_turned_off() {
    let stub = Stub::default();
    let spans = Spans::new();
    put(
        &stub,
        spans.config().with_detail_field(false),
        vec![entry(r#"{"a":1}"#)],
        Context::new(),
    )
    .await;
    let sent = stub.entries(0);
    assert_eq!(sent[0]["Detail"], r#"{"a":1}"#);
    assert_eq!(
        sent[0]["TraceHeader"],
        header_of(&spans.named("send shop")[0])
    );
}

#[tokio::test]
async fn tower_form_and_cancellation() {
    let stub = Stub::default();
    let spans = Spans::new();
    let client = aws_sdk_eventbridge::Client::from_conf(stub.config().build());
    let mut service = tower::ServiceBuilder::new()
        .timeout(std::time::Duration::from_millis(100))
        .layer(spans.config().layer())
        .service(EventBridgeService::new(client));
    let input = PutEventsInput::builder()
        .entries(entry(r#"{"a":1}"#))
        .build()
        .unwrap();
    let output = service
        .ready()
        .await
        .unwrap()
        .call(input.clone())
        .await
        .unwrap();
    assert_eq!(output.entries()[0].event_id(), Some("ev-0"));
    let send = spans.named("send shop").remove(0);
    assert_eq!(
        stub.entries(0)[0]["Detail"],
        format!(r#"{{"traceHeader":"{}","a":1}}"#, header_of(&send))
    );

    *stub.hang.lock().unwrap() = true;
    assert!(service.ready().await.unwrap().call(input).await.is_err());
    let cancelled = spans.named("send shop").remove(1);
    assert_eq!(
        cancelled.status,
        Status::error("the call was cancelled before a response arrived")
    );
}

#[test]
fn the_consumer_continues_from_the_envelope() {
    let spans = Spans::new();
    let event = EventEnvelope::parse(
        r#"{"version":"0","id":"e-1","detail-type":"OrderPlaced","source":"shop.orders","account":"1",
            "time":"2026-11-25T12:00:00Z","region":"eu-west-1","resources":[],
            "detail":{"traceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1","n":1}}"#,
    )
    .unwrap();
    let cx = spans.config().start_process_span(&event, "orders");
    cx.span().end();
    let process = spans.named("process orders").remove(0);
    assert_eq!(
        process.span_context.trace_id().to_string(),
        "5759e988bd862e3fe1be46a994272793"
    );
    assert_eq!(process.parent_span_id.to_string(), "53995c3f42cd8ad8");
    assert!(
        process
            .attributes
            .contains(&KeyValue::new(attr::MESSAGING_MESSAGE_ID, "e-1"))
    );

    // No context, a non-object detail, or not an envelope at all: a new trace, no panic.
    for body in [
        r#"{"detail":[1]}"#,
        r#"{"detail":{"traceHeader":"garbage"}}"#,
        "not json",
        "{}",
    ] {
        let cx = baton_eventbridge::producer_context_from_json(body);
        assert!(!cx.span().span_context().is_valid(), "{body}");
    }
}

#[tokio::test]
async fn the_size_limit_is_the_requests() {
    // Two entries that fit under 256 KiB together, with room for one traceHeader but not two.
    let stub = Stub::default();
    let spans = Spans::new();
    let fill = |n: usize| format!(r#"{{"blob":"{}"}}"#, "x".repeat(n));
    let fixed = "shop.orders".len() + "OrderPlaced".len();
    let half = (256 * 1024 - 2 * fixed - 2 * 12) / 2 - 60;
    put(
        &stub,
        spans.config(),
        vec![entry(&fill(half)), entry(&fill(half))],
        Context::new(),
    )
    .await;
    let sent = stub.entries(0);
    let with_field = sent
        .iter()
        .filter(|e| e["Detail"].as_str().unwrap().contains("traceHeader"))
        .count();
    assert_eq!(with_field, 1, "only one entry had room");
    let total: usize = sent
        .iter()
        .map(|e| fixed + e["Detail"].as_str().unwrap().len())
        .sum();
    assert!(total < 256 * 1024, "{total}");
}

#[tokio::test]
async fn inside_lambda_the_lineage_goes_into_both_headers() {
    fn lambda_env(name: &str) -> Option<String> {
        match name {
            "AWS_LAMBDA_FUNCTION_NAME" => Some("checkout".into()),
            "_X_AMZN_TRACE_ID" => Some(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c:2".into(),
            ),
            _ => None,
        }
    }
    let stub = Stub::default();
    let spans = Spans::new();
    let root = Context::new().with_span(spans.provider.tracer("app").start("checkout"));
    put(
        &stub,
        spans.config().with_environment(lambda_env),
        vec![entry(r#"{"order":42}"#)],
        root.clone(),
    )
    .await;
    root.span().end();

    let send = spans.named("send shop").remove(0);
    // The producer span's context, with the invocation's Lineage kept for Lambda's
    // recursive-loop detection; the invocation's own Root and Parent are not used.
    let header = format!("{};Lineage=1:a87bd80c:2", header_of(&send));
    let sent = stub.entries(0);
    assert_eq!(sent[0]["TraceHeader"], header);
    assert_eq!(
        sent[0]["Detail"].as_str().unwrap(),
        format!(r#"{{"traceHeader":"{header}","order":42}}"#)
    );
    assert_eq!(
        send.parent_span_id,
        spans.named("checkout")[0].span_context.span_id()
    );
}
