//! SNS topic → SQS subscription through LocalStack, raw delivery and envelope: the consumer
//! continues the publisher's trace.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use aws_sdk_sqs::types::Message;
use baton::TracerHandle;
use baton_integration::{TestQueue, TestTracer, sdk_config, sns, sqs, unique_name};
use baton_sns::{Notification, SnsPropagation};
use baton_sqs::{Carrier, MessageExt, SqsPropagation};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, SpanId, TraceContextExt, Tracer};

struct Topic {
    client: aws_sdk_sns::Client,
    arn: String,
}

impl Topic {
    /// A topic with `queue` subscribed (raw delivery or not).
    async fn with_subscriber(queue: &TestQueue, raw: bool) -> Topic {
        let client = sns().await;
        let arn = client
            .create_topic()
            .name(unique_name("topic"))
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn
            .expect("topic ARN");
        let queue_arn = queue.arn().await;
        client
            .subscribe()
            .topic_arn(&arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", if raw { "true" } else { "false" })
            .send()
            .await
            .expect("Subscribe");
        Topic { client, arn }
    }

    async fn delete(self) {
        let _ = self.client.delete_topic().topic_arn(&self.arn).send().await;
    }
}

async fn traced_sns(tracer: &TestTracer) -> aws_sdk_sns::Client {
    let propagation = SnsPropagation::new().with_tracer(TracerHandle::new(tracer.tracer()));
    aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&sdk_config().await)
            .interceptor(propagation.interceptor())
            .build(),
    )
}

/// Receives `count` messages with a Baton SQS client (which asks for the trace carriers).
async fn receive(url: &str, count: usize) -> Vec<Message> {
    let client = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk_config().await)
            .interceptor(SqsPropagation::new().interceptor())
            .build(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut messages = Vec::new();
    while messages.len() < count && Instant::now() < deadline {
        let output = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .expect("ReceiveMessage");
        messages.extend(output.messages.unwrap_or_default());
    }
    assert_eq!(messages.len(), count, "messages delivered to {url}");
    messages
}

fn send_span(
    tracer: &TestTracer,
    topic_arn: &str,
    parent: SpanId,
) -> opentelemetry_sdk::trace::SpanData {
    let name = format!("send {}", topic_arn.rsplit(':').next().unwrap());
    tracer
        .finished_spans()
        .into_iter()
        .find(|s| s.name == name && s.parent_span_id == parent)
        .unwrap_or_else(|| panic!("no {name} span under the caller"))
}

#[tokio::test]
async fn raw_delivery_continues_the_trace() {
    let queue = TestQueue::create(&sqs().await, "sns-raw").await;
    queue
        .run(|queue| async move {
            let topic = Topic::with_subscriber(&queue, true).await;
            let tracer = TestTracer::new();
            let checkout = Context::new().with_span(tracer.tracer().start("checkout"));
            traced_sns(&tracer)
                .await
                .publish()
                .topic_arn(&topic.arn)
                .message("order 42")
                .send()
                .with_context(checkout.clone())
                .await
                .expect("Publish");
            checkout.span().end();
            let messages = receive(&queue.url, 1).await;
            let send = send_span(
                &tracer,
                &topic.arn,
                checkout.span().span_context().span_id(),
            );
            assert_eq!(messages[0].body(), Some("order 42"));
            // SNS turned the request header into the SQS message's AWSTraceHeader.
            assert_eq!(messages[0].trace_carrier(), Some(Carrier::AwsTraceHeader));
            let producer = messages[0].producer_context();
            assert_eq!(
                producer.span().span_context().span_id(),
                send.span_context.span_id()
            );
            assert_eq!(
                producer.span().span_context().trace_id(),
                send.span_context.trace_id()
            );
            topic.delete().await;
        })
        .await;
}

/// The Tower form, with the message attribute off: the only carrier is the request header the
/// client service puts on through its interceptor, and SNS hands it on as `AWSTraceHeader`.
#[tokio::test]
async fn the_tower_forms_request_header_reaches_the_subscriber() {
    use tower::{Service, ServiceExt};

    let queue = TestQueue::create(&sqs().await, "sns-tower").await;
    queue
        .run(|queue| async move {
            let topic = Topic::with_subscriber(&queue, true).await;
            let tracer = TestTracer::new();
            let mut service = SnsPropagation::new()
                .with_tracer(TracerHandle::new(tracer.tracer()))
                .with_message_attribute(false)
                .service(sns().await);
            let checkout = Context::new().with_span(tracer.tracer().start("checkout"));
            let input = aws_sdk_sns::operation::publish::PublishInput::builder()
                .topic_arn(&topic.arn)
                .message("order 43")
                .build()
                .unwrap();
            let ready = service.ready().await.unwrap();
            let call = {
                let _active = checkout.clone().attach();
                ready.call(input.into())
            };
            call.await.expect("Publish through the Tower form");
            checkout.span().end();
            let messages = receive(&queue.url, 1).await;
            let send = send_span(
                &tracer,
                &topic.arn,
                checkout.span().span_context().span_id(),
            );
            assert_eq!(messages[0].body(), Some("order 43"));
            assert!(
                messages[0].message_attributes.is_none()
                    || messages[0].message_attributes().unwrap().is_empty(),
                "no message attribute was written"
            );
            assert_eq!(messages[0].trace_carrier(), Some(Carrier::AwsTraceHeader));
            let producer = messages[0].producer_context();
            assert_eq!(
                producer.span().span_context().span_id(),
                send.span_context.span_id()
            );
            topic.delete().await;
        })
        .await;
}

