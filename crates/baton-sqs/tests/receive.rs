//! The receive side: what ReceiveMessage asks for, the receive span and its links, where the
//! producer context is read from, and processing spans.

mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
use baton::{LinkPolicy, attr};
use baton_sqs::{Carrier, MessageExt, SqsPropagation, extract_with_carrier};
use baton_test_support::Spans;
use common::{REQUEST_ID, StubSqs, intercepted};
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanId, SpanKind, Status, TraceContextExt, TraceId};
use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt;

const QUEUE: &str = "http://stub.invalid/000000000000/orders";
const XRAY_A: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
const TRACE_A: &str = "5759e988bd862e3fe1be46a994272793";
const TRACEPARENT_B: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const XRAY_C: &str = "Root=1-6b071cbb-6a0ee8ca1d2c0e3fddaa1870;Parent=20f79632532992fd;Sampled=1";

#[tokio::test]
async fn receive_asks_for_the_carriers_and_keeps_what_the_caller_asked_for() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let client = intercepted(&stub, SqsPropagation::new().with_tracer(spans.handle()));
    client
        .receive_message()
        .queue_url(QUEUE)
        .send()
        .await
        .unwrap();
    client
        .receive_message()
        .queue_url(QUEUE)
        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
        .message_attribute_names("tenant")
        .message_attribute_names("traceparent")
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    client
        .receive_message()
        .queue_url(QUEUE)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    #[allow(deprecated)]
    client
        .receive_message()
        .queue_url(QUEUE)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::from(
            "ApproximateReceiveCount",
        ))
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let bodies: Vec<Value> = stub
        .requests()
        .iter()
        .map(|c| serde_json::from_str(c.body()).unwrap())
        .collect();
    assert_eq!(
        bodies[0],
        json!({
            "QueueUrl": QUEUE,
            "MessageSystemAttributeNames": ["AWSTraceHeader"],
            "MessageAttributeNames": ["traceparent", "tracestate", "X-Amzn-Trace-Id", "x-amzn-trace-id", "AWSTraceHeader"]
        })
    );
    assert_eq!(
        bodies[1],
        json!({
            "QueueUrl": QUEUE,
            "MessageSystemAttributeNames": ["SentTimestamp", "AWSTraceHeader"],
            "MessageAttributeNames": ["tenant", "traceparent", "tracestate", "X-Amzn-Trace-Id", "x-amzn-trace-id", "AWSTraceHeader"],
            "MaxNumberOfMessages": 10
        })
    );
    assert_eq!(
        bodies[2],
        json!({
            "QueueUrl": QUEUE,
                        "MessageSystemAttributeNames": ["All"],
            "MessageAttributeNames": ["All"]
        })
    );
    // The older AttributeNames are carried over, since SQS would ignore them otherwise.
    assert_eq!(
        bodies[3],
        json!({
            "QueueUrl": QUEUE,
            "AttributeNames": ["ApproximateReceiveCount", "All"],
            "MessageSystemAttributeNames": ["ApproximateReceiveCount", "All"],
            "MessageAttributeNames": ["traceparent", "tracestate", "X-Amzn-Trace-Id", "x-amzn-trace-id", "AWSTraceHeader"]
        })
    );
}

fn received(messages: &[Value]) -> String {
    json!({ "Messages": messages }).to_string()
}

fn message_json(id: &str, system: Option<&str>, attributes: Value) -> Value {
    let mut message = json!({
        "MessageId": id,
        "ReceiptHandle": format!("rh-{id}"),
        "MD5OfBody": "5d41402abc4b2a76b9719d911017c592",
        "Body": "hello",
        "MessageAttributes": attributes,
    });
    if let Some(header) = system {
        message["Attributes"] = json!({ "AWSTraceHeader": header });
    }
    message
}

