//! The Lambda SQS adapter's failure warning is written in the record's context, so a trace-id
//! log layer (`baton::logs::TraceIdFormat`) ties it to the record's trace. Alone in its test
//! binary, under a global subscriber: a scoped one (`set_default`) can miss events whose
//! callsite another test thread registers at the same moment.
#![cfg(feature = "lambda")]

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::Message;
use baton::TracerHandle;
use baton_test_support::LogLines;
use baton_worker::lambda::SqsBatchHandler;
use lambda_runtime::LambdaEvent;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tower::{BoxError, Service, ServiceExt, service_fn};
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test]
async fn a_failed_record_s_log_line_carries_its_trace_and_span() {
    let logs = LogLines::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(logs.clone())
                .event_format(baton::logs::TraceIdFormat::new(
                    tracing_subscriber::fmt::format().without_time(),
                )),
        ),
    )
    .unwrap();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [{
        "messageId": "m1",
        "receiptHandle": "h1",
        "body": "fail",
        "attributes": {
            "ApproximateReceiveCount": "1",
            "AWSTraceHeader": "Root=1-6910b3c2-0a1b2c3d4e5f60718293a4b5;Parent=1f2e3d4c5b6a7988;Sampled=1"
        },
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
        "awsRegion": "us-east-2"
    }]}))
    .unwrap();
    let failing = service_fn(|_m: Message| async { Err::<(), _>(BoxError::from("invalid")) });
    let mut handler =
        SqsBatchHandler::new(failing).with_tracer(TracerHandle::new(provider.tracer("lambda")));
    let response = handler
        .ready()
        .await
        .unwrap()
        .call(LambdaEvent::new(event, lambda_runtime::Context::default()))
        .await
        .unwrap();
    assert_eq!(response.batch_item_failures.len(), 1);

    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    let process = &spans[0].span_context;
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("reported as a batch item failure"))
        .unwrap_or_else(|| panic!("no failure line in {text:?}"));
    assert_eq!(
        process.trace_id().to_string(),
        "6910b3c20a1b2c3d4e5f60718293a4b5"
    );
    let expected = format!(
        "xray_trace_id=1-6910b3c2-0a1b2c3d4e5f60718293a4b5 trace_id={} span_id={} trace_flags=01",
        process.trace_id(),
        process.span_id()
    );
    assert!(line.ends_with(&expected), "{line}");
}
