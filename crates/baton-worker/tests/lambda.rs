//! The Lambda adapters, invoked directly (no Lambda emulator) with events shaped like the ones
//! Lambda delivers: the SQS and EventBridge examples of the AWS Lambda documentation, with
//! X-Ray trace headers added where AWS puts them.
#![cfg(feature = "lambda")]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use baton::{LinkPolicy, TracerHandle};
use baton_worker::lambda::{EventBridgeHandler, SqsBatchHandler};
use baton_worker::{ConsumeError, Event, EventConsumer};
use lambda_runtime::{Diagnostic, LambdaEvent};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceId, TracerProvider as _,
};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde::Deserialize;
use tower::{BoxError, Service, ServiceExt, service_fn};

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-2:123456789012:my-queue";
const FIFO_ARN: &str = "arn:aws:sqs:us-east-2:123456789012:orders.fifo";

/// Three producers, each with its own trace (X-Ray ids: the trace id starts with the epoch).
#[rustfmt::skip]
const PRODUCERS: [(&str, &str, &str); 3] = [
    ("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
     "5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8"),
    ("Root=1-6910b3c2-0a1b2c3d4e5f60718293a4b5;Parent=1f2e3d4c5b6a7988;Sampled=1",
     "6910b3c20a1b2c3d4e5f60718293a4b5", "1f2e3d4c5b6a7988"),
    ("Root=1-6910b3c3-ffeeddccbbaa998877665544;Parent=0123456789abcdef;Sampled=1",
     "6910b3c3ffeeddccbbaa998877665544", "0123456789abcdef"),
];

/// The W3C context of the record that carries only a `traceparent` message attribute.
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A standard-queue event as in the Lambda documentation, with `AWSTraceHeader`s: record `i`
/// has message id `m{i}` and body `bodies[i]`; the first three records carry `PRODUCERS`.
fn sqs_event(arn: &str, bodies: &[&str]) -> SqsEvent {
    let records: Vec<serde_json::Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut attributes = serde_json::json!({
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1545082649183",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1545082649185"
            });
            if let Some((header, _, _)) = PRODUCERS.get(i) {
                attributes["AWSTraceHeader"] = (*header).into();
            }
            if arn.ends_with(".fifo") {
                attributes["SequenceNumber"] = format!("1857085154000000000{i}").into();
                attributes["MessageGroupId"] = "1".into();
                attributes["MessageDeduplicationId"] = format!("dedup-{i}").into();
            }
            serde_json::json!({
                "messageId": format!("m{i}"),
                "receiptHandle": format!("AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a{i}"),
                "body": body,
                "attributes": attributes,
                "messageAttributes": {
                    "myAttribute": {
                        "stringValue": "myValue",
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "String"
                    }
                },
                "md5OfBody": "098f6bcd4621d373cade4e832627b4f6",
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "us-east-2"
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("an SQS event")
}

fn invocation<T>(payload: T) -> LambdaEvent<T> {
    LambdaEvent::new(payload, lambda_runtime::Context::default())
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

    /// Finished spans by their `messaging.message.id`.
    fn by_message_id(&self) -> BTreeMap<String, SpanData> {
        self.provider.force_flush().expect("flush");
        self.exporter
            .get_finished_spans()
            .expect("spans")
            .into_iter()
            .map(|span| {
                (
                    attribute(&span, "messaging.message.id").unwrap_or_default(),
                    span,
                )
            })
            .collect()
    }

    fn finished(&self) -> Vec<SpanData> {
        self.provider.force_flush().expect("flush");
        self.exporter.get_finished_spans().expect("spans")
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| match &kv.value {
            Value::String(s) => s.to_string(),
            other => other.to_string(),
        })
}

fn failures(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

/// A handler that fails on the body `fail`, panics on `panic`, and otherwise records the
/// message and the span context current while it runs.
type Seen = Arc<Mutex<Vec<(Message, SpanContext)>>>;

fn recording_handler(
    seen: Seen,
) -> impl Service<Message, Response = (), Error = BoxError, Future: Send> + Clone + Send + 'static {
    service_fn(move |message: Message| {
        let seen = seen.clone();
        async move {
            match message.body() {
                Some("fail") => return Err(BoxError::from("the order is invalid")),
                Some("panic") => panic!("the handler broke"),
                _ => {}
            }
            let current = Context::current().span().span_context().clone();
            seen.lock().unwrap().push((message, current));
            Ok(())
        }
    })
}

#[tokio::test]
async fn partial_batch_response_lists_exactly_the_failed_and_panicked_records() {
    let spans = Spans::new();
    let seen = Seen::default();
    let mut handler =
        SqsBatchHandler::new(recording_handler(seen.clone())).with_tracer(spans.handle());
    let event = sqs_event(QUEUE_ARN, &["ok", "fail", "panic", "ok too"]);

    let response = handler
        .ready()
        .await
        .unwrap()
        .call(invocation(event))
        .await
        .unwrap();

    assert_eq!(failures(&response), ["m1", "m2"]);
    // What Lambda reads back.
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]})
    );
    let handled: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(m, _)| m.message_id.clone())
        .collect();
    assert_eq!(handled, [Some("m0".to_owned()), Some("m3".to_owned())]);

    let spans = spans.by_message_id();
    assert_eq!(spans.len(), 4, "one process span per record");
    for id in ["m0", "m3"] {
        assert_eq!(spans[id].status, Status::Unset, "{id}");
        assert_eq!(attribute(&spans[id], "error.type"), None, "{id}");
    }
    assert_eq!(spans["m1"].status, Status::error("the order is invalid"),);
    assert_eq!(
        attribute(&spans["m1"], "error.type").as_deref(),
        Some("handler_error")
    );
    assert_eq!(
        spans["m2"].status,
        Status::error("handler panicked: the handler broke"),
    );
    assert_eq!(
        attribute(&spans["m2"], "error.type").as_deref(),
        Some("panic")
    );
}