#[tokio::test]
async fn receive_span_links_every_producer() {
    let stub = StubSqs::default();
    stub.responder().receive_body(received(&[
        message_json("m1", Some(XRAY_A), json!({})),
        message_json(
            "m2",
            None,
            json!({"traceparent": {"DataType": "String", "StringValue": TRACEPARENT_B}}),
        ),
        message_json("m3", None, json!({})),
    ]));
    let spans = Spans::new();
    let client = intercepted(&stub, SqsPropagation::new().with_tracer(spans.handle()));
    let output = client
        .receive_message()
        .queue_url(QUEUE)
        .send()
        .await
        .unwrap();
    assert_eq!(output.messages().len(), 3);

    let receive = spans.one("receive orders");
    assert_eq!(receive.span_kind, SpanKind::Client);
    assert_eq!(receive.status, Status::Unset);
    let links: Vec<(String, String)> = receive
        .links
        .iter()
        .map(|l| {
            (
                l.span_context.trace_id().to_string(),
                l.span_context.span_id().to_string(),
            )
        })
        .collect();
    assert_eq!(
        links,
        vec![
            (TRACE_A.to_string(), "53995c3f42cd8ad8".to_string()),
            (
                "0af7651916cd43dd8448eb211c80319c".to_string(),
                "b7ad6b7169203331".to_string()
            ),
        ]
    );
    assert_eq!(
        receive.attributes,
        vec![
            KeyValue::new(attr::MESSAGING_SYSTEM, "aws_sqs"),
            KeyValue::new(attr::MESSAGING_OPERATION_TYPE, "receive"),
            KeyValue::new(attr::MESSAGING_OPERATION_NAME, "ReceiveMessage"),
            KeyValue::new(attr::MESSAGING_DESTINATION_NAME, "orders"),
            KeyValue::new(attr::CLOUD_REGION, "eu-west-1"),
            KeyValue::new(attr::SERVER_ADDRESS, "stub.invalid"),
            KeyValue::new(attr::AWS_SQS_QUEUE_URL, QUEUE),
            KeyValue::new(attr::MESSAGING_BATCH_MESSAGE_COUNT, 3),
            KeyValue::new(attr::AWS_REQUEST_ID, REQUEST_ID),
        ]
    );
    // No caller span: the receive span is a root of its own.
    assert_eq!(receive.parent_span_id, SpanId::INVALID);
    assert!(receive.start_time <= receive.end_time);
}

fn attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .unwrap()
}

