//! The send side against a stub HTTP client: the exact request the SDK sends, and the spans.

mod common;

use aws_sdk_sqs::operation::send_message::SendMessageInput;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchInput;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
    SendMessageBatchRequestEntry,
};
use baton::attr;
use baton_sqs::{SqsPropagation, SqsRequest, SqsService};
use baton_test_support::{Spans, header_of, sdk_config};
use common::{REQUEST_ID, StubSqs, intercepted, sqs_client};
use opentelemetry::trace::{FutureExt, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use serde_json::{Value, json};
use tower::{Service, ServiceExt};

const QUEUE: &str = "http://stub.invalid/000000000000/orders";

fn body(stub: &StubSqs, index: usize) -> Value {
    serde_json::from_str(stub.request(index).body()).unwrap()
}

fn string_attr(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .unwrap()
}

#[tokio::test]
async fn interceptor_puts_the_send_span_into_aws_trace_header() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    // The body size is opt-in (as in the conventions): asked for here, left out by default
    // (the Tower test below).
    let client = intercepted(
        &stub,
        SqsPropagation::new()
            .with_tracer(spans.handle())
            .with_body_size(true),
    );

    let root = spans.tracer().start("checkout");
    let cx = Context::new().with_span(root);
    let output = client
        .send_message()
        .queue_url(QUEUE)
        .message_body("hello")
        .send()
        .with_context(cx.clone())
        .await
        .unwrap();
    assert_eq!(output.message_id(), Some("msg-1"));
    cx.span().end();

    let send = spans.one("send orders");
    let checkout = spans.one("checkout");
    assert_eq!(
        body(&stub, 0),
        json!({
            "QueueUrl": QUEUE,
            "MessageBody": "hello",
            "MessageSystemAttributes": {
                "AWSTraceHeader": {"StringValue": header_of(&send), "DataType": "String"}
            }
        })
    );
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_eq!(
        send.span_context.trace_id(),
        checkout.span_context.trace_id()
    );
    assert_eq!(send.parent_span_id, checkout.span_context.span_id());
    assert_eq!(
        send.attributes,
        vec![
            KeyValue::new(attr::MESSAGING_SYSTEM, "aws_sqs"),
            KeyValue::new(attr::MESSAGING_OPERATION_TYPE, "send"),
            KeyValue::new(attr::MESSAGING_OPERATION_NAME, "SendMessage"),
            KeyValue::new(attr::MESSAGING_DESTINATION_NAME, "orders"),
            KeyValue::new(attr::CLOUD_REGION, "eu-west-1"),
            KeyValue::new(attr::AWS_SQS_QUEUE_URL, QUEUE),
            KeyValue::new(attr::MESSAGING_MESSAGE_BODY_SIZE, 5),
            // Where the request went, read from it (the stub's endpoint, port 80 left out).
            KeyValue::new(attr::SERVER_ADDRESS, "stub.invalid"),
            KeyValue::new(attr::MESSAGING_MESSAGE_ID, "msg-1"),
            KeyValue::new(attr::AWS_REQUEST_ID, REQUEST_ID),
        ]
    );
    assert_eq!(send.status, Status::Unset);
    assert!(send.links.is_empty());
}

#[tokio::test]
async fn tower_form_sends_the_same_request() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let mut service = SqsPropagation::new()
        .with_tracer(spans.handle())
        .layer()
        .layer_service(SqsService::new(sqs_client(&stub)));

    let root = spans.tracer().start("checkout");
    let cx = Context::new().with_span(root);
    let input = SendMessageInput::builder()
        .queue_url(QUEUE)
        .message_body("hello")
        .build()
        .unwrap();
    let response = {
        let _active = cx.clone().attach();
        service.ready().await.unwrap().call(SqsRequest::from(input))
    }
    .await
    .unwrap();
    assert_eq!(
        response.into_send_message().unwrap().message_id(),
        Some("msg-1")
    );
    cx.span().end();

    let send = spans.one("send orders");
    assert_eq!(
        send.parent_span_id,
        spans.one("checkout").span_context.span_id()
    );
    assert_eq!(
        body(&stub, 0),
        json!({
            "QueueUrl": QUEUE,
            "MessageBody": "hello",
            "MessageSystemAttributes": {
                "AWSTraceHeader": {"StringValue": header_of(&send), "DataType": "String"}
            }
        })
    );
    assert_eq!(
        send.attributes,
        vec![
            KeyValue::new(attr::MESSAGING_SYSTEM, "aws_sqs"),
            KeyValue::new(attr::MESSAGING_OPERATION_TYPE, "send"),
            KeyValue::new(attr::MESSAGING_OPERATION_NAME, "SendMessage"),
            KeyValue::new(attr::MESSAGING_DESTINATION_NAME, "orders"),
            KeyValue::new(attr::AWS_SQS_QUEUE_URL, QUEUE),
            KeyValue::new(attr::MESSAGING_MESSAGE_ID, "msg-1"),
            KeyValue::new(attr::AWS_REQUEST_ID, REQUEST_ID),
        ]
    );
}