#[tokio::test]
async fn each_record_continues_its_own_producer() {
    let spans = Spans::new();
    let seen = Seen::default();
    let mut handler =
        SqsBatchHandler::new(recording_handler(seen.clone())).with_tracer(spans.handle());
    let event = sqs_event(QUEUE_ARN, &["a", "b", "c", "no header"]);

    let response = handler.call(invocation(event)).await.unwrap();
    assert!(response.batch_item_failures.is_empty());

    let finished = spans.by_message_id();
    for (i, (_, trace_id, parent_id)) in PRODUCERS.iter().enumerate() {
        let span = &finished[&format!("m{i}")];
        assert_eq!(span.name, "process my-queue");
        assert_eq!(span.span_kind, SpanKind::Consumer);
        assert_eq!(
            span.span_context.trace_id(),
            TraceId::from_hex(trace_id).unwrap(),
            "m{i}"
        );
        assert_eq!(
            span.parent_span_id,
            SpanId::from_hex(parent_id).unwrap(),
            "m{i}"
        );
        assert!(span.parent_span_is_remote, "m{i}");
        assert!(span.links.is_empty(), "m{i}");
        assert_eq!(
            attribute(span, "messaging.system").as_deref(),
            Some("aws_sqs")
        );
        assert_eq!(
            attribute(span, "messaging.operation.type").as_deref(),
            Some("process")
        );
        assert_eq!(
            attribute(span, "messaging.destination.name").as_deref(),
            Some("my-queue")
        );
    }
    // No carrier at all: a new trace.
    let lone = &finished["m3"];
    assert_eq!(lone.parent_span_id, SpanId::INVALID);
    assert!(
        PRODUCERS
            .iter()
            .all(|(_, t, _)| lone.span_context.trace_id() != TraceId::from_hex(t).unwrap())
    );

    // The handler ran with its record's process span current and got the record as an SDK
    // message, attributes included.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4);
    for (message, current) in seen.iter() {
        let id = message.message_id().unwrap();
        assert_eq!(current, &finished[id].span_context, "{id}");
        let attributes = message.attributes().unwrap();
        assert_eq!(
            attributes
                .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                .map(String::as_str),
            Some("1")
        );
        assert_eq!(
            attributes
                .get(&MessageSystemAttributeName::SentTimestamp)
                .map(String::as_str),
            Some("1545082649183")
        );
        assert_eq!(
            message.receipt_handle(),
            Some(format!("AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a{}", &id[1..]).as_str())
        );
        assert_eq!(
            message.md5_of_body(),
            Some("098f6bcd4621d373cade4e832627b4f6")
        );
        let attribute = &message.message_attributes().unwrap()["myAttribute"];
        assert_eq!(attribute.data_type(), "String");
        assert_eq!(attribute.string_value(), Some("myValue"));
    }
    let (first, _) = &seen[0];
    assert_eq!(
        first
            .attributes()
            .unwrap()
            .get(&MessageSystemAttributeName::AwsTraceHeader)
            .map(String::as_str),
        Some(PRODUCERS[0].0)
    );
}