fn message(system: Option<&str>, attributes: &[(&str, &str)]) -> Message {
    let mut builder = Message::builder().message_id("m-1");
    if let Some(header) = system {
        builder = builder.attributes(MessageSystemAttributeName::AwsTraceHeader, header);
    }
    for (name, value) in attributes {
        builder = builder.message_attributes(*name, attribute(value));
    }
    builder.build()
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

/// (case, message, expected carrier, expected trace id, expected warnings)
type Case<'a> = (&'a str, Message, Option<Carrier>, Option<&'a str>, usize);

#[test]
fn carriers_are_read_in_the_documented_order() {
    let hostile = format!("Root=1-{}", "f".repeat(100_000));
    #[rustfmt::skip]
    let cases: Vec<Case<'_>> = vec![
        // (case, message, carrier, trace id, warnings)
        ("system attribute only", message(Some(XRAY_A), &[]), Some(Carrier::AwsTraceHeader), Some(TRACE_A), 0),
        ("system attribute beats traceparent", message(Some(XRAY_A), &[("traceparent", TRACEPARENT_B)]),
            Some(Carrier::AwsTraceHeader), Some(TRACE_A), 0),
        ("malformed system attribute falls through to traceparent",
            message(Some("Root=garbage"), &[("traceparent", TRACEPARENT_B)]),
            Some(Carrier::TraceParent), Some("0af7651916cd43dd8448eb211c80319c"), 1),
        ("traceparent in any case", message(None, &[("TraceParent", TRACEPARENT_B), ("tracestate", "vendor=1")]),
            Some(Carrier::TraceParent), Some("0af7651916cd43dd8448eb211c80319c"), 0),
        ("traceparent beats an X-Ray attribute", message(None, &[("traceparent", TRACEPARENT_B), ("X-Amzn-Trace-Id", XRAY_C)]),
            Some(Carrier::TraceParent), Some("0af7651916cd43dd8448eb211c80319c"), 0),
        ("X-Ray attribute as OpenTelemetry JS writes it", message(None, &[("x-amzn-trace-id", XRAY_C)]),
            Some(Carrier::XrayAttribute), Some("6b071cbb6a0ee8ca1d2c0e3fddaa1870"), 0),
        ("X-Ray attribute as OpenTelemetry Python writes it", message(None, &[("X-Amzn-Trace-Id", XRAY_C)]),
            Some(Carrier::XrayAttribute), Some("6b071cbb6a0ee8ca1d2c0e3fddaa1870"), 0),
        ("AWSTraceHeader as a message attribute", message(None, &[("AWSTraceHeader", XRAY_C)]),
            Some(Carrier::XrayAttribute), Some("6b071cbb6a0ee8ca1d2c0e3fddaa1870"), 0),
        ("malformed traceparent falls through to X-Ray attribute",
            message(None, &[("traceparent", "00-zz-yy-01"), ("x-amzn-trace-id", XRAY_C)]),
            Some(Carrier::XrayAttribute), Some("6b071cbb6a0ee8ca1d2c0e3fddaa1870"), 1),
        ("nothing", message(None, &[("tenant", "acme")]), None, None, 0),
        ("everything malformed", message(Some("Sampled=1"), &[("traceparent", "x"), ("x-amzn-trace-id", "Root=1-1-1")]),
            None, None, 3),
        ("hostile length", message(Some(&hostile), &[]), None, None, 1),
    ];
    for (case, message, carrier, trace_id, warnings) in cases {
        let counter = Warnings::default();
        let subscriber = tracing_subscriber::registry().with(counter.clone());
        let (cx, found) =
            tracing::subscriber::with_default(subscriber, || extract_with_carrier(&message));
        assert_eq!(found, carrier, "{case}");
        assert_eq!(message.trace_carrier(), carrier, "{case}");
        let span = cx.span();
        let sc = span.span_context();
        match trace_id {
            Some(id) => {
                assert_eq!(sc.trace_id(), TraceId::from_hex(id).unwrap(), "{case}");
                assert!(sc.is_remote(), "{case}");
            }
            None => assert!(!sc.is_valid(), "{case}"),
        }
        assert_eq!(*counter.0.lock().unwrap(), warnings, "{case}: warnings");
    }
    // The W3C trace state comes along.
    let cx = message(
        None,
        &[("traceparent", TRACEPARENT_B), ("tracestate", "vendor=1")],
    )
    .producer_context();
    assert_eq!(
        cx.span().span_context().trace_state().get("vendor"),
        Some("1")
    );
}

#[test]
fn process_spans_follow_the_link_policy() {
    let spans = Spans::new();
    let m = message(Some(XRAY_A), &[]);

    let parent = SqsPropagation::new().with_tracer(spans.handle());
    let cx = parent.start_process_span(&m, "orders");
    cx.span().end();
    let linked = SqsPropagation::new()
        .with_tracer(spans.handle())
        .with_link_policy(LinkPolicy::Link);
    let cx = linked.start_process_span(&m, "orders");
    cx.span().end();

    let process = spans.named("process orders");
    assert_eq!(process.len(), 2);
    let (child, link) = (&process[0], &process[1]);
    assert_eq!(child.span_kind, SpanKind::Consumer);
    assert_eq!(
        child.span_context.trace_id(),
        TraceId::from_hex(TRACE_A).unwrap()
    );
    assert_eq!(
        child.parent_span_id,
        SpanId::from_hex("53995c3f42cd8ad8").unwrap()
    );
    assert!(child.links.is_empty());
    assert_eq!(
        child.attributes,
        vec![
            KeyValue::new(attr::MESSAGING_SYSTEM, "aws_sqs"),
            KeyValue::new(attr::MESSAGING_OPERATION_TYPE, "process"),
            KeyValue::new(attr::MESSAGING_OPERATION_NAME, "process"),
            KeyValue::new(attr::MESSAGING_DESTINATION_NAME, "orders"),
            KeyValue::new(attr::MESSAGING_MESSAGE_ID, "m-1"),
        ]
    );
    assert_ne!(
        link.span_context.trace_id(),
        TraceId::from_hex(TRACE_A).unwrap()
    );
    assert_eq!(link.parent_span_id, SpanId::INVALID);
    assert_eq!(link.links.len(), 1);
    assert_eq!(
        link.links[0].span_context.span_id(),
        SpanId::from_hex("53995c3f42cd8ad8").unwrap()
    );

    // A message without context: a new trace, no link, no panic.
    let cx = linked.start_process_span(&message(None, &[]), "orders");
    cx.span().end();
    let last = spans.named("process orders").pop().unwrap();
    assert!(last.links.is_empty());
}

