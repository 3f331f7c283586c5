//! StartExecution and StartSyncExecution through a stub HTTP client: the exact request, and
//! the span.

mod common;

use baton::attr;
use baton_sfn::SfnPropagation;
use baton_test_support::{Spans, header_of, sdk_config};
use common::{EXECUTION, Stub};
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{Value, json};

const ARN: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:orders";
/// A Step Functions stub whose StartSyncExecution fails, and a tracer.
struct Harness {
    stub: Stub,
    otel: Spans,
}

impl Harness {
    fn new() -> Self {
        let stub = Stub::default();
        stub.responder().sync_fails();
        Harness {
            stub,
            otel: Spans::new(),
        }
    }

    fn client(&self, propagation: SfnPropagation) -> aws_sdk_sfn::Client {
        let propagation = propagation.with_tracer(self.otel.handle());
        aws_sdk_sfn::Client::from_conf(
            sdk_config!(aws_sdk_sfn, self.stub)
                .interceptor(propagation.interceptor())
                .build(),
        )
    }

    /// The JSON body of request `index`.
    fn body(&self, index: usize) -> Value {
        serde_json::from_str(self.stub.request(index).body()).unwrap()
    }

    /// The `x-amzn-trace-id` header of request `index`.
    fn header(&self, index: usize) -> Option<String> {
        self.stub.request(index).trace_header().map(str::to_owned)
    }

    fn spans(&self) -> Vec<SpanData> {
        self.otel.finished()
    }
}