trait LayerServiceExt {
    fn layer_service<S>(self, inner: S) -> baton_sqs::TracedSqs<S>;
}

impl LayerServiceExt for baton_sqs::SqsLayer {
    fn layer_service<S>(self, inner: S) -> baton_sqs::TracedSqs<S> {
        tower::Layer::layer(&self, inner)
    }
}

fn entry(id: &str) -> SendMessageBatchRequestEntry {
    SendMessageBatchRequestEntry::builder()
        .id(id)
        .message_body(format!("body {id}"))
        .build()
        .unwrap()
}

#[tokio::test]
async fn each_batch_entry_gets_a_context_of_its_own() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let client = intercepted(
        &stub,
        SqsPropagation::new()
            .with_tracer(spans.handle())
            .with_body_size(true),
    );
    client
        .send_message_batch()
        .queue_url(QUEUE)
        .entries(entry("a"))
        .entries(entry("b"))
        .entries(entry("c"))
        .send()
        .await
        .unwrap();

    let send = spans.one("send orders");
    assert_eq!(
        send.parent_span_id,
        opentelemetry::trace::SpanId::INVALID,
        "no caller span: a new trace"
    );
    assert!(
        send.attributes
            .contains(&KeyValue::new(attr::MESSAGING_BATCH_MESSAGE_COUNT, 3))
    );
    let creates = spans.named("create orders");
    assert_eq!(creates.len(), 3);
    let request = body(&stub, 0);
    let entries = request["Entries"].as_array().unwrap();
    for (entry, id) in entries.iter().zip(["a", "b", "c"]) {
        let header = entry["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"]
            .as_str()
            .unwrap();
        let create = creates
            .iter()
            .find(|c| {
                c.attributes.contains(&KeyValue::new(
                    attr::MESSAGING_MESSAGE_ID,
                    format!("msg-{id}"),
                ))
            })
            .unwrap_or_else(|| panic!("no create span for entry {id}"));
        assert_eq!(header, header_of(create), "entry {id}");
        assert_eq!(create.span_kind, SpanKind::Producer);
        assert_eq!(create.parent_span_id, send.span_context.span_id());
        assert_eq!(create.span_context.trace_id(), send.span_context.trace_id());
        assert_eq!(entry["MessageBody"], format!("body {id}"));
        assert!(entry.get("MessageAttributes").is_none());
    }
    // Three different parents.
    let parents: std::collections::HashSet<_> =
        creates.iter().map(|c| c.span_context.span_id()).collect();
    assert_eq!(parents.len(), 3);
    // Each create span, exactly.
    for create in &creates {
        let id = create
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == attr::MESSAGING_MESSAGE_ID)
            .map(|kv| kv.value.as_str().to_string())
            .unwrap();
        assert_eq!(
            create.attributes,
            vec![
                KeyValue::new(attr::MESSAGING_SYSTEM, "aws_sqs"),
                KeyValue::new(attr::MESSAGING_OPERATION_TYPE, "create"),
                KeyValue::new(attr::MESSAGING_OPERATION_NAME, "SendMessageBatch"),
                KeyValue::new(attr::MESSAGING_DESTINATION_NAME, "orders"),
                // "body a" …
                KeyValue::new(attr::MESSAGING_MESSAGE_BODY_SIZE, 6),
                KeyValue::new(attr::MESSAGING_MESSAGE_ID, id),
            ]
        );
        assert_eq!(create.status, Status::Unset);
    }
}