#[tokio::test]
async fn a_traceparent_message_attribute_is_enough() {
    let spans = Spans::new();
    let seen = Seen::default();
    let mut handler =
        SqsBatchHandler::new(recording_handler(seen.clone())).with_tracer(spans.handle());
    // What OpenTelemetry JS writes: no AWSTraceHeader, a `traceparent` message attribute; and a
    // binary attribute besides.
    let event: SqsEvent = serde_json::from_str(&format!(
        r#"{{"Records": [{{
            "messageId": "2e1424d4-f796-459a-8184-9c92662be6da",
            "receiptHandle": "AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq...",
            "body": "{{\"order\": 7}}",
            "attributes": {{
                "ApproximateReceiveCount": "2",
                "SentTimestamp": "1545082650636",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1545082650649"
            }},
            "messageAttributes": {{
                "traceparent": {{"stringValue": "{TRACEPARENT}", "stringListValues": [], "binaryListValues": [], "dataType": "String"}},
                "checksum": {{"binaryValue": "AQI=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"}}
            }},
            "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs",
            "eventSourceARN": "{QUEUE_ARN}",
            "awsRegion": "us-east-2"
        }}]}}"#
    ))
    .unwrap();

    let response = handler.call(invocation(event)).await.unwrap();
    assert!(response.batch_item_failures.is_empty());

    let finished = spans.finished();
    assert_eq!(finished.len(), 1);
    let span = &finished[0];
    assert_eq!(span.span_kind, SpanKind::Consumer);
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
    );
    assert_eq!(
        span.parent_span_id,
        SpanId::from_hex("00f067aa0ba902b7").unwrap()
    );
    assert_eq!(
        attribute(span, "messaging.message.id").as_deref(),
        Some("2e1424d4-f796-459a-8184-9c92662be6da")
    );

    let seen = seen.lock().unwrap();
    let (message, _) = &seen[0];
    let checksum = &message.message_attributes().unwrap()["checksum"];
    assert_eq!(checksum.data_type(), "Binary");
    assert_eq!(
        checksum.binary_value().map(|b| b.as_ref()),
        Some(&[1u8, 2][..])
    );
    assert_eq!(
        message
            .attributes()
            .unwrap()
            .get(&MessageSystemAttributeName::ApproximateReceiveCount)
            .map(String::as_str),
        Some("2")
    );
}

