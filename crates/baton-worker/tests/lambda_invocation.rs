//! The invocation layer: the invocation span of each Lambda invocation (attributes, links, its
//! parent from Lambda's trace header), the per-record spans under it, the flush before the
//! response, and invocations running at once in one process without crossing over.
#![cfg(feature = "lambda")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::Message;
use baton::{LinkPolicy, TracerHandle};
use baton_worker::lambda::{InvocationLayer, LambdaTrace, SqsBatchHandler};
use lambda_runtime::LambdaEvent;
use opentelemetry::trace::{SpanId, SpanKind, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::{BoxError, Layer, Service, ServiceExt, service_fn};

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-2:123456789012:orders";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-2:123456789012:function:fulfil:live";

/// Two producers, each with its own trace.
const PRODUCERS: [&str; 2] = [
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    "Root=1-6910b3c2-0a1b2c3d4e5f60718293a4b5;Parent=1f2e3d4c5b6a7988;Sampled=1",
];

/// Lambda's segment for two invocations, with different `Lineage`s.
const LAMBDA_A: &str = "Root=1-6910b3d0-aaaaaaaaaaaaaaaaaaaaaaaa;Parent=aaaaaaaaaaaaaaa1;Sampled=1;Lineage=1:aaaaaaaa:1";
const LAMBDA_B: &str = "Root=1-6910b3d1-bbbbbbbbbbbbbbbbbbbbbbbb;Parent=bbbbbbbbbbbbbbb1;Sampled=1;Lineage=2:bbbbbbbb:3";

fn sqs_event(bodies: &[&str]) -> SqsEvent {
    let records: Vec<serde_json::Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            serde_json::json!({
                "messageId": format!("m{i}"),
                "receiptHandle": format!("r{i}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "AWSTraceHeader": PRODUCERS[i % PRODUCERS.len()],
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": QUEUE_ARN,
                "awsRegion": "us-east-2"
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

fn invocation<T>(payload: T, request_id: &str, lambda_header: Option<&str>) -> LambdaEvent<T> {
    let mut context = lambda_runtime::Context::default();
    context.request_id = request_id.to_owned();
    context.invoked_function_arn = FUNCTION_ARN.to_owned();
    context.xray_trace_id = lambda_header.map(str::to_owned);
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(60);
    context.deadline = deadline.as_millis() as u64;
    context.env_config = Arc::new(lambda_runtime::Config {
        function_name: "fulfil".to_owned(),
        version: "7".to_owned(),
        ..Default::default()
    });
    LambdaEvent::new(payload, context)
}

struct Spans {
    provider: SdkTracerProvider,
    exporter: InMemorySpanExporter,
}

impl Spans {
    fn new() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        Spans { provider, exporter }
    }

    fn handle(&self) -> TracerHandle {
        TracerHandle::new(self.provider.tracer("lambda-test"))
    }

    fn finished(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().expect("spans")
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

fn text(span: &SpanData, key: &str) -> Option<String> {
    attribute(span, key).map(|v| v.as_str().into_owned())
}

fn ids(header: &str) -> (TraceId, SpanId) {
    let cx = baton::extract_header(&Context::new(), header, "test");
    let span = cx.span();
    let sc = span.span_context();
    (sc.trace_id(), sc.span_id())
}

fn ok_handler()
-> impl Service<Message, Response = (), Error = BoxError, Future: Send> + Clone + Send {
    service_fn(|_message: Message| async { Ok::<(), BoxError>(()) })
}

#[tokio::test]
async fn an_sqs_batch_is_one_consumer_span_linked_to_every_producer() {
    let spans = Spans::new();
    let layer = InvocationLayer::new().with_tracer(spans.handle());
    let mut function = layer.layer(SqsBatchHandler::new(ok_handler()).with_tracer(spans.handle()));

    let event = invocation(sqs_event(&["a", "b"]), "req-1", Some(LAMBDA_A));
    let response = function.ready().await.unwrap().call(event).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let event = invocation(sqs_event(&["c"]), "req-2", Some(LAMBDA_A));
    function.ready().await.unwrap().call(event).await.unwrap();

    let finished = spans.finished();
    let batches: Vec<&SpanData> = finished
        .iter()
        .filter(|s| attribute(s, "faas.invocation_id").is_some())
        .collect();
    assert_eq!(batches.len(), 2);
    let first = batches
        .iter()
        .find(|s| text(s, "faas.invocation_id").as_deref() == Some("req-1"))
        .unwrap();
    assert_eq!(first.name, "process orders");
    assert_eq!(first.span_kind, SpanKind::Consumer);
    assert_eq!(text(first, "faas.trigger").as_deref(), Some("pubsub"));
    assert_eq!(text(first, "messaging.system").as_deref(), Some("aws_sqs"));
    assert_eq!(
        text(first, "messaging.operation.type").as_deref(),
        Some("process")
    );
    assert_eq!(
        text(first, "messaging.destination.name").as_deref(),
        Some("orders")
    );
    assert_eq!(
        attribute(first, "messaging.batch.message_count"),
        Some(Value::I64(2))
    );
    assert_eq!(attribute(first, "faas.coldstart"), Some(Value::Bool(true)));
    assert_eq!(text(first, "faas.name").as_deref(), Some("fulfil"));
    assert_eq!(text(first, "faas.version").as_deref(), Some("7"));
    assert_eq!(
        text(first, "aws.lambda.invoked_arn").as_deref(),
        Some(FUNCTION_ARN)
    );
    assert_eq!(
        text(first, "cloud.resource_id").as_deref(),
        Some("arn:aws:lambda:us-east-2:123456789012:function:fulfil:7"),
        "the version that runs, not the alias invoked"
    );
    assert_eq!(
        text(first, "cloud.account.id").as_deref(),
        Some("123456789012")
    );
    // Linked to both producers.
    let linked: Vec<(TraceId, SpanId)> = first
        .links
        .iter()
        .map(|l| (l.span_context.trace_id(), l.span_context.span_id()))
        .collect();
    assert_eq!(linked, [ids(PRODUCERS[0]), ids(PRODUCERS[1])]);
    // The child of Lambda's segment (the default, as `xray-lambda` does).
    let (lambda_trace, lambda_span) = ids(LAMBDA_A);
    assert_eq!(first.span_context.trace_id(), lambda_trace);
    assert_eq!(first.parent_span_id, lambda_span);
    // Only the first invocation is a cold start.
    let second = batches
        .iter()
        .find(|s| text(s, "faas.invocation_id").as_deref() == Some("req-2"))
        .unwrap();
    assert_eq!(
        attribute(second, "faas.coldstart"),
        Some(Value::Bool(false))
    );

    // Each record's span continues its own producer's trace (link policy `Parent`).
    let records: Vec<&SpanData> = finished
        .iter()
        .filter(|s| attribute(s, "messaging.message.id").is_some())
        .collect();
    assert_eq!(records.len(), 3);
    let a = records
        .iter()
        .find(|s| text(s, "messaging.message.id").as_deref() == Some("m0"))
        .unwrap();
    assert_eq!(
        (a.span_context.trace_id(), a.parent_span_id),
        ids(PRODUCERS[0])
    );
    assert_eq!(text(a, "faas.trigger").as_deref(), Some("pubsub"));
}

#[tokio::test]
async fn with_link_policy_link_records_nest_under_the_batch_span() {
    let spans = Spans::new();
    let mut function = InvocationLayer::new().with_tracer(spans.handle()).layer(
        SqsBatchHandler::new(ok_handler())
            .with_tracer(spans.handle())
            .with_link_policy(LinkPolicy::Link),
    );
    let event = invocation(sqs_event(&["a", "b"]), "req-1", Some(LAMBDA_A));
    function.ready().await.unwrap().call(event).await.unwrap();
    let finished = spans.finished();
    let batch = finished
        .iter()
        .find(|s| attribute(s, "faas.invocation_id").is_some())
        .unwrap();
    for (i, producer) in PRODUCERS.iter().enumerate() {
        let record = finished
            .iter()
            .find(|s| text(s, "messaging.message.id").as_deref() == Some(&format!("m{i}")))
            .unwrap();
        // The semantic conventions' drawing: child of the batch span, linked to its producer.
        assert_eq!(
            record.span_context.trace_id(),
            batch.span_context.trace_id()
        );
        assert_eq!(record.parent_span_id, batch.span_context.span_id());
        let link = &record.links[0].span_context;
        assert_eq!((link.trace_id(), link.span_id()), ids(producer));
    }
}

#[tokio::test]
async fn lambda_s_segment_becomes_a_link_or_is_ignored_when_asked() {
    for (mode, parented, linked) in [
        (LambdaTrace::Link, false, true),
        (LambdaTrace::Ignore, false, false),
    ] {
        let spans = Spans::new();
        let mut function = InvocationLayer::new()
            .with_tracer(spans.handle())
            .with_lambda_trace(mode)
            .layer(SqsBatchHandler::new(ok_handler()).with_tracer(spans.handle()));
        let event = invocation(sqs_event(&["a"]), "req-1", Some(LAMBDA_A));
        function.ready().await.unwrap().call(event).await.unwrap();
        let finished = spans.finished();
        let batch = finished
            .iter()
            .find(|s| attribute(s, "faas.invocation_id").is_some())
            .unwrap();
        let (lambda_trace, lambda_span) = ids(LAMBDA_A);
        assert_eq!(
            batch.parent_span_id != SpanId::INVALID,
            parented,
            "{mode:?}"
        );
        assert_ne!(batch.span_context.trace_id(), lambda_trace, "{mode:?}");
        let links_lambda = batch
            .links
            .iter()
            .any(|l| l.span_context.span_id() == lambda_span);
        assert_eq!(links_lambda, linked, "{mode:?}");
    }
}

#[tokio::test]
async fn spans_are_flushed_before_the_response_and_a_slow_flush_is_cut_short() {
    let spans = Spans::new();
    let seen_at_flush = Arc::new(Mutex::new(Vec::new()));
    let (exporter, seen) = (spans.exporter.clone(), Arc::clone(&seen_at_flush));
    let flushes = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&flushes);
    let mut function = InvocationLayer::new()
        .with_tracer(spans.handle())
        .with_flush(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            // What has ended by the time the flush runs: the invocation span must be there.
            let names: Vec<String> = exporter
                .get_finished_spans()
                .unwrap()
                .into_iter()
                .map(|s| s.name.to_string())
                .collect();
            seen.lock().unwrap().push(names);
        })
        .layer(SqsBatchHandler::new(ok_handler()).with_tracer(spans.handle()));
    let event = invocation(sqs_event(&["a"]), "req-1", None);
    function.ready().await.unwrap().call(event).await.unwrap();
    assert_eq!(
        flushes.load(Ordering::SeqCst),
        1,
        "flushed before the response"
    );
    let at_flush = seen_at_flush.lock().unwrap()[0].clone();
    assert!(
        at_flush.contains(&"process orders".to_owned()),
        "{at_flush:?}"
    );
    assert_eq!(
        at_flush.len(),
        2,
        "the record's span and the batch's: {at_flush:?}"
    );

    // A flush that would hang (a collector that never answers) delays the response by at
    // most the flush timeout.
    let mut function = InvocationLayer::new()
        .with_tracer(spans.handle())
        .with_flush(|| std::thread::sleep(Duration::from_secs(3)))
        .with_flush_timeout(Duration::from_millis(200))
        .layer(SqsBatchHandler::new(ok_handler()).with_tracer(spans.handle()));
    let started = Instant::now();
    let event = invocation(sqs_event(&["a"]), "req-2", None);
    function.ready().await.unwrap().call(event).await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

/// A process environment left over from another invocation.
fn stale_environment(name: &str) -> Option<String> {
    match name {
        "AWS_LAMBDA_FUNCTION_NAME" => Some("fulfil".to_owned()),
        "_X_AMZN_TRACE_ID" => Some(
            "Root=1-6910b3d2-cccccccccccccccccccccccc;Parent=ccccccccccccccc1;Sampled=1;Lineage=9:cccccccc:9"
                .to_owned(),
        ),
        _ => None,
    }
}

/// Two invocations at once in one process (Lambda Managed Instances, `concurrency-tokio`), each
/// with its own trace header: every record sees its own invocation's `Lineage` and trace,
/// whatever `_X_AMZN_TRACE_ID` says, and no span crosses over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_keep_their_own_trace_and_lineage() {
    let spans = Spans::new();
    // What each record's handler saw: its body, the `Lineage` Baton's interceptors would pass
    // on, and the trace of the invocation span enclosing it.
    type Seen = Vec<(String, Option<String>, TraceId)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let handler = {
        let (seen, barrier) = (Arc::clone(&seen), Arc::clone(&barrier));
        service_fn(move |message: Message| {
            let (seen, barrier) = (Arc::clone(&seen), Arc::clone(&barrier));
            async move {
                // Both invocations are inside their handlers at the same time here.
                barrier.wait().await;
                // What Baton's interceptors call, with an environment whose
                // `_X_AMZN_TRACE_ID` names a third invocation: the context must win.
                let lineage = baton::driver::Common::default()
                    .with_environment(stale_environment)
                    .lineage();
                let trace = Context::current().span().span_context().trace_id();
                seen.lock().unwrap().push((
                    message.body().unwrap_or_default().to_owned(),
                    lineage,
                    trace,
                ));
                Ok::<(), BoxError>(())
            }
        })
    };
    let function = InvocationLayer::new().with_tracer(spans.handle()).layer(
        SqsBatchHandler::new(handler)
            .with_tracer(spans.handle())
            .with_link_policy(LinkPolicy::Link),
    );
    let (mut a, mut b) = (function.clone(), function);
    let (ra, rb) = tokio::join!(
        async {
            let event = invocation(sqs_event(&["for a"]), "req-a", Some(LAMBDA_A));
            a.ready().await.unwrap().call(event).await
        },
        async {
            let event = invocation(sqs_event(&["for b"]), "req-b", Some(LAMBDA_B));
            b.ready().await.unwrap().call(event).await
        },
    );
    ra.unwrap();
    rb.unwrap();

    let finished = spans.finished();
    let batch_trace = |request: &str| {
        finished
            .iter()
            .find(|s| text(s, "faas.invocation_id").as_deref() == Some(request))
            .unwrap()
            .span_context
            .trace_id()
    };
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        seen,
        [
            (
                "for a".to_owned(),
                Some("1:aaaaaaaa:1".to_owned()),
                batch_trace("req-a")
            ),
            (
                "for b".to_owned(),
                Some("2:bbbbbbbb:3".to_owned()),
                batch_trace("req-b")
            ),
        ]
    );
    assert_eq!(batch_trace("req-a"), ids(LAMBDA_A).0);
    assert_eq!(batch_trace("req-b"), ids(LAMBDA_B).0);
}

/// Outside the layer (or in a test) the environment's header still gives the `Lineage`.
#[test]
fn without_an_invocation_the_environment_is_read() {
    let env = |name: &str| match name {
        "AWS_LAMBDA_FUNCTION_NAME" => Some("fulfil".to_owned()),
        "_X_AMZN_TRACE_ID" => Some(LAMBDA_B.to_owned()),
        _ => None,
    };
    assert_eq!(
        baton::invocation_lineage(&Context::new(), env).as_deref(),
        Some("2:bbbbbbbb:3")
    );
    let cx = Context::new().with_value(baton::LambdaInvocationTrace::new(LAMBDA_A));
    assert_eq!(
        baton::invocation_lineage(&cx, env).as_deref(),
        Some("1:aaaaaaaa:1")
    );
    // Outside Lambda, nothing.
    assert_eq!(baton::invocation_lineage(&cx, |_| None), None);
}

#[tokio::test]
async fn sns_and_eventbridge_events_get_their_process_spans_and_other_events_a_server_span() {
    use aws_lambda_events::event::sns::SnsEvent;

    let spans = Spans::new();
    let layer = InvocationLayer::new().with_tracer(spans.handle());

    // SNS: linked to the producer in each record's `X-Amzn-Trace-Id` message attribute.
    let sns: SnsEvent = serde_json::from_value(serde_json::json!({"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-2:123456789012:orders:sub",
        "Sns": {
            "Type": "Notification", "MessageId": "n1",
            "TopicArn": "arn:aws:sns:us-east-2:123456789012:orders",
            "Subject": null, "Message": "{}", "Timestamp": "2026-12-06T12:00:00.000Z",
            "SignatureVersion": "1", "Signature": "", "SigningCertUrl": "", "UnsubscribeUrl": "",
            "MessageAttributes": {"X-Amzn-Trace-Id": {"Type": "String", "Value": PRODUCERS[1]}}
        }
    }]}))
    .unwrap();
    let mut sns_function = layer
        .clone()
        .layer(service_fn(|_event: LambdaEvent<SnsEvent>| async {
            Ok::<(), BoxError>(())
        }));
    sns_function
        .ready()
        .await
        .unwrap()
        .call(invocation(sns, "req-sns", None))
        .await
        .unwrap();

    // EventBridge: linked to `detail.traceHeader`.
    let event = serde_json::json!({
        "version": "0", "id": "e1", "detail-type": "OrderPlaced", "source": "shop.orders",
        "account": "123456789012", "time": "2026-12-06T12:00:00Z", "region": "us-east-2",
        "resources": [], "detail": {"order_id": "42", "traceHeader": PRODUCERS[0]}
    });
    let mut json_function =
        layer
            .clone()
            .layer(service_fn(|_event: LambdaEvent<serde_json::Value>| async {
                Ok::<(), BoxError>(())
            }));
    json_function
        .ready()
        .await
        .unwrap()
        .call(invocation(event, "req-eb", None))
        .await
        .unwrap();

    // Anything else: a SERVER span named after the function; a handler error is its status.
    let mut failing = layer.layer(service_fn(|_event: LambdaEvent<serde_json::Value>| async {
        Err::<(), BoxError>("no such order".into())
    }));
    let outcome = failing
        .ready()
        .await
        .unwrap()
        .call(invocation(
            serde_json::json!({"order": 42}),
            "req-other",
            None,
        ))
        .await;
    assert!(outcome.is_err());

    let finished = spans.finished();
    let by_request = |request: &str| {
        finished
            .iter()
            .find(|s| text(s, "faas.invocation_id").as_deref() == Some(request))
            .unwrap()
    };
    let sns = by_request("req-sns");
    assert_eq!(sns.name, "process orders");
    assert_eq!(sns.span_kind, SpanKind::Consumer);
    assert_eq!(text(sns, "messaging.system").as_deref(), Some("aws.sns"));
    assert_eq!(sns.links.len(), 1);
    assert_eq!(sns.links[0].span_context.span_id(), ids(PRODUCERS[1]).1);
    let eventbridge = by_request("req-eb");
    assert_eq!(eventbridge.name, "process shop.orders");
    assert_eq!(text(eventbridge, "faas.trigger").as_deref(), Some("pubsub"));
    assert_eq!(
        eventbridge.links[0].span_context.span_id(),
        ids(PRODUCERS[0]).1
    );
    let other = by_request("req-other");
    assert_eq!(other.name, "fulfil");
    assert_eq!(other.span_kind, SpanKind::Server);
    assert_eq!(text(other, "faas.trigger").as_deref(), Some("other"));
    assert!(matches!(
        &other.status,
        opentelemetry::trace::Status::Error { description } if description.contains("no such order")
    ));
}

/// Lambda's segment with `Sampled=0` (active tracing off, the default): a parent that would make
/// every span unsampled is only linked.
#[tokio::test]
async fn an_unsampled_lambda_segment_is_linked_not_a_parent() {
    let spans = Spans::new();
    let sampled_out = LAMBDA_A.replace("Sampled=1", "Sampled=0");
    let provider = SdkTracerProvider::builder()
        .with_sampler(baton::XrayParentBased::new(
            opentelemetry_sdk::trace::Sampler::AlwaysOn,
        ))
        .with_simple_exporter(spans.exporter.clone())
        .build();
    let tracer = TracerHandle::new(provider.tracer("lambda-test"));
    let mut function = InvocationLayer::new()
        .with_tracer(tracer.clone())
        .layer(SqsBatchHandler::new(ok_handler()).with_tracer(tracer));
    let event = invocation(sqs_event(&["a"]), "req-1", Some(&sampled_out));
    function.ready().await.unwrap().call(event).await.unwrap();
    let finished = spans.finished();
    let batch = finished
        .iter()
        .find(|s| attribute(s, "faas.invocation_id").is_some())
        .expect("the invocation span is recorded");
    assert_eq!(batch.parent_span_id, SpanId::INVALID);
    assert!(
        batch
            .links
            .iter()
            .any(|l| l.span_context.span_id() == ids(LAMBDA_A).1)
    );
}

/// A handler that panics: the span says so and the flush runs, then the panic goes on (to
/// `lambda_runtime`, which reports it to Lambda).
#[tokio::test]
async fn a_panicking_handler_still_ends_its_span_and_flushes() {
    use futures_util::FutureExt as _;

    let spans = Spans::new();
    let flushed = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&flushed);
    let mut function = InvocationLayer::new()
        .with_tracer(spans.handle())
        .with_flush(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .layer(service_fn(|_event: LambdaEvent<serde_json::Value>| async {
            if true {
                panic!("the handler broke");
            }
            Ok::<(), BoxError>(())
        }));
    let call =
        function
            .ready()
            .await
            .unwrap()
            .call(invocation(serde_json::json!({}), "req-panic", None));
    let outcome = std::panic::AssertUnwindSafe(call).catch_unwind().await;
    assert!(outcome.is_err(), "the panic goes on");
    assert_eq!(flushed.load(Ordering::SeqCst), 1);
    let finished = spans.finished();
    let span = finished
        .iter()
        .find(|s| text(s, "faas.invocation_id").as_deref() == Some("req-panic"))
        .unwrap();
    assert_eq!(text(span, "error.type").as_deref(), Some("panic"));
    assert!(matches!(
        span.status,
        opentelemetry::trace::Status::Error { .. }
    ));
}

fn sns_event(attribute: (&str, &str)) -> aws_lambda_events::event::sns::SnsEvent {
    serde_json::from_value(serde_json::json!({"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-2:123456789012:orders:sub",
        "Sns": {
            "Type": "Notification", "MessageId": "n1",
            "TopicArn": "arn:aws:sns:us-east-2:123456789012:orders",
            "Subject": null, "Message": "{\"order\":\"42\"}",
            "Timestamp": "2026-12-06T12:00:00.000Z",
            "SignatureVersion": "1", "Signature": "", "SigningCertUrl": "", "UnsubscribeUrl": "",
            "MessageAttributes": {attribute.0: {"Type": "String", "Value": attribute.1}}
        }
    }]}))
    .unwrap()
}

