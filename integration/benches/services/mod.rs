//! The SNS Publish, EventBridge PutEvents and Step Functions StartExecution calls the service
//! benchmarks compare, each as a named variant against an in-process HTTP client answering
//! from memory: the raw client, the raw client carrying the carriers (set by hand), the
//! hand-written baselines, and Baton's interceptor (both ways of installing it) and Tower
//! forms. `service_interleaved` times them in pairs; `service_instructions` runs one of them
//! for callgrind.
#![allow(dead_code, unreachable_pub)]

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::{Intercept, OverriddenHooks};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use baton::TracerHandle;
use opentelemetry::trace::{FutureExt, Span, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt};

use crate::support::{self, Canned};

/// A trace header as Baton writes one, for the rows that set the carriers by hand.
pub const HEADER: &str =
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

/// One call, made once each time it is run.
pub type Variant<'a> = Box<dyn FnMut(&Runtime) + 'a>;

/// The comparisons `service_interleaved` prints: (label, base variant, measured variant).
pub const COMPARISONS: &[(&str, &str, &str)] = &[
    (
        "SNS Publish: interceptor vs raw",
        "sns-raw",
        "sns-interceptor",
    ),
    (
        "SNS Publish: interceptor (into_shared) vs raw",
        "sns-raw",
        "sns-interceptor-shared",
    ),
    (
        "SNS Publish: raw + hand-set carriers vs raw",
        "sns-raw",
        "sns-raw-carriers",
    ),
    (
        "SNS Publish: hand-written span + carriers vs raw",
        "sns-raw",
        "sns-hand",
    ),
    (
        "SNS Publish: hand-written, conventions' span vs raw",
        "sns-raw",
        "sns-hand-conventions",
    ),
    (
        "SNS Publish: Tower layer vs bare SnsService",
        "sns-tower-bare",
        "sns-tower",
    ),
    (
        "SNS Publish: Tower layer over SnsService vs raw",
        "sns-raw",
        "sns-tower",
    ),
    (
        "EventBridge PutEvents: interceptor vs raw",
        "eb-raw",
        "eb-interceptor",
    ),
    (
        "EventBridge PutEvents: interceptor (into_shared) vs raw",
        "eb-raw",
        "eb-interceptor-shared",
    ),
    (
        "EventBridge PutEvents: raw + hand-set carriers vs raw",
        "eb-raw",
        "eb-raw-carriers",
    ),
    (
        "EventBridge PutEvents: hand-written span + carriers vs raw",
        "eb-raw",
        "eb-hand",
    ),
    (
        "EventBridge PutEvents: hand-written, conventions' span vs raw",
        "eb-raw",
        "eb-hand-conventions",
    ),
    (
        "EventBridge PutEvents: Tower layer vs bare EventBridgeService",
        "eb-tower-bare",
        "eb-tower",
    ),
    (
        "Step Functions StartExecution: interceptor vs raw",
        "sfn-raw",
        "sfn-interceptor",
    ),
    (
        "Step Functions StartExecution: interceptor (into_shared) vs raw",
        "sfn-raw",
        "sfn-interceptor-shared",
    ),
    (
        "Step Functions StartExecution: raw + hand-set carriers vs raw",
        "sfn-raw",
        "sfn-raw-carriers",
    ),
    (
        "Step Functions StartExecution: hand-written span + carriers vs raw",
        "sfn-raw",
        "sfn-hand",
    ),
    (
        "Step Functions StartExecution: hand-written, conventions' span vs raw",
        "sfn-raw",
        "sfn-hand-conventions",
    ),
    (
        "Step Functions StartExecution: Tower layer vs bare SfnService",
        "sfn-tower-bare",
        "sfn-tower",
    ),
    (
        "Step Functions StartExecution: Tower layer over SfnService vs raw",
        "sfn-raw",
        "sfn-tower",
    ),
];

/// The hand-written baseline's span: a PRODUCER `send` span started under `caller`, and its
/// X-Ray header, formatted by hand. End the span after the call.
fn hand_span(tracer: &SdkTracer, caller: &Context) -> (Context, String) {
    let span = tracer
        .span_builder("send orders")
        .with_kind(SpanKind::Producer)
        .start_with_context(tracer, caller);
    let header = baton::format_header(span.span_context())
        .map(|h| h.to_string())
        .unwrap_or_default();
    (caller.with_span(span), header)
}