#[test]
fn start_process_span_continues_a_producer_found_in_an_envelope() {
    // An EventBridge event and an SNS notification delivered to a queue carry their producer in
    // the body; the process span continues it (unless envelopes are turned off).
    let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let event = format!(
        r#"{{"version":"0","id":"e1","detail-type":"OrderPlaced","source":"shop","detail":{{"traceHeader":"{header}"}}}}"#
    );
    let notification = format!(
        r#"{{"Type":"Notification","MessageId":"n1","TopicArn":"arn:aws:sns:eu-west-1:0:orders","Message":"hi","MessageAttributes":{{"X-Amzn-Trace-Id":{{"Type":"String","Value":"{header}"}}}}}}"#
    );
    for (body, carrier) in [
        (event, Carrier::EventBridgeEnvelope),
        (notification, Carrier::SnsEnvelope),
    ] {
        let spans = Spans::new();
        let message = Message::builder().message_id("m1").body(&body).build();
        assert_eq!(message.trace_carrier(), Some(carrier));
        // With the (opt-in) body size; the envelope-less span below goes without it.
        let config = SqsPropagation::new()
            .with_tracer(spans.handle())
            .with_body_size(true);
        config.start_process_span(&message, "orders").span().end();
        config
            .clone()
            .with_envelope_extraction(false)
            .with_body_size(false)
            .start_process_span(&message, "orders")
            .span()
            .end();
        let process = spans.named("process orders");
        assert_eq!(process.len(), 2);
        assert_eq!(
            process[0].span_context.trace_id(),
            TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap()
        );
        assert!(
            process[0]
                .attributes
                .contains(&opentelemetry::KeyValue::new(
                    baton::attr::MESSAGING_MESSAGE_BODY_SIZE,
                    i64::try_from(body.len()).unwrap()
                )),
            "the body size: {:?}",
            process[0].attributes
        );
        assert!(
            !process[1]
                .attributes
                .iter()
                .any(|kv| kv.key.as_str() == baton::attr::MESSAGING_MESSAGE_BODY_SIZE),
            "no body size unless asked for: {:?}",
            process[1].attributes
        );
        assert_eq!(
            process[0].parent_span_id,
            SpanId::from_hex("53995c3f42cd8ad8").unwrap()
        );
        assert_ne!(
            process[1].span_context.trace_id(),
            process[0].span_context.trace_id(),
            "envelopes turned off: a new trace"
        );
    }
}

#[tokio::test]
async fn delivery_facts_ask_sqs_for_their_attributes_only_when_on() {
    let stub = StubSqs::default();
    for facts in [false, true] {
        let client = intercepted(&stub, SqsPropagation::new().with_delivery_facts(facts));
        client
            .receive_message()
            .queue_url(QUEUE)
            .send()
            .await
            .unwrap();
    }
    let asked = |index: usize| {
        let body: Value = serde_json::from_str(stub.request(index).body()).unwrap();
        body["MessageSystemAttributeNames"].clone()
    };
    assert_eq!(
        asked(0),
        json!(["AWSTraceHeader"]),
        "a default receive stays lean"
    );
    assert_eq!(
        asked(1),
        json!([
            "AWSTraceHeader",
            "SentTimestamp",
            "ApproximateReceiveCount",
            "MessageGroupId"
        ])
    );
}