#[tokio::test]
async fn envelope_delivery_and_batches_keep_each_entrys_context() {
    let queue = TestQueue::create(&sqs().await, "sns-envelope").await;
    queue
        .run(|queue| async move {
            let topic = Topic::with_subscriber(&queue, false).await;
            let tracer = TestTracer::new();
            let client = traced_sns(&tracer).await;
            let checkout = Context::new().with_span(tracer.tracer().start("checkout"));
            let before_publish = std::time::SystemTime::now();
            let mut batch = client.publish_batch().topic_arn(&topic.arn);
            for i in 0..3 {
                batch = batch.publish_batch_request_entries(
                    PublishBatchRequestEntry::builder()
                        .id(format!("e{i}"))
                        .message(format!("order {i}"))
                        .build()
                        .unwrap(),
                );
            }
            batch
                .send()
                .with_context(checkout.clone())
                .await
                .expect("PublishBatch");
            checkout.span().end();

            let messages = receive(&queue.url, 3).await;
            let send = send_span(
                &tracer,
                &topic.arn,
                checkout.span().span_context().span_id(),
            );
            let creates: Vec<_> = tracer
                .finished_spans()
                .into_iter()
                .filter(|s| {
                    s.name.starts_with("create ") && s.parent_span_id == send.span_context.span_id()
                })
                .collect();
            assert_eq!(creates.len(), 3);
            let mut parents = HashSet::new();
            for message in &messages {
                let notification =
                    Notification::parse(message.body().unwrap()).expect("an SNS envelope");
                let producer = notification.producer_context();
                let sc = producer.span().span_context().clone();
                assert_eq!(sc.trace_id(), send.span_context.trace_id());
                assert!(
                    creates
                        .iter()
                        .any(|c| c.span_context.span_id() == sc.span_id()),
                    "parent is an entry's create span"
                );
                parents.insert(sc.span_id());
                // The processing span continues the entry's trace.
                let process = SnsPropagation::new()
                    .with_tracer(TracerHandle::new(tracer.tracer()))
                    .start_process_span(&notification, &queue.name);
                assert_eq!(
                    process.span().span_context().trace_id(),
                    send.span_context.trace_id()
                );
                process.span().end();
            }
            assert_eq!(parents.len(), 3, "each entry has its own parent");
            // Each process span's time in queue, from the envelope's `Timestamp`
            // (milliseconds): within the time since the publish (LocalStack's clock is this
            // machine's).
            let since_publish = before_publish.elapsed().unwrap().as_millis() as i64;
            let processed: Vec<_> = tracer
                .finished_spans()
                .into_iter()
                .filter(|s| s.name == format!("process {}", queue.name))
                .collect();
            assert_eq!(processed.len(), 3);
            for span in processed {
                let waited: i64 = span
                    .attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == baton::attr::BATON_TIME_IN_QUEUE_MS)
                    .map(|kv| kv.value.to_string().parse().unwrap())
                    .expect("time in queue from the Timestamp");
                assert!(
                    (0..=since_publish + 5).contains(&waited),
                    "{waited} ms, {since_publish} ms since the publish"
                );
            }
            topic.delete().await;
        })
        .await;
}

#[tokio::test]
async fn ten_attributes_still_publish() {
    let queue = TestQueue::create(&sqs().await, "sns-full").await;
    queue
        .run(|queue| async move {
            let topic = Topic::with_subscriber(&queue, true).await;
            let tracer = TestTracer::new();
            let mut publish = traced_sns(&tracer)
                .await
                .publish()
                .topic_arn(&topic.arn)
                .message("full");
            for i in 0..10 {
                publish = publish.message_attributes(
                    format!("a{i}"),
                    MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value("v")
                        .build()
                        .unwrap(),
                );
            }
            publish
                .send()
                .await
                .expect("a message with 10 attributes still publishes");
            let messages = receive(&queue.url, 1).await;
            let attributes = messages[0].message_attributes().unwrap();
            assert_eq!(attributes.len(), 10, "{attributes:?}");
            assert!(!attributes.contains_key("X-Amzn-Trace-Id"));
            // The request header still carried the trace.
            assert_eq!(messages[0].trace_carrier(), Some(Carrier::AwsTraceHeader));
            topic.delete().await;
        })
        .await;
}
