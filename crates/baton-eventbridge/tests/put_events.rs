//! PutEvents against a stub HTTP client: the exact entries the SDK sends, and the spans; the
//! consumer-side envelope.

use std::sync::{Arc, Mutex};

use aws_sdk_eventbridge::operation::put_events::PutEventsInput;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use baton::attr;
use baton_eventbridge::{EventBridgePropagation, EventBridgeService, EventEnvelope};
use baton_test_support::{Reply, Request, Responder, Spans, header_of, sdk_config};
use opentelemetry::trace::{FutureExt, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use serde_json::Value;
use tower::{Service, ServiceExt};
use tracing_subscriber::layer::SubscriberExt;

/// Answers PutEvents like EventBridge: entry ids `ev-0`, `ev-1`, …, unless that entry was
/// told to fail.
#[derive(Debug, Default)]
struct EventBridge {
    fail: Mutex<Option<usize>>,
}

impl EventBridge {
    /// Entry `index` of each PutEvents fails.
    fn fail_entry(&self, index: usize) {
        *self.fail.lock().unwrap() = Some(index);
    }
}

impl Responder for EventBridge {
    fn respond(&self, request: &Request<'_>) -> Reply {
        let count = serde_json::from_str::<Value>(request.body()).unwrap()["Entries"]
            .as_array()
            .map_or(0, Vec::len);
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
        Reply::ok(
            serde_json::json!({"FailedEntryCount": usize::from(fail.is_some()), "Entries": entries})
                .to_string(),
        )
    }

    fn headers(&self) -> &[(&'static str, &'static str)] {
        &[
            ("x-amzn-requestid", "req-1"),
            ("content-type", "application/x-amz-json-1.1"),
        ]
    }
}

type Stub = baton_test_support::Stub<EventBridge>;

/// The entries of PutEvents request `index`, as sent.
fn sent_entries(stub: &Stub, index: usize) -> Vec<Value> {
    let body: Value = serde_json::from_str(stub.request(index).body()).unwrap();
    body["Entries"].as_array().unwrap().clone()
}

/// Baton's EventBridge propagation, recording into `spans`.
fn propagation(spans: &Spans) -> EventBridgePropagation {
    EventBridgePropagation::new().with_tracer(spans.handle())
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
        sdk_config!(aws_sdk_eventbridge, stub)
            .interceptor(config.interceptor())
            .build(),
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
        propagation(&spans),
        vec![entry(r#"{ "order" : 42, "items": [1.50, 2] }"#)],
        root.clone(),
    )
    .await;
    root.span().end();

    let send = spans.named("send shop").remove(0);
    let header = header_of(&send);
    let sent = sent_entries(&stub, 0);
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
            KeyValue::new(attr::MESSAGING_OPERATION_NAME, "PutEvents"),
            KeyValue::new(attr::MESSAGING_DESTINATION_NAME, "shop"),
            // PutEvents is a batch call, even of one entry.
            KeyValue::new(attr::MESSAGING_BATCH_MESSAGE_COUNT, 1),
            KeyValue::new(attr::CLOUD_REGION, "eu-west-1"),
            // The endpoint the SDK resolved (the stub's; port 80 left out).
            KeyValue::new(attr::SERVER_ADDRESS, "stub.invalid"),
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
            propagation(&spans),
            vec![entry(&detail)],
            Context::new(),
        ));
        let sent = sent_entries(&stub, 0);
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
    stub.responder().fail_entry(1);
    let spans = Spans::new();
    let mut mine = entry(r#"{"n":2}"#);
    mine.trace_header =
        Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into());
    put(
        &stub,
        propagation(&spans),
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
    let sent = sent_entries(&stub, 0);
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
async fn a_lone_refused_event_puts_its_error_on_the_send_span() {
    let stub = Stub::default();
    stub.responder().fail_entry(0);
    let spans = Spans::new();
    put(
        &stub,
        propagation(&spans),
        vec![entry(r#"{"n":0}"#)],
        Context::new(),
    )
    .await;
    let send = spans.named("send shop").remove(0);
    assert_eq!(send.status, Status::error("Detail is malformed."));
    assert!(
        send.attributes
            .contains(&KeyValue::new(attr::ERROR_TYPE, "MalformedDetail"))
    );
    assert!(
        !send
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == attr::MESSAGING_MESSAGE_ID)
    );
    assert!(spans.named("create shop").is_empty());
}

#[tokio::test]
async fn several_events_all_traced_by_the_caller_name_no_single_message() {
    // No create spans (each entry carries the caller's own trace), yet it is a batch: the
    // send span names no message of its own, and counts failures out of all the entries.
    let stub = Stub::default();
    stub.responder().fail_entry(1);
    let spans = Spans::new();
    let theirs = |n: u32| {
        let mut e = entry(&format!(r#"{{"n":{n}}}"#));
        e.trace_header = Some(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into(),
        );
        e
    };
    put(
        &stub,
        propagation(&spans),
        vec![theirs(0), theirs(1)],
        Context::new(),
    )
    .await;
    let send = spans.named("send shop").remove(0);
    assert_eq!(send.status, Status::error("1 of 2 entries failed"));
    assert!(
        !send
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == attr::MESSAGING_MESSAGE_ID)
    );
}

#[tokio::test]
async fn detail_field_can_be_turned_off() {
    let stub = Stub::default();
    let spans = Spans::new();
    put(
        &stub,
        propagation(&spans).with_detail_field(false),
        vec![entry(r#"{"a":1}"#)],
        Context::new(),
    )
    .await;
    let sent = sent_entries(&stub, 0);
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
    let client =
        aws_sdk_eventbridge::Client::from_conf(sdk_config!(aws_sdk_eventbridge, stub).build());
    let mut service = tower::ServiceBuilder::new()
        .timeout(std::time::Duration::from_millis(100))
        .layer(propagation(&spans).layer())
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
        sent_entries(&stub, 0)[0]["Detail"],
        format!(r#"{{"traceHeader":"{}","a":1}}"#, header_of(&send))
    );

    stub.hang();
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
    let cx = propagation(&spans).start_process_span(&event, "orders");
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
        propagation(&spans),
        vec![entry(&fill(half)), entry(&fill(half))],
        Context::new(),
    )
    .await;
    let sent = sent_entries(&stub, 0);
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

    // On a bus told to take up to 1 MiB, both have room.
    put(
        &stub,
        propagation(&spans).with_size_limit(1024 * 1024),
        vec![entry(&fill(half)), entry(&fill(half))],
        Context::new(),
    )
    .await;
    let with_field = sent_entries(&stub, 1)
        .iter()
        .filter(|e| e["Detail"].as_str().unwrap().contains("traceHeader"))
        .count();
    assert_eq!(with_field, 2);
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
        propagation(&spans).with_environment(lambda_env),
        vec![entry(r#"{"order":42}"#)],
        root.clone(),
    )
    .await;
    root.span().end();

    let send = spans.named("send shop").remove(0);
    // The producer span's context, with the invocation's Lineage kept for Lambda's
    // recursive-loop detection; the invocation's own Root and Parent are not used.
    let header = format!("{};Lineage=1:a87bd80c:2", header_of(&send));
    let sent = sent_entries(&stub, 0);
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

/// Property tests: whatever details a caller sends, the events leave as the caller made them
/// plus, where the rules allow, the trace.
mod props {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use serde_json::{Map, Value, json};

    use super::*;

    /// EventBridge's request limit, which Baton keeps the request under.
    const LIMIT: usize = 256 * 1024;
    const VALID: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            "\\PC{0,20}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("\\PC{0,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn object() -> impl Strategy<Value = Map<String, Value>> {
        proptest::collection::btree_map("[a-zA-Z]{1,8}|\\PC{0,8}", json_value(), 0..6)
            .prop_map(|m| m.into_iter().collect())
    }

    /// A detail as a caller might write one.
    fn detail() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            1 => Just(None),
            // Objects, compact or pretty; some with a traceHeader of their own, valid,
            // garbage or not a string.
            6 => (object(), any::<bool>(), 0..6u8).prop_map(|(mut o, pretty, field)| {
                match field {
                    1 => drop(o.insert("traceHeader".into(), json!(VALID))),
                    // Well formed but longer than an entry's TraceHeader may be.
                    4 => drop(o.insert(
                        "traceHeader".into(),
                        json!(format!("{VALID};Lineage=1:a87bd80c:1;x={}", "a".repeat(450))),
                    )),
                    // Long through its Self field (a load balancer's), which has no limit.
                    5 => drop(o.insert(
                        "traceHeader".into(),
                        json!(format!("Self=1-{};{VALID};Lineage=1:a87bd80c:1", "b".repeat(460))),
                    )),
                    2 => drop(o.insert("traceHeader".into(), json!("not a header"))),
                    3 => drop(o.insert("traceHeader".into(), json!(42))),
                    _ => {}
                }
                let o = Value::Object(o);
                let text = if pretty {
                    serde_json::to_string_pretty(&o)
                } else {
                    serde_json::to_string(&o)
                };
                Some(text.unwrap())
            }),
            1 => Just(Some("{}".to_owned())),
            1 => Just(Some(" \n{ \t}\n ".to_owned())),
            // JSON that is not an object.
            2 => json_value()
                .prop_filter("not an object", |v| !v.is_object())
                .prop_map(|v| Some(v.to_string())),
            // Not JSON: any text, and objects cut short.
            2 => "\\PC{0,40}".prop_map(Some),
            2 => (object(), 0.0..1.0f64).prop_map(|(o, cut)| {
                let text = Value::Object(o).to_string();
                let mut at = (text.len() as f64 * cut) as usize;
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                Some(text[..at].to_owned())
            }),
            // An object near the request limit (the rest of the request is small).
            1 => (LIMIT - 200..LIMIT)
                .prop_map(|n| Some(format!(r#"{{"pad":"{}"}}"#, "x".repeat(n - 10)))),
        ]
    }

    #[derive(Clone, Debug)]
    struct Given {
        detail: Option<String>,
        trace_header: Option<String>,
    }

    fn given() -> impl Strategy<Value = Given> {
        (
            detail(),
            prop_oneof![
                4 => Just(None),
                1 => Just(Some(VALID.to_owned())),
                1 => "\\PC{0,30}".prop_map(Some),
            ],
        )
            .prop_map(|(detail, trace_header)| Given {
                detail,
                trace_header,
            })
    }

    fn entry_of(g: &Given) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name("shop")
            .source("shop.orders")
            .detail_type("OrderPlaced")
            .set_detail(g.detail.clone())
            .set_trace_header(g.trace_header.clone())
            .build()
    }

    /// The caller's own trace for an entry, as Baton reads it: the entry's `TraceHeader`, else
    /// a well-formed `traceHeader` string in an object detail.
    fn callers_trace(g: &Given) -> Option<String> {
        g.trace_header.clone().or_else(|| {
            let detail: Value = serde_json::from_str(g.detail.as_deref()?).ok()?;
            let field = detail.as_object()?.get("traceHeader")?.as_str()?;
            baton::TraceHeader::parse(field)
                .is_ok()
                .then(|| field.to_owned())
        })
    }

    #[test]
    fn any_events_leave_as_given_plus_the_trace() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let spans = Spans::new();
        let strategy = (
            proptest::collection::vec(given(), 1..=4),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        );
        let mut runner = TestRunner::new(Config {
            cases: 300,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategy, |(given, detail_field, tower, caller_span)| {
                let stub = Stub::default();
                spans.exporter.reset();
                let config = propagation(&spans).with_detail_field(detail_field);
                let entries: Vec<_> = given.iter().map(entry_of).collect();
                let cx = if caller_span {
                    Context::new().with_span(spans.provider.tracer("app").start("caller"))
                } else {
                    Context::new()
                };
                let sent = runtime.block_on(
                    async {
                        if tower {
                            let client = aws_sdk_eventbridge::Client::from_conf(
                                sdk_config!(aws_sdk_eventbridge, stub).build(),
                            );
                            let mut service = tower::ServiceBuilder::new()
                                .layer(config.layer())
                                .service(EventBridgeService::new(client));
                            let input = PutEventsInput::builder()
                                .set_entries(Some(entries))
                                .build()
                                .unwrap();
                            service
                                .ready()
                                .await
                                .unwrap()
                                .call(input)
                                .await
                                .map(drop)
                                .map_err(|e| e.to_string())
                        } else {
                            let client = aws_sdk_eventbridge::Client::from_conf(
                                sdk_config!(aws_sdk_eventbridge, stub)
                                    .interceptor(config.interceptor())
                                    .build(),
                            );
                            client
                                .put_events()
                                .set_entries(Some(entries))
                                .send()
                                .await
                                .map(drop)
                                .map_err(|e| e.to_string())
                        }
                    }
                    .with_context(cx),
                );
                sent.map_err(|e| TestCaseError::fail(format!("PutEvents failed: {e}")))?;
                prop_assert_eq!(stub.requests().len(), 1);
                let out = sent_entries(&stub, 0);
                prop_assert_eq!(out.len(), given.len());
                let send = spans.named("send shop");
                prop_assert_eq!(send.len(), 1);
                let send = &send[0];
                let creates = spans.named("create shop");
                let mut request_size = 0;
                // The request as given, and whether it has room to spare for a trace header in
                // every detail (each insertion is under 120 bytes): then every detail that
                // can take one must get it.
                let given_size: usize = given
                    .iter()
                    .map(|g| {
                        "shop.orders".len()
                            + "OrderPlaced".len()
                            + g.detail.as_deref().map_or(0, str::len)
                    })
                    .sum();
                let roomy = given_size + 120 * given.len() < LIMIT - 1;
                let mut named = std::collections::HashSet::new();
                for (sent, g) in out.iter().zip(&given) {
                    prop_assert_eq!(sent["Source"].as_str(), Some("shop.orders"));
                    prop_assert_eq!(sent["DetailType"].as_str(), Some("OrderPlaced"));
                    prop_assert_eq!(sent["EventBusName"].as_str(), Some("shop"));
                    let header = sent["TraceHeader"].as_str().map(str::to_owned);
                    // The entry's TraceHeader: the caller's, else the caller's detail field,
                    // else Baton's: the send span's for a lone event, a `create` span of the
                    // entry's own (child of the send span) for each of several.
                    match (&g.trace_header, callers_trace(g)) {
                        (Some(theirs), _) => prop_assert_eq!(header.as_ref(), Some(theirs)),
                        // Over EventBridge's 500 characters, only its unknown fields go.
                        (None, Some(theirs)) if theirs.len() > 500 => {
                            let fit = baton::TraceHeader::parse(&theirs)
                                .unwrap()
                                .trace_only()
                                .to_string();
                            prop_assert!(fit.len() <= 500);
                            prop_assert!(fit.contains(";Lineage=1:a87bd80c:1"));
                            prop_assert_eq!(header.as_ref(), Some(&fit));
                        }
                        (None, Some(theirs)) => prop_assert_eq!(header.as_ref(), Some(&theirs)),
                        (None, None) => {
                            let header = header.clone().expect("Baton writes TraceHeader");
                            let parsed = baton::TraceHeader::parse(&header).unwrap();
                            prop_assert_eq!(parsed.trace_id(), send.span_context.trace_id());
                            let parent = parsed.parent_id().unwrap();
                            if given.len() == 1 {
                                prop_assert_eq!(parent, send.span_context.span_id());
                            } else {
                                let create =
                                    creates.iter().find(|c| c.span_context.span_id() == parent);
                                prop_assert!(create.is_some(), "{header} names no create span");
                                prop_assert_eq!(
                                    create.unwrap().parent_span_id,
                                    send.span_context.span_id()
                                );
                                prop_assert!(
                                    named.insert(parent),
                                    "two entries name one create span"
                                );
                            }
                        }
                    }
                    // The detail: as given, byte for byte, or the given object plus exactly
                    // the entry's trace header as `traceHeader`.
                    let out_detail = sent["Detail"].as_str();
                    request_size +=
                        "shop.orders".len() + "OrderPlaced".len() + out_detail.map_or(0, str::len);
                    let open_object = g
                        .detail
                        .as_deref()
                        .and_then(|d| serde_json::from_str::<Value>(d).ok())
                        .and_then(|v| v.as_object().map(|o| !o.contains_key("traceHeader")))
                        .unwrap_or(false);
                    if out_detail == g.detail.as_deref() {
                        prop_assert!(
                            !(detail_field && open_object && roomy),
                            "an object detail with room to spare got no traceHeader"
                        );
                        continue;
                    }
                    prop_assert!(detail_field, "detail changed with the detail field off");
                    prop_assert!(
                        open_object,
                        "changed a detail that is not an object without traceHeader"
                    );
                    let mut original = match serde_json::from_str(g.detail.as_deref().unwrap()) {
                        Ok(Value::Object(o)) => o,
                        _ => unreachable!("checked just above"),
                    };
                    let changed: Value = serde_json::from_str(out_detail.unwrap()).unwrap();
                    original.insert("traceHeader".into(), json!(header.unwrap()));
                    prop_assert_eq!(changed, Value::Object(original));
                }
                prop_assert_eq!(named.len(), creates.len(), "create spans no entry names");
                // Baton keeps the request under the limit whenever it changed a detail.
                let untouched = out
                    .iter()
                    .zip(&given)
                    .all(|(s, g)| s["Detail"].as_str() == g.detail.as_deref());
                prop_assert!(
                    untouched || request_size < LIMIT,
                    "request grew to {request_size} bytes"
                );
                Ok(())
            })
            .unwrap();
    }
}

#[tokio::test]
async fn on_send_learns_the_put_events_span() {
    let stub = Stub::default();
    let spans = Spans::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let config = {
        let seen = seen.clone();
        propagation(&spans)
            .with_on_send(move |span| seen.lock().unwrap().push(span.span_context().clone()))
    };
    put(
        &stub,
        config,
        vec![entry(r#"{"order":42}"#)],
        Context::new(),
    )
    .await;
    let send = spans.named("send shop").remove(0);
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        std::slice::from_ref(&send.span_context)
    );
}

/// Both forms measure a PutEvents the same: its duration, and its events sent (the refused
/// one apart, with its code).
#[tokio::test]
async fn both_forms_record_the_messaging_metrics() {
    use baton::metrics::{OPERATION_DURATION, SENT_MESSAGES};
    use baton_test_support::{Metrics, point};

    let base = [
        ("messaging.destination.name", "shop"),
        ("messaging.operation.name", "PutEvents"),
        ("messaging.system", "aws_eventbridge"),
        ("server.address", "stub.invalid"),
    ];
    let mut expected = vec![
        point(
            OPERATION_DURATION,
            &[base.as_slice(), &[("messaging.operation.type", "send")]].concat(),
            1,
        ),
        point(SENT_MESSAGES, &base, 2),
        point(
            SENT_MESSAGES,
            &[base.as_slice(), &[("error.type", "MalformedDetail")]].concat(),
            1,
        ),
    ];
    expected.sort();
    let entries = || {
        vec![
            entry(r#"{"a":1}"#),
            entry(r#"{"b":2}"#),
            entry(r#"{"c":3}"#),
        ]
    };

    // The interceptor.
    let (metrics, spans, stub) = (Metrics::new(), Spans::new(), Stub::default());
    stub.responder().fail_entry(1);
    let config = propagation(&spans).with_meter(&metrics.meter());
    put(&stub, config, entries(), Context::new()).await;
    assert_eq!(metrics.points(), expected);

    // The Tower form, server learned from the client.
    let (metrics, spans, stub) = (Metrics::new(), Spans::new(), Stub::default());
    stub.responder().fail_entry(1);
    let client =
        aws_sdk_eventbridge::Client::from_conf(sdk_config!(aws_sdk_eventbridge, stub).build());
    let mut service = propagation(&spans)
        .with_meter(&metrics.meter())
        .service(client);
    let input = PutEventsInput::builder()
        .set_entries(Some(entries()))
        .build()
        .unwrap();
    service.ready().await.unwrap().call(input).await.unwrap();
    assert_eq!(metrics.points(), expected);
}

/// PutEvents in both forms, with the exact spans it makes: the interceptor and the Tower form
/// (built with `service(client)`) make the same spans.
#[tokio::test]
async fn both_forms_make_exactly_these_spans() {
    use baton_test_support::Shape;

    async fn run<S>(spans: &Spans, mut service: S) -> Vec<Shape>
    where
        S: Service<PutEventsInput>,
        S::Error: std::fmt::Debug,
    {
        let cx = Context::new().with_span(spans.provider.tracer("app").start("handle"));
        let input = PutEventsInput::builder()
            .entries(entry(r#"{"a":1}"#))
            .entries(entry(r#"{"b":2}"#))
            .build()
            .unwrap();
        baton_test_support::call_in(&mut service, input, &cx)
            .await
            .unwrap();
        cx.span().end();
        spans.shapes_except("handle")
    }

    let spans = Spans::new();
    let stub = Stub::default();
    let intercepted = aws_sdk_eventbridge::Client::from_conf(
        sdk_config!(aws_sdk_eventbridge, stub)
            .interceptor(propagation(&spans).interceptor())
            .build(),
    );
    let by_interceptor = run(&spans, EventBridgeService::new(intercepted)).await;

    let spans = Spans::new();
    let stub = Stub::default();
    let client =
        aws_sdk_eventbridge::Client::from_conf(sdk_config!(aws_sdk_eventbridge, stub).build());
    let by_tower = run(&spans, propagation(&spans).service(client)).await;

    let attributes = baton_test_support::pairs;
    let head = |kind: &'static str| {
        [
            ("messaging.system", "aws_eventbridge"),
            ("messaging.operation.type", kind),
            ("messaging.operation.name", "PutEvents"),
            ("messaging.destination.name", "shop"),
        ]
    };
    let create = |id: &str| -> Shape {
        let mut all = attributes(&head("create"));
        all.extend(attributes(&[("messaging.message.id", id)]));
        (
            "create shop".into(),
            SpanKind::Producer,
            all,
            0,
            Status::Unset,
            true,
        )
    };
    let mut send = attributes(&head("send"));
    send.extend(attributes(&[
        ("messaging.batch.message_count", "2"),
        ("cloud.region", "eu-west-1"),
        ("server.address", "stub.invalid"),
        ("aws.request_id", "req-1"),
    ]));
    let expected: Vec<Shape> = vec![
        create("ev-0"),
        create("ev-1"),
        (
            "send shop".into(),
            SpanKind::Producer,
            send,
            2,
            Status::Unset,
            true,
        ),
    ];
    assert_eq!(by_interceptor, expected);
    assert_eq!(by_tower, expected);
}

/// A PutEvents to a global endpoint (`EndpointId`) goes to a host of its own: the Tower form
/// records no `server.address` for it rather than the client's, and does not learn the
/// client's endpoint from it.
#[tokio::test]
async fn a_global_endpoint_call_gets_no_borrowed_server_address() {
    let spans = Spans::new();
    let stub = Stub::default();
    let client =
        aws_sdk_eventbridge::Client::from_conf(sdk_config!(aws_sdk_eventbridge, stub).build());
    let mut service = propagation(&spans).service(client);
    let regional = PutEventsInput::builder()
        .entries(entry(r#"{"b":2}"#))
        .build()
        .unwrap();
    // The client's endpoint, learned from a call to it.
    service.ready().await.unwrap().call(regional).await.unwrap();
    let global = PutEventsInput::builder()
        .entries(entry(r#"{"a":1}"#))
        .endpoint_id("abcde.veo")
        .build()
        .unwrap();
    // The call may fail (a global endpoint needs SigV4a); either way its span ends.
    let _ = service.ready().await.unwrap().call(global).await;
    let sends = spans.named("send shop");
    assert_eq!(sends.len(), 2);
    let server = |span: &opentelemetry_sdk::trace::SpanData| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == attr::SERVER_ADDRESS)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(server(&sends[0]).as_deref(), Some("stub.invalid"));
    assert_eq!(server(&sends[1]), None, "{:?}", sends[1].attributes);
}

/// The Tower form's probe learns the client's endpoint from calls to it only: a first call to
/// a global endpoint teaches it nothing.
#[tokio::test]
async fn the_probe_does_not_learn_from_a_global_endpoint_call() {
    use baton::driver::TracedService as _;

    let spans = Spans::new();
    let stub = Stub::default();
    let client =
        aws_sdk_eventbridge::Client::from_conf(sdk_config!(aws_sdk_eventbridge, stub).build());
    let mut service = propagation(&spans).service(client);
    let global = PutEventsInput::builder()
        .entries(entry(r#"{"a":1}"#))
        .endpoint_id("abcde.veo")
        .build()
        .unwrap();
    let _ = service.ready().await.unwrap().call(global).await;
    let probe = service.settings().common().server_probe().unwrap().clone();
    assert!(!probe.learned(), "{probe:?}");
    let regional = PutEventsInput::builder()
        .entries(entry(r#"{"b":2}"#))
        .build()
        .unwrap();
    service.ready().await.unwrap().call(regional).await.unwrap();
    assert_eq!(probe.get(), Some(("stub.invalid", None)));
}
