//! Invoke against a stub HTTP client: the exact `ClientContext` and request header the SDK
//! sends, merging and the size limit, the span, both forms.

use aws_sdk_lambda::operation::invoke::InvokeInput;
use aws_sdk_lambda::primitives::Blob;
use aws_smithy_types::base64;
use baton_lambda::{LambdaPropagation, LambdaRequest, MAX_CLIENT_CONTEXT_BYTES};
use baton_test_support::{Reply, Request, Shape, Spans, header_of, pairs, sdk_config};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, SpanKind, Status};
use serde_json::{Value, json};
use tower::{Service, ServiceExt};

/// Answers Invoke like Lambda: the payload back, and a function error for `{"fail":true}`.
fn lambda(request: &Request<'_>) -> Reply {
    let reply = Reply::ok(request.body().to_owned())
        .with_header("x-amzn-requestid", "req-1")
        .with_header("x-amz-executed-version", "7");
    if request.body().contains("fail") {
        reply.with_header("x-amz-function-error", "Unhandled")
    } else {
        reply
    }
}

type Stub = baton_test_support::Stub<fn(&Request<'_>) -> Reply>;

fn stub() -> Stub {
    Stub::new(lambda as fn(&Request<'_>) -> Reply)
}

fn plain(stub: &Stub) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::from_conf(sdk_config!(aws_sdk_lambda, stub).build())
}

fn input(client_context: Option<String>, payload: &str) -> InvokeInput {
    InvokeInput::builder()
        .function_name("arn:aws:lambda:us-east-2:123456789012:function:fulfil:live")
        .set_client_context(client_context)
        .payload(Blob::new(payload))
        .build()
        .unwrap()
}

/// Invokes through the interceptor form, or through `service(client)`.
async fn invoke(
    stub: &Stub,
    config: &LambdaPropagation,
    input: InvokeInput,
    tower: bool,
    cx: Context,
) {
    if tower {
        let mut service = config.service(plain(stub));
        let ready = service.ready().await.unwrap();
        let call = {
            let _caller = cx.attach();
            ready.call(LambdaRequest::from(input))
        };
        call.await.unwrap();
        return;
    }
    let client = aws_sdk_lambda::Client::from_conf(
        sdk_config!(aws_sdk_lambda, stub)
            .interceptor(config.interceptor())
            .build(),
    );
    client
        .invoke()
        .set_function_name(input.function_name)
        .set_client_context(input.client_context)
        .set_payload(input.payload)
        .send()
        .with_context(cx)
        .await
        .unwrap();
}

fn client_context(request: &Request<'_>) -> Option<Value> {
    let encoded = request.header("x-amz-client-context")?;
    Some(serde_json::from_slice(&base64::decode(encoded).unwrap()).unwrap())
}

#[tokio::test]
async fn invoke_carries_its_span_in_the_client_context_and_the_header_in_both_forms() {
    let mut shapes: Vec<Vec<Shape>> = Vec::new();
    for tower in [false, true] {
        let stub = stub();
        let spans = Spans::new();
        let config = LambdaPropagation::new().with_tracer(spans.handle());
        invoke(
            &stub,
            &config,
            input(None, r#"{"order":42}"#),
            tower,
            spans.caller(true),
        )
        .await;
        let span = spans.one("Lambda.Invoke");
        let header = header_of(&span);
        let request = stub.request(0);
        assert_eq!(request.trace_header(), Some(header.as_str()));
        assert_eq!(
            client_context(&request),
            Some(json!({"custom": {"X-Amzn-Trace-Id": header}}))
        );
        assert_eq!(
            request.body(),
            r#"{"order":42}"#,
            "the payload is the caller's"
        );
        shapes.push(spans.shapes_except("caller"));
    }
    let expected: Shape = (
        "Lambda.Invoke".into(),
        SpanKind::Client,
        pairs(&[
            ("rpc.system", "aws-api"),
            ("rpc.service", "Lambda"),
            ("rpc.method", "Invoke"),
            ("faas.invoked_name", "fulfil"),
            ("faas.invoked_provider", "aws"),
            ("faas.invoked_region", "us-east-2"),
            ("cloud.region", baton_test_support::REGION),
            ("server.address", "stub.invalid"),
            ("aws.request_id", "req-1"),
            ("http.response.status_code", "200"),
        ]),
        0,
        Status::Unset,
        true,
    );
    assert_eq!(shapes[0], vec![expected]);
    assert_eq!(shapes[0], shapes[1], "the two forms make the same span");
}

#[tokio::test]
async fn the_callers_client_context_is_merged_into_or_left_alone() {
    for tower in [false, true] {
        let stub = stub();
        let spans = Spans::new();
        let config = LambdaPropagation::new().with_tracer(spans.handle());
        let theirs =
            base64::encode(r#"{"client":{"app_title":"shop"},"custom":{"tenant":"acme"}}"#);
        invoke(
            &stub,
            &config,
            input(Some(theirs), "{}"),
            tower,
            spans.caller(true),
        )
        .await;
        let header = header_of(&spans.one("Lambda.Invoke"));
        assert_eq!(
            client_context(&stub.request(0)),
            Some(json!({
                "client": {"app_title": "shop"},
                "custom": {"tenant": "acme", "X-Amzn-Trace-Id": header}
            }))
        );

        // Their own trace, something that is not a client context, one with no room left:
        // each sent exactly as given, and the header still names the span.
        let own = base64::encode(
            r#"{"custom":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}"#,
        );
        let garbage = "not base64 at all".to_owned();
        let full = base64::encode(format!(
            r#"{{"custom":{{"pad":"{}"}}}}"#,
            "x".repeat(MAX_CLIENT_CONTEXT_BYTES * 3 / 4 - 40)
        ));
        assert!(full.len() <= MAX_CLIENT_CONTEXT_BYTES);
        for (i, given) in [own, garbage, full].into_iter().enumerate() {
            spans.reset();
            let request = input(Some(given.clone()), "{}");
            invoke(&stub, &config, request, tower, spans.caller(true)).await;
            let request = stub.request(i + 1);
            assert_eq!(request.header("x-amz-client-context"), Some(given.as_str()));
            let expected = if i == 0 {
                // The caller's own trace goes into the header too: one trace per request.
                "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1"
                    .to_owned()
            } else {
                header_of(&spans.one("Lambda.Invoke"))
            };
            assert_eq!(request.trace_header(), Some(expected.as_str()), "case {i}");
        }
    }
}

#[tokio::test]
async fn a_function_error_fails_the_span_and_the_client_context_can_be_turned_off() {
    let stub = stub();
    let spans = Spans::new();
    let config = LambdaPropagation::new()
        .with_tracer(spans.handle())
        .with_client_context(false);
    invoke(
        &stub,
        &config,
        input(None, r#"{"fail":true}"#),
        false,
        spans.caller(true),
    )
    .await;
    let request = stub.request(0);
    assert_eq!(request.header("x-amz-client-context"), None);
    let span = spans.one("Lambda.Invoke");
    assert_eq!(request.trace_header(), Some(header_of(&span).as_str()));
    assert_eq!(
        span.status,
        Status::error("the function failed (Unhandled)")
    );
    assert!(
        span.attributes
            .iter()
            .any(|kv| kv.key.as_str() == "error.type" && kv.value.as_str() == "Unhandled")
    );
}

#[tokio::test]
async fn an_asynchronous_invoke_gets_the_header_only() {
    // Lambda hands the ClientContext to synchronous invocations only.
    for tower in [false, true] {
        let stub = stub();
        let spans = Spans::new();
        let config = LambdaPropagation::new().with_tracer(spans.handle());
        let mut event = input(None, "{}");
        event.invocation_type = Some(aws_sdk_lambda::types::InvocationType::Event);
        if tower {
            invoke(&stub, &config, event, true, spans.caller(true)).await;
        } else {
            let client = aws_sdk_lambda::Client::from_conf(
                sdk_config!(aws_sdk_lambda, stub)
                    .interceptor(config.interceptor())
                    .build(),
            );
            client
                .invoke()
                .function_name("fulfil")
                .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
                .payload(Blob::new("{}"))
                .send()
                .with_context(spans.caller(true))
                .await
                .unwrap();
        }
        let request = stub.request(0);
        assert_eq!(request.header("x-amz-client-context"), None);
        assert_eq!(
            request.trace_header(),
            Some(header_of(&spans.one("Lambda.Invoke")).as_str())
        );
    }
}

#[tokio::test]
async fn on_send_learns_the_invoke_span() {
    let stub = stub();
    let spans = Spans::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let config = {
        let seen = seen.clone();
        LambdaPropagation::new()
            .with_tracer(spans.handle())
            .with_on_send(move |span| seen.lock().unwrap().push(span.span_context().span_id()))
    };
    invoke(&stub, &config, input(None, "{}"), false, spans.caller(true)).await;
    assert_eq!(
        *seen.lock().unwrap(),
        [spans.one("Lambda.Invoke").span_context.span_id()]
    );
}

#[tokio::test]
async fn outside_any_trace_the_invoke_starts_one() {
    let stub = stub();
    let spans = Spans::new();
    let config = LambdaPropagation::new().with_tracer(spans.handle());
    invoke(&stub, &config, input(None, "{}"), false, Context::new()).await;
    let span = spans.one("Lambda.Invoke");
    assert_eq!(span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    assert_eq!(
        stub.request(0).trace_header(),
        Some(header_of(&span).as_str())
    );
}
