//! The driver alone, with a made-up service: each interceptor hook driven through the SDK's own
//! `InterceptorContext` (as aws-runtime tests its interceptors), and the Tower form driven with
//! `tower-test` mocks. The service crates' tests cover their operations through real SDK clients.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    Error, Input, InterceptorContext, Output,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, OrchestratorError};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::{ConfigBag, Layer};
use aws_smithy_types::endpoint::Endpoint;
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::region::Region;
use baton::driver::{
    Common, Interceptor, Operation, PropagationLayer, Start, TracedOperation, TracedService,
};
use baton::{
    CallError, EntryOutcome, MessagingSpan, MessagingSystem, SendOutcome, SendSpans, TracerHandle,
    XrayIdGenerator, attr, header_for_context,
};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::{Layer as _, Service, ServiceExt};

// ---- A made-up service: one traced operation (`Put`), one that is not (`Get`). ----

/// The traced operation's input: the context goes into `header`.
#[derive(Clone, Debug, PartialEq)]
struct PutInput {
    stream: String,
    header: Option<String>,
}

#[derive(Debug)]
struct PutOutput {
    id: String,
}

/// An operation the service does not trace.
#[derive(Clone, Debug, PartialEq)]
struct GetInput;

#[derive(Debug)]
struct PutError(ErrorMetadata);

impl fmt::Display for PutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.message().unwrap_or("put failed"))
    }
}

impl std::error::Error for PutError {}

impl ProvideErrorMetadata for PutError {
    fn meta(&self) -> &ErrorMetadata {
        &self.0
    }
}

#[derive(Clone, Debug, Default)]
struct Streams {
    common: Common,
    /// Whether calls send the request header (to test the before-signing hook both ways).
    header: bool,
}

impl Streams {
    baton::common_builders!(common, "the largest record");
}

#[derive(Debug)]
enum Request {
    Put(PutInput),
    Get(GetInput),
}

#[derive(Debug)]
enum Response {
    Put(PutOutput),
    Get,
}

#[derive(Debug)]
struct StreamCall {
    spans: SendSpans<()>,
    header: Option<String>,
}

impl TracedService for Streams {
    const INTERCEPTOR_NAME: &'static str = "TestStreams";
    const OPERATIONS: &'static [Operation<Self>] = &[Operation::of::<PutInput>()];
    const SETS_REQUEST_HEADER: bool = true;
    type Call = StreamCall;
    type Request = Request;
    type Response = Response;
    type SdkError = PutError;

    fn common(&self) -> &Common {
        &self.common
    }

    fn active_context(call: &StreamCall) -> Option<&Context> {
        Some(call.spans.cx())
    }

    fn request_input(request: &mut Request) -> &mut dyn Any {
        match request {
            Request::Put(input) => input,
            Request::Get(input) => input,
        }
    }

    fn response_output(response: &Response) -> &dyn Any {
        match response {
            Response::Put(output) => output,
            Response::Get => &(),
        }
    }

    fn request_header(&self, call: &mut StreamCall) -> Option<String> {
        self.header.then(|| call.header.clone()).flatten()
    }
}

impl TracedOperation<Streams> for PutInput {
    type Output = PutOutput;
    type Error = PutError;

    fn start(&mut self, service: &Streams, start: &Start<'_>) -> StreamCall {
        let spans = service.common().send_spans(
            MessagingSystem::Other("test_streams"),
            self.stream.clone(),
            "Put",
            None,
            start,
            [opentelemetry::KeyValue::new(
                "test.stream",
                self.stream.clone(),
            )],
        );
        let header = header_for_context(spans.cx());
        self.header = header.clone();
        StreamCall { spans, header }
    }

    fn finish(call: StreamCall, result: Result<&PutOutput, &CallError>) {
        let outcome = result.map(|o| SendOutcome::new(Some("req-1")).with_message_id(Some(&o.id)));
        call.spans.finish(outcome, |()| EntryOutcome::Unreported);
    }
}

// ---- Helpers ----

struct Spans {
    provider: SdkTracerProvider,
    exporter: InMemorySpanExporter,
}

