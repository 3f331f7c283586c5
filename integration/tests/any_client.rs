//! The trace header on any AWS SDK client, end to end against LocalStack: S3 `PutObject`
//! through a client with `baton::TraceHeaderInterceptor`, a bucket notification to an SQS
//! queue, and a consumer that continues the trace.
//!
//! What LocalStack does (recorded here, asserted below): it hands the `X-Amzn-Trace-Id` of the
//! `PutObject` request to the notification message as its `AWSTraceHeader` system attribute,
//! as AWS documents for S3 event notifications to SQS.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use baton::{TraceHeaderInterceptor, TracerHandle, XRAY_HEADER};
use baton_integration::{TestQueue, TestTracer, sdk_config, sqs, unique_name};
use baton_sqs::SqsPropagation;
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer};

async fn s3(interceptor: Option<TraceHeaderInterceptor>) -> aws_sdk_s3::Client {
    let mut config = aws_sdk_s3::config::Builder::from(&sdk_config().await).force_path_style(true);
    if let Some(interceptor) = interceptor {
        config = config.interceptor(interceptor);
    }
    aws_sdk_s3::Client::from_conf(config.build())
}

#[tokio::test]
async fn an_s3_notification_continues_the_put_objects_trace() {
    let client = sqs().await;
    let queue = TestQueue::create(&client, "s3-events").await;
    let arn = client
        .get_queue_attributes()
        .queue_url(&queue.url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap();
    let tracer = TestTracer::new();
    let bucket = unique_name("baton-bucket").to_lowercase();
    let plain = s3(None).await;
    plain.create_bucket().bucket(&bucket).send().await.unwrap();
    plain
        .put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .queue_configurations(
                    aws_sdk_s3::types::QueueConfiguration::builder()
                        .queue_arn(arn)
                        .events(aws_sdk_s3::types::Event::S3ObjectCreated)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    // The object is written inside a span, through a client with the CLIENT span option on.
    let traced = s3(Some(
        TraceHeaderInterceptor::new()
            .with_client_spans(true)
            .with_tracer(TracerHandle::new(tracer.tracer())),
    ))
    .await;
    let upload = Context::new().with_span(tracer.tracer().start("upload"));
    traced
        .put_object()
        .bucket(&bucket)
        .key("orders/42.json")
        .body(ByteStream::from_static(b"{\"order\":42}"))
        .send()
        .with_context(upload.clone())
        .await
        .expect("PutObject");
    upload.span().end();

    // The notification (S3 first sends a test event when the configuration is set).
    let mut notification = None;
    for _ in 0..30 {
        let received = client
            .receive_message()
            .queue_url(&queue.url)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(m) = received
            .messages()
            .iter()
            .find(|m| m.body().is_some_and(|b| b.contains("ObjectCreated")))
        {
            notification = Some(m.clone());
            break;
        }
    }
    let notification = notification.expect("the ObjectCreated notification");

    let put = tracer.span("S3.PutObject");
    assert_eq!(
        put.parent_span_id,
        tracer.span("upload").span_context.span_id()
    );
    let header = notification
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::AwsTraceHeader))
        .expect("LocalStack passes the request's trace header on as AWSTraceHeader");
    let parsed = baton::TraceHeader::parse(header).unwrap();
    assert_eq!(
        parsed.trace_id(),
        put.span_context.trace_id(),
        "{XRAY_HEADER}: {header}"
    );
    assert_eq!(parsed.parent_id(), Some(put.span_context.span_id()));

    // The consumer continues the trace, under the PutObject call's span.
    let process = SqsPropagation::new()
        .with_tracer(TracerHandle::new(tracer.tracer()))
        .start_process_span(&notification, &queue.name);
    process.span().end();
    let processed = tracer.span(&format!("process {}", queue.name));
    assert_eq!(
        processed.span_context.trace_id(),
        put.span_context.trace_id()
    );
    assert_eq!(processed.parent_span_id, put.span_context.span_id());
    queue.delete().await;
}