#[tokio::test]
async fn start_execution_carries_the_header_and_optionally_the_input_field() {
    let h = Harness::new();
    h.client(SfnPropagation::new())
        .start_execution()
        .state_machine_arn(ARN)
        .input(r#"{"order": 42}"#)
        .send()
        .await
        .unwrap();
    let client = h.client(SfnPropagation::new().with_input_field("traceHeader"));
    client
        .start_execution()
        .state_machine_arn(ARN)
        .input(r#"{"order": 42}"#)
        .send()
        .await
        .unwrap();
    client
        .start_execution()
        .state_machine_arn(ARN)
        .send()
        .await
        .unwrap();
    client
        .start_execution()
        .state_machine_arn(ARN)
        .input("[1,2]")
        .send()
        .await
        .unwrap();
    client
        .start_execution()
        .state_machine_arn(ARN)
        .input(r#"{"order":1}"#)
        .trace_header("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
        .send()
        .await
        .unwrap();

    let spans = h.spans();
    assert_eq!(spans.len(), 5);
    let header = |i: usize| header_of(&spans[i]);
    assert_eq!(
        h.body(0),
        json!({"stateMachineArn": ARN, "input": r#"{"order": 42}"#, "traceHeader": header(0)})
    );
    assert_eq!(
        h.body(1),
        json!({"stateMachineArn": ARN, "input": format!(r#"{{"traceHeader":"{}","order": 42}}"#, header(1)), "traceHeader": header(1)})
    );
    assert_eq!(
        h.body(2),
        json!({"stateMachineArn": ARN, "input": format!(r#"{{"traceHeader":"{}"}}"#, header(2)), "traceHeader": header(2)})
    );
    // Not an object: sent as given.
    assert_eq!(
        h.body(3),
        json!({"stateMachineArn": ARN, "input": "[1,2]", "traceHeader": header(3)})
    );
    // The caller's traceHeader is kept (and is what the input field would carry).
    assert_eq!(
        h.body(4)["traceHeader"],
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    );

    let send = &spans[0];
    assert_eq!(send.name, "send orders");
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_eq!(
        send.attributes,
        vec![
            KeyValue::new(attr::MESSAGING_SYSTEM, "aws_stepfunctions"),
            KeyValue::new(attr::MESSAGING_OPERATION_TYPE, "send"),
            KeyValue::new(attr::MESSAGING_OPERATION_NAME, "StartExecution"),
            KeyValue::new(attr::MESSAGING_DESTINATION_NAME, "orders"),
            KeyValue::new(attr::CLOUD_REGION, "eu-west-1"),
            KeyValue::new(attr::SERVER_ADDRESS, "stub.invalid"),
            KeyValue::new(attr::MESSAGING_MESSAGE_ID, EXECUTION),
            KeyValue::new(attr::AWS_REQUEST_ID, "req-1"),
        ]
    );
}

#[tokio::test]
async fn a_failed_sync_execution_marks_the_span() {
    let h = Harness::new();
    let output = h
        .client(SfnPropagation::new())
        .start_sync_execution()
        .state_machine_arn(ARN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        output.status,
        aws_sdk_sfn::types::SyncExecutionStatus::Failed
    );
    let send = h.spans().remove(0);
    assert_eq!(send.status, Status::error("the task failed"));
    assert!(
        send.attributes
            .contains(&KeyValue::new(attr::ERROR_TYPE, "States.TaskFailed"))
    );
    assert_eq!(h.body(0)["traceHeader"], header_of(&send));
}

#[tokio::test]
async fn request_header_matches_body_and_stays_within_256_characters() {
    fn lambda_env(name: &str) -> Option<String> {
        match name {
            "AWS_LAMBDA_FUNCTION_NAME" => Some("checkout".into()),
            "_X_AMZN_TRACE_ID" => Some(format!(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage={}",
                "a87bd80c:1|".repeat(18).trim_end_matches('|')
            )),
            _ => None,
        }
    }
    let h = Harness::new();
    let client = h.client(
        SfnPropagation::new()
            .with_environment(lambda_env)
            .with_input_field("traceHeader"),
    );
    client
        .start_execution()
        .state_machine_arn(ARN)
        .input("{}")
        .send()
        .await
        .unwrap();
    // A named execution gets no input field (retries stay idempotent).
    client
        .start_execution()
        .state_machine_arn(ARN)
        .name("order-42")
        .input("{}")
        .send()
        .await
        .unwrap();

    let spans = h.spans();
    let body = h.body(0);
    let header = body["traceHeader"].as_str().unwrap();
    // The lineage (over 190 characters) would push it past 256: it is left out.
    assert_eq!(header, header_of(&spans[0]));
    assert!(header.len() <= 256);
    // Step Functions prefers the HTTP header: it says the same as the body.
    assert_eq!(h.header(0).as_deref(), Some(header));
    assert_eq!(h.body(1)["input"], "{}");
    assert_eq!(h.header(1).as_deref(), h.body(1)["traceHeader"].as_str());
}

#[tokio::test]
async fn an_input_at_the_size_limit_is_sent_as_given() {
    let h = Harness::new();
    let input = format!(r#"{{"blob":"{}"}}"#, "x".repeat(256 * 1024 - 40));
    h.client(SfnPropagation::new().with_input_field("traceHeader"))
        .start_execution()
        .state_machine_arn(ARN)
        .input(input.clone())
        .send()
        .await
        .unwrap();
    let body = h.body(0);
    assert_eq!(
        body["input"].as_str().unwrap(),
        input,
        "no room for the field: unchanged"
    );
    assert_eq!(
        body["traceHeader"],
        header_of(&h.spans()[0]),
        "the header is still set"
    );
}

/// A StartExecution the SDK retries (two 500s, then a 200) is one send span; every attempt
/// carries the same `traceHeader`, input field and request header.
#[tokio::test]
async fn a_retried_start_carries_the_same_trace_on_every_attempt() {
    let h = Harness::new();
    h.stub.fail_first(2);
    let propagation = SfnPropagation::new()
        .with_input_field("traceHeader")
        .with_tracer(h.otel.handle());
    let client = aws_sdk_sfn::Client::from_conf(
        sdk_config!(aws_sdk_sfn, h.stub)
            .retry_config(
                aws_sdk_sfn::config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(1)),
            )
            .interceptor(propagation.interceptor())
            .build(),
    );
    client
        .start_execution()
        .state_machine_arn(ARN)
        .input(r#"{"order":42}"#)
        .send()
        .await
        .unwrap();
    let spans = h.spans();
    assert_eq!(spans.len(), 1, "{spans:?}");
    let header = header_of(&spans[0]);
    assert_eq!(h.stub.requests().len(), 3);
    for attempt in 0..3 {
        assert_eq!(
            h.body(attempt),
            json!({"stateMachineArn": ARN,
                   "input": format!(r#"{{"traceHeader":"{header}","order":42}}"#),
                   "traceHeader": header}),
            "attempt {attempt}"
        );
        assert_eq!(h.header(attempt).as_deref(), Some(header.as_str()));
    }
}

#[tokio::test]
async fn on_send_learns_the_start_execution_span() {
    let h = Harness::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let propagation = {
        let seen = seen.clone();
        SfnPropagation::new()
            .with_on_send(move |span| seen.lock().unwrap().push(span.span_context().clone()))
    };
    h.client(propagation)
        .start_execution()
        .state_machine_arn(ARN)
        .send()
        .await
        .unwrap();
    let send = h
        .spans()
        .into_iter()
        .find(|s| s.name == "send orders")
        .expect("the send span");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        std::slice::from_ref(&send.span_context)
    );
}

/// Both forms measure StartExecution the same: its duration and the one input sent.
#[tokio::test]
async fn both_forms_record_the_messaging_metrics() {
    use aws_sdk_sfn::operation::start_execution::StartExecutionInput;
    use baton::metrics::{OPERATION_DURATION, SENT_MESSAGES};
    use baton_test_support::{Metrics, point};
    use tower::{Service, ServiceExt};

    let base = [
        ("messaging.destination.name", "orders"),
        ("messaging.operation.name", "StartExecution"),
        ("messaging.system", "aws_stepfunctions"),
        ("server.address", "stub.invalid"),
    ];
    let mut expected = vec![
        point(
            OPERATION_DURATION,
            &[base.as_slice(), &[("messaging.operation.type", "send")]].concat(),
            1,
        ),
        point(SENT_MESSAGES, &base, 1),
    ];
    expected.sort();

    // The interceptor.
    let h = Harness::new();
    let metrics = Metrics::new();
    h.client(SfnPropagation::new().with_meter(&metrics.meter()))
        .start_execution()
        .state_machine_arn(ARN)
        .input("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.points(), expected);

    // The Tower form, server learned from the client.
    let h = Harness::new();
    let metrics = Metrics::new();
    let client = aws_sdk_sfn::Client::from_conf(sdk_config!(aws_sdk_sfn, h.stub).build());
    let mut service = SfnPropagation::new()
        .with_tracer(h.otel.handle())
        .with_meter(&metrics.meter())
        .service(client);
    let input = StartExecutionInput::builder()
        .state_machine_arn(ARN)
        .input("{}")
        .build()
        .unwrap();
    service
        .ready()
        .await
        .unwrap()
        .call(input.into())
        .await
        .unwrap();
    assert_eq!(metrics.points(), expected);
}

/// StartExecution and StartSyncExecution in both forms, with the exact spans each makes: the
/// interceptor and the Tower form (built with `service(client)`) make the same spans.
#[tokio::test]
async fn both_forms_make_exactly_these_spans() {
    use aws_sdk_sfn::operation::start_execution::StartExecutionInput;
    use aws_sdk_sfn::operation::start_sync_execution::StartSyncExecutionInput;
    use baton_sfn::{SfnRequest, SfnService};
    use baton_test_support::Shape;
    use opentelemetry::Context;
    use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
    use tower::Service;

    async fn run<S>(spans: &Spans, mut service: S) -> Vec<Shape>
    where
        S: Service<SfnRequest>,
        S::Error: std::fmt::Debug,
    {
        let cx = Context::new().with_span(spans.provider.tracer("app").start("handle"));
        let requests: [SfnRequest; 2] = [
            StartExecutionInput::builder()
                .state_machine_arn(ARN)
                .input("{}")
                .build()
                .unwrap()
                .into(),
            StartSyncExecutionInput::builder()
                .state_machine_arn(ARN)
                .input("{}")
                .build()
                .unwrap()
                .into(),
        ];
        for request in requests {
            baton_test_support::call_in(&mut service, request, &cx)
                .await
                .unwrap();
        }
        cx.span().end();
        spans.shapes_except("handle")
    }

    let h = Harness::new();
    let by_interceptor = run(&h.otel, SfnService::new(h.client(SfnPropagation::new()))).await;
    let h = Harness::new();
    let client = aws_sdk_sfn::Client::from_conf(sdk_config!(aws_sdk_sfn, h.stub).build());
    let by_tower = run(
        &h.otel,
        SfnPropagation::new()
            .with_tracer(h.otel.handle())
            .service(client),
    )
    .await;
    let send = |operation: &str, host: &str, outcome: &[(&str, &str)], status: Status| -> Shape {
        let mut attributes = baton_test_support::pairs(&[
            ("messaging.system", "aws_stepfunctions"),
            ("messaging.operation.type", "send"),
            ("messaging.operation.name", operation),
            ("messaging.destination.name", "orders"),
            ("cloud.region", "eu-west-1"),
            ("server.address", host),
        ]);
        attributes.extend(baton_test_support::pairs(outcome));
        attributes.extend(baton_test_support::pairs(&[
            ("messaging.message.id", EXECUTION),
            ("aws.request_id", "req-1"),
        ]));
        (
            "send orders".into(),
            SpanKind::Producer,
            attributes,
            0,
            status,
            true,
        )
    };
    let expected = vec![
        send("StartExecution", "stub.invalid", &[], Status::Unset),
        // The harness's synchronous execution fails: the span says how. It went to the
        // endpoint's `sync-` host (the SDK's host prefix), in both forms.
        send(
            "StartSyncExecution",
            "sync-stub.invalid",
            &[("error.type", "States.TaskFailed")],
            Status::error("the task failed"),
        ),
    ];
    assert_eq!(by_interceptor, expected);
    assert_eq!(by_tower, expected);
}