impl Spans {
    fn new() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_id_generator(XrayIdGenerator::default())
            .with_simple_exporter(exporter.clone())
            .build();
        Spans { provider, exporter }
    }

    fn settings(&self) -> Streams {
        Streams::default().with_tracer(TracerHandle::new(self.provider.tracer("test")))
    }

    fn finished(&self) -> Vec<SpanData> {
        self.provider.force_flush().unwrap();
        self.exporter.get_finished_spans().unwrap()
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

fn put() -> PutInput {
    PutInput {
        stream: "orders".to_owned(),
        header: None,
    }
}

fn components() -> RuntimeComponents {
    RuntimeComponentsBuilder::for_tests().build().unwrap()
}

/// A configuration bag as the SDK makes one per operation, with the client's region.
fn config_bag(region: Option<&'static str>) -> ConfigBag {
    let mut client = Layer::new("client");
    if let Some(region) = region {
        client.store_put(Region::new(region));
    }
    // The endpoint the SDK resolves for the call (it keeps it in the bag for interceptors).
    client.store_put(
        Endpoint::builder()
            .url("https://streams.eu-west-1.amazonaws.com:8443/")
            .build(),
    );
    ConfigBag::of_layers(vec![client])
}

/// Runs the interceptor's first hook on `input` and returns the context (in its serialization
/// phase) for the later hooks.
fn serialize<T: fmt::Debug + Send + Sync + 'static>(
    interceptors: &[&Interceptor<Streams>],
    input: T,
    cfg: &mut ConfigBag,
) -> InterceptorContext {
    let mut context = InterceptorContext::new(Input::erase(input));
    for interceptor in interceptors {
        interceptor
            .modify_before_serialization(&mut (&mut context).into(), &components(), cfg)
            .unwrap();
    }
    context
}

/// Moves `context` on to transmission and runs the before-signing hook; returns the
/// `x-amzn-trace-id` header of the request.
fn sign(
    interceptor: &Interceptor<Streams>,
    context: &mut InterceptorContext,
    cfg: &mut ConfigBag,
) -> Option<String> {
    context.enter_serialization_phase();
    context.set_request(HttpRequest::empty());
    let _serialized = context.take_input();
    context.enter_before_transmit_phase();
    interceptor
        .modify_before_signing(&mut context.into(), &components(), cfg)
        .unwrap();
    context
        .request()
        .unwrap()
        .headers()
        .get("x-amzn-trace-id")
        .map(str::to_owned)
}

fn finish(
    interceptor: &Interceptor<Streams>,
    context: &mut InterceptorContext,
    result: Result<Output, OrchestratorError<Error>>,
    cfg: &mut ConfigBag,
) {
    context.set_output_or_error(result);
    interceptor
        .read_after_execution(&(&*context).into(), &components(), cfg)
        .unwrap();
}

// ---- The interceptor, hook by hook ----

#[test]
fn a_traced_input_gets_the_send_spans_context_and_its_span_ends_with_the_output() {
    let spans = Spans::new();
    let parent_span = spans.provider.tracer("caller").start("request");
    let parent = Context::new().with_span(parent_span);
    let interceptor = Interceptor::new(spans.settings());
    let mut cfg = config_bag(Some("eu-west-1"));

    let mut context = {
        let _caller = parent.clone().attach();
        serialize(&[&interceptor], put(), &mut cfg)
    };
    let input = context.input().unwrap().downcast_ref::<PutInput>().unwrap();
    let written = input.header.clone().expect("the input carries the context");
    assert!(
        spans.finished().is_empty(),
        "the span is open while the call runs"
    );

    let output = Output::erase(PutOutput {
        id: "rec-7".to_owned(),
    });
    finish(&interceptor, &mut context, Ok(output), &mut cfg);

    let finished = spans.finished();
    let [send] = &finished[..] else {
        panic!("one span expected: {finished:?}");
    };
    assert_eq!(send.name, "send orders");
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_eq!(
        send.parent_span_id,
        parent.span().span_context().span_id(),
        "a child of the caller's span"
    );
    assert_eq!(
        send.span_context.trace_id(),
        parent.span().span_context().trace_id()
    );
    assert!(
        written.contains(&send.span_context.span_id().to_string()),
        "the input names the send span: {written}"
    );
    assert_eq!(
        attribute(send, attr::MESSAGING_SYSTEM).as_deref(),
        Some("test_streams")
    );
    assert_eq!(
        attribute(send, attr::MESSAGING_MESSAGE_ID).as_deref(),
        Some("rec-7")
    );
    assert!(
        attribute(send, "test.stream").is_some(),
        "the service's own attributes, given to send_spans"
    );
    assert_eq!(
        attribute(send, "cloud.region").as_deref(),
        Some("eu-west-1"),
        "the client's region, read from the configuration bag"
    );
    assert_eq!(
        attribute(send, attr::SERVER_ADDRESS).as_deref(),
        Some("streams.eu-west-1.amazonaws.com"),
        "where the call went, from the endpoint the SDK resolved"
    );
    assert_eq!(attribute(send, attr::SERVER_PORT).as_deref(), Some("8443"));
    assert_eq!(send.status, Status::Unset);
}

