//! The messaging metrics of SQS calls, the same in both forms: exact data points for a send, a
//! batch send with a refused entry, a failed send, a receive and a delete made outside any
//! trace (measured, though it gets no span).

mod common;

use aws_sdk_sqs::operation::delete_message::DeleteMessageInput;
use aws_sdk_sqs::operation::receive_message::ReceiveMessageInput;
use aws_sdk_sqs::operation::send_message::SendMessageInput;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchInput;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use baton::attr;
use baton::metrics::{CONSUMED_MESSAGES, OPERATION_DURATION, SENT_MESSAGES};
use baton_sqs::{SqsPropagation, SqsRequest};
use baton_test_support::{Metrics, Point, Spans, point};
use common::{StubSqs, intercepted, sqs_client};
use opentelemetry::KeyValue;
use serde_json::json;
use tower::{Service, ServiceExt};

const QUEUE: &str = "http://stub.invalid/000000000000/orders";

fn send() -> SendMessageInput {
    SendMessageInput::builder()
        .queue_url(QUEUE)
        .message_body("hello")
        .build()
        .unwrap()
}

fn batch() -> SendMessageBatchInput {
    let entry = |id: &str| {
        SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body("hi")
            .build()
            .unwrap()
    };
    SendMessageBatchInput::builder()
        .queue_url(QUEUE)
        .entries(entry("a"))
        .entries(entry("b"))
        .entries(entry("c"))
        .build()
        .unwrap()
}

fn receive() -> ReceiveMessageInput {
    ReceiveMessageInput::builder()
        .queue_url(QUEUE)
        .build()
        .unwrap()
}

fn delete() -> DeleteMessageInput {
    DeleteMessageInput::builder()
        .queue_url(QUEUE)
        .receipt_handle("rh-1")
        .build()
        .unwrap()
}

fn stub() -> StubSqs {
    let stub = StubSqs::default();
    stub.responder().fail_entry("b");
    stub.responder().receive_body(
        json!({"Messages": [
            {"MessageId": "m-1", "ReceiptHandle": "rh-1", "Body": "a"},
            {"MessageId": "m-2", "ReceiptHandle": "rh-2", "Body": "b"},
        ]})
        .to_string(),
    );
    stub
}

