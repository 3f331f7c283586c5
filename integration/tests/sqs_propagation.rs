//! Baton's SQS propagation end to end through LocalStack.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::operation::send_message::SendMessageInput;
use aws_sdk_sqs::types::{
    Message, MessageAttributeValue, MessageSystemAttributeNameForSends,
    MessageSystemAttributeValue, SendMessageBatchRequestEntry,
};
use baton::TracerHandle;
use baton_integration::{TestQueue, TestTracer, sdk_config, sqs};
use baton_sqs::{Carrier, MessageExt, SqsPropagation, SqsRequest, SqsService};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, SpanId, TraceContextExt, TraceId, Tracer};
use tower::{Service, ServiceExt};

/// An SQS client with Baton's interceptor, spans going to `tracer`.
async fn traced_client(tracer: &TestTracer, config: SqsPropagation) -> aws_sdk_sqs::Client {
    let config = config.with_tracer(TracerHandle::new(tracer.tracer()));
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk_config().await)
            .interceptor(config.interceptor())
            .build(),
    )
}

/// Receives until `count` messages arrived (or 30 s passed), deleting each.
async fn receive_all(client: &aws_sdk_sqs::Client, url: &str, count: usize) -> Vec<Message> {
    receive_all_with(client, url, count, None).await
}

/// Like [`receive_all`], asking for `attribute_names` too.
async fn receive_all_with(
    client: &aws_sdk_sqs::Client,
    url: &str,
    count: usize,
    attribute_names: Option<&str>,
) -> Vec<Message> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut messages = Vec::new();
    while messages.len() < count && Instant::now() < deadline {
        let output = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .set_message_attribute_names(attribute_names.map(|n| vec![n.to_string()]))
            .send()
            .await
            .expect("ReceiveMessage");
        for message in output.messages.unwrap_or_default() {
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .expect("DeleteMessage");
            messages.push(message);
        }
    }
    assert_eq!(messages.len(), count, "messages received from {url}");
    messages
}

fn root_span(tracer: &TestTracer, name: &'static str) -> Context {
    Context::new().with_span(tracer.tracer().start(name))
}

#[tokio::test]
async fn consumer_continues_the_producer_trace() {
    let queue = TestQueue::create(&sqs().await, "continue").await;
    queue
        .run(|queue| async move {
            let tracer = TestTracer::new();
            let propagation = SqsPropagation::new().with_tracer(TracerHandle::new(tracer.tracer()));
            let client = traced_client(&tracer, propagation.clone()).await;

            let checkout = root_span(&tracer, "checkout");
            client
                .send_message()
                .queue_url(&queue.url)
                .message_body("order 42")
                .send()
                .with_context(checkout.clone())
                .await
                .expect("SendMessage");
            checkout.span().end();

            let messages = receive_all(&client, &queue.url, 1).await;
            assert_eq!(messages[0].trace_carrier(), Some(Carrier::AwsTraceHeader));
            let process = propagation.start_process_span(&messages[0], &queue.name);
            process.span().end();

            let send = tracer.span(&format!("send {}", queue.name));
            let processed = tracer.span(&format!("process {}", queue.name));
            let receive_name = format!("receive {}", queue.name);
            assert_eq!(
                send.parent_span_id,
                tracer.span("checkout").span_context.span_id()
            );
            assert_eq!(
                processed.span_context.trace_id(),
                send.span_context.trace_id()
            );
            assert_eq!(processed.parent_span_id, send.span_context.span_id());
            // The receive span that got the message links to its producer (an empty poll
            // before it, if any, has no links).
            let linked = tracer
                .finished_spans()
                .into_iter()
                .filter(|s| s.name == receive_name)
                .any(|r| {
                    r.links
                        .iter()
                        .any(|l| l.span_context.span_id() == send.span_context.span_id())
                });
            assert!(linked, "no receive span links to the producer");
        })
        .await;
}

