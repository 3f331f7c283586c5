//! Whole spans: nothing but the redacted attributes changes; the exporter wrapper end to
//! end with the SDK's tracer provider.

mod support;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use baton_redact::{DEFAULT_MASK, RedactingExporter, Redactor, Summary};
use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData, SpanExporter};
use support::{context, span, text};

/// Polls a future that is ready at once (the in-memory exporter's are).
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future was not ready"),
    }
}

fn dirty_span() -> SpanData {
    span(
        vec![
            KeyValue::new("messaging.system", "aws_sqs"),
            KeyValue::new("http.request.header.authorization", "Bearer abc"),
            KeyValue::new("messaging.destination.name", "orders"),
            KeyValue::new("messaging.message.body", "{}"),
            KeyValue::new("note", "for jane@example.com"),
            KeyValue::new("messaging.batch.message_count", 3_i64),
        ],
        vec![
            KeyValue::new("exception.message", "card 4111111111111111 declined"),
            KeyValue::new("exception.type", "PaymentError"),
        ],
        vec![
            KeyValue::new("messaging.message.id", "m-1"),
            KeyValue::new("auth.token", "t"),
        ],
    )
}

#[test]
fn nothing_else_is_touched() {
    let original = dirty_span();
    let mut redacted = original.clone();
    let summary = Redactor::new().redact(&mut redacted);

    // Build the expected span from the original by hand: only these attribute changes.
    let mut expected = original.clone();
    expected.attributes = vec![
        KeyValue::new("messaging.system", "aws_sqs"),
        KeyValue::new("http.request.header.authorization", DEFAULT_MASK),
        KeyValue::new("messaging.destination.name", "orders"),
        KeyValue::new("note", "for [EMAIL]"),
        KeyValue::new("messaging.batch.message_count", 3_i64),
    ];
    expected.events.events[0].attributes = vec![
        KeyValue::new("exception.message", "card [CARD] declined"),
        KeyValue::new("exception.type", "PaymentError"),
    ];
    expected.links.links[0].attributes = vec![
        KeyValue::new("messaging.message.id", "m-1"),
        KeyValue::new("auth.token", DEFAULT_MASK),
    ];
    assert_eq!(redacted, expected);

    // And spelled out, the fields that must be as they were.
    assert_eq!(redacted.span_context, original.span_context);
    assert_eq!(redacted.parent_span_id, original.parent_span_id);
    assert_eq!(redacted.name, original.name);
    assert_eq!(redacted.start_time, original.start_time);
    assert_eq!(redacted.end_time, original.end_time);
    assert_eq!(redacted.dropped_attributes_count, 5);
    assert_eq!(redacted.events.dropped_count, 1);
    assert_eq!(redacted.events.events[0].dropped_attributes_count, 2);
    assert_eq!(
        redacted.events.events[0].name,
        original.events.events[0].name
    );
    assert_eq!(
        redacted.links.links[0].span_context,
        original.links.links[0].span_context
    );
    assert_eq!(redacted.status, Status::error("boom"));

    let mut expected_summary = Summary::default();
    expected_summary.masked_keys = 2;
    expected_summary.masked_values = 2;
    expected_summary.dropped = 1;
    assert_eq!(summary, expected_summary);
}

#[test]
fn a_clean_span_is_unchanged() {
    let original = span(
        vec![
            KeyValue::new("messaging.system", "aws_sqs"),
            KeyValue::new("messaging.destination.name", "orders"),
            KeyValue::new("messaging.message.body.size", 120_i64),
        ],
        vec![KeyValue::new("exception.type", "Timeout")],
        vec![KeyValue::new("messaging.message.id", "m-1")],
    );
    let mut redacted = original.clone();
    assert!(Redactor::new().redact(&mut redacted).is_empty());
    assert_eq!(redacted, original);
}

#[test]
fn redaction_is_idempotent_on_spans() {
    let redactor = Redactor::new();
    let mut once = dirty_span();
    redactor.redact(&mut once);
    let mut twice = once.clone();
    assert!(redactor.redact(&mut twice).is_empty());
    assert_eq!(twice, once);
}