/// SNS events: each notification in its own process span continuing its producer (from the
/// `X-Amzn-Trace-Id` message attribute Baton's SNS interceptor writes, or `traceparent`),
/// current while the handler runs; a failure is the function's error.
#[tokio::test]
async fn sns_notifications_continue_their_producer_inside_the_invocation() {
    use aws_lambda_events::event::sns::SnsMessage;
    use baton_worker::lambda::SnsHandler;

    let spans = Spans::new();
    let seen: Arc<Mutex<Vec<(String, opentelemetry::trace::SpanContext)>>> = Arc::default();
    let handler = {
        let seen = Arc::clone(&seen);
        service_fn(move |notification: SnsMessage| {
            let seen = Arc::clone(&seen);
            async move {
                if notification.message == "fail" {
                    return Err::<(), BoxError>("cannot ship".into());
                }
                let current = Context::current().span().span_context().clone();
                seen.lock().unwrap().push((notification.message, current));
                Ok(())
            }
        })
    };
    let mut function = InvocationLayer::new()
        .with_tracer(spans.handle())
        .layer(SnsHandler::new(handler).with_tracer(spans.handle()));
    let event = invocation(
        sns_event(("X-Amzn-Trace-Id", PRODUCERS[1])),
        "req-sns",
        Some(LAMBDA_A),
    );
    function.ready().await.unwrap().call(event).await.unwrap();

    let finished = spans.finished();
    let record = finished
        .iter()
        .find(|s| text(s, "messaging.message.id").as_deref() == Some("n1"))
        .expect("the notification's process span");
    assert_eq!(record.name, "process orders");
    assert_eq!(record.span_kind, SpanKind::Consumer);
    assert_eq!(text(record, "messaging.system").as_deref(), Some("aws.sns"));
    assert_eq!(text(record, "faas.trigger").as_deref(), Some("pubsub"));
    assert_eq!(
        (record.span_context.trace_id(), record.parent_span_id),
        ids(PRODUCERS[1])
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "{\"order\":\"42\"}");
    assert_eq!(seen[0].1.span_id(), record.span_context.span_id());
    let batch = finished
        .iter()
        .find(|s| text(s, "faas.invocation_id").as_deref() == Some("req-sns"))
        .unwrap();
    assert_eq!(batch.links[0].span_context.span_id(), ids(PRODUCERS[1]).1);

    // A W3C producer, and a failure: the function's error, the span's status.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut event = sns_event(("traceparent", traceparent));
    event.records[0].sns.message = "fail".to_owned();
    let outcome = function
        .ready()
        .await
        .unwrap()
        .call(invocation(event, "req-fail", None))
        .await;
    assert!(outcome.unwrap_err().to_string().contains("cannot ship"));
    let failed = spans
        .finished()
        .into_iter()
        .find(|s| {
            s.span_context.trace_id()
                == TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
        })
        .expect("the failed notification's span, in the W3C producer's trace");
    assert_eq!(
        text(&failed, "error.type").as_deref(),
        Some("handler_error")
    );
    assert!(matches!(
        failed.status,
        opentelemetry::trace::Status::Error { .. }
    ));
}