#[test]
fn an_input_not_in_the_table_is_left_alone() {
    let spans = Spans::new();
    let interceptor = Interceptor::new(spans.settings());
    let mut cfg = config_bag(None);
    let mut context = serialize(&[&interceptor], GetInput, &mut cfg);
    assert_eq!(
        context.input().unwrap().downcast_ref::<GetInput>(),
        Some(&GetInput)
    );
    assert_eq!(sign(&interceptor, &mut context, &mut cfg), None);
    finish(&interceptor, &mut context, Ok(Output::erase(())), &mut cfg);
    assert!(spans.finished().is_empty());
}

#[test]
fn installed_twice_the_call_is_traced_once() {
    let spans = Spans::new();
    let first = Interceptor::new(spans.settings());
    let second = Interceptor::new(spans.settings());
    let mut cfg = config_bag(None);
    let mut context = serialize(&[&first, &second], put(), &mut cfg);
    let header = context
        .input()
        .unwrap()
        .downcast_ref::<PutInput>()
        .unwrap()
        .header
        .clone();
    let output = Output::erase(PutOutput { id: "r".to_owned() });
    context.set_output_or_error(Ok(output));
    for interceptor in [&first, &second] {
        interceptor
            .read_after_execution(&(&context).into(), &components(), &mut cfg)
            .unwrap();
    }
    let finished = spans.finished();
    assert_eq!(finished.len(), 1, "{finished:?}");
    assert!(
        header
            .unwrap()
            .contains(&finished[0].span_context.span_id().to_string())
    );
}

#[test]
fn the_request_header_is_set_before_signing_only_when_the_service_sends_one() {
    let spans = Spans::new();
    for sends in [true, false] {
        let interceptor = Interceptor::new(Streams {
            header: sends,
            ..spans.settings()
        });
        let mut cfg = config_bag(None);
        let mut context = serialize(&[&interceptor], put(), &mut cfg);
        let written = context
            .input()
            .unwrap()
            .downcast_ref::<PutInput>()
            .unwrap()
            .header
            .clone();
        let header = sign(&interceptor, &mut context, &mut cfg);
        if sends {
            assert_eq!(header, written, "the request says what the input says");
        } else {
            assert_eq!(header, None);
        }
    }
}

#[test]
fn an_operation_error_is_recorded_with_its_code_and_status() {
    let spans = Spans::new();
    let interceptor = Interceptor::new(spans.settings());
    let mut cfg = config_bag(None);
    let mut context = serialize(&[&interceptor], put(), &mut cfg);
    let error = PutError(
        ErrorMetadata::builder()
            .code("Throttled")
            .message("slow down")
            .build(),
    );
    finish(
        &interceptor,
        &mut context,
        Err(OrchestratorError::operation(Error::erase(error))),
        &mut cfg,
    );
    let finished = spans.finished();
    assert_eq!(finished[0].status, Status::error("slow down"));
    assert_eq!(
        attribute(&finished[0], attr::ERROR_TYPE).as_deref(),
        Some("Throttled")
    );
}

#[test]
fn a_call_dropped_before_its_last_hook_ends_as_cancelled() {
    let spans = Spans::new();
    let interceptor = Interceptor::new(spans.settings());
    let mut cfg = config_bag(None);
    let context = serialize(&[&interceptor], put(), &mut cfg);
    drop(context);
    assert!(spans.finished().is_empty(), "still owned by the operation");
    drop(cfg);
    let finished = spans.finished();
    assert_eq!(finished.len(), 1);
    assert!(matches!(finished[0].status, Status::Error { .. }));
}