#[test]
fn exporter_redacts_spans_from_a_real_provider() {
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(RedactingExporter::new(memory.clone()))
        .build();
    let tracer = provider.tracer("baton-redact-test");

    let mut producer = tracer
        .span_builder("send orders")
        .with_kind(SpanKind::Producer)
        .with_attributes([
            KeyValue::new("messaging.system", "aws_sqs"),
            KeyValue::new("messaging.destination.name", "orders"),
            KeyValue::new("messaging.message.body", "{\"card\":\"4111111111111111\"}"),
            KeyValue::new(
                "http.request.header.Authorization",
                "AWS4-HMAC-SHA256 Credential=x",
            ),
            KeyValue::new("customer", "jane@example.com"),
        ])
        .with_links(vec![opentelemetry::trace::Link::with_context(context(
            7, 8,
        ))])
        .start(&tracer);
    producer.add_event(
        "retry",
        vec![
            KeyValue::new("db.password", "hunter2"),
            KeyValue::new("attempt", 2_i64),
        ],
    );
    let trace_id = producer.span_context().trace_id();
    let span_id = producer.span_context().span_id();
    producer.end();

    let spans = memory.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.span_context.trace_id(), trace_id);
    assert_eq!(span.span_context.span_id(), span_id);
    assert_eq!(span.name, "send orders");
    assert_eq!(span.span_kind, SpanKind::Producer);
    assert_eq!(
        span.attributes,
        vec![
            KeyValue::new("messaging.system", "aws_sqs"),
            KeyValue::new("messaging.destination.name", "orders"),
            KeyValue::new("http.request.header.Authorization", DEFAULT_MASK),
            KeyValue::new("customer", "[EMAIL]"),
        ]
    );
    assert_eq!(
        span.events.events[0].attributes,
        vec![
            KeyValue::new("db.password", DEFAULT_MASK),
            KeyValue::new("attempt", 2_i64)
        ]
    );
    assert_eq!(span.links.links.len(), 1);
    assert_eq!(span.links.links[0].span_context, context(7, 8));

    // The provider's shutdown reaches the wrapped exporter.
    provider.shutdown().unwrap();
    assert!(memory.is_shutdown_called());
}

#[test]
fn exporter_with_a_policy_and_accessors() {
    let redactor = Redactor::new().with_bodies_for(["orders"]);
    let mut exporter = RedactingExporter::with_redactor(InMemorySpanExporter::default(), redactor);
    assert!(exporter.redactor().allows_bodies_for("orders"));
    ready(exporter.export(vec![dirty_span()])).unwrap();
    exporter.force_flush().unwrap();

    let spans = exporter.get_ref().get_finished_spans().unwrap();
    assert_eq!(
        text(&spans[0].attributes, "messaging.message.body").as_deref(),
        Some("{}")
    );
    assert_eq!(
        spans[0].events.events[0].attributes[0].value,
        Value::from("card [CARD] declined")
    );
    exporter.get_mut().reset();
    let memory = exporter.into_inner();
    assert!(memory.get_finished_spans().unwrap().is_empty());
}

#[test]
fn exporter_works_with_the_current_context() {
    // A child span keeps its parent: redaction never touches ids.
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(RedactingExporter::new(memory.clone()))
        .build();
    let tracer = provider.tracer("t");
    tracer.in_span("parent", |cx| {
        let parent = cx.span().span_context().clone();
        let mut child = tracer.start("child");
        child.set_attribute(KeyValue::new("token", "x"));
        child.end();
        let spans = memory.get_finished_spans().unwrap();
        assert_eq!(spans[0].parent_span_id, parent.span_id());
        assert_eq!(spans[0].span_context.trace_id(), parent.trace_id());
        assert_eq!(
            spans[0].attributes,
            vec![KeyValue::new("token", DEFAULT_MASK)]
        );
    });
}

#[test]
fn an_error_status_is_masked_like_values() {
    let redactor = Redactor::default();
    let mut data = span(vec![], vec![], vec![]);
    data.status = Status::error("no account for jane@example.com");
    let summary = redactor.redact(&mut data);
    assert_eq!(data.status, Status::error("no account for [EMAIL]"));
    assert_eq!(summary.masked_values, 1);
}

#[test]
fn common_secret_spellings_are_denied_too() {
    let redactor = Redactor::default();
    for key in [
        "api_key",
        "apiKey",
        "service.apikey",
        "db.passwd",
        "aws.credentials",
        "tls.private_key",
    ] {
        assert!(redactor.is_denied_key(key), "{key}");
    }
}
