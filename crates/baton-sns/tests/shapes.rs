//! Publish and PublishBatch in both forms, with the exact spans each makes. The interceptor
//! and the Tower form (built with `service(client)`) must make the same spans. (The stub
//! answers without an `x-amzn-requestid` header, so no span has `aws.request_id`.)

mod common;

use aws_sdk_sns::operation::publish::PublishInput;
use aws_sdk_sns::operation::publish_batch::PublishBatchInput;
use aws_sdk_sns::types::PublishBatchRequestEntry;
use baton_sns::{SnsPropagation, SnsRequest, SnsService};
use baton_test_support::{Shape, Spans, pairs, sdk_config};
use common::Stub;
use opentelemetry::Context;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use tower::Service;

const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:orders";

fn requests() -> Vec<SnsRequest> {
    let entry = |id: &str| {
        PublishBatchRequestEntry::builder()
            .id(id)
            .message("hi")
            .build()
            .unwrap()
    };
    vec![
        PublishInput::builder()
            .topic_arn(TOPIC)
            .message("hello")
            .build()
            .unwrap()
            .into(),
        PublishBatchInput::builder()
            .topic_arn(TOPIC)
            .publish_batch_request_entries(entry("a"))
            .publish_batch_request_entries(entry("b"))
            .build()
            .unwrap()
            .into(),
    ]
}

async fn run<S>(spans: &Spans, mut service: S) -> Vec<Shape>
where
    S: Service<SnsRequest>,
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
    let spans = Spans::new();
    let stub = Stub::default();
    let intercepted = aws_sdk_sns::Client::from_conf(
        sdk_config!(aws_sdk_sns, stub)
            .interceptor(
                SnsPropagation::new()
                    .with_tracer(spans.handle())
                    .interceptor(),
            )
            .build(),
    );
    let by_interceptor = run(&spans, SnsService::new(intercepted)).await;

    let spans = Spans::new();
    let stub = Stub::default();
    let client = aws_sdk_sns::Client::from_conf(sdk_config!(aws_sdk_sns, stub).build());
    let by_tower = run(
        &spans,
        SnsPropagation::new()
            .with_tracer(spans.handle())
            .service(client),
    )
    .await;

    let attributes = pairs;
    let head = |operation: &'static str, kind: &'static str| {
        [
            ("messaging.system", "aws.sns"),
            ("messaging.operation.type", kind),
            ("messaging.operation.name", operation),
            ("messaging.destination.name", "orders"),
        ]
    };
    let create = |id: &str| -> Shape {
        let mut all = attributes(&head("PublishBatch", "create"));
        all.extend(attributes(&[("messaging.message.id", &format!("m-{id}"))]));
        (
            "create orders".into(),
            SpanKind::Producer,
            all,
            0,
            Status::Unset,
            true,
        )
    };
    let mut publish = attributes(&head("Publish", "send"));
    publish.extend(attributes(&[
        ("cloud.region", "eu-west-1"),
        ("aws.sns.topic.arn", TOPIC),
        ("server.address", "stub.invalid"),
        ("messaging.message.id", "m-1"),
    ]));
    let mut batch = attributes(&head("PublishBatch", "send"));
    batch.extend(attributes(&[
        ("messaging.batch.message_count", "2"),
        ("cloud.region", "eu-west-1"),
        ("aws.sns.topic.arn", TOPIC),
        ("server.address", "stub.invalid"),
    ]));
    let expected: Vec<Shape> = vec![
        (
            "send orders".into(),
            SpanKind::Producer,
            publish,
            0,
            Status::Unset,
            true,
        ),
        create("a"),
        create("b"),
        (
            "send orders".into(),
            SpanKind::Producer,
            batch,
            2,
            Status::Unset,
            true,
        ),
    ];
    assert_eq!(by_interceptor, expected);
    assert_eq!(by_tower, expected);
}