#[test]
fn a_region_in_the_settings_wins_over_the_clients() {
    let spans = Spans::new();
    let interceptor = Interceptor::new(spans.settings().with_region("us-east-2"));
    let mut cfg = config_bag(Some("eu-west-1"));
    let mut context = serialize(&[&interceptor], put(), &mut cfg);
    let output = Output::erase(PutOutput { id: "r".to_owned() });
    finish(&interceptor, &mut context, Ok(output), &mut cfg);
    assert_eq!(
        attribute(&spans.finished()[0], "cloud.region").as_deref(),
        Some("us-east-2")
    );
}

// ---- The Tower form ----

type Mock = tower_test::mock::Mock<Request, Response>;
type Handle = tower_test::mock::Handle<Request, Response>;

fn traced(settings: Streams) -> (baton::driver::Traced<Streams, Mock>, Handle) {
    let (mock, handle) = tower_test::mock::pair::<Request, Response>();
    (PropagationLayer::new(settings).layer(mock), handle)
}

#[tokio::test]
async fn readiness_passes_through() {
    let spans = Spans::new();
    let (service, mut handle) = traced(spans.settings());
    let mut service = tower_test::mock::Spawn::new(service);
    handle.allow(0);
    assert!(
        service.poll_ready().is_pending(),
        "not ready while the inner service is not"
    );
    handle.allow(1);
    assert!(service.poll_ready().is_ready());
    assert!(spans.finished().is_empty(), "readiness starts no span");
}

#[tokio::test]
async fn the_tower_form_runs_the_same_operation_and_keeps_the_send_span_current() {
    let spans = Spans::new();
    let (mut service, mut handle) = traced(
        spans
            .settings()
            .with_region("eu-west-1")
            .with_server_address("localhost", Some(4566)),
    );
    let seen_current = Arc::new(Mutex::new(None));
    let responder = {
        let seen_current = seen_current.clone();
        tokio::spawn(async move {
            let (request, respond) = handle.next_request().await.unwrap();
            let Request::Put(input) = request else {
                panic!("a Put was sent");
            };
            respond.send_response(Response::Put(PutOutput {
                id: "rec-1".to_owned(),
            }));
            *seen_current.lock().unwrap() = input.header;
        })
    };
    let response = service
        .ready()
        .await
        .unwrap()
        .call(Request::Put(put()))
        .await
        .unwrap();
    responder.await.unwrap();
    assert!(matches!(response, Response::Put(PutOutput { ref id }) if id == "rec-1"));
    let finished = spans.finished();
    let [send] = &finished[..] else {
        panic!("one span expected: {finished:?}");
    };
    let header = seen_current.lock().unwrap().clone().unwrap();
    assert!(header.contains(&send.span_context.span_id().to_string()));
    assert_eq!(
        attribute(send, attr::MESSAGING_MESSAGE_ID).as_deref(),
        Some("rec-1")
    );
    assert_eq!(
        attribute(send, "cloud.region").as_deref(),
        Some("eu-west-1")
    );
    assert_eq!(
        attribute(send, attr::SERVER_ADDRESS).as_deref(),
        Some("localhost")
    );
    assert_eq!(attribute(send, attr::SERVER_PORT).as_deref(), Some("4566"));
}

#[tokio::test]
async fn an_untraced_request_passes_through_and_an_inner_error_is_recorded() {
    let spans = Spans::new();
    let (mut service, mut handle) = traced(spans.settings());
    let responder = tokio::spawn(async move {
        let (request, respond) = handle.next_request().await.unwrap();
        assert!(matches!(request, Request::Get(GetInput)));
        respond.send_response(Response::Get);
        let (_, respond) = handle.next_request().await.unwrap();
        respond.send_error(PutError(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("no")
                .build(),
        ));
    });
    let response = service
        .ready()
        .await
        .unwrap()
        .call(Request::Get(GetInput))
        .await;
    assert!(matches!(response, Ok(Response::Get)));
    assert!(spans.finished().is_empty());
    let error = service
        .ready()
        .await
        .unwrap()
        .call(Request::Put(put()))
        .await
        .unwrap_err();
    responder.await.unwrap();
    assert!(
        error.downcast_ref::<PutError>().is_some(),
        "the inner error passes through unchanged"
    );
    let finished = spans.finished();
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].status, Status::error("no"));
    assert_eq!(
        attribute(&finished[0], attr::ERROR_TYPE).as_deref(),
        Some("AccessDenied"),
        "the SDK error found behind the mock's BoxError"
    );
}