#[tokio::test]
async fn a_trace_header_the_caller_set_is_kept() {
    const THEIRS: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let theirs = MessageSystemAttributeValue::builder()
        .data_type("String")
        .string_value(THEIRS)
        .build()
        .unwrap();
    let stub = StubSqs::default();
    let spans = Spans::new();
    let client = intercepted(
        &stub,
        SqsPropagation::new()
            .with_tracer(spans.handle())
            .with_w3c_message_attributes(true),
    );
    client
        .send_message()
        .queue_url(QUEUE)
        .message_body("hello")
        .message_system_attributes(
            MessageSystemAttributeNameForSends::AwsTraceHeader,
            theirs.clone(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        body(&stub, 0),
        json!({
            "QueueUrl": QUEUE,
            "MessageBody": "hello",
            "MessageSystemAttributes": {"AWSTraceHeader": {"StringValue": THEIRS, "DataType": "String"}}
        })
    );
    // In a batch, only the entry that had one keeps it; the others get Baton's.
    let mut mine = entry("mine");
    mine.message_system_attributes = Some(
        [(MessageSystemAttributeNameForSends::AwsTraceHeader, theirs)]
            .into_iter()
            .collect(),
    );
    let input = SendMessageBatchInput::builder()
        .queue_url(QUEUE)
        .entries(mine)
        .entries(entry("other"))
        .build()
        .unwrap();
    let mut service = tower::Layer::layer(
        &SqsPropagation::new().with_tracer(spans.handle()).layer(),
        SqsService::new(sqs_client(&stub)),
    );
    service
        .ready()
        .await
        .unwrap()
        .call(input.into())
        .await
        .unwrap();
    let request = body(&stub, 1);
    assert_eq!(
        request["Entries"][0]["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"],
        THEIRS
    );
    let other = request["Entries"][1]["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"]
        .as_str()
        .unwrap();
    assert_ne!(other, THEIRS);
    assert_eq!(spans.named("create orders").len(), 1);
}

#[tokio::test]
async fn w3c_attributes_when_asked_for() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let client = intercepted(
        &stub,
        SqsPropagation::new()
            .with_tracer(spans.handle())
            .with_w3c_message_attributes(true),
    );
    client
        .send_message()
        .queue_url(QUEUE)
        .message_body("hello")
        .message_attributes("tenant", string_attr("acme"))
        .send()
        .await
        .unwrap();
    let send = spans.one("send orders");
    let traceparent = format!(
        "00-{}-{}-01",
        send.span_context.trace_id(),
        send.span_context.span_id()
    );
    assert_eq!(
        body(&stub, 0),
        json!({
            "QueueUrl": QUEUE,
            "MessageBody": "hello",
            "MessageAttributes": {
                "tenant": {"StringValue": "acme", "DataType": "String"},
                "traceparent": {"StringValue": traceparent, "DataType": "String"}
            },
            "MessageSystemAttributes": {
                "AWSTraceHeader": {"StringValue": header_of(&send), "DataType": "String"}
            }
        })
    );
}

fn ten_attributes() -> std::collections::HashMap<String, MessageAttributeValue> {
    (0..10)
        .map(|i| (format!("a{i}"), string_attr("v")))
        .collect()
}

#[tokio::test]
async fn w3c_attributes_never_push_a_message_past_the_limits() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let client = intercepted(
        &stub,
        SqsPropagation::new()
            .with_tracer(spans.handle())
            .with_w3c_message_attributes(true),
    );
    // Ten attributes already: the W3C carrier is skipped, AWSTraceHeader still goes.
    client
        .send_message()
        .queue_url(QUEUE)
        .message_body("hello")
        .set_message_attributes(Some(ten_attributes()))
        .send()
        .await
        .unwrap();
    let request = body(&stub, 0);
    assert_eq!(request["MessageAttributes"].as_object().unwrap().len(), 10);
    assert!(request["MessageAttributes"].get("traceparent").is_none());
    assert!(request["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"].is_string());

    // Nine: the traceparent fits (tracestate is empty and not written).
    let mut nine = ten_attributes();
    nine.remove("a9");
    client
        .send_message()
        .queue_url(QUEUE)
        .message_body("hello")
        .set_message_attributes(Some(nine))
        .send()
        .await
        .unwrap();
    assert_eq!(
        body(&stub, 1)["MessageAttributes"]
            .as_object()
            .unwrap()
            .len(),
        10
    );

    // A body at the size limit: no room for the attribute.
    let big = "x".repeat(1024 * 1024 - 10);
    client
        .send_message()
        .queue_url(QUEUE)
        .message_body(big.clone())
        .send()
        .await
        .unwrap();
    let request = body(&stub, 2);
    assert!(request.get("MessageAttributes").is_none());
    assert_eq!(request["MessageBody"].as_str().unwrap().len(), big.len());
    assert!(request["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"].is_string());
}