#[tokio::test]
async fn link_policy_starts_a_new_trace_linked_to_each_producer() {
    let spans = Spans::new();
    let mut handler = SqsBatchHandler::new(recording_handler(Seen::default()))
        .with_tracer(spans.handle())
        .with_link_policy(LinkPolicy::Link);
    handler
        .call(invocation(sqs_event(QUEUE_ARN, &["a", "b"])))
        .await
        .unwrap();

    let finished = spans.by_message_id();
    for (i, (_, trace_id, parent_id)) in PRODUCERS.iter().take(2).enumerate() {
        let span = &finished[&format!("m{i}")];
        assert_eq!(span.parent_span_id, SpanId::INVALID, "m{i}");
        assert_ne!(
            span.span_context.trace_id(),
            TraceId::from_hex(trace_id).unwrap()
        );
        let links: Vec<_> = span.links.iter().map(|l| l.span_context.clone()).collect();
        assert_eq!(links.len(), 1, "m{i}");
        assert_eq!(links[0].trace_id(), TraceId::from_hex(trace_id).unwrap());
        assert_eq!(links[0].span_id(), SpanId::from_hex(parent_id).unwrap());
    }
}

#[tokio::test]
async fn fifo_batches_stop_at_the_first_failure() {
    let spans = Spans::new();
    let seen = Seen::default();
    let mut handler = SqsBatchHandler::new(recording_handler(seen.clone()))
        .with_tracer(spans.handle())
        // Ignored for FIFO queues: order comes first.
        .with_concurrency(8);
    let event = sqs_event(FIFO_ARN, &["first", "fail", "third", "fourth"]);

    let response = handler.call(invocation(event)).await.unwrap();

    assert_eq!(failures(&response), ["m1", "m2", "m3"]);
    let handled: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(m, _)| m.body.clone().unwrap())
        .collect();
    assert_eq!(handled, ["first"]);
    let finished = spans.by_message_id();
    assert_eq!(
        finished.keys().collect::<Vec<_>>(),
        ["m0", "m1"],
        "no span for skipped records"
    );
    assert_eq!(finished["m0"].name, "process orders.fifo");

    // A FIFO batch that succeeds is handled in order.
    seen.lock().unwrap().clear();
    let event = sqs_event(FIFO_ARN, &["1", "2", "3", "4", "5"]);
    let response = handler.call(invocation(event)).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let handled: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(m, _)| m.body.clone().unwrap())
        .collect();
    assert_eq!(handled, ["1", "2", "3", "4", "5"]);
    // The group id reached the handler.
    assert_eq!(
        seen.lock().unwrap()[0]
            .0
            .attributes()
            .unwrap()
            .get(&MessageSystemAttributeName::MessageGroupId)
            .map(String::as_str),
        Some("1")
    );
}

/// A handler that sleeps a little and reports how many records ran at once.
fn gauge_handler(
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
) -> impl Service<Message, Response = (), Error = BoxError, Future: Send> + Clone + Send + 'static {
    service_fn(move |message: Message| {
        let (running, peak) = (running.clone(), peak.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            if message.body() == Some("fail") {
                return Err(BoxError::from("no"));
            }
            Ok(())
        }
    })
}

#[tokio::test]
async fn standard_queues_run_records_concurrently_up_to_the_bound() {
    for (concurrency, expected_peak) in [(None, 1), (Some(3), 3), (Some(0), 1)] {
        let spans = Spans::new();
        let (running, peak) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
        let mut handler =
            SqsBatchHandler::new(gauge_handler(running, peak.clone())).with_tracer(spans.handle());
        if let Some(n) = concurrency {
            handler = handler.with_concurrency(n);
        }
        let event = sqs_event(QUEUE_ARN, &["a", "fail", "c", "d", "fail", "f", "g"]);
        let response = handler.call(invocation(event)).await.unwrap();
        assert_eq!(failures(&response), ["m1", "m4"], "{concurrency:?}");
        assert_eq!(
            peak.load(Ordering::SeqCst),
            expected_peak,
            "{concurrency:?}"
        );
        assert_eq!(spans.finished().len(), 7);
    }
}