#[tokio::test]
async fn a_response_future_dropped_early_ends_its_span_as_cancelled() {
    let spans = Spans::new();
    let (mut service, _handle) = traced(spans.settings());
    let future = service.ready().await.unwrap().call(Request::Put(put()));
    assert!(spans.finished().is_empty());
    drop(future);
    let finished = spans.finished();
    assert_eq!(finished.len(), 1);
    assert!(matches!(finished[0].status, Status::Error { .. }));
}

// ---- Shared settings ----

#[test]
fn on_process_sees_the_started_process_span_and_a_panic_in_it_is_contained() {
    let spans = Spans::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let settings = {
        let seen = seen.clone();
        spans.settings().with_on_process(move |span| {
            span.set_attribute(KeyValue::new("shop.tenant", "acme"));
            seen.lock().unwrap().push(span.span_context().span_id());
        })
    };
    let process = MessagingSpan::process(MessagingSystem::Other("test_streams"), "orders");
    let cx = settings.common().start_process(process, &Context::new());
    cx.span().end();
    let panicking = spans.settings().with_on_process(|_| panic!("hook bug"));
    let process = MessagingSpan::process(MessagingSystem::Other("test_streams"), "orders");
    let cx = panicking.common().start_process(process, &Context::new());
    cx.span().end();

    let finished = spans.finished();
    assert_eq!(finished.len(), 2);
    assert_eq!(*seen.lock().unwrap(), [finished[0].span_context.span_id()]);
    assert_eq!(
        attribute(&finished[0], "shop.tenant").as_deref(),
        Some("acme")
    );
    assert_eq!(finished[1].span_kind, SpanKind::Consumer);
}

#[test]
fn size_limits_clamp_the_same_way_everywhere() {
    for (asked, kept) in [
        (0, 1024),
        (1023, 1024),
        (200_000, 200_000),
        (1 << 20, 1 << 20),
        (usize::MAX, 1 << 20),
    ] {
        assert_eq!(
            Streams::default()
                .with_size_limit(asked)
                .common()
                .size_limit(),
            kept
        );
    }
    assert_eq!(Streams::default().common().size_limit(), 256 * 1024);
}

/// A delivery with a five-byte body and no producer.
struct Parcel;

impl baton::Delivery for Parcel {
    fn system(&self) -> MessagingSystem {
        MessagingSystem::Other("parcels")
    }
    fn message_id(&self) -> Option<&str> {
        Some("p-1")
    }
    fn producer_context(&self) -> Context {
        Context::new()
    }
    fn body_size(&self) -> Option<usize> {
        Some(5)
    }
}

#[test]
fn process_spans_record_the_body_size_only_when_asked() {
    for on in [false, true] {
        let spans = Spans::new();
        let common = Common::default()
            .with_tracer(TracerHandle::new(spans.provider.tracer("test")))
            .with_body_size(on);
        assert_eq!(common.records_body_size(), on);
        common.start_delivery(&Parcel, "bin").span().end();
        // Inside an enclosing span (a Lambda invocation), the same.
        let enclosing = Context::new().with_span(spans.provider.tracer("test").start("invoke"));
        common
            .start_delivery_within(&Parcel, "bin", &enclosing)
            .span()
            .end();
        let process: Vec<SpanData> = spans
            .finished()
            .into_iter()
            .filter(|s| s.name == "process bin")
            .collect();
        assert_eq!(process.len(), 2);
        for span in &process {
            assert_eq!(
                attribute(span, attr::MESSAGING_MESSAGE_ID).as_deref(),
                Some("p-1")
            );
            let expected = on.then(|| "5".to_owned());
            assert_eq!(
                attribute(span, attr::MESSAGING_MESSAGE_BODY_SIZE),
                expected,
                "body size {on}"
            );
        }
    }
}