#[tokio::test]
async fn traceparent_is_written_alone_when_tracestate_does_not_fit() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let client = intercepted(
        &stub,
        SqsPropagation::new()
            .with_tracer(spans.handle())
            .with_w3c_message_attributes(true),
    );
    #[rustfmt::skip]
    let cases: &[(usize, &[&str])] = &[
        // (user attributes, W3C attributes written)
        (8,  &["traceparent", "tracestate"]),
        (9,  &["traceparent"]),
        (10, &[]),
    ];
    for (index, &(users, written)) in cases.iter().enumerate() {
        // A caller context with a non-empty trace state, which the send span inherits.
        let incoming = baton::carrier::extract_w3c(
            &Context::new(),
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01",
            Some("vendor=1"),
        );
        let mut attributes = ten_attributes();
        attributes.retain(|key, _| key[1..].parse::<usize>().unwrap() < users);
        client
            .send_message()
            .queue_url(QUEUE)
            .message_body("x")
            .set_message_attributes(Some(attributes))
            .send()
            .with_context(incoming)
            .await
            .unwrap();
        let request = body(&stub, index);
        let sent = request["MessageAttributes"].as_object().unwrap();
        let mut w3c: Vec<&str> = sent
            .keys()
            .map(String::as_str)
            .filter(|k| !k.starts_with('a'))
            .collect();
        w3c.sort_unstable();
        assert_eq!(w3c, written, "{users} user attributes");
        assert!(sent.len() <= 10, "{users} user attributes");
        if written.contains(&"tracestate") {
            assert_eq!(sent["tracestate"]["StringValue"], "vendor=1");
        }
        // Whatever the W3C carrier could take, AWSTraceHeader carries the trace.
        assert!(request["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"].is_string());
    }
}

#[tokio::test]
async fn a_failed_send_is_recorded_and_returned_unchanged() {
    let stub = StubSqs::default();
    stub.responder().fail_with(
        400,
        r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#,
    );
    stub.responder()
        .query_error("AWS.SimpleQueueService.NonExistentQueue;Sender");
    let spans = Spans::new();
    let client = intercepted(&stub, SqsPropagation::new().with_tracer(spans.handle()));
    let error = client
        .send_message()
        .queue_url(QUEUE)
        .message_body("hello")
        .send()
        .await
        .unwrap_err();
    let service_error = error.into_service_error();
    assert!(service_error.is_queue_does_not_exist(), "{service_error:?}");
    let code = aws_sdk_sqs::error::ProvideErrorMetadata::code(&service_error)
        .unwrap()
        .to_string();

    let send = spans.one("send orders");
    assert_eq!(
        send.status,
        Status::error("The specified queue does not exist.")
    );
    assert!(
        send.attributes
            .contains(&KeyValue::new(attr::ERROR_TYPE, code.clone())),
        "{code}"
    );
    assert!(
        send.attributes
            .contains(&KeyValue::new(attr::AWS_REQUEST_ID, REQUEST_ID))
    );
    // The HTTP status, which tells an X-Ray exporter a client error (400) from a fault.
    assert!(
        send.attributes
            .contains(&KeyValue::new(attr::HTTP_RESPONSE_STATUS_CODE, 400))
    );

    // The Tower form records the same (but the HTTP status, which the SDK's service error type
    // does not keep), and passes the SDK error through.
    let mut service = tower::Layer::layer(
        &SqsPropagation::new().with_tracer(spans.handle()).layer(),
        SqsService::new(sqs_client(&stub)),
    );
    let input = SendMessageInput::builder()
        .queue_url(QUEUE)
        .message_body("x")
        .build()
        .unwrap();
    let error = service
        .ready()
        .await
        .unwrap()
        .call(input.into())
        .await
        .unwrap_err();
    assert!(matches!(error, aws_sdk_sqs::Error::QueueDoesNotExist(_)));
    let tower_send = spans
        .named("send orders")
        .into_iter()
        .find(|s| s.span_context.span_id() != send.span_context.span_id())
        .unwrap();
    assert_eq!(
        tower_send.status,
        Status::error("The specified queue does not exist.")
    );
}