/// What the calls below must record: the same in both forms.
fn expected() -> Vec<Point> {
    let base = [
        ("messaging.destination.name", "orders"),
        ("messaging.system", "aws_sqs"),
        ("server.address", "stub.invalid"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = base.to_vec();
        all.extend_from_slice(extra);
        all
    };
    let mut points = vec![
        point(
            OPERATION_DURATION,
            &with(&[
                ("messaging.operation.name", "SendMessage"),
                ("messaging.operation.type", "send"),
            ]),
            1,
        ),
        point(
            OPERATION_DURATION,
            &with(&[
                ("messaging.operation.name", "SendMessage"),
                ("messaging.operation.type", "send"),
                ("error.type", "AWS.SimpleQueueService.NonExistentQueue"),
            ]),
            1,
        ),
        point(
            OPERATION_DURATION,
            &with(&[
                ("messaging.operation.name", "SendMessageBatch"),
                ("messaging.operation.type", "send"),
            ]),
            1,
        ),
        point(
            OPERATION_DURATION,
            &with(&[
                ("messaging.operation.name", "ReceiveMessage"),
                ("messaging.operation.type", "receive"),
            ]),
            1,
        ),
        point(
            OPERATION_DURATION,
            &with(&[
                ("messaging.operation.name", "DeleteMessage"),
                ("messaging.operation.type", "settle"),
            ]),
            1,
        ),
        point(
            SENT_MESSAGES,
            &with(&[("messaging.operation.name", "SendMessage")]),
            1,
        ),
        point(
            SENT_MESSAGES,
            &with(&[
                ("messaging.operation.name", "SendMessage"),
                ("error.type", "AWS.SimpleQueueService.NonExistentQueue"),
            ]),
            1,
        ),
        point(
            SENT_MESSAGES,
            &with(&[("messaging.operation.name", "SendMessageBatch")]),
            2,
        ),
        point(
            SENT_MESSAGES,
            &with(&[
                ("messaging.operation.name", "SendMessageBatch"),
                ("error.type", "InvalidParameterValue"),
            ]),
            1,
        ),
        point(
            CONSUMED_MESSAGES,
            &with(&[("messaging.operation.name", "ReceiveMessage")]),
            2,
        ),
    ];
    points.sort();
    points
}

/// A stub whose every answer is SQS's "no such queue".
fn failing() -> StubSqs {
    let stub = StubSqs::default();
    stub.responder().fail_with(
        400,
        r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no queue"}"#,
    );
    stub.responder()
        .query_error("AWS.SimpleQueueService.NonExistentQueue;Sender");
    stub
}

#[tokio::test]
async fn the_interceptor_measures_every_call() {
    let metrics = Metrics::new();
    let spans = Spans::new();
    let config = SqsPropagation::new()
        .with_tracer(spans.handle())
        .with_meter(&metrics.meter());
    let stub = stub();
    let client = intercepted(&stub, config.clone());
    client
        .send_message()
        .queue_url(QUEUE)
        .message_body("hello")
        .send()
        .await
        .unwrap();
    let b = batch();
    client
        .send_message_batch()
        .queue_url(QUEUE)
        .set_entries(b.entries)
        .send()
        .await
        .unwrap();
    client
        .receive_message()
        .queue_url(QUEUE)
        .send()
        .await
        .unwrap();
    // Outside any trace: no settle span, but measured.
    client
        .delete_message()
        .queue_url(QUEUE)
        .receipt_handle("rh-1")
        .send()
        .await
        .unwrap();
    assert!(spans.named("settle orders").is_empty());
    let failing = failing();
    let error = intercepted(&failing, config)
        .send_message()
        .queue_url(QUEUE)
        .message_body("hello")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sqs::error::ProvideErrorMetadata::code(&error),
        Some("AWS.SimpleQueueService.NonExistentQueue"),
        "the SDK's own reading of the error",
    );
    let points = metrics.points();
    assert_eq!(points, expected());
}

#[tokio::test]
async fn the_tower_form_measures_the_same_and_learns_the_server_from_the_client() {
    let metrics = Metrics::new();
    let spans = Spans::new();
    let config = SqsPropagation::new()
        .with_tracer(spans.handle())
        .with_meter(&metrics.meter());
    let stub = stub();
    let mut service = config.service(sqs_client(&stub));
    let requests: [SqsRequest; 4] = [
        send().into(),
        batch().into(),
        receive().into(),
        delete().into(),
    ];
    for request in requests {
        service.ready().await.unwrap().call(request).await.unwrap();
    }
    let failing = failing();
    let mut failing_service = config.service(sqs_client(&failing));
    failing_service
        .ready()
        .await
        .unwrap()
        .call(send().into())
        .await
        .unwrap_err();
    let points = metrics.points();
    assert_eq!(points, expected());

    // The spans learn the server too, the first call included.
    assert_eq!(spans.named("receive orders").len(), 1);
    for name in ["send orders", "receive orders"] {
        for span in spans.named(name) {
            assert!(
                span.attributes
                    .contains(&KeyValue::new(attr::SERVER_ADDRESS, "stub.invalid")),
                "{name}: {:?}",
                span.attributes
            );
        }
    }
    assert_eq!(spans.named("send orders").len(), 3);
}

#[tokio::test]
async fn an_address_set_by_hand_wins() {
    let spans = Spans::new();
    let stub = stub();
    let mut service = SqsPropagation::new()
        .with_tracer(spans.handle())
        .with_server_address("sqs.eu-west-1.amazonaws.com", None)
        .service(sqs_client(&stub));
    service
        .ready()
        .await
        .unwrap()
        .call(send().into())
        .await
        .unwrap();
    let send = spans.one("send orders");
    assert!(send.attributes.contains(&KeyValue::new(
        attr::SERVER_ADDRESS,
        "sqs.eu-west-1.amazonaws.com"
    )));
    assert!(
        !send
            .attributes
            .contains(&KeyValue::new(attr::SERVER_ADDRESS, "stub.invalid"))
    );
}