#[tokio::test]
async fn ten_messages_from_ten_contexts_keep_ten_parents() {
    let queue = TestQueue::create(&sqs().await, "ten").await;
    queue
        .run(|queue| async move {
            let tracer = TestTracer::new();
            let client = traced_client(&tracer, SqsPropagation::new()).await;
            // Ten single sends, each under its own root span …
            for i in 0..10 {
                let cx = root_span(&tracer, "request");
                client
                    .send_message()
                    .queue_url(&queue.url)
                    .message_body(format!("single {i}"))
                    .send()
                    .with_context(cx.clone())
                    .await
                    .expect("SendMessage");
                cx.span().end();
            }
            // … and one batch of ten, each entry with its own create span.
            let mut batch = client.send_message_batch().queue_url(&queue.url);
            for i in 0..10 {
                batch = batch.entries(
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("e{i}"))
                        .message_body(format!("batch {i}"))
                        .build()
                        .unwrap(),
                );
            }
            let output = batch.send().await.expect("SendMessageBatch");
            assert_eq!(output.successful().len(), 10);

            let messages = receive_all(&client, &queue.url, 20).await;
            let spans = tracer.finished_spans();
            let by_message_id = |id: &str| {
                spans
                    .iter()
                    .find(|s| {
                        s.attributes.iter().any(|kv| {
                            kv.key.as_str() == baton::attr::MESSAGING_MESSAGE_ID
                                && kv.value.as_str() == id
                        })
                    })
                    .unwrap_or_else(|| panic!("no producer span for message {id}"))
            };
            let mut parents = Vec::new();
            for message in &messages {
                let producer = message.producer_context();
                let sc = producer.span().span_context().clone();
                let expected = by_message_id(message.message_id().unwrap());
                assert_eq!(
                    sc.span_id(),
                    expected.span_context.span_id(),
                    "{:?}",
                    message.body()
                );
                assert_eq!(sc.trace_id(), expected.span_context.trace_id());
                parents.push(sc.span_id());
            }
            parents.sort_by_key(|p| p.to_bytes());
            parents.dedup();
            assert_eq!(parents.len(), 20, "every message has its own parent");
        })
        .await;
}

#[tokio::test]
#[allow(deprecated)]
async fn older_attribute_names_still_come_back() {
    let queue = TestQueue::create(&sqs().await, "legacy").await;
    queue
        .run(|queue| async move {
            let tracer = TestTracer::new();
            let client = traced_client(&tracer, SqsPropagation::new()).await;
            client
                .send_message()
                .queue_url(&queue.url)
                .message_body("x")
                .send()
                .await
                .expect("SendMessage");
            let output = client
                .receive_message()
                .queue_url(&queue.url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::from(
                    "ApproximateReceiveCount",
                ))
                .wait_time_seconds(5)
                .send()
                .await
                .expect("ReceiveMessage");
            let attributes = output.messages()[0].attributes().unwrap();
            assert_eq!(
                attributes
                    .get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                    .map(String::as_str),
                Some("1"),
                "the caller's attribute is still returned: {attributes:?}"
            );
            assert!(
                attributes
                    .contains_key(&aws_sdk_sqs::types::MessageSystemAttributeName::AwsTraceHeader)
            );
        })
        .await;
}

#[tokio::test]
async fn a_batch_of_ten_under_ten_contexts_comes_back_with_ten_parents() {
    let queue = TestQueue::create(&sqs().await, "batch10").await;
    queue
        .run(|queue| async move {
            let tracer = TestTracer::new();
            let propagation = SqsPropagation::new().with_tracer(TracerHandle::new(tracer.tracer()));
            let client = traced_client(&tracer, SqsPropagation::new()).await;
            // A producer that batches messages of ten different requests.
            let requests: Vec<Context> = (0..10).map(|_| root_span(&tracer, "request")).collect();
            let mut batch = client.send_message_batch().queue_url(&queue.url);
            for (i, request) in requests.iter().enumerate() {
                let mut entry = SendMessageBatchRequestEntry::builder()
                    .id(format!("e{i}"))
                    .message_body(format!("{i}"))
                    .build()
                    .unwrap();
                propagation.inject_entry_context(request, &mut entry);
                batch = batch.entries(entry);
            }
            let output = batch.send().await.expect("SendMessageBatch");
            assert_eq!(output.successful().len(), 10);
            for request in &requests {
                request.span().end();
            }

            let messages = receive_all(&client, &queue.url, 10).await;
            for message in &messages {
                let i: usize = message.body().unwrap().parse().unwrap();
                let expected = requests[i].span().span_context().clone();
                let producer = message.producer_context();
                assert_eq!(
                    producer.span().span_context().span_id(),
                    expected.span_id(),
                    "message {i}"
                );
                assert_eq!(
                    producer.span().span_context().trace_id(),
                    expected.trace_id(),
                    "message {i}"
                );
                // And the processing span continues that request's trace.
                let process = propagation.start_process_span(message, &queue.name);
                assert_eq!(
                    process.span().span_context().trace_id(),
                    expected.trace_id()
                );
                process.span().end();
            }
            let parents: std::collections::HashSet<_> = messages
                .iter()
                .map(|m| m.producer_context().span().span_context().span_id())
                .collect();
            assert_eq!(parents.len(), 10);
        })
        .await;
}