#[tokio::test]
async fn other_operations_pass_through_untraced() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let mut service = tower::Layer::layer(
        &SqsPropagation::new().with_tracer(spans.handle()).layer(),
        SqsService::new(sqs_client(&stub)),
    );
    let input = aws_sdk_sqs::operation::delete_message::DeleteMessageInput::builder()
        .queue_url(QUEUE)
        .receipt_handle("rh-1")
        .build()
        .unwrap();
    let response = service
        .ready()
        .await
        .unwrap()
        .call(input.into())
        .await
        .unwrap();
    assert_eq!(response.operation(), "DeleteMessage");
    assert_eq!(stub.requests()[0].operation(), "DeleteMessage");
    assert_eq!(
        body(&stub, 0),
        json!({"QueueUrl": QUEUE, "ReceiptHandle": "rh-1"})
    );
    assert!(spans.finished().is_empty());
}

#[tokio::test]
async fn stacks_with_tower_middleware() {
    use std::time::Duration;
    use tower::ServiceBuilder;

    let stub = StubSqs::default();
    let spans = Spans::new();
    let mut service = ServiceBuilder::new()
        .timeout(Duration::from_secs(5))
        .concurrency_limit(4)
        .layer(SqsPropagation::new().with_tracer(spans.handle()).layer())
        .service(SqsService::new(sqs_client(&stub)));
    let input = SendMessageInput::builder()
        .queue_url(QUEUE)
        .message_body("x")
        .build()
        .unwrap();
    service
        .ready()
        .await
        .unwrap()
        .call(input.into())
        .await
        .unwrap();
    assert_eq!(spans.named("send orders").len(), 1);
}

#[tokio::test]
async fn the_size_limit_is_the_queues() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let body = "x".repeat(baton::driver::DEFAULT_SIZE_LIMIT - 40);
    // By default Baton assumes 256 KiB: no room for the traceparent attribute.
    let client = intercepted(
        &stub,
        SqsPropagation::new()
            .with_tracer(spans.handle())
            .with_w3c_message_attributes(true),
    );
    client
        .send_message()
        .queue_url(QUEUE)
        .message_body(body.clone())
        .send()
        .await
        .unwrap();
    assert!(body_of(&stub, 0).get("MessageAttributes").is_none());
    // A queue known to take 1 MiB has room.
    let client = intercepted(
        &stub,
        SqsPropagation::new()
            .with_tracer(spans.handle())
            .with_w3c_message_attributes(true)
            .with_size_limit(1024 * 1024),
    );
    client
        .send_message()
        .queue_url(QUEUE)
        .message_body(body)
        .send()
        .await
        .unwrap();
    assert!(body_of(&stub, 1)["MessageAttributes"]["traceparent"].is_object());
}

fn body_of(stub: &StubSqs, index: usize) -> Value {
    body(stub, index)
}