/// The SNS adapter: each notification's wait since SNS's `Timestamp` on its process span, and
/// with a meter, the notification counted as consumed and its handling measured.
#[tokio::test]
async fn sns_notifications_carry_their_time_in_queue_and_are_measured() {
    use aws_lambda_events::event::sns::SnsMessage;
    use baton::metrics::{CONSUMED_MESSAGES, PROCESS_DURATION};
    use baton_test_support::{Metrics, point};
    use baton_worker::lambda::SnsHandler;

    let spans = Spans::new();
    let metrics = Metrics::new();
    let handler = service_fn(|notification: SnsMessage| async move {
        if notification.message == "fail" {
            return Err::<(), BoxError>("cannot ship".into());
        }
        Ok(())
    });
    let mut function = SnsHandler::new(handler)
        .with_tracer(spans.handle())
        .with_meter(&metrics.meter());
    let mut event = sns_event(("X-Amzn-Trace-Id", PRODUCERS[1]));
    let sent = std::time::SystemTime::now() - Duration::from_secs(3);
    event.records[0].sns.timestamp = sent.into();
    function
        .ready()
        .await
        .unwrap()
        .call(invocation(event, "req-1", None))
        .await
        .unwrap();
    let mut failing = sns_event(("X-Amzn-Trace-Id", PRODUCERS[1]));
    failing.records[0].sns.message = "fail".to_owned();
    function
        .ready()
        .await
        .unwrap()
        .call(invocation(failing, "req-2", None))
        .await
        .unwrap_err();

    let finished = spans.finished();
    let waited: i64 = text(&finished[0], "baton.messaging.time_in_queue_ms")
        .unwrap()
        .parse()
        .unwrap();
    assert!((3_000..60_000).contains(&waited), "{waited}");
    // The second keeps the event's fixed `Timestamp`: its wait is measured from that.
    let since: i64 = baton::parse_rfc3339("2026-12-06T12:00:00.000Z")
        .map(|at| {
            std::time::SystemTime::now()
                .duration_since(at)
                .map_or(0, |d| d.as_millis() as i64)
        })
        .unwrap();
    let waited: i64 = text(&finished[1], "baton.messaging.time_in_queue_ms")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (since - 60_000..=since).contains(&waited),
        "{waited} against {since}"
    );

    let base = [
        ("messaging.destination.name", "orders"),
        ("messaging.operation.name", "process"),
        ("messaging.system", "aws.sns"),
    ];
    let mut expected = vec![
        point(CONSUMED_MESSAGES, &base, 2),
        point(PROCESS_DURATION, &base, 1),
        point(
            PROCESS_DURATION,
            &[base.as_slice(), &[("error.type", "handler_error")]].concat(),
            1,
        ),
    ];
    expected.sort();
    assert_eq!(metrics.points(), expected);
}