#[tokio::test]
async fn a_failed_record_without_a_message_id_fails_the_whole_batch() {
    // Lambda reads an empty identifier as "retry everything": nothing is lost.
    let event: SqsEvent = serde_json::from_str(
        r#"{"Records": [{"body": "fail", "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:q"},
                        {"body": "fine"}]}"#,
    )
    .unwrap();
    let spans = Spans::new();
    let mut handler =
        SqsBatchHandler::new(recording_handler(Seen::default())).with_tracer(spans.handle());
    let response = handler.call(invocation(event)).await.unwrap();
    assert_eq!(failures(&response), [""]);
    let names: Vec<_> = spans
        .finished()
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["process q", "process unknown"]);
}

#[derive(Deserialize)]
struct OrderPlaced {
    order_id: String,
}

const EVENT_HEADER: (&str, &str, &str) = (
    "Root=1-6910b3c4-5b6c7d8e9fa0b1c2d3e4f5a6;Parent=a1b2c3d4e5f60718;Sampled=1",
    "6910b3c45b6c7d8e9fa0b1c2d3e4f5a6",
    "a1b2c3d4e5f60718",
);

/// An EventBridge event as a rule hands it to a Lambda target (the documentation's shape),
/// with Baton's `detail.traceHeader`.
fn eventbridge_event(
    source: &str,
    detail_type: &str,
    detail: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": detail_type,
        "source": source,
        "account": "111122223333",
        "time": "2017-12-22T18:43:48Z",
        "region": "us-west-1",
        "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
        "detail": detail
    })
}

fn order_consumer(seen: Arc<Mutex<Vec<(String, SpanContext)>>>) -> EventConsumer {
    EventConsumer::new().on(
        "shop.orders",
        "OrderPlaced",
        move |event: Event<OrderPlaced>| {
            assert_ne!(
                event.detail.order_id, "early boom",
                "the route's closure broke"
            );
            let current = Context::current().span().span_context().clone();
            seen.lock()
                .unwrap()
                .push((event.detail.order_id.clone(), current));
            async move {
                match event.detail.order_id.as_str() {
                    "refused" => Err(BoxError::from("out of stock")),
                    "boom" => panic!("the order handler broke"),
                    _ => Ok(()),
                }
            }
        },
    )
}

#[tokio::test]
async fn eventbridge_handler_continues_the_detail_trace_header() {
    let spans = Spans::new();
    let seen = Arc::default();
    let mut handler =
        EventBridgeHandler::new(order_consumer(Arc::clone(&seen))).with_tracer(spans.handle());
    let event = eventbridge_event(
        "shop.orders",
        "OrderPlaced",
        serde_json::json!({"order_id": "42", "traceHeader": EVENT_HEADER.0}),
    );

    handler
        .ready()
        .await
        .unwrap()
        .call(invocation(event))
        .await
        .unwrap();

    let finished = spans.finished();
    assert_eq!(finished.len(), 1);
    let span = &finished[0];
    assert_eq!(span.name, "process shop.orders");
    assert_eq!(span.span_kind, SpanKind::Consumer);
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex(EVENT_HEADER.1).unwrap()
    );
    assert_eq!(
        span.parent_span_id,
        SpanId::from_hex(EVENT_HEADER.2).unwrap()
    );
    assert_eq!(span.status, Status::Unset);
    assert_eq!(
        attribute(span, "messaging.system").as_deref(),
        Some("aws_eventbridge")
    );
    assert_eq!(
        attribute(span, "messaging.message.id").as_deref(),
        Some("6a7e8feb-b491-4cf7-a9f1-bf3703467718")
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "42");
    assert_eq!(
        seen[0].1, span.span_context,
        "the process span is current in the handler"
    );

    // A named destination replaces the source in the span name.
    let spans = Spans::new();
    let mut handler = EventBridgeHandler::new(order_consumer(Arc::default()))
        .with_tracer(spans.handle())
        .with_destination("orders-bus");
    let event = eventbridge_event(
        "shop.orders",
        "OrderPlaced",
        serde_json::json!({"order_id": "1"}),
    );
    handler.call(invocation(event)).await.unwrap();
    let finished = spans.finished();
    assert_eq!(finished[0].name, "process orders-bus");
    assert_eq!(
        finished[0].parent_span_id,
        SpanId::INVALID,
        "no traceHeader: a new trace"
    );
}

