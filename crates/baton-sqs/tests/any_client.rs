//! `baton::TraceHeaderInterceptor`, the trace header for any AWS SDK client, on an SQS client
//! (any client would do: it reads nothing of the service): the header on every operation, its
//! `Lineage` inside Lambda, a caller's header kept, and the optional CLIENT span.

mod common;

use baton::{TraceHeaderInterceptor, attr};
use baton_test_support::{Spans, header_of, sdk_config};
use common::{REQUEST_ID, StubSqs};
use opentelemetry::trace::{FutureExt, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};

const QUEUE: &str = "http://stub.invalid/000000000000/orders";

fn client(stub: &StubSqs, interceptor: TraceHeaderInterceptor) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        sdk_config!(aws_sdk_sqs, stub)
            .interceptor(interceptor)
            .build(),
    )
}

fn caller(spans: &Spans) -> Context {
    Context::new().with_span(spans.provider.tracer("app").start("handle"))
}

#[tokio::test]
async fn every_call_carries_the_callers_span_and_nothing_outside_one() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let sqs = client(&stub, TraceHeaderInterceptor::new());
    let cx = caller(&spans);
    // An operation no Baton service crate traces, and one SQS's own interceptor would.
    sqs.get_queue_url()
        .queue_name("orders")
        .send()
        .with_context(cx.clone())
        .await
        .unwrap();
    sqs.send_message()
        .queue_url(QUEUE)
        .message_body("hi")
        .send()
        .with_context(cx.clone())
        .await
        .unwrap();
    cx.span().end();
    // Outside any span: no header.
    sqs.get_queue_url()
        .queue_name("orders")
        .send()
        .await
        .unwrap();

    let expected = header_of(&spans.one("handle"));
    let headers: Vec<Option<String>> = stub
        .requests()
        .iter()
        .map(|r| r.trace_header().map(str::to_owned))
        .collect();
    assert_eq!(
        headers,
        [Some(expected.clone()), Some(expected), None],
        "and no span of its own: {:?}",
        spans.finished()
    );
    assert_eq!(spans.finished().len(), 1, "only the caller's span");
}

#[tokio::test]
async fn inside_lambda_the_invocations_lineage_is_merged() {
    fn lambda(name: &str) -> Option<String> {
        match name {
            "AWS_LAMBDA_FUNCTION_NAME" => Some("checkout".into()),
            "_X_AMZN_TRACE_ID" => Some(
                "Root=1-6910b3d0-aaaaaaaaaaaaaaaaaaaaaaaa;Parent=aaaaaaaaaaaaaaa1;Sampled=1;Lineage=1:aaaaaaaa:1"
                    .into(),
            ),
            _ => None,
        }
    }
    let stub = StubSqs::default();
    let spans = Spans::new();
    let sqs = client(
        &stub,
        TraceHeaderInterceptor::new().with_environment(lambda),
    );
    let cx = caller(&spans);
    sqs.get_queue_url()
        .queue_name("orders")
        .send()
        .with_context(cx.clone())
        .await
        .unwrap();
    cx.span().end();
    assert_eq!(
        stub.request(0).trace_header(),
        Some(format!("{};Lineage=1:aaaaaaaa:1", header_of(&spans.one("handle"))).as_str())
    );
}

/// An interceptor registered on the client before Baton's that puts `header` on every request,
/// as a caller's own interceptor, or the SDK's recursion detection inside Lambda, does.
#[derive(Debug)]
struct SetsHeader(&'static str);

impl aws_smithy_runtime_api::client::interceptors::Intercept for SetsHeader {
    fn name(&self) -> &'static str {
        "SetsHeader"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-amzn-trace-id", self.0);
        Ok(())
    }
}

const LAMBDA_SEGMENT: &str = "Root=1-6910b3d0-aaaaaaaaaaaaaaaaaaaaaaaa;Parent=aaaaaaaaaaaaaaa1;Sampled=1;Lineage=1:aaaaaaaa:1";

fn in_lambda(name: &str) -> Option<String> {
    match name {
        "AWS_LAMBDA_FUNCTION_NAME" => Some("checkout".into()),
        "_X_AMZN_TRACE_ID" => Some(LAMBDA_SEGMENT.into()),
        _ => None,
    }
}

