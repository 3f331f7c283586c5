//! Every traced SQS operation, in both forms, with the exact spans it makes: name, kind, every
//! attribute in order, links, status. The interceptor and the Tower form (built with
//! `service(client)`) must make the same spans.

mod common;

use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityInput;
use aws_sdk_sqs::operation::change_message_visibility_batch::ChangeMessageVisibilityBatchInput;
use aws_sdk_sqs::operation::delete_message::DeleteMessageInput;
use aws_sdk_sqs::operation::delete_message_batch::DeleteMessageBatchInput;
use aws_sdk_sqs::operation::receive_message::ReceiveMessageInput;
use aws_sdk_sqs::operation::send_message::SendMessageInput;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchInput;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    SendMessageBatchRequestEntry,
};
use baton_sqs::{SqsPropagation, SqsRequest};
use baton_test_support::{Shape, Spans, pairs};
use common::{REQUEST_ID, StubSqs, sqs_client};
use opentelemetry::Context;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use serde_json::json;
use tower::Service;

const QUEUE: &str = "http://stub.invalid/000000000000/orders";
const PRODUCER_A: &str =
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
const PRODUCER_B: &str =
    "Root=1-6b071cbb-6a0ee8ca1d2c0e3fddaa1870;Parent=20f79632532992fd;Sampled=1";

/// One request of each traced operation.
fn requests() -> Vec<SqsRequest> {
    let send_entry = |id: &str| {
        SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body("hi")
            .build()
            .unwrap()
    };
    let delete_entry = |id: &str| {
        DeleteMessageBatchRequestEntry::builder()
            .id(id)
            .receipt_handle(format!("rh-{id}"))
            .build()
            .unwrap()
    };
    let visibility_entry = |id: &str| {
        ChangeMessageVisibilityBatchRequestEntry::builder()
            .id(id)
            .receipt_handle(format!("rh-{id}"))
            .visibility_timeout(30)
            .build()
            .unwrap()
    };
    vec![
        SendMessageInput::builder()
            .queue_url(QUEUE)
            .message_body("hello")
            .build()
            .unwrap()
            .into(),
        SendMessageBatchInput::builder()
            .queue_url(QUEUE)
            .entries(send_entry("a"))
            .entries(send_entry("b"))
            .build()
            .unwrap()
            .into(),
        ReceiveMessageInput::builder()
            .queue_url(QUEUE)
            .build()
            .unwrap()
            .into(),
        DeleteMessageInput::builder()
            .queue_url(QUEUE)
            .receipt_handle("rh-1")
            .build()
            .unwrap()
            .into(),
        DeleteMessageBatchInput::builder()
            .queue_url(QUEUE)
            .entries(delete_entry("a"))
            .entries(delete_entry("b"))
            .build()
            .unwrap()
            .into(),
        ChangeMessageVisibilityInput::builder()
            .queue_url(QUEUE)
            .receipt_handle("rh-1")
            .visibility_timeout(30)
            .build()
            .unwrap()
            .into(),
        ChangeMessageVisibilityBatchInput::builder()
            .queue_url(QUEUE)
            .entries(visibility_entry("a"))
            .entries(visibility_entry("b"))
            .build()
            .unwrap()
            .into(),
    ]
}

fn stub() -> StubSqs {
    let stub = StubSqs::default();
    stub.responder().receive_body(
        json!({"Messages": [
            {"MessageId": "m-1", "ReceiptHandle": "rh-1", "Body": "a",
             "Attributes": {"AWSTraceHeader": PRODUCER_A}},
            {"MessageId": "m-2", "ReceiptHandle": "rh-2", "Body": "b",
             "Attributes": {"AWSTraceHeader": PRODUCER_B}},
        ]})
        .to_string(),
    );
    stub
}