#[tokio::test]
async fn fifo_queue() {
    let queue = TestQueue::create_fifo(&sqs().await, "fifo").await;
    queue
        .run(|queue| async move {
            let tracer = TestTracer::new();
            let client = traced_client(&tracer, SqsPropagation::new()).await;
            let cx = root_span(&tracer, "checkout");
            for i in 0..3 {
                client
                    .send_message()
                    .queue_url(&queue.url)
                    .message_group_id("customer-7")
                    .message_body(format!("step {i}"))
                    .send()
                    .with_context(cx.clone())
                    .await
                    .expect("SendMessage to FIFO");
            }
            cx.span().end();
            let messages = receive_all(&client, &queue.url, 3).await;
            let bodies: Vec<_> = messages
                .iter()
                .map(|m| m.body().unwrap().to_string())
                .collect();
            assert_eq!(bodies, ["step 0", "step 1", "step 2"]);
            let trace = tracer.span("checkout").span_context.trace_id();
            for message in &messages {
                assert_eq!(
                    message.producer_context().span().span_context().trace_id(),
                    trace
                );
            }
        })
        .await;
}

const THEIRS: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

fn attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_trace_header_the_caller_set_is_kept() {
    let queue = TestQueue::create(&sqs().await, "kept").await;
    queue
        .run(|queue| async move {
            let tracer = TestTracer::new();
            let client = traced_client(&tracer, SqsPropagation::new()).await;
            client
                .send_message()
                .queue_url(&queue.url)
                .message_body("x")
                .message_system_attributes(
                    MessageSystemAttributeNameForSends::AwsTraceHeader,
                    MessageSystemAttributeValue::builder()
                        .data_type("String")
                        .string_value(THEIRS)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .expect("SendMessage");
            let messages = receive_all(&client, &queue.url, 1).await;
            let header = messages[0]
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::AwsTraceHeader)
                })
                .unwrap();
            assert_eq!(header, THEIRS);
        })
        .await;
}

/// (body, AWSTraceHeader system attribute, message attributes)
type RawSend<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)]);

