//! Runs one Lambda client variant N times against the in-memory HTTP client, for counting
//! instructions under callgrind: the raw SDK client, the same with a hand-written CLIENT span
//! around the call, Baton's interceptor, and the Tower form.
//!
//! `CRATE=baton-lambda bash crates/baton-sqs/benches/instructions.sh`

use aws_sdk_lambda::operation::invoke::InvokeInput;
use aws_sdk_lambda::primitives::Blob;
use baton::TracerHandle;
use baton_lambda::{LambdaPropagation, LambdaRequest, LambdaService};
use baton_test_support::{Reply, Request, Stub, sdk_config};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower::{Layer, Service, ServiceExt};

const VARIANTS: &str = "invoke-raw invoke-raw-context invoke-hand invoke-interceptor invoke-interceptor-no-context invoke-tower-bare invoke-tower";

const PAYLOAD: &str = r#"{"order":42,"items":[1,2,3]}"#;

fn answer(_: &Request<'_>) -> Reply {
    Reply::ok(r#"{"ok":true}"#)
        .with_header("x-amzn-requestid", "req-1")
        .with_header("x-amz-executed-version", "7")
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    if args.get(1).map(String::as_str) == Some("variants") {
        println!("{VARIANTS}");
        return;
    }
    let (Some(variant), Some(count)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: instructions VARIANT COUNT (variants: {VARIANTS})");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_id_generator(baton::XrayIdGenerator::default())
        .build();
    let stub = Stub::unrecorded(answer as fn(&Request<'_>) -> Reply);
    let base = || sdk_config!(aws_sdk_lambda, stub);
    let settings =
        LambdaPropagation::new().with_tracer(TracerHandle::new(provider.tracer("bench")));
    let raw = aws_sdk_lambda::Client::from_conf(base().build());
    let intercepted =
        aws_sdk_lambda::Client::from_conf(base().interceptor(settings.interceptor()).build());
    let header_only = aws_sdk_lambda::Client::from_conf(
        base()
            .interceptor(settings.clone().with_client_context(false).interceptor())
            .build(),
    );
    let mut bare = LambdaService::new(raw.clone());
    let mut tower = settings.layer().layer(LambdaService::new(raw.clone()));
    let caller = Context::new().with_span(provider.tracer("app").start("request"));
    let context = aws_smithy_types::base64::encode(
        r#"{"custom":{"X-Amzn-Trace-Id":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}}"#,
    );
    let tracer = provider.tracer("app");
    let input = || {
        InvokeInput::builder()
            .function_name("fulfil")
            .payload(Blob::new(PAYLOAD))
            .build()
            .unwrap()
    };
    for _ in 0..count {
        runtime.block_on(async {
            match variant.as_str() {
                "invoke-raw" | "invoke-interceptor" | "invoke-interceptor-no-context" => {
                    let client = match variant.as_str() {
                        "invoke-raw" => &raw,
                        "invoke-interceptor" => &intercepted,
                        _ => &header_only,
                    };
                    client
                        .invoke()
                        .function_name("fulfil")
                        .payload(Blob::new(PAYLOAD))
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "invoke-raw-context" => {
                    // The raw client with a ClientContext of the size Baton writes, set by
                    // hand: what carrying one costs the SDK (a signed header), whoever sets it.
                    raw.invoke()
                        .function_name("fulfil")
                        .client_context(&context)
                        .payload(Blob::new(PAYLOAD))
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "invoke-hand" => {
                    let span = tracer
                        .span_builder("Lambda.Invoke")
                        .with_kind(SpanKind::Client)
                        .start_with_context(&tracer, &caller);
                    let cx = caller.with_span(span);
                    raw.invoke()
                        .function_name("fulfil")
                        .payload(Blob::new(PAYLOAD))
                        .send()
                        .with_context(cx.clone())
                        .await
                        .unwrap();
                    cx.span().end();
                }
                "invoke-tower-bare" => {
                    bare.ready()
                        .await
                        .unwrap()
                        .call(LambdaRequest::from(input()))
                        .await
                        .unwrap();
                }
                "invoke-tower" => {
                    let ready = tower.ready().await.unwrap();
                    let call = {
                        let _active = caller.clone().attach();
                        ready.call(LambdaRequest::from(input()))
                    };
                    call.await.unwrap();
                }
                other => panic!("unknown variant {other}"),
            }
        });
    }
}