#[tokio::test]
async fn a_header_set_before_is_kept_but_not_lambdas_own_copy() {
    let theirs = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    for (earlier, expected_theirs) in [(theirs, true), (LAMBDA_SEGMENT, false)] {
        let stub = StubSqs::default();
        let spans = Spans::new();
        let sqs = aws_sdk_sqs::Client::from_conf(
            sdk_config!(aws_sdk_sqs, stub)
                .interceptor(SetsHeader(earlier))
                .interceptor(TraceHeaderInterceptor::new().with_environment(in_lambda))
                .build(),
        );
        let cx = caller(&spans);
        sqs.get_queue_url()
            .queue_name("orders")
            .send()
            .with_context(cx.clone())
            .await
            .unwrap();
        cx.span().end();
        let sent = stub.request(0).trace_header().map(str::to_owned);
        if expected_theirs {
            assert_eq!(sent.as_deref(), Some(theirs), "a caller's header is kept");
        } else {
            // The SDK's copy of the invocation's header names Lambda's segment: replaced by
            // the caller's span, with the invocation's Lineage.
            assert_eq!(
                sent,
                Some(format!(
                    "{};Lineage=1:aaaaaaaa:1",
                    header_of(&spans.one("handle"))
                )),
            );
        }
    }
}

#[tokio::test]
async fn client_spans_name_the_call_and_carry_its_outcome() {
    let stub = StubSqs::default();
    let spans = Spans::new();
    let sqs = client(
        &stub,
        TraceHeaderInterceptor::new()
            .with_client_spans(true)
            .with_tracer(spans.handle()),
    );
    let cx = caller(&spans);
    sqs.get_queue_url()
        .queue_name("orders")
        .send()
        .with_context(cx.clone())
        .await
        .unwrap();

    let span = spans.one("SQS.GetQueueUrl");
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.parent_span_id, cx.span().span_context().span_id());
    assert_eq!(
        span.attributes,
        vec![
            KeyValue::new("rpc.system", "aws-api"),
            KeyValue::new("rpc.service", "SQS"),
            KeyValue::new("rpc.method", "GetQueueUrl"),
            KeyValue::new(attr::CLOUD_REGION, "eu-west-1"),
            KeyValue::new(attr::SERVER_ADDRESS, "stub.invalid"),
            KeyValue::new(attr::AWS_REQUEST_ID, REQUEST_ID),
        ]
    );
    assert_eq!(span.status, Status::Unset);
    // The header names the call's own span.
    assert_eq!(
        stub.request(0).trace_header(),
        Some(header_of(&span).as_str())
    );

    // A failed call: in error, with the service's code (SQS's `x-amzn-query-error`) and the
    // HTTP status.
    stub.responder().fail_with(
        400,
        r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no queue"}"#,
    );
    stub.responder()
        .query_error("AWS.SimpleQueueService.NonExistentQueue;Sender");
    sqs.get_queue_url()
        .queue_name("gone")
        .send()
        .with_context(cx.clone())
        .await
        .unwrap_err();
    let failed = spans.named("SQS.GetQueueUrl").pop().unwrap();
    assert!(matches!(failed.status, Status::Error { .. }), "{failed:?}");
    for expected in [
        KeyValue::new(attr::ERROR_TYPE, "AWS.SimpleQueueService.NonExistentQueue"),
        KeyValue::new(attr::HTTP_RESPONSE_STATUS_CODE, 400),
    ] {
        assert!(
            failed.attributes.contains(&expected),
            "{expected:?} in {:?}",
            failed.attributes
        );
    }

    // A call dropped before its answer (a timeout) ends its span as cancelled.
    stub.hang();
    let call = sqs
        .get_queue_url()
        .queue_name("slow")
        .send()
        .with_context(cx.clone());
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(200), call)
            .await
            .is_err()
    );
    cx.span().end();
    let cancelled = spans.named("SQS.GetQueueUrl").pop().unwrap();
    assert!(
        cancelled
            .attributes
            .contains(&KeyValue::new(attr::ERROR_TYPE, "cancelled")),
        "{:?}",
        cancelled.attributes
    );
    assert_eq!(spans.named("SQS.GetQueueUrl").len(), 3);

    // Outside any trace: no span, no header.
    let quiet = StubSqs::default();
    let sqs = client(
        &quiet,
        TraceHeaderInterceptor::new()
            .with_client_spans(true)
            .with_tracer(spans.handle()),
    );
    sqs.get_queue_url()
        .queue_name("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(quiet.request(0).trace_header(), None);
    assert_eq!(spans.named("SQS.GetQueueUrl").len(), 3);
}