#[tokio::test]
async fn lambda_lineage_is_merged_into_aws_trace_header() {
    fn lambda_env(name: &str) -> Option<String> {
        match name {
            "AWS_LAMBDA_FUNCTION_NAME" => Some("checkout".into()),
            "_X_AMZN_TRACE_ID" => Some(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c:1"
                    .into(),
            ),
            _ => None,
        }
    }
    let stub = StubSqs::default();
    let spans = Spans::new();
    let client = intercepted(
        &stub,
        SqsPropagation::new()
            .with_tracer(spans.handle())
            .with_environment(lambda_env),
    );
    client
        .send_message()
        .queue_url(QUEUE)
        .message_body("x")
        .send()
        .await
        .unwrap();
    let send = spans.one("send orders");
    assert_eq!(
        body(&stub, 0)["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"],
        format!("{};Lineage=1:a87bd80c:1", header_of(&send))
    );

    // Inside Lambda the invocation's Lineage wins over the one the caller's context carries
    // (Lambda advanced it for this invocation); unknown fields are not written to SQS.
    let incoming = baton::extract_header(
        &Context::new(),
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=2:9f3c1d2e:3;Foo=bar",
        "test",
    );
    client
        .send_message()
        .queue_url(QUEUE)
        .message_body("x")
        .send()
        .with_context(incoming)
        .await
        .unwrap();
    let header = body(&stub, 1)["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        header.starts_with("Root=1-5759e988-bd862e3fe1be46a994272793;Parent="),
        "{header}"
    );
    assert!(
        header.ends_with(";Sampled=1;Lineage=1:a87bd80c:1"),
        "{header}"
    );

    // Outside Lambda the context's Lineage is passed on.
    let plain = intercepted(
        &stub,
        SqsPropagation::new()
            .with_tracer(spans.handle())
            .with_environment(|_| None),
    );
    let incoming = baton::extract_header(
        &Context::new(),
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=2:9f3c1d2e:3",
        "test",
    );
    plain
        .send_message()
        .queue_url(QUEUE)
        .message_body("x")
        .send()
        .with_context(incoming)
        .await
        .unwrap();
    let header = body(&stub, 2)["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        header.ends_with(";Sampled=1;Lineage=2:9f3c1d2e:3"),
        "{header}"
    );
}

#[tokio::test]
async fn the_deferred_marker_stays_out_of_w3c_tracestate() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let client = intercepted(
        &stub,
        SqsPropagation::new()
            .with_tracer(spans.handle())
            .with_w3c_message_attributes(true),
    );
    let incoming = baton::extract_header(
        &Context::new(),
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?",
        "test",
    );
    client
        .send_message()
        .queue_url(QUEUE)
        .message_body("x")
        .send()
        .with_context(incoming)
        .await
        .unwrap();
    let request = body(&stub, 0);
    let attributes = request["MessageAttributes"].as_object().unwrap();
    assert!(attributes.contains_key("traceparent"));
    assert!(!attributes.contains_key("tracestate"), "{attributes:?}");
    // The X-Ray header still says no decision was made.
    assert!(
        request["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"]
            .as_str()
            .unwrap()
            .ends_with(";Sampled=?")
    );
}

#[tokio::test]
async fn a_call_dropped_before_its_response_ends_its_spans_as_cancelled() {
    use std::time::Duration;

    let stub = StubSqs::default();
    stub.hang();
    let spans = Spans::new();

    // Interceptor form, under a timeout the caller put around the call.
    let client = intercepted(&stub, SqsPropagation::new().with_tracer(spans.handle()));
    let send = client
        .send_message()
        .queue_url(QUEUE)
        .message_body("x")
        .send();
    assert!(
        tokio::time::timeout(Duration::from_millis(50), send)
            .await
            .is_err()
    );
    let receive = client.receive_message().queue_url(QUEUE).send();
    assert!(
        tokio::time::timeout(Duration::from_millis(50), receive)
            .await
            .is_err()
    );

    // Tower form, with tower's timeout outside the propagation layer.
    let mut service = tower::ServiceBuilder::new()
        .timeout(Duration::from_millis(50))
        .layer(SqsPropagation::new().with_tracer(spans.handle()).layer())
        .service(SqsService::new(sqs_client(&stub)));
    let input = SendMessageBatchInput::builder()
        .queue_url(QUEUE)
        .entries(entry("a"))
        .build()
        .unwrap();
    let error = service
        .ready()
        .await
        .unwrap()
        .call(input.into())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("timed out"), "{error}");

    let finished = spans.finished();
    let names: Vec<_> = finished.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(
        names.iter().filter(|n| *n == "send orders").count(),
        2,
        "{names:?}"
    );
    assert_eq!(names.iter().filter(|n| *n == "receive orders").count(), 1);
    assert_eq!(names.iter().filter(|n| *n == "create orders").count(), 1);
    for span in &finished {
        assert_eq!(
            span.status,
            Status::error("the call was cancelled before a response arrived"),
            "{}",
            span.name
        );
        assert!(
            span.attributes
                .contains(&KeyValue::new(attr::ERROR_TYPE, "cancelled"))
        );
    }
}