#[tokio::test]
async fn message_attribute_carriers_can_be_left_out_of_the_request() {
    use aws_sdk_sqs::operation::receive_message::ReceiveMessageInput;
    use baton_sqs::{SqsRequest, SqsService};
    use tower::{Layer, Service, ServiceExt};

    let stub = StubSqs::default();
    let spans = Spans::new();
    stub.responder().receive_body(received(&[
        message_json("a", Some(XRAY_A), json!({})),
        message_json(
            "b",
            None,
            json!({ "traceparent": { "DataType": "String", "StringValue": TRACEPARENT_B } }),
        ),
    ]));
    let lean = SqsPropagation::new()
        .with_tracer(spans.handle())
        .with_message_attribute_carriers(false);
    let client = intercepted(&stub, lean.clone());
    client
        .receive_message()
        .queue_url(QUEUE)
        .send()
        .await
        .unwrap();
    // What the caller asks for itself is still asked for, and read.
    client
        .receive_message()
        .queue_url(QUEUE)
        .message_attribute_names("traceparent")
        .send()
        .await
        .unwrap();
    let mut service = lean
        .layer()
        .layer(SqsService::new(common::sqs_client(&stub)));
    let input = ReceiveMessageInput::builder()
        .queue_url(QUEUE)
        .build()
        .unwrap();
    service
        .ready()
        .await
        .unwrap()
        .call(SqsRequest::from(input))
        .await
        .unwrap();
    let bodies: Vec<Value> = stub
        .requests()
        .iter()
        .map(|c| serde_json::from_str(c.body()).unwrap())
        .collect();
    let lean_body = json!({
        "QueueUrl": QUEUE,
        "MessageSystemAttributeNames": ["AWSTraceHeader"]
    });
    assert_eq!(bodies[0], lean_body, "interceptor");
    assert_eq!(
        bodies[1],
        json!({
            "QueueUrl": QUEUE,
            "MessageSystemAttributeNames": ["AWSTraceHeader"],
            "MessageAttributeNames": ["traceparent"]
        })
    );
    assert_eq!(bodies[2], lean_body, "Tower form");
    // The stub answers every call with both messages: the links come from what came back.
    let receives = spans.finished();
    assert_eq!(receives.len(), 3);
    for span in &receives {
        let linked: Vec<String> = span
            .links
            .iter()
            .map(|link| link.span_context.trace_id().to_string())
            .collect();
        assert!(linked.contains(&TRACE_A.to_owned()), "{linked:?}");
    }
}

#[test]
fn delivery_facts_go_on_the_process_span_when_asked_for() {
    let sent = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        - 5_000;
    let message = Message::builder()
        .message_id("m1")
        .body("hi")
        .attributes(MessageSystemAttributeName::SentTimestamp, sent.to_string())
        .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
        .attributes(MessageSystemAttributeName::MessageGroupId, "tenant-7")
        .build();
    let spans = Spans::new();
    let config = SqsPropagation::new().with_tracer(spans.handle());
    config.start_process_span(&message, "orders").span().end();
    config
        .clone()
        .with_delivery_facts(true)
        .start_process_span(&message, "orders")
        .span()
        .end();
    let process = spans.named("process orders");
    let value = |span: usize, key: &str| {
        process[span]
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    };
    for key in [
        attr::BATON_TIME_IN_QUEUE_MS,
        attr::BATON_RECEIVE_COUNT,
        attr::BATON_SQS_MESSAGE_GROUP_ID,
    ] {
        assert_eq!(value(0, key), None, "off by default: {key}");
    }
    let Some(opentelemetry::Value::I64(waited)) = value(1, attr::BATON_TIME_IN_QUEUE_MS) else {
        panic!("time in queue: {:?}", process[1].attributes);
    };
    assert!((5_000..60_000).contains(&waited), "waited {waited} ms");
    assert_eq!(
        value(1, attr::BATON_RECEIVE_COUNT),
        Some(opentelemetry::Value::I64(2))
    );
    assert_eq!(
        value(1, attr::BATON_SQS_MESSAGE_GROUP_ID),
        Some("tenant-7".into())
    );
}