/// Runs every request through `service` inside a caller's span, and returns the spans' shapes.
async fn run<S>(spans: &Spans, mut service: S) -> Vec<Shape>
where
    S: Service<SqsRequest>,
    S::Error: std::fmt::Debug,
{
    let cx = Context::new().with_span(spans.provider.tracer("app").start("handle"));
    for request in requests() {
        baton_test_support::call_in(&mut service, request, &cx)
            .await
            .unwrap();
    }
    cx.span().end();
    spans.shapes_except("handle")
}

#[tokio::test]
async fn both_forms_make_exactly_these_spans() {
    // The interceptor: the SDK client's own calls (`SqsService` only turns requests into them).
    let spans = Spans::new();
    let first = stub();
    let intercepted =
        common::intercepted(&first, SqsPropagation::new().with_tracer(spans.handle()));
    let by_interceptor = run(&spans, baton_sqs::SqsService::new(intercepted)).await;

    // The Tower form, as `service(client)` builds it.
    let spans = Spans::new();
    let second = stub();
    let tower = SqsPropagation::new()
        .with_tracer(spans.handle())
        .service(sqs_client(&second));
    let by_tower = run(&spans, tower).await;

    let common = |operation: &str, kind: &str| {
        pairs(&[
            ("messaging.system", "aws_sqs"),
            ("messaging.operation.type", kind),
            ("messaging.operation.name", operation),
            ("messaging.destination.name", "orders"),
        ])
    };
    let then = |mut first: Vec<(String, String)>, rest: &[(&str, &str)]| {
        first.extend(pairs(rest));
        first
    };
    let settle = |operation: &str, batch: Option<&str>| {
        let mut attributes = common(operation, "settle");
        if let Some(count) = batch {
            attributes.push(("messaging.batch.message_count".into(), count.into()));
        }
        (
            "settle orders".to_owned(),
            SpanKind::Client,
            then(
                attributes,
                &[
                    ("cloud.region", "eu-west-1"),
                    ("aws.sqs.queue.url", QUEUE),
                    ("server.address", "stub.invalid"),
                    ("aws.request_id", REQUEST_ID),
                ],
            ),
            0,
            Status::Unset,
            true,
        )
    };
    let create = |id: &str| {
        (
            "create orders".to_owned(),
            SpanKind::Producer,
            then(
                common("SendMessageBatch", "create"),
                &[("messaging.message.id", &format!("msg-{id}"))],
            ),
            0,
            Status::Unset,
            true,
        )
    };
    let expected: Vec<Shape> = vec![
        (
            "send orders".to_owned(),
            SpanKind::Producer,
            then(
                common("SendMessage", "send"),
                &[
                    ("cloud.region", "eu-west-1"),
                    ("aws.sqs.queue.url", QUEUE),
                    ("server.address", "stub.invalid"),
                    ("messaging.message.id", "msg-1"),
                    ("aws.request_id", REQUEST_ID),
                ],
            ),
            0,
            Status::Unset,
            true,
        ),
        create("a"),
        create("b"),
        (
            "send orders".to_owned(),
            SpanKind::Producer,
            then(
                common("SendMessageBatch", "send"),
                &[
                    ("messaging.batch.message_count", "2"),
                    ("cloud.region", "eu-west-1"),
                    ("aws.sqs.queue.url", QUEUE),
                    ("server.address", "stub.invalid"),
                    ("aws.request_id", REQUEST_ID),
                ],
            ),
            2,
            Status::Unset,
            true,
        ),
        (
            "receive orders".to_owned(),
            SpanKind::Client,
            then(
                common("ReceiveMessage", "receive"),
                &[
                    ("cloud.region", "eu-west-1"),
                    ("server.address", "stub.invalid"),
                    ("aws.sqs.queue.url", QUEUE),
                    ("messaging.batch.message_count", "2"),
                    ("aws.request_id", REQUEST_ID),
                ],
            ),
            2,
            Status::Unset,
            true,
        ),
        settle("DeleteMessage", None),
        settle("DeleteMessageBatch", Some("2")),
        settle("ChangeMessageVisibility", None),
        settle("ChangeMessageVisibilityBatch", Some("2")),
    ];
    assert_eq!(by_interceptor, expected);
    assert_eq!(by_tower, expected);
}
