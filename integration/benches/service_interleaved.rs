//! What Baton's interceptor and Tower forms add per call to SNS Publish, EventBridge PutEvents
//! and Step Functions StartExecution, beside the hand-written baseline (a PRODUCER span started
//! and ended by hand, its header set by hand in the same carriers), measured interleaved (as `baton-sqs`'s `interleaved` bench): each
//! of 41 rounds times 200 raw calls and 200 instrumented calls back to back, alternating which
//! goes first; medians over rounds. Against an in-process HTTP client answering from memory.
//!
//! `cargo bench -p baton-integration --bench service_interleaved`

use std::time::Instant;

mod support;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::{Intercept, OverriddenHooks};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use baton::TracerHandle;
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, Span, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use support::Canned;
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt};

const ROUNDS: usize = 41;

/// A trace header as Baton writes one, for the rows that set the carriers by hand.
const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
const CALLS: usize = 200;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn block(runtime: &Runtime, op: &mut dyn FnMut(&Runtime)) -> f64 {
    let start = Instant::now();
    for _ in 0..CALLS {
        op(runtime);
    }
    start.elapsed().as_secs_f64() * 1e6 / CALLS as f64
}

fn compare(
    runtime: &Runtime,
    label: &str,
    base: &mut dyn FnMut(&Runtime),
    with: &mut dyn FnMut(&Runtime),
) {
    for _ in 0..3 {
        block(runtime, base);
        block(runtime, with);
    }
    let (mut bases, mut diffs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (b, w) = if round % 2 == 0 {
            let b = block(runtime, base);
            (b, block(runtime, with))
        } else {
            let w = block(runtime, with);
            (block(runtime, base), w)
        };
        bases.push(b);
        diffs.push(w - b);
        ratios.push(w / b);
    }
    println!(
        "{label:<64} base {:>6.1} µs   added {:>+5.2} µs   {:>+5.1} %",
        median(bases),
        median(diffs),
        (median(ratios) - 1.0) * 100.0
    );
}

/// The hand-written baseline's span: a PRODUCER `send` span started under `caller`, and its
/// X-Ray header, formatted by hand. End the span after the call.
fn hand_span(tracer: &opentelemetry_sdk::trace::SdkTracer, caller: &Context) -> (Context, String) {
    let span = tracer
        .span_builder("send orders")
        .with_kind(SpanKind::Producer)
        .start_with_context(tracer, caller);
    let header = baton::format_header(span.span_context())
        .map(|h| h.to_string())
        .unwrap_or_default();
    (caller.with_span(span), header)
}

/// One call of a Tower service, made with `caller` current (the Tower form reads the caller's
/// context when `call` is made).
async fn tower_call<S, R>(service: &mut S, request: R, caller: &Context)
where
    S: Service<R>,
    S::Error: std::fmt::Debug,
{
    let ready = service.ready().await.unwrap();
    let call = {
        let _active = caller.clone().attach();
        ready.call(request)
    };
    call.await.unwrap();
}

/// Sets the `X-Amzn-Trace-Id` request header to [`HEADER`] and does nothing else (one hook).
#[derive(Debug)]
struct SetHeader;