#[tokio::test]
async fn eventbridge_handler_returns_errors_for_events_it_cannot_handle() {
    #[rustfmt::skip]
    let cases = [
        (eventbridge_event("shop.orders", "OrderShipped", serde_json::json!({"traceHeader": EVENT_HEADER.0})), "NoRoute", true),
        (eventbridge_event("shop.orders", "OrderPlaced", serde_json::json!({"order_id": 7, "traceHeader": EVENT_HEADER.0})), "BadDetail", true),
        (eventbridge_event("shop.orders", "OrderPlaced", serde_json::json!("a string")), "BadDetail", false),
        (eventbridge_event("shop.orders", "OrderPlaced", serde_json::json!({"order_id": "refused", "traceHeader": EVENT_HEADER.0})), "HandlerError", true),
        (eventbridge_event("shop.orders", "OrderPlaced", serde_json::json!({"order_id": "boom", "traceHeader": EVENT_HEADER.0})), "HandlerError", true),
        (eventbridge_event("shop.orders", "OrderPlaced", serde_json::json!({"order_id": "early boom", "traceHeader": EVENT_HEADER.0})), "HandlerError", true),
        (serde_json::json!([1, 2]), "NotAnEvent", false),
        (serde_json::json!({"detail": {"traceHeader": EVENT_HEADER.0}}), "NotAnEvent", true),
        (serde_json::Value::Null, "NotAnEvent", false),
    ];
    for (event, error_type, traced) in cases {
        let spans = Spans::new();
        let mut handler =
            EventBridgeHandler::new(order_consumer(Arc::default())).with_tracer(spans.handle());
        let error: ConsumeError = handler
            .call(invocation(event.clone()))
            .await
            .expect_err("an error");
        let diagnostic = Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, error_type, "{event}");

        let finished = spans.finished();
        assert_eq!(finished.len(), 1, "{event}");
        let span = &finished[0];
        assert!(matches!(span.status, Status::Error { .. }), "{event}");
        assert_eq!(
            attribute(span, "error.type").as_deref(),
            Some(error_type),
            "{event}"
        );
        if traced {
            assert_eq!(
                span.span_context.trace_id(),
                TraceId::from_hex(EVENT_HEADER.1).unwrap()
            );
            assert_eq!(
                span.parent_span_id,
                SpanId::from_hex(EVENT_HEADER.2).unwrap()
            );
        } else {
            assert_eq!(span.parent_span_id, SpanId::INVALID, "{event}");
        }
    }
}

#[tokio::test]
async fn eventbridge_errors_tell_lambda_what_went_wrong() {
    let mut handler = EventBridgeHandler::new(order_consumer(Arc::default()));
    let refused = eventbridge_event(
        "shop.orders",
        "OrderPlaced",
        serde_json::json!({"order_id": "refused"}),
    );
    let diagnostic = Diagnostic::from(handler.call(invocation(refused)).await.unwrap_err());
    assert_eq!(diagnostic.error_type, "HandlerError");
    assert_eq!(diagnostic.error_message, "the handler failed: out of stock");

    let boom = eventbridge_event(
        "shop.orders",
        "OrderPlaced",
        serde_json::json!({"order_id": "boom"}),
    );
    let diagnostic = Diagnostic::from(handler.call(invocation(boom)).await.unwrap_err());
    assert_eq!(
        diagnostic.error_message,
        "the handler failed: handler panicked: the order handler broke"
    );
}

