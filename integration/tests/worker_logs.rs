//! `SqsWorker`'s own per-message warning (a failed handler) is written in the message's
//! context, so a trace-id log layer (`baton::logs::TraceIdFormat`) ties it to the producer's
//! trace; against LocalStack. Alone in its test binary, under a global subscriber: a scoped one
//! (`set_default`) can miss events whose callsite another test thread registers at that moment.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{
    Message, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
};
use baton::TracerHandle;
use baton_integration::{TestQueue, TestTracer, sqs};
use baton_test_support::LogLines;
use baton_worker::{CancellationToken, SqsWorker};
use tower::service_fn;
use tracing_subscriber::layer::SubscriberExt;

const PRODUCER: &str = "Root=1-6910b3c2-0a1b2c3d4e5f60718293a4b5;Parent=1f2e3d4c5b6a7988;Sampled=1";

#[tokio::test]
async fn a_failed_handler_s_warning_carries_the_message_s_trace_and_span() {
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
    let tracer = TestTracer::new();
    let client = sqs().await;
    let queue = TestQueue::create(&client, "worker-logs").await;
    client
        .send_message()
        .queue_url(&queue.url)
        .message_body("bad")
        .message_system_attributes(
            MessageSystemAttributeNameForSends::AwsTraceHeader,
            MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(PRODUCER)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let failing =
        service_fn(|_m: Message| async { Err::<(), _>(std::io::Error::other("cannot parse")) });
    let worker = SqsWorker::new(client.clone(), &queue.url, failing)
        .with_tracer(TracerHandle::new(tracer.tracer()))
        .with_wait_time(Duration::from_secs(1))
        .with_visibility_timeout(Duration::from_secs(30));
    let stats = worker.stats();
    let token = CancellationToken::new();
    let run = tokio::spawn(worker.run(token.clone()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while stats.snapshot().failed == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    token.cancel();
    run.await.unwrap().unwrap();

    let process = tracer.span(&format!("process {}", queue.name));
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("handler failed"))
        .unwrap_or_else(|| panic!("no failure line in {text:?}"));
    assert_eq!(
        process.span_context.trace_id().to_string(),
        "6910b3c20a1b2c3d4e5f60718293a4b5"
    );
    let expected = format!(
        "xray_trace_id=1-6910b3c2-0a1b2c3d4e5f60718293a4b5 trace_id={} span_id={} trace_flags=01",
        process.span_context.trace_id(),
        process.span_context.span_id()
    );
    assert!(line.ends_with(&expected), "{line}");
    queue.delete().await;
}