#[tokio::test]
async fn foreign_carriers_are_read() {
    let queue = TestQueue::create(&sqs().await, "foreign").await;
    queue
        .run(|queue| async move {
            // Written by a plain SDK client, the way other tracers write them.
            let raw = sqs().await;
            let x_ray =
                "Root=1-6b071cbb-6a0ee8ca1d2c0e3fddaa1870;Parent=20f79632532992fd;Sampled=1";
            let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
            let hostile = format!("Root=1-{}", "f".repeat(4000));
            let sends: [RawSend<'_>; 7] = [
                ("system", Some(x_ray), &[]),
                // SQS does not check the format; Baton must.
                ("malformed-system", Some("Sampled=1;Root=garbage"), &[]),
                ("hostile-system", Some(&hostile), &[]),
                (
                    "w3c",
                    None,
                    &[("traceparent", traceparent), ("tracestate", "vendor=1")],
                ),
                ("otel-js-xray", None, &[("x-amzn-trace-id", x_ray)]),
                ("otel-python-xray", None, &[("X-Amzn-Trace-Id", x_ray)]),
                (
                    "malformed",
                    None,
                    &[("traceparent", "00-nope"), ("x-amzn-trace-id", "Root=oops")],
                ),
            ];
            for (body, system, attributes) in sends {
                let mut send = raw.send_message().queue_url(&queue.url).message_body(body);
                if let Some(header) = system {
                    send = send.message_system_attributes(
                        MessageSystemAttributeNameForSends::AwsTraceHeader,
                        MessageSystemAttributeValue::builder()
                            .data_type("String")
                            .string_value(header)
                            .build()
                            .unwrap(),
                    );
                }
                for (name, value) in attributes {
                    send = send.message_attributes(*name, attribute(value));
                }
                send.send().await.expect("raw SendMessage");
            }
            // Read by Baton's client, which asks for the carriers itself.
            let tracer = TestTracer::new();
            let client = traced_client(&tracer, SqsPropagation::new()).await;
            let messages = receive_all(&client, &queue.url, 7).await;
            let found: HashMap<String, (Option<Carrier>, String)> = messages
                .iter()
                .map(|m| {
                    let trace = m.producer_context().span().span_context().trace_id();
                    (
                        m.body().unwrap().to_string(),
                        (m.trace_carrier(), trace.to_string()),
                    )
                })
                .collect();
            let x_ray_trace = "6b071cbb6a0ee8ca1d2c0e3fddaa1870".to_string();
            assert_eq!(
                found["system"],
                (Some(Carrier::AwsTraceHeader), x_ray_trace.clone())
            );
            assert_eq!(
                found["w3c"],
                (
                    Some(Carrier::TraceParent),
                    "0af7651916cd43dd8448eb211c80319c".to_string()
                )
            );
            assert_eq!(
                found["otel-js-xray"],
                (Some(Carrier::XrayAttribute), x_ray_trace.clone())
            );
            assert_eq!(
                found["otel-python-xray"],
                (Some(Carrier::XrayAttribute), x_ray_trace)
            );
            for body in ["malformed", "malformed-system", "hostile-system"] {
                assert_eq!(found[body], (None, TraceId::INVALID.to_string()), "{body}");
            }
            // Processing such a message starts a new trace.
            let propagation = SqsPropagation::new().with_tracer(TracerHandle::new(tracer.tracer()));
            for message in &messages {
                let cx = propagation.start_process_span(message, &queue.name);
                assert!(cx.span().span_context().is_valid());
                cx.span().end();
            }
            let fresh = tracer
                .finished_spans()
                .into_iter()
                .filter(|s| s.name.starts_with("process ") && s.parent_span_id == SpanId::INVALID)
                .count();
            assert_eq!(fresh, 3, "the three bad messages start new traces");
        })
        .await;
}

/// With the message attribute carriers turned off, ReceiveMessage asks SQS for
/// `AWSTraceHeader` only: a W3C-only producer is then not seen, unless the caller asks for
/// its attribute.
#[tokio::test]
async fn lean_receive_reads_aws_trace_header_only() {
    let queue = TestQueue::create(&sqs().await, "lean").await;
    queue
        .run(|queue| async move {
            let raw = sqs().await;
            let x_ray =
                "Root=1-6b071cbb-6a0ee8ca1d2c0e3fddaa1870;Parent=20f79632532992fd;Sampled=1";
            let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
            let send_both = || async {
                raw.send_message()
                    .queue_url(&queue.url)
                    .message_body("system")
                    .message_system_attributes(
                        MessageSystemAttributeNameForSends::AwsTraceHeader,
                        MessageSystemAttributeValue::builder()
                            .data_type("String")
                            .string_value(x_ray)
                            .build()
                            .unwrap(),
                    )
                    .send()
                    .await
                    .expect("raw SendMessage");
                raw.send_message()
                    .queue_url(&queue.url)
                    .message_body("w3c")
                    .message_attributes("traceparent", attribute(traceparent))
                    .send()
                    .await
                    .expect("raw SendMessage");
            };
            let tracer = TestTracer::new();
            let lean = SqsPropagation::new().with_message_attribute_carriers(false);
            let client = traced_client(&tracer, lean).await;
            let carriers = |messages: Vec<Message>| -> HashMap<String, Option<Carrier>> {
                messages
                    .iter()
                    .map(|m| (m.body().unwrap().to_string(), m.trace_carrier()))
                    .collect()
            };

            send_both().await;
            let found = carriers(receive_all(&client, &queue.url, 2).await);
            assert_eq!(found["system"], Some(Carrier::AwsTraceHeader));
            assert_eq!(
                found["w3c"], None,
                "not asked for, so SQS did not return it"
            );

            send_both().await;
            let found =
                carriers(receive_all_with(&client, &queue.url, 2, Some("traceparent")).await);
            assert_eq!(found["system"], Some(Carrier::AwsTraceHeader));
            assert_eq!(
                found["w3c"],
                Some(Carrier::TraceParent),
                "the caller asked for it"
            );

            // Every receive span linked the AWSTraceHeader producer.
            let linked = tracer
                .finished_spans()
                .iter()
                .filter(|s| s.name.starts_with("receive "))
                .flat_map(|s| s.links.iter())
                .filter(|l| {
                    l.span_context.trace_id().to_string() == "6b071cbb6a0ee8ca1d2c0e3fddaa1870"
                })
                .count();
            assert_eq!(linked, 2);
        })
        .await;
}

