//! Settle spans: DeleteMessage(Batch) and ChangeMessageVisibility(Batch) made inside a trace get
//! a CLIENT `settle {queue}` span, in both forms; outside a trace, or turned off, none.

mod common;

use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityInput;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use baton::attr;
use baton_sqs::{SqsPropagation, SqsService};
use baton_test_support::Spans;
use common::{REQUEST_ID, StubSqs, intercepted, sqs_client};
use opentelemetry::trace::{FutureExt, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use tower::{Service, ServiceExt};

const QUEUE: &str = "http://stub.invalid/000000000000/orders";

fn caller(spans: &Spans) -> Context {
    Context::new().with_span(spans.provider.tracer("app").start("handle"))
}

#[tokio::test]
async fn a_delete_inside_a_trace_gets_a_settle_span() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let config = SqsPropagation::new().with_tracer(spans.handle());
    let cx = caller(&spans);
    intercepted(&stub, config.clone())
        .delete_message()
        .queue_url(QUEUE)
        .receipt_handle("rh-1")
        .send()
        .with_context(cx.clone())
        .await
        .unwrap();
    cx.span().end();

    let settle = spans.one("settle orders");
    assert_eq!(settle.span_kind, SpanKind::Client);
    assert_eq!(
        settle.parent_span_id,
        spans.one("handle").span_context.span_id()
    );
    assert_eq!(
        settle.attributes,
        vec![
            KeyValue::new(attr::MESSAGING_SYSTEM, "aws_sqs"),
            KeyValue::new(attr::MESSAGING_OPERATION_TYPE, "settle"),
            KeyValue::new(attr::MESSAGING_OPERATION_NAME, "DeleteMessage"),
            KeyValue::new(attr::MESSAGING_DESTINATION_NAME, "orders"),
            KeyValue::new(attr::CLOUD_REGION, "eu-west-1"),
            KeyValue::new(attr::AWS_SQS_QUEUE_URL, QUEUE),
            KeyValue::new(attr::SERVER_ADDRESS, "stub.invalid"),
            KeyValue::new(attr::AWS_REQUEST_ID, REQUEST_ID),
        ]
    );
    assert_eq!(settle.status, Status::Unset);
}

#[tokio::test]
async fn a_batch_delete_with_a_refused_entry_is_in_error() {
    let stub = StubSqs::default();
    stub.responder().fail_entry("b");
    let spans = Spans::new();
    let config = SqsPropagation::new().with_tracer(spans.handle());
    let cx = caller(&spans);
    let entry = |id: &str| {
        DeleteMessageBatchRequestEntry::builder()
            .id(id)
            .receipt_handle(format!("rh-{id}"))
            .build()
            .unwrap()
    };
    let output = intercepted(&stub, config.clone())
        .delete_message_batch()
        .queue_url(QUEUE)
        .entries(entry("a"))
        .entries(entry("b"))
        .entries(entry("c"))
        .send()
        .with_context(cx.clone())
        .await
        .unwrap();
    assert_eq!(output.failed().len(), 1, "the call itself succeeds");

    let settle = spans.one("settle orders");
    assert_eq!(settle.status, Status::error("1 of 3 entries failed"));
    for expected in [
        KeyValue::new(attr::MESSAGING_OPERATION_NAME, "DeleteMessageBatch"),
        KeyValue::new(attr::MESSAGING_BATCH_MESSAGE_COUNT, 3),
        KeyValue::new(attr::ERROR_TYPE, "InvalidParameterValue"),
    ] {
        assert!(
            settle.attributes.contains(&expected),
            "{expected:?} in {:?}",
            settle.attributes
        );
    }
}

#[tokio::test]
async fn the_tower_form_traces_a_visibility_change_inside_a_trace_only() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let mut service = tower::Layer::layer(
        &SqsPropagation::new().with_tracer(spans.handle()).layer(),
        SqsService::new(sqs_client(&stub)),
    );
    let input = ChangeMessageVisibilityInput::builder()
        .queue_url(QUEUE)
        .receipt_handle("rh-1")
        .visibility_timeout(30)
        .build()
        .unwrap();
    // Outside any span: no span (a delete loop would otherwise make a trace per call).
    service
        .ready()
        .await
        .unwrap()
        .call(input.clone().into())
        .await
        .unwrap();
    assert!(spans.finished().is_empty());

    let cx = caller(&spans);
    let ready = service.ready().await.unwrap();
    let call = {
        let _active = cx.clone().attach();
        ready.call(input.into())
    };
    call.await.unwrap();
    cx.span().end();
    let settle = spans.one("settle orders");
    assert_eq!(settle.span_kind, SpanKind::Client);
    assert_eq!(
        settle.parent_span_id,
        spans.one("handle").span_context.span_id()
    );
    assert!(settle.attributes.contains(&KeyValue::new(
        attr::MESSAGING_OPERATION_NAME,
        "ChangeMessageVisibility"
    )));
    assert_eq!(stub.requests().len(), 2, "both calls were sent");
}

#[tokio::test]
async fn settle_spans_can_be_turned_off() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let config = SqsPropagation::new()
        .with_tracer(spans.handle())
        .with_settle_spans(false);
    let cx = caller(&spans);
    intercepted(&stub, config.clone())
        .delete_message()
        .queue_url(QUEUE)
        .receipt_handle("rh-1")
        .send()
        .with_context(cx.clone())
        .await
        .unwrap();
    cx.span().end();
    assert!(spans.named("settle orders").is_empty());
    assert_eq!(spans.finished().len(), 1, "only the caller's span");
}