/// With a meter, the SQS and EventBridge adapters count each record or event as consumed (a
/// push delivery) and measure its handling with its outcome; the EventBridge process span
/// carries the wait since the event's `time`.
#[tokio::test]
async fn the_adapters_record_the_messaging_metrics() {
    use baton::metrics::{CONSUMED_MESSAGES, PROCESS_DURATION};
    use baton_test_support::{Metrics, point};

    let metrics = Metrics::new();
    let mut handler = SqsBatchHandler::new(recording_handler(Seen::default()))
        .with_tracer(Spans::new().handle())
        .with_meter(&metrics.meter());
    let event = sqs_event(QUEUE_ARN, &["ok", "fail", "panic", "ok too"]);
    handler
        .ready()
        .await
        .unwrap()
        .call(invocation(event))
        .await
        .unwrap();
    let base = [
        ("messaging.destination.name", "my-queue"),
        ("messaging.operation.name", "process"),
        ("messaging.system", "aws_sqs"),
    ];
    let with_error = |error| [base.as_slice(), &[("error.type", error)]].concat();
    let mut expected = vec![
        point(CONSUMED_MESSAGES, &base, 4),
        point(PROCESS_DURATION, &base, 2),
        point(PROCESS_DURATION, &with_error("handler_error"), 1),
        point(PROCESS_DURATION, &with_error("panic"), 1),
    ];
    expected.sort();
    assert_eq!(metrics.points(), expected);

    let metrics = Metrics::new();
    let spans = Spans::new();
    let mut handler = EventBridgeHandler::new(order_consumer(Arc::default()))
        .with_tracer(spans.handle())
        .with_meter(&metrics.meter());
    let mut fresh = eventbridge_event(
        "shop.orders",
        "OrderPlaced",
        serde_json::json!({"order_id": "1"}),
    );
    let five_seconds_ago =
        chrono_free_rfc3339(std::time::SystemTime::now() - Duration::from_secs(5));
    fresh["time"] = five_seconds_ago.into();
    handler.call(invocation(fresh)).await.unwrap();
    let refused = eventbridge_event(
        "shop.orders",
        "OrderPlaced",
        serde_json::json!({"order_id": "refused"}),
    );
    handler.call(invocation(refused)).await.unwrap_err();
    let finished = spans.finished();
    let waited: i64 = attribute(&finished[0], "baton.messaging.time_in_queue_ms")
        .unwrap()
        .parse()
        .unwrap();
    // `time` has whole seconds: 5 s ago reads as 5 to 6 s.
    assert!((5_000..60_000).contains(&waited), "{waited}");
    let waited: i64 = attribute(&finished[1], "baton.messaging.time_in_queue_ms")
        .unwrap()
        .parse()
        .unwrap();
    assert!(waited > 8 * 365 * 86_400_000, "the 2017 event: {waited}");

    let base = [
        ("messaging.destination.name", "shop.orders"),
        ("messaging.operation.name", "process"),
        ("messaging.system", "aws_eventbridge"),
    ];
    let mut expected = vec![
        point(CONSUMED_MESSAGES, &base, 2),
        point(PROCESS_DURATION, &base, 1),
        point(
            PROCESS_DURATION,
            &[base.as_slice(), &[("error.type", "HandlerError")]].concat(),
            1,
        ),
    ];
    expected.sort();
    assert_eq!(metrics.points(), expected);
}

/// `at` as RFC 3339 in UTC, whole seconds (EventBridge's form).
fn chrono_free_rfc3339(at: std::time::SystemTime) -> String {
    let secs = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[tokio::test]
async fn process_spans_carry_the_body_size_only_when_asked() {
    for on in [false, true] {
        let spans = Spans::new();
        let mut handler = SqsBatchHandler::new(recording_handler(Seen::default()))
            .with_tracer(spans.handle())
            .with_body_size(on);
        let event = sqs_event(QUEUE_ARN, &["ok", "ok too"]);
        handler
            .ready()
            .await
            .unwrap()
            .call(invocation(event))
            .await
            .unwrap();
        let spans = spans.by_message_id();
        assert_eq!(spans.len(), 2);
        for (id, bytes) in [("m0", "2"), ("m1", "6")] {
            assert_eq!(
                attribute(&spans[id], "messaging.message.body.size").as_deref(),
                on.then_some(bytes),
                "{id}, body size {on}"
            );
        }
    }
}