#[tokio::test]
async fn a_batch_with_a_failed_entry() {
    let stub = StubSqs::default();
    stub.responder().fail_entry("b");
    let spans = Spans::new();
    let client = intercepted(&stub, SqsPropagation::new().with_tracer(spans.handle()));
    let output = client
        .send_message_batch()
        .queue_url(QUEUE)
        .entries(entry("a"))
        .entries(entry("b"))
        .send()
        .await
        .unwrap();
    assert_eq!(output.failed().len(), 1);
    let send = spans.one("send orders");
    assert_eq!(send.status, Status::error("1 of 2 entries failed"));
    let creates = spans.named("create orders");
    let failed: Vec<_> = creates
        .iter()
        .filter(|c| c.status != Status::Unset)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].status, Status::error("bad entry"));
    assert!(
        failed[0]
            .attributes
            .contains(&KeyValue::new(attr::ERROR_TYPE, "InvalidParameterValue"))
    );
    let ok: Vec<_> = creates
        .iter()
        .filter(|c| c.status == Status::Unset)
        .collect();
    assert!(
        ok[0]
            .attributes
            .contains(&KeyValue::new(attr::MESSAGING_MESSAGE_ID, "msg-a"))
    );
}

#[tokio::test]
async fn a_failed_receive_is_recorded() {
    let stub = StubSqs::default();
    stub.responder().fail_with(
        400,
        r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#,
    );
    let spans = Spans::new();
    let client = intercepted(&stub, SqsPropagation::new().with_tracer(spans.handle()));
    client
        .receive_message()
        .queue_url(QUEUE)
        .send()
        .await
        .unwrap_err();
    let receive = spans.one("receive orders");
    assert_eq!(
        receive.status,
        Status::error("The specified queue does not exist.")
    );
    assert!(receive.links.is_empty());
}

#[tokio::test]
async fn the_tower_form_built_from_a_client_records_its_region() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let mut service = SqsPropagation::new()
        .with_tracer(spans.handle())
        .service(sqs_client(&stub));
    let input = SendMessageInput::builder()
        .queue_url(QUEUE)
        .message_body("x")
        .build()
        .unwrap();
    service
        .ready()
        .await
        .unwrap()
        .call(input.into())
        .await
        .unwrap();
    let send = spans.one("send orders");
    assert!(
        send.attributes
            .contains(&KeyValue::new(attr::CLOUD_REGION, "eu-west-1"))
    );
}

#[tokio::test]
async fn an_interceptor_installed_twice_traces_once() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let config = SqsPropagation::new().with_tracer(spans.handle());
    let client = aws_sdk_sqs::Client::from_conf(
        sdk_config!(aws_sdk_sqs, stub)
            .interceptor(config.interceptor())
            .interceptor(config.interceptor())
            .build(),
    );
    client
        .send_message()
        .queue_url(QUEUE)
        .message_body("x")
        .send()
        .await
        .unwrap();
    let send = spans.one("send orders");
    assert_eq!(send.status, Status::Unset);
    assert_eq!(
        body(&stub, 0)["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"],
        header_of(&send)
    );
}

/// What an `on_send` hook saw: the span contexts it was called with.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<opentelemetry::trace::SpanContext>>>;

fn recording_on_send(config: SqsPropagation, seen: &Seen) -> SqsPropagation {
    let seen = seen.clone();
    config.with_on_send(move |span| {
        span.set_attribute(KeyValue::new("shop.tenant", "acme"));
        seen.lock().unwrap().push(span.span_context().clone());
    })
}

#[tokio::test]
async fn on_send_learns_the_span_whose_context_was_sent_in_both_forms() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let seen = Seen::default();
    let config = recording_on_send(SqsPropagation::new().with_tracer(spans.handle()), &seen);

    intercepted(&stub, config.clone())
        .send_message()
        .queue_url(QUEUE)
        .message_body("interceptor")
        .send()
        .await
        .unwrap();
    let mut service = config
        .layer()
        .layer_service(SqsService::new(sqs_client(&stub)));
    let input = SendMessageInput::builder()
        .queue_url(QUEUE)
        .message_body("tower")
        .build()
        .unwrap();
    service
        .ready()
        .await
        .unwrap()
        .call(SqsRequest::from(input))
        .await
        .unwrap();

    let sends = spans.named("send orders");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(sends.len(), 2);
    assert_eq!(seen.len(), 2, "called once per send");
    for (index, send) in sends.iter().enumerate() {
        // The hook saw the exported span, with its own attribute on it, and the header sent
        // names that span as the parent.
        assert!(seen.contains(&send.span_context));
        assert!(
            send.attributes
                .contains(&KeyValue::new("shop.tenant", "acme"))
        );
        let sent = body(&stub, index);
        let header = sent["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(sends.iter().any(|s| header_of(s) == header), "{header}");
    }
}

