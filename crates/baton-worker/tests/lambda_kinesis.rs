//! The Lambda Kinesis adapter: each record in its producer's trace (read from the JSON data),
//! the data handed over without the field when asked, the first failure checkpointing the
//! batch, and the invocation span linked to every producer.
#![cfg(feature = "lambda")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use baton::{LinkPolicy, TracerHandle};
use baton_worker::lambda::{InvocationLayer, KinesisBatchHandler};
use lambda_runtime::LambdaEvent;
use opentelemetry::Context;
use opentelemetry::trace::{SpanId, SpanKind, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::{BoxError, Layer, Service, ServiceExt, service_fn};

const STREAM_ARN: &str = "arn:aws:kinesis:us-east-2:123456789012:stream/clicks";
const PRODUCERS: [&str; 2] = [
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    "Root=1-6910b3c2-0a1b2c3d4e5f60718293a4b5;Parent=1f2e3d4c5b6a7988;Sampled=1",
];

/// A Kinesis event of records with `datas`, as Lambda delivers it (data base64-encoded).
fn kinesis_event(datas: &[Vec<u8>]) -> KinesisEvent {
    // Whole seconds: the event type reads a fraction as milliseconds.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 2;
    let records: Vec<serde_json::Value> = datas
        .iter()
        .enumerate()
        .map(|(i, data)| {
            serde_json::json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": format!("user-{i}"),
                    "sequenceNumber": format!("4959{i}"),
                    "data": aws_smithy_types::base64::encode(data),
                    "approximateArrivalTimestamp": now,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:4959{i}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
                "awsRegion": "us-east-2",
                "eventSourceARN": STREAM_ARN,
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

fn invocation<T>(payload: T) -> LambdaEvent<T> {
    let mut context = lambda_runtime::Context::default();
    context.request_id = "req-kinesis".to_owned();
    context.invoked_function_arn =
        "arn:aws:lambda:us-east-2:123456789012:function:clicks".to_owned();
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(60);
    context.deadline = deadline.as_millis() as u64;
    context.env_config = Arc::new(lambda_runtime::Config {
        function_name: "clicks".to_owned(),
        version: "1".to_owned(),
        ..Default::default()
    });
    LambdaEvent::new(payload, context)
}

fn spans() -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

fn text(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

fn ids(header: &str) -> (TraceId, SpanId) {
    let cx = baton::extract_header(&Context::new(), header, "test");
    let span = cx.span();
    (
        span.span_context().trace_id(),
        span.span_context().span_id(),
    )
}

fn traced(header: &str, rest: &str) -> Vec<u8> {
    format!(r#"{{"traceHeader":"{header}",{rest}}}"#).into_bytes()
}

type Seen = Arc<Mutex<Vec<(Vec<u8>, opentelemetry::trace::SpanContext)>>>;

/// A handler that records what it saw, and fails the record whose data is `fail`.
fn handler(
    seen: Seen,
) -> impl Service<KinesisEventRecord, Response = (), Error = BoxError, Future: Send> + Clone + Send
{
    service_fn(move |record: KinesisEventRecord| {
        let seen = Arc::clone(&seen);
        async move {
            let current = Context::current().span().span_context().clone();
            let data = record.kinesis.data.0.clone();
            seen.lock().unwrap().push((data.clone(), current));
            if data == b"fail" {
                return Err::<(), BoxError>("cannot count the click".into());
            }
            Ok(())
        }
    })
}

#[tokio::test]
async fn each_record_continues_its_producer_and_the_handler_sees_the_data_as_written() {
    let (provider, exporter) = spans();
    let tracer = TracerHandle::new(provider.tracer("test"));
    let seen = Seen::default();
    let mut function = InvocationLayer::new().with_tracer(tracer.clone()).layer(
        KinesisBatchHandler::new(handler(Arc::clone(&seen)))
            .with_tracer(tracer.clone())
            .with_strip_data_field(true),
    );
    let binary = vec![0xF3, 0x89, 0x9A, 0xC2, 0x00];
    let datas = vec![
        traced(PRODUCERS[0], r#""click":1"#),
        binary.clone(),
        traced(PRODUCERS[1], r#" "click" : 3 "#),
    ];
    let response = function
        .ready()
        .await
        .unwrap()
        .call(invocation(kinesis_event(&datas)))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());

    let seen = seen.lock().unwrap().clone();
    let handed: Vec<&[u8]> = seen.iter().map(|(d, _)| d.as_slice()).collect();
    assert_eq!(
        handed,
        [
            &br#"{"click":1}"#[..],
            &binary[..],
            &br#"{ "click" : 3 }"#[..]
        ]
    );
    let finished = exporter.get_finished_spans().unwrap();
    let process: Vec<&SpanData> = finished
        .iter()
        .filter(|s| text(s, "messaging.message.id").is_some())
        .collect();
    assert_eq!(process.len(), 3);
    for span in &process {
        assert_eq!(span.name, "process clicks");
        assert_eq!(span.span_kind, SpanKind::Consumer);
        assert_eq!(
            text(span, "messaging.system").as_deref(),
            Some("aws_kinesis")
        );
        assert_eq!(
            text(span, "aws.kinesis.stream_name").as_deref(),
            Some("clicks")
        );
        assert_eq!(text(span, "faas.trigger").as_deref(), Some("pubsub"));
        let waited: i64 = span
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "baton.messaging.time_in_queue_ms")
            .and_then(|kv| kv.value.as_str().parse().ok())
            .expect("time in queue");
        assert!((1_000..60_000).contains(&waited), "{waited}");
    }
    assert_eq!(
        (
            process[0].span_context.trace_id(),
            process[0].parent_span_id
        ),
        ids(PRODUCERS[0])
    );
    assert_eq!(
        (
            process[2].span_context.trace_id(),
            process[2].parent_span_id
        ),
        ids(PRODUCERS[1])
    );
    // The binary record has no producer: under `LinkPolicy::Parent` its span starts a trace
    // of its own.
    assert_eq!(process[1].parent_span_id, SpanId::INVALID);
    assert!(process[1].links.is_empty());
    // The handler ran inside each record's span.
    for (i, (_, cx)) in seen.iter().enumerate() {
        assert_eq!(cx.span_id(), process[i].span_context.span_id());
    }
    // The invocation: one CONSUMER span for the batch, linked to both producers.
    let batch = finished
        .iter()
        .find(|s| text(s, "faas.invocation_id").as_deref() == Some("req-kinesis"))
        .expect("the invocation span");
    assert_eq!(batch.name, "process clicks");
    assert_eq!(batch.span_kind, SpanKind::Consumer);
    let links: Vec<SpanId> = batch
        .links
        .iter()
        .map(|l| l.span_context.span_id())
        .collect();
    assert_eq!(links, [ids(PRODUCERS[0]).1, ids(PRODUCERS[1]).1]);
}

#[tokio::test]
async fn the_first_failure_checkpoints_the_batch_there() {
    let (provider, exporter) = spans();
    let tracer = TracerHandle::new(provider.tracer("test"));
    let seen = Seen::default();
    let mut function = KinesisBatchHandler::new(handler(Arc::clone(&seen)))
        .with_tracer(tracer)
        .with_link_policy(LinkPolicy::Link);
    let datas = vec![
        traced(PRODUCERS[0], r#""click":1"#),
        b"fail".to_vec(),
        traced(PRODUCERS[1], r#""click":3"#),
    ];
    let response = function
        .ready()
        .await
        .unwrap()
        .call(invocation(kinesis_event(&datas)))
        .await
        .unwrap();
    let failures: Vec<Option<String>> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failures, [Some("49591".to_owned())]);
    // The record after the failure was not handled: Lambda retries from the failed one.
    assert_eq!(seen.lock().unwrap().len(), 2);
    // Without the strip option the handler saw the data as it arrived.
    assert_eq!(seen.lock().unwrap()[0].0, datas[0]);
    let finished = exporter.get_finished_spans().unwrap();
    let failed = finished
        .iter()
        .find(|s| text(s, "messaging.message.id").as_deref() == Some("49591"))
        .unwrap();
    assert_eq!(text(failed, "error.type").as_deref(), Some("handler_error"));
    // Under `Link`, the first record's span links its producer rather than joining its trace.
    let first = finished
        .iter()
        .find(|s| text(s, "messaging.message.id").as_deref() == Some("49590"))
        .unwrap();
    assert_ne!(first.span_context.trace_id(), ids(PRODUCERS[0]).0);
    assert_eq!(first.links[0].span_context.span_id(), ids(PRODUCERS[0]).1);
}
