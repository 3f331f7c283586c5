//! SQS carries the producer's context in the `AWSTraceHeader` system attribute, and a consumer
//! that asks for it continues the producer's trace.
//!
//! These tests use the SDK directly, with no Baton middleware: they pin down what LocalStack
//! (standing in for SQS) does with the attribute, which everything else in Baton builds on.

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    Message, MessageSystemAttributeName, MessageSystemAttributeNameForSends,
    MessageSystemAttributeValue,
};
use baton::{
    AWS_TRACE_HEADER, LinkPolicy, MessagingSpan, MessagingSystem, extract_header,
    header_for_context, trace_id_epoch_seconds,
};
use baton_integration::{TestQueue, TestTracer, sqs};
use opentelemetry::Context;
use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt};

/// Long-poll time for ReceiveMessage: LocalStack answers as soon as a message is there.
const WAIT_SECONDS: i32 = 10;

/// Receives the one message on `queue`, asking for `AWSTraceHeader`.
async fn receive_one(queue: &TestQueue) -> Message {
    let output = queue
        .client
        .receive_message()
        .queue_url(&queue.url)
        .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
        .max_number_of_messages(10)
        .wait_time_seconds(WAIT_SECONDS)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ReceiveMessage: {}", DisplayErrorContext(e)));
    let mut messages = output.messages.unwrap_or_default();
    assert_eq!(messages.len(), 1, "expected one message, got {messages:?}");
    messages.remove(0)
}

fn trace_header_of(message: &Message) -> Option<&str> {
    message
        .attributes()
        .and_then(|attributes| attributes.get(&MessageSystemAttributeName::AwsTraceHeader))
        .map(String::as_str)
}

#[tokio::test]
async fn aws_trace_header_round_trips_and_the_consumer_continues_the_trace() {
    let client = sqs().await;
    TestQueue::create(&client, "sqs-trace-header")
        .await
        .run(|queue| async move {
            let telemetry = TestTracer::new();
            let tracer = telemetry.tracer();

            // Producer: a send span whose context goes on the wire.
            let send = MessagingSpan::send(MessagingSystem::Sqs, queue.name.clone())
                .start(&tracer, &Context::new());
            let send_cx = Context::new().with_span(send);
            let header = header_for_context(&send_cx).expect("a sampled span has a header");
            let trace_header = MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(&header)
                .build()
                .expect("a complete attribute value");
            queue
                .client
                .send_message()
                .queue_url(&queue.url)
                .message_body("hello")
                .message_system_attributes(
                    MessageSystemAttributeNameForSends::AwsTraceHeader,
                    trace_header,
                )
                .send()
                .await
                .unwrap_or_else(|e| panic!("SendMessage: {}", DisplayErrorContext(e)));
            send_cx.span().end();

            // Consumer: the header comes back unchanged, and the process span continues it.
            let message = receive_one(&queue).await;
            let received = trace_header_of(&message).expect("AWSTraceHeader was requested");
            assert_eq!(received, header);
            let producer_cx = extract_header(&Context::new(), received, AWS_TRACE_HEADER);
            let mut process = MessagingSpan::process(MessagingSystem::Sqs, queue.name.clone())
                .message_id(message.message_id().unwrap_or_default())
                .start_process(&tracer, &producer_cx, LinkPolicy::Parent);
            process.end();

            let send = telemetry.span(&format!("send {}", queue.name));
            let process = telemetry.span(&format!("process {}", queue.name));
            assert_eq!(send.span_kind, SpanKind::Producer);
            assert_eq!(process.span_kind, SpanKind::Consumer);
            assert_eq!(
                process.span_context.trace_id(),
                send.span_context.trace_id(),
                "the process span is in the producer's trace"
            );
            assert_eq!(
                process.parent_span_id,
                send.span_context.span_id(),
                "the producer span is the process span's parent"
            );
            assert!(process.parent_span_is_remote);
            assert!(process.span_context.is_sampled());
            assert!(process.links.is_empty(), "LinkPolicy::Parent adds no link");
            // X-Ray ids: the trace id starts with the time it was made.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("a clock after 1970")
                .as_secs();
            let epoch = u64::from(trace_id_epoch_seconds(send.span_context.trace_id()));
            assert!(
                now.abs_diff(epoch) < 300,
                "trace id time {epoch}, now {now}"
            );
        })
        .await;
}

#[tokio::test]
async fn a_message_sent_without_the_attribute_comes_back_without_it() {
    let client = sqs().await;
    TestQueue::create(&client, "sqs-no-trace-header")
        .await
        .run(|queue| async move {
            queue
                .client
                .send_message()
                .queue_url(&queue.url)
                .message_body("untraced")
                .send()
                .await
                .unwrap_or_else(|e| panic!("SendMessage: {}", DisplayErrorContext(e)));

            let message = receive_one(&queue).await;
            assert_eq!(message.body(), Some("untraced"));
            assert_eq!(
                trace_header_of(&message),
                None,
                "no AWSTraceHeader was sent, so none may come back"
            );

            // With nothing to continue, the process span starts a trace of its own.
            let telemetry = TestTracer::new();
            let mut process = MessagingSpan::process(MessagingSystem::Sqs, queue.name.clone())
                .start_process(&telemetry.tracer(), &Context::new(), LinkPolicy::Parent);
            process.end();
            let process = telemetry.span(&format!("process {}", queue.name));
            assert_eq!(
                process.parent_span_id,
                opentelemetry::trace::SpanId::INVALID
            );
        })
        .await;
}