#[tokio::test]
async fn an_interceptor_installed_for_good_propagates_and_traces_once() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let config = SqsPropagation::new().with_tracer(spans.handle());
    let shared = config.interceptor().into_shared();
    // Installed for good: the SDK's `Debug` says so (and skips the "disabled?" look-ups).
    assert!(
        format!("{shared:?}").contains("permanent: true"),
        "{shared:?}"
    );
    let mut builder = sdk_config!(aws_sdk_sqs, stub);
    builder.push_interceptor(shared);
    let client = aws_sdk_sqs::Client::from_conf(builder.build());

    let root = spans.tracer().start("checkout");
    let cx = Context::new().with_span(root);
    client
        .send_message()
        .queue_url(QUEUE)
        .message_body("x")
        .send()
        .with_context(cx.clone())
        .await
        .unwrap();
    cx.span().end();

    let send = spans.one("send orders");
    assert_eq!(
        send.parent_span_id,
        spans.one("checkout").span_context.span_id()
    );
    assert_eq!(
        body(&stub, 0)["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"],
        header_of(&send)
    );
    assert!(
        send.attributes
            .contains(&KeyValue::new(attr::SERVER_ADDRESS, "stub.invalid"))
    );

    // Beside a second copy installed the usual way: still one span and one header.
    let mut builder = sdk_config!(aws_sdk_sqs, stub).interceptor(config.interceptor());
    builder.push_interceptor(config.interceptor().into_shared());
    aws_sdk_sqs::Client::from_conf(builder.build())
        .send_message()
        .queue_url(QUEUE)
        .message_body("y")
        .send()
        .await
        .unwrap();
    let sends = spans.named("send orders");
    assert_eq!(sends.len(), 2);
    assert_eq!(
        body(&stub, 1)["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"],
        header_of(&sends[1])
    );
}

#[tokio::test]
async fn one_interceptor_on_clients_with_different_endpoints_records_each_server() {
    // The interceptor keeps the first endpoint it sees taken apart; a client of another
    // endpoint sharing it must still get its own address.
    let stub = StubSqs::default();
    let spans = Spans::new();
    let interceptor = SqsPropagation::new()
        .with_tracer(spans.handle())
        .interceptor();
    let first = aws_sdk_sqs::Client::from_conf(
        sdk_config!(aws_sdk_sqs, stub)
            .interceptor(interceptor.clone())
            .build(),
    );
    let second = aws_sdk_sqs::Client::from_conf(
        sdk_config!(aws_sdk_sqs, stub)
            .endpoint_url("http://other.invalid:4566")
            .interceptor(interceptor)
            .build(),
    );
    for (client, body) in [(&first, "a"), (&second, "b"), (&first, "c"), (&second, "d")] {
        client
            .send_message()
            .queue_url(QUEUE)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let servers: Vec<(Option<String>, Option<i64>)> = spans
        .named("send orders")
        .iter()
        .map(|span| {
            let value = |key: &str| {
                span.attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == key)
                    .map(|kv| kv.value.clone())
            };
            (
                value(attr::SERVER_ADDRESS).map(|v| v.as_str().into_owned()),
                value(attr::SERVER_PORT).and_then(|v| match v {
                    opentelemetry::Value::I64(port) => Some(port),
                    _ => None,
                }),
            )
        })
        .collect();
    let first_server = (Some("stub.invalid".to_owned()), None);
    let second_server = (Some("other.invalid".to_owned()), Some(4566));
    assert_eq!(
        servers,
        vec![
            first_server.clone(),
            second_server.clone(),
            first_server,
            second_server
        ]
    );
}