impl Intercept for SetHeader {
    fn name(&self) -> &'static str {
        "SetHeader"
    }

    fn overridden_hooks(&self) -> OverriddenHooks {
        OverriddenHooks::MODIFY_BEFORE_SIGNING
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("X-Amzn-Trace-Id", HEADER);
        Ok(())
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_id_generator(baton::XrayIdGenerator::default())
        .build();
    let handle = || TracerHandle::new(provider.tracer("bench"));
    let caller = Context::new().with_span(provider.tracer("app").start("request"));
    let tracer = provider.tracer("app");
    let shared = support::sdk_config();

    let sns_stub = Canned {
        body: support::SNS_PUBLISH,
        content_type: "text/xml",
    };
    let sns = |interceptor: bool| {
        let mut config = aws_sdk_sns::config::Builder::from(&shared).http_client(sns_stub.clone());
        if interceptor {
            config = config.interceptor(
                baton_sns::SnsPropagation::new()
                    .with_tracer(handle())
                    .interceptor(),
            );
        }
        aws_sdk_sns::Client::from_conf(config.build())
    };
    let (sns_raw, sns_baton) = (sns(false), sns(true));
    let publish = |client: &aws_sdk_sns::Client, rt: &Runtime| {
        rt.block_on(
            client
                .publish()
                .topic_arn("arn:aws:sns:eu-west-1:123456789012:orders")
                .message("hello")
                .send()
                .with_context(caller.clone()),
        )
        .unwrap();
    };
    compare(
        &runtime,
        "SNS Publish: interceptor vs raw",
        &mut |rt| publish(&sns_raw, rt),
        &mut |rt| publish(&sns_baton, rt),
    );
    // What Baton's carriers cost the SDK itself, whoever writes them: the raw client with the
    // same message attribute set by hand, and the request header set by an interceptor that
    // does nothing else (`customize().mutate_request(..)` would add far more than the header).
    let sns_hand = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&shared)
            .http_client(sns_stub.clone())
            .interceptor(SetHeader)
            .build(),
    );
    let attribute = aws_sdk_sns::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(HEADER)
        .build()
        .unwrap();
    compare(
        &runtime,
        "SNS Publish: raw + hand-set carriers vs raw",
        &mut |rt| publish(&sns_raw, rt),
        &mut |rt| {
            rt.block_on(
                sns_hand
                    .publish()
                    .topic_arn("arn:aws:sns:eu-west-1:123456789012:orders")
                    .message("hello")
                    .message_attributes("X-Amzn-Trace-Id", attribute.clone())
                    .send()
                    .with_context(caller.clone()),
            )
            .unwrap();
        },
    );
    compare(
        &runtime,
        "SNS Publish: hand-written span + carriers vs raw",
        &mut |rt| publish(&sns_raw, rt),
        &mut |rt| {
            let (cx, header) = hand_span(&tracer, &caller);
            let attribute = aws_sdk_sns::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(header)
                .build()
                .unwrap();
            rt.block_on(
                sns_hand
                    .publish()
                    .topic_arn("arn:aws:sns:eu-west-1:123456789012:orders")
                    .message("hello")
                    .message_attributes("X-Amzn-Trace-Id", attribute)
                    .send()
                    .with_context(cx.clone()),
            )
            .unwrap();
            cx.span().end();
        },
    );
    let mut sns_bare = baton_sns::SnsService::new(sns_raw.clone());
    let mut sns_tower = baton_sns::SnsPropagation::new()
        .with_tracer(handle())
        .layer()
        .layer(baton_sns::SnsService::new(sns_raw.clone()));
    let sns_input = aws_sdk_sns::operation::publish::PublishInput::builder()
        .topic_arn("arn:aws:sns:eu-west-1:123456789012:orders")
        .message("hello")
        .build()
        .unwrap();
    compare(
        &runtime,
        "SNS Publish: Tower layer vs bare SnsService",
        &mut |rt| {
            let request = baton_sns::SnsRequest::from(sns_input.clone());
            rt.block_on(tower_call(&mut sns_bare, request, &caller));
        },
        &mut |rt| {
            let request = baton_sns::SnsRequest::from(sns_input.clone());
            rt.block_on(tower_call(&mut sns_tower, request, &caller));
        },
    );

    let eb_stub = Canned {
        body: r#"{"FailedEntryCount":0,"Entries":[{"EventId":"ev-1"}]}"#,
        content_type: "application/x-amz-json-1.1",
    };
    let eb = |interceptor: bool| {
        let mut config =
            aws_sdk_eventbridge::config::Builder::from(&shared).http_client(eb_stub.clone());
        if interceptor {
            config = config.interceptor(
                baton_eventbridge::EventBridgePropagation::new()
                    .with_tracer(handle())
                    .interceptor(),
            );
        }
        aws_sdk_eventbridge::Client::from_conf(config.build())
    };
    let (eb_raw, eb_baton) = (eb(false), eb(true));
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name("shop")
        .source("shop.orders")
        .detail_type("OrderPlaced")
        .detail(r#"{"order":42,"items":[1,2,3]}"#)
        .build();
    let put = |client: &aws_sdk_eventbridge::Client, rt: &Runtime| {
        rt.block_on(
            client
                .put_events()
                .entries(entry.clone())
                .send()
                .with_context(caller.clone()),
        )
        .unwrap();
    };
    compare(
        &runtime,
        "EventBridge PutEvents: interceptor vs raw",
        &mut |rt| put(&eb_raw, rt),
        &mut |rt| put(&eb_baton, rt),
    );
    let carried = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name("shop")
        .source("shop.orders")
        .detail_type("OrderPlaced")
        .detail(format!(
            r#"{{"traceHeader":"{HEADER}","order":42,"items":[1,2,3]}}"#
        ))
        .trace_header(HEADER)
        .build();
    compare(
        &runtime,
        "EventBridge PutEvents: raw + hand-set carriers vs raw",
        &mut |rt| put(&eb_raw, rt),
        &mut |rt| {
            rt.block_on(
                eb_raw
                    .put_events()
                    .entries(carried.clone())
                    .send()
                    .with_context(caller.clone()),
            )
            .unwrap();
        },
    );
    compare(
        &runtime,
        "EventBridge PutEvents: hand-written span + carriers vs raw",
        &mut |rt| put(&eb_raw, rt),
        &mut |rt| {
            let (cx, header) = hand_span(&tracer, &caller);
            let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .event_bus_name("shop")
                .source("shop.orders")
                .detail_type("OrderPlaced")
                .detail(format!(
                    r#"{{"traceHeader":"{header}","order":42,"items":[1,2,3]}}"#
                ))
                .trace_header(header)
                .build();
            rt.block_on(
                eb_raw
                    .put_events()
                    .entries(entry)
                    .send()
                    .with_context(cx.clone()),
            )
            .unwrap();
            cx.span().end();
        },
    );
    let mut eb_bare = baton_eventbridge::EventBridgeService::new(eb_raw.clone());
    let mut eb_tower = baton_eventbridge::EventBridgePropagation::new()
        .with_tracer(handle())
        .layer()
        .layer(baton_eventbridge::EventBridgeService::new(eb_raw.clone()));
    let eb_input = aws_sdk_eventbridge::operation::put_events::PutEventsInput::builder()
        .entries(entry.clone())
        .build()
        .unwrap();
    compare(
        &runtime,
        "EventBridge PutEvents: Tower layer vs bare EventBridgeService",
        &mut |rt| rt.block_on(tower_call(&mut eb_bare, eb_input.clone(), &caller)),
        &mut |rt| rt.block_on(tower_call(&mut eb_tower, eb_input.clone(), &caller)),
    );

    let sfn_stub = Canned {
        body: r#"{"executionArn":"arn:aws:states:eu-west-1:123456789012:execution:orders:e-1","startDate":1764000000}"#,
        content_type: "application/x-amz-json-1.0",
    };
    let sfn = |interceptor: bool| {
        let mut config = aws_sdk_sfn::config::Builder::from(&shared).http_client(sfn_stub.clone());
        if interceptor {
            config = config.interceptor(
                baton_sfn::SfnPropagation::new()
                    .with_tracer(handle())
                    .interceptor(),
            );
        }
        aws_sdk_sfn::Client::from_conf(config.build())
    };
    let (sfn_raw, sfn_baton) = (sfn(false), sfn(true));
    let sfn_hand = aws_sdk_sfn::Client::from_conf(
        aws_sdk_sfn::config::Builder::from(&shared)
            .http_client(sfn_stub.clone())
            .interceptor(SetHeader)
            .build(),
    );
    let start = |client: &aws_sdk_sfn::Client, rt: &Runtime| {
        rt.block_on(
            client
                .start_execution()
                .state_machine_arn("arn:aws:states:eu-west-1:123456789012:stateMachine:orders")
                .input(r#"{"order":42}"#)
                .send()
                .with_context(caller.clone()),
        )
        .unwrap();
    };
    compare(
        &runtime,
        "Step Functions StartExecution: interceptor vs raw",
        &mut |rt| start(&sfn_raw, rt),
        &mut |rt| start(&sfn_baton, rt),
    );
    compare(
        &runtime,
        "Step Functions StartExecution: raw + hand-set carriers vs raw",
        &mut |rt| start(&sfn_raw, rt),
        &mut |rt| {
            rt.block_on(
                sfn_hand
                    .start_execution()
                    .state_machine_arn("arn:aws:states:eu-west-1:123456789012:stateMachine:orders")
                    .input(r#"{"order":42}"#)
                    .trace_header(HEADER)
                    .send()
                    .with_context(caller.clone()),
            )
            .unwrap();
        },
    );
    compare(
        &runtime,
        "Step Functions StartExecution: hand-written span + carriers vs raw",
        &mut |rt| start(&sfn_raw, rt),
        &mut |rt| {
            let (cx, header) = hand_span(&tracer, &caller);
            rt.block_on(
                sfn_hand
                    .start_execution()
                    .state_machine_arn("arn:aws:states:eu-west-1:123456789012:stateMachine:orders")
                    .input(r#"{"order":42}"#)
                    .trace_header(header)
                    .send()
                    .with_context(cx.clone()),
            )
            .unwrap();
            cx.span().end();
        },
    );
    let mut sfn_bare = baton_sfn::SfnService::new(sfn_raw.clone());
    let mut sfn_tower = baton_sfn::SfnPropagation::new()
        .with_tracer(handle())
        .layer()
        .layer(baton_sfn::SfnService::new(sfn_raw.clone()));
    let sfn_input = aws_sdk_sfn::operation::start_execution::StartExecutionInput::builder()
        .state_machine_arn("arn:aws:states:eu-west-1:123456789012:stateMachine:orders")
        .input(r#"{"order":42}"#)
        .build()
        .unwrap();
    compare(
        &runtime,
        "Step Functions StartExecution: Tower layer vs bare SfnService",
        &mut |rt| {
            let request = baton_sfn::SfnRequest::from(sfn_input.clone());
            rt.block_on(tower_call(&mut sfn_bare, request, &caller))
        },
        &mut |rt| {
            let request = baton_sfn::SfnRequest::from(sfn_input.clone());
            rt.block_on(tower_call(&mut sfn_tower, request, &caller))
        },
    );
}