#[tokio::test]
async fn ten_attributes_still_send_with_the_w3c_option() {
    let queue = TestQueue::create(&sqs().await, "attrs").await;
    queue
        .run(|queue| async move {
            let tracer = TestTracer::new();
            let client = traced_client(
                &tracer,
                SqsPropagation::new().with_w3c_message_attributes(true),
            )
            .await;
            let mut send = client
                .send_message()
                .queue_url(&queue.url)
                .message_body("full");
            for i in 0..10 {
                send = send.message_attributes(format!("a{i}"), attribute("v"));
            }
            send.send().await.expect("a full message still sends");
            // With room, the W3C carrier goes too.
            client
                .send_message()
                .queue_url(&queue.url)
                .message_body("room")
                .send()
                .await
                .expect("SendMessage");
            // Ask for all attributes, so the user's ten come back as well as the carriers.
            let messages = receive_all_with(&client, &queue.url, 2, Some("All")).await;
            for message in &messages {
                let attributes = message.message_attributes().unwrap();
                match message.body().unwrap() {
                    "full" => {
                        assert_eq!(attributes.len(), 10);
                        assert!(!attributes.contains_key("traceparent"));
                        assert_eq!(message.trace_carrier(), Some(Carrier::AwsTraceHeader));
                    }
                    _ => {
                        assert!(attributes.contains_key("traceparent"));
                        let send = tracer
                            .finished_spans()
                            .into_iter()
                            .find(|s| {
                                s.attributes
                                    .iter()
                                    .any(|kv| kv.value.as_str() == message.message_id().unwrap())
                            })
                            .unwrap();
                        assert_eq!(
                            attributes["traceparent"].string_value().unwrap(),
                            format!(
                                "00-{}-{}-01",
                                send.span_context.trace_id(),
                                send.span_context.span_id()
                            )
                        );
                    }
                }
            }
        })
        .await;
}

#[tokio::test]
async fn tower_form_end_to_end() {
    let queue = TestQueue::create(&sqs().await, "tower").await;
    queue
        .run(|queue| async move {
            let tracer = TestTracer::new();
            let propagation = SqsPropagation::new().with_tracer(TracerHandle::new(tracer.tracer()));
            let mut service = tower::ServiceBuilder::new()
                .timeout(Duration::from_secs(10))
                .layer(propagation.layer())
                .service(SqsService::new(sqs().await));
            let checkout = root_span(&tracer, "checkout");
            let input = SendMessageInput::builder()
                .queue_url(&queue.url)
                .message_body("via tower")
                .build()
                .unwrap();
            let ready = service.ready().await.unwrap();
            let call = {
                // The caller's context is read when `call` is made.
                let _active = checkout.clone().attach();
                ready.call(SqsRequest::from(input))
            };
            call.await.expect("SendMessage through tower");
            checkout.span().end();

            let receive = aws_sdk_sqs::operation::receive_message::ReceiveMessageInput::builder()
                .queue_url(&queue.url)
                .wait_time_seconds(5)
                .build()
                .unwrap();
            let output = service
                .ready()
                .await
                .unwrap()
                .call(receive.into())
                .await
                .expect("ReceiveMessage through tower")
                .into_receive_message()
                .unwrap();
            let message = &output.messages()[0];
            let process = propagation.start_process_span(message, &queue.name);
            process.span().end();
            let send = tracer.span(&format!("send {}", queue.name));
            let processed = tracer.span(&format!("process {}", queue.name));
            assert_eq!(
                send.parent_span_id,
                tracer.span("checkout").span_context.span_id()
            );
            assert_eq!(processed.parent_span_id, send.span_context.span_id());
            assert_eq!(
                processed.span_context.trace_id(),
                send.span_context.trace_id()
            );
            assert_ne!(processed.parent_span_id, SpanId::INVALID);
        })
        .await;
}