/// A function called directly (Invoke): the caller's context in the `ClientContext` is the
/// SERVER span's parent when Lambda's segment is not, a link when Lambda's segment is in
/// another trace, and nothing more when Lambda continued the caller's trace.
#[tokio::test]
async fn a_direct_invoke_continues_the_caller_in_the_client_context() {
    fn with_caller(
        key: &str,
        value: &str,
        lambda_header: Option<&str>,
    ) -> LambdaEvent<serde_json::Value> {
        let mut event = invocation(
            serde_json::json!({"order": 42}),
            "req-invoke",
            lambda_header,
        );
        // `lambda_runtime` does not export the type: made the way it makes it, from JSON.
        event.context.client_context =
            Some(serde_json::from_value(serde_json::json!({"custom": {key: value}})).unwrap());
        event
    }
    async fn run(
        spans: &Spans,
        layer: &InvocationLayer,
        event: LambdaEvent<serde_json::Value>,
    ) -> SpanData {
        let mut function =
            layer
                .clone()
                .layer(service_fn(|_event: LambdaEvent<serde_json::Value>| async {
                    Ok::<(), BoxError>(())
                }));
        function.ready().await.unwrap().call(event).await.unwrap();
        let span = spans
            .finished()
            .into_iter()
            .rev()
            .find(|s| s.name == "fulfil")
            .expect("the invocation span");
        spans.exporter.reset();
        span
    }

    let spans = Spans::new();
    let layer = InvocationLayer::new().with_tracer(spans.handle());
    // No Lambda segment: the caller (X-Ray header, as baton-lambda writes it) is the parent.
    let span = run(
        &spans,
        &layer,
        with_caller("X-Amzn-Trace-Id", PRODUCERS[0], None),
    )
    .await;
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(
        (span.span_context.trace_id(), span.parent_span_id),
        ids(PRODUCERS[0])
    );
    assert!(span.links.is_empty());
    // The same from a W3C caller (OpenTelemetry SDKs).
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let span = run(
        &spans,
        &layer,
        with_caller("traceparent", traceparent, None),
    )
    .await;
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
    );
    // Lambda's segment in another trace: it stays the parent; the caller is linked.
    let span = run(
        &spans,
        &layer,
        with_caller("X-Amzn-Trace-Id", PRODUCERS[0], Some(LAMBDA_A)),
    )
    .await;
    assert_eq!(
        (span.span_context.trace_id(), span.parent_span_id),
        ids(LAMBDA_A)
    );
    assert_eq!(span.links.len(), 1);
    assert_eq!(span.links[0].span_context.span_id(), ids(PRODUCERS[0]).1);
    // Lambda continued the caller's header: its segment, in the caller's trace, is the parent.
    let segment = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0123456789abcdef;Sampled=1";
    let span = run(
        &spans,
        &layer,
        with_caller("X-Amzn-Trace-Id", PRODUCERS[0], Some(segment)),
    )
    .await;
    assert_eq!(
        (span.span_context.trace_id(), span.parent_span_id),
        ids(segment)
    );
    assert!(span.links.is_empty());
    // `LambdaTrace::Link`: the segment is linked and the caller is the parent.
    let linking = layer.clone().with_lambda_trace(LambdaTrace::Link);
    let span = run(
        &spans,
        &linking,
        with_caller("X-Amzn-Trace-Id", PRODUCERS[0], Some(LAMBDA_A)),
    )
    .await;
    assert_eq!(
        (span.span_context.trace_id(), span.parent_span_id),
        ids(PRODUCERS[0])
    );
    assert_eq!(span.links[0].span_context.span_id(), ids(LAMBDA_A).1);
    // A malformed value is no caller.
    let span = run(
        &spans,
        &layer,
        with_caller("X-Amzn-Trace-Id", "Root=garbage", None),
    )
    .await;
    assert_eq!(span.parent_span_id, SpanId::INVALID);
}