/// The same, with the span Baton records: the conventions' attributes (system, operation,
/// destination, region), to which the call adds where it went and the ids it got back.
fn conventions_span(
    tracer: &SdkTracer,
    caller: &Context,
    system: &'static str,
    operation: &'static str,
    destination: &str,
    more: impl IntoIterator<Item = KeyValue>,
) -> (Context, String) {
    let span = tracer
        .span_builder(format!("send {destination}"))
        .with_kind(SpanKind::Producer)
        .with_attributes(
            [
                KeyValue::new("messaging.system", system),
                KeyValue::new("messaging.operation.type", "send"),
                KeyValue::new("messaging.operation.name", operation),
                KeyValue::new("messaging.destination.name", destination.to_owned()),
                KeyValue::new("cloud.region", "eu-west-1".to_owned()),
            ]
            .into_iter()
            .chain(more),
        )
        .start_with_context(tracer, caller);
    let header = baton::format_header(span.span_context())
        .map(|h| h.to_string())
        .unwrap_or_default();
    (caller.with_span(span), header)
}

/// Ends a conventions span with where the call went and what came back.
fn end_conventions(cx: &Context, message_id: Option<&str>, request_id: Option<&str>) {
    let span = cx.span();
    span.set_attributes(
        [Some(KeyValue::new(
            "server.address",
            "stub.invalid".to_owned(),
        ))]
        .into_iter()
        .chain([
            message_id.map(|id| KeyValue::new("messaging.message.id", id.to_owned())),
            request_id.map(|id| KeyValue::new("aws.request_id", id.to_owned())),
        ])
        .flatten(),
    );
    span.end();
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

/// How a client gets Baton's interceptor, if at all.
#[derive(Clone, Copy)]
enum Install {
    None,
    Interceptor,
    Shared,
}

/// A client of SDK crate `$sdk` answering from `$stub`, with `$propagation`'s interceptor
/// installed as `$install` says.
macro_rules! client {
    ($sdk:ident, $shared:expr, $stub:expr, $propagation:expr, $install:expr) => {{
        let mut config = $sdk::config::Builder::from($shared).http_client($stub.clone());
        match $install {
            Install::None => {}
            Install::Interceptor => config = config.interceptor($propagation.interceptor()),
            Install::Shared => {
                config.push_interceptor($propagation.interceptor().into_shared());
            }
        }
        $sdk::Client::from_conf(config.build())
    }};
}

const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:orders";
const STATE_MACHINE: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:orders";

/// Every variant, by name.
pub fn variants<'a>(
    provider: &'a SdkTracerProvider,
    caller: &'a Context,
) -> Vec<(&'static str, Variant<'a>)> {
    use aws_sdk_sns::operation::RequestId as _;

    let handle = move || TracerHandle::new(provider.tracer("bench"));
    let tracer = provider.tracer("app");
    let shared = support::sdk_config();
    let mut variants: Vec<(&'static str, Variant<'a>)> = Vec::new();

    // SNS Publish.
    let sns_stub = Canned {
        body: support::SNS_PUBLISH,
        content_type: "text/xml",
    };
    let sns = |install: Install| {
        let propagation = baton_sns::SnsPropagation::new().with_tracer(handle());
        client!(aws_sdk_sns, &shared, sns_stub, propagation, install)
    };
    let sns_raw = sns(Install::None);
    // The carriers set by hand: the message attribute, and the request header by an
    // interceptor that does nothing else (`customize().mutate_request(..)` would add far more
    // than the header).
    let sns_hand = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&shared)
            .http_client(sns_stub.clone())
            .interceptor(SetHeader)
            .build(),
    );
    let attribute = |value: &str| {
        aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .unwrap()
    };
    let publish = move |client: &aws_sdk_sns::Client, rt: &Runtime| {
        rt.block_on(
            client
                .publish()
                .topic_arn(TOPIC)
                .message("hello")
                .send()
                .with_context(caller.clone()),
        )
        .unwrap();
    };
    for (name, install) in [
        ("sns-interceptor", Install::Interceptor),
        ("sns-interceptor-shared", Install::Shared),
    ] {
        let client = sns(install);
        variants.push((name, Box::new(move |rt| publish(&client, rt))));
    }
    {
        let client = sns_raw.clone();
        variants.push(("sns-raw", Box::new(move |rt| publish(&client, rt))));
    }
    {
        let client = sns_hand.clone();
        let carried = attribute(HEADER);
        variants.push((
            "sns-raw-carriers",
            Box::new(move |rt| {
                rt.block_on(
                    client
                        .publish()
                        .topic_arn(TOPIC)
                        .message("hello")
                        .message_attributes("X-Amzn-Trace-Id", carried.clone())
                        .send()
                        .with_context(caller.clone()),
                )
                .unwrap();
            }),
        ));
    }
    for conventions in [false, true] {
        let client = sns_hand.clone();
        let tracer = tracer.clone();
        let name = if conventions {
            "sns-hand-conventions"
        } else {
            "sns-hand"
        };
        variants.push((
            name,
            Box::new(move |rt| {
                let (cx, header) = if conventions {
                    conventions_span(
                        &tracer,
                        caller,
                        "aws.sns",
                        "Publish",
                        "orders",
                        // Baton's SNS span also records the topic ARN (and the body size
                        // only when asked to: it is opt-in in the conventions).
                        [KeyValue::new("aws.sns.topic.arn", TOPIC.to_owned())],
                    )
                } else {
                    hand_span(&tracer, caller)
                };
                let output = rt
                    .block_on(
                        client
                            .publish()
                            .topic_arn(TOPIC)
                            .message("hello")
                            .message_attributes("X-Amzn-Trace-Id", attribute(&header))
                            .send()
                            .with_context(cx.clone()),
                    )
                    .unwrap();
                if conventions {
                    end_conventions(&cx, output.message_id(), output.request_id());
                } else {
                    cx.span().end();
                }
            }),
        ));
    }
    let sns_input = aws_sdk_sns::operation::publish::PublishInput::builder()
        .topic_arn(TOPIC)
        .message("hello")
        .build()
        .unwrap();
    {
        let mut bare = baton_sns::SnsService::new(sns_raw.clone());
        let input = sns_input.clone();
        variants.push((
            "sns-tower-bare",
            Box::new(move |rt| {
                let request = baton_sns::SnsRequest::from(input.clone());
                rt.block_on(tower_call(&mut bare, request, caller));
            }),
        ));
        let mut traced = baton_sns::SnsPropagation::new()
            .with_tracer(handle())
            .layer()
            .layer(baton_sns::SnsService::new(sns_raw.clone()));
        variants.push((
            "sns-tower",
            Box::new(move |rt| {
                let request = baton_sns::SnsRequest::from(sns_input.clone());
                rt.block_on(tower_call(&mut traced, request, caller));
            }),
        ));
    }

    // EventBridge PutEvents.
    let eb_stub = Canned {
        body: r#"{"FailedEntryCount":0,"Entries":[{"EventId":"ev-1"}]}"#,
        content_type: "application/x-amz-json-1.1",
    };
    let eb = |install: Install| {
        let propagation = baton_eventbridge::EventBridgePropagation::new().with_tracer(handle());
        client!(aws_sdk_eventbridge, &shared, eb_stub, propagation, install)
    };
    let eb_raw = eb(Install::None);
    let entry = |header: Option<&str>| {
        let builder = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name("shop")
            .source("shop.orders")
            .detail_type("OrderPlaced");
        match header {
            None => builder.detail(r#"{"order":42,"items":[1,2,3]}"#).build(),
            Some(header) => builder
                .detail(format!(
                    r#"{{"traceHeader":"{header}","order":42,"items":[1,2,3]}}"#
                ))
                .trace_header(header)
                .build(),
        }
    };
    let put = move |client: &aws_sdk_eventbridge::Client,
                    entry: aws_sdk_eventbridge::types::PutEventsRequestEntry,
                    cx: &Context,
                    rt: &Runtime| {
        rt.block_on(
            client
                .put_events()
                .entries(entry)
                .send()
                .with_context(cx.clone()),
        )
        .unwrap()
    };
    for (name, install) in [
        ("eb-raw", Install::None),
        ("eb-interceptor", Install::Interceptor),
        ("eb-interceptor-shared", Install::Shared),
    ] {
        let client = eb(install);
        let plain = entry(None);
        variants.push((
            name,
            Box::new(move |rt| {
                put(&client, plain.clone(), caller, rt);
            }),
        ));
    }
    {
        let client = eb_raw.clone();
        let carried = entry(Some(HEADER));
        variants.push((
            "eb-raw-carriers",
            Box::new(move |rt| {
                put(&client, carried.clone(), caller, rt);
            }),
        ));
    }
    for conventions in [false, true] {
        let client = eb_raw.clone();
        let tracer = tracer.clone();
        let name = if conventions {
            "eb-hand-conventions"
        } else {
            "eb-hand"
        };
        variants.push((
            name,
            Box::new(move |rt| {
                let (cx, header) = if conventions {
                    conventions_span(&tracer, caller, "aws_eventbridge", "PutEvents", "shop", [])
                } else {
                    hand_span(&tracer, caller)
                };
                let output = put(&client, entry(Some(&header)), &cx, rt);
                if conventions {
                    use aws_sdk_eventbridge::operation::RequestId as _;
                    let id = output.entries().first().and_then(|e| e.event_id());
                    end_conventions(&cx, id, output.request_id());
                } else {
                    cx.span().end();
                }
            }),
        ));
    }
    let eb_input = aws_sdk_eventbridge::operation::put_events::PutEventsInput::builder()
        .entries(entry(None))
        .build()
        .unwrap();
    {
        let mut bare = baton_eventbridge::EventBridgeService::new(eb_raw.clone());
        let input = eb_input.clone();
        variants.push((
            "eb-tower-bare",
            Box::new(move |rt| rt.block_on(tower_call(&mut bare, input.clone(), caller))),
        ));
        let mut traced = baton_eventbridge::EventBridgePropagation::new()
            .with_tracer(handle())
            .layer()
            .layer(baton_eventbridge::EventBridgeService::new(eb_raw.clone()));
        variants.push((
            "eb-tower",
            Box::new(move |rt| rt.block_on(tower_call(&mut traced, eb_input.clone(), caller))),
        ));
    }

    // Step Functions StartExecution.
    let sfn_stub = Canned {
        body: r#"{"executionArn":"arn:aws:states:eu-west-1:123456789012:execution:orders:e-1","startDate":1764000000}"#,
        content_type: "application/x-amz-json-1.0",
    };
    let sfn = |install: Install| {
        let propagation = baton_sfn::SfnPropagation::new().with_tracer(handle());
        client!(aws_sdk_sfn, &shared, sfn_stub, propagation, install)
    };
    let sfn_raw = sfn(Install::None);
    let sfn_hand = aws_sdk_sfn::Client::from_conf(
        aws_sdk_sfn::config::Builder::from(&shared)
            .http_client(sfn_stub.clone())
            .interceptor(SetHeader)
            .build(),
    );
    let start =
        move |client: &aws_sdk_sfn::Client, header: Option<String>, cx: &Context, rt: &Runtime| {
            rt.block_on(
                client
                    .start_execution()
                    .state_machine_arn(STATE_MACHINE)
                    .input(r#"{"order":42}"#)
                    .set_trace_header(header)
                    .send()
                    .with_context(cx.clone()),
            )
            .unwrap()
        };
    for (name, install) in [
        ("sfn-raw", Install::None),
        ("sfn-interceptor", Install::Interceptor),
        ("sfn-interceptor-shared", Install::Shared),
    ] {
        let client = sfn(install);
        variants.push((
            name,
            Box::new(move |rt| {
                start(&client, None, caller, rt);
            }),
        ));
    }
    {
        let client = sfn_hand.clone();
        variants.push((
            "sfn-raw-carriers",
            Box::new(move |rt| {
                start(&client, Some(HEADER.to_owned()), caller, rt);
            }),
        ));
    }
    for conventions in [false, true] {
        let client = sfn_hand.clone();
        let tracer = tracer.clone();
        let name = if conventions {
            "sfn-hand-conventions"
        } else {
            "sfn-hand"
        };
        variants.push((
            name,
            Box::new(move |rt| {
                let (cx, header) = if conventions {
                    conventions_span(
                        &tracer,
                        caller,
                        "aws_stepfunctions",
                        "StartExecution",
                        "orders",
                        [],
                    )
                } else {
                    hand_span(&tracer, caller)
                };
                let output = start(&client, Some(header), &cx, rt);
                if conventions {
                    use aws_sdk_sfn::operation::RequestId as _;
                    end_conventions(&cx, Some(output.execution_arn()), output.request_id());
                } else {
                    cx.span().end();
                }
            }),
        ));
    }
    let sfn_input = aws_sdk_sfn::operation::start_execution::StartExecutionInput::builder()
        .state_machine_arn(STATE_MACHINE)
        .input(r#"{"order":42}"#)
        .build()
        .unwrap();
    {
        let mut bare = baton_sfn::SfnService::new(sfn_raw.clone());
        let input = sfn_input.clone();
        variants.push((
            "sfn-tower-bare",
            Box::new(move |rt| {
                let request = baton_sfn::SfnRequest::from(input.clone());
                rt.block_on(tower_call(&mut bare, request, caller));
            }),
        ));
        let mut traced = baton_sfn::SfnPropagation::new()
            .with_tracer(handle())
            .layer()
            .layer(baton_sfn::SfnService::new(sfn_raw.clone()));
        variants.push((
            "sfn-tower",
            Box::new(move |rt| {
                let request = baton_sfn::SfnRequest::from(sfn_input.clone());
                rt.block_on(tower_call(&mut traced, request, caller));
            }),
        ));
    }
    variants
}

/// The tracer provider of the service benchmarks: X-Ray ids, every span sampled, no
/// exporter.
pub fn tracer_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_id_generator(baton::XrayIdGenerator::default())
        .build()
}
