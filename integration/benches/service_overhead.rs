//! What Baton adds per call to SNS Publish, EventBridge PutEvents and Step Functions
//! StartExecution: the plain SDK client against the same client with Baton's interceptor, side
//! by side in one criterion run, both against an in-process HTTP client that answers from
//! memory (so only the SDK's own work is compared; the harshest setting for a ratio).
//!
//! `cargo bench -p baton-integration --bench service_overhead`

mod support;

use baton::TracerHandle;
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use support::Canned;

fn overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_id_generator(baton::XrayIdGenerator::default())
        .build();
    let handle = || TracerHandle::new(provider.tracer("bench"));
    let caller = Context::new().with_span(provider.tracer("app").start("request"));
    let shared = support::sdk_config();

    // SNS (query protocol, XML response).
    let sns_stub = Canned {
        body: support::SNS_PUBLISH,
        content_type: "text/xml",
    };
    let sns_raw = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&shared)
            .http_client(sns_stub.clone())
            .build(),
    );
    let sns_baton = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&shared)
            .http_client(sns_stub)
            .interceptor(
                baton_sns::SnsPropagation::new()
                    .with_tracer(handle())
                    .interceptor(),
            )
            .build(),
    );
    let mut group = c.benchmark_group("sns_publish");
    for (name, client) in [("raw", &sns_raw), ("interceptor", &sns_baton)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime
                    .block_on(
                        client
                            .publish()
                            .topic_arn("arn:aws:sns:eu-west-1:123456789012:orders")
                            .message("hello")
                            .send()
                            .with_context(caller.clone()),
                    )
                    .unwrap()
            })
        });
    }
    group.finish();

    // EventBridge (JSON 1.1).
    let eb_stub = Canned {
        body: r#"{"FailedEntryCount":0,"Entries":[{"EventId":"ev-1"}]}"#,
        content_type: "application/x-amz-json-1.1",
    };
    let eb_raw = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&shared)
            .http_client(eb_stub.clone())
            .build(),
    );
    let eb_baton = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&shared)
            .http_client(eb_stub)
            .interceptor(
                baton_eventbridge::EventBridgePropagation::new()
                    .with_tracer(handle())
                    .interceptor(),
            )
            .build(),
    );
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name("shop")
        .source("shop.orders")
        .detail_type("OrderPlaced")
        .detail(r#"{"order":42,"items":[1,2,3]}"#)
        .build();
    let mut group = c.benchmark_group("eventbridge_put_events");
    for (name, client) in [("raw", &eb_raw), ("interceptor", &eb_baton)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime
                    .block_on(
                        client
                            .put_events()
                            .entries(entry.clone())
                            .send()
                            .with_context(caller.clone()),
                    )
                    .unwrap()
            })
        });
    }
    group.finish();

    // Step Functions (JSON 1.0).
    let sfn_stub = Canned {
        body: r#"{"executionArn":"arn:aws:states:eu-west-1:123456789012:execution:orders:e-1","startDate":1764000000}"#,
        content_type: "application/x-amz-json-1.0",
    };
    let sfn_raw = aws_sdk_sfn::Client::from_conf(
        aws_sdk_sfn::config::Builder::from(&shared)
            .http_client(sfn_stub.clone())
            .build(),
    );
    let sfn_baton = aws_sdk_sfn::Client::from_conf(
        aws_sdk_sfn::config::Builder::from(&shared)
            .http_client(sfn_stub)
            .interceptor(
                baton_sfn::SfnPropagation::new()
                    .with_tracer(handle())
                    .interceptor(),
            )
            .build(),
    );
    let mut group = c.benchmark_group("sfn_start_execution");
    for (name, client) in [("raw", &sfn_raw), ("interceptor", &sfn_baton)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime
                    .block_on(
                        client
                            .start_execution()
                            .state_machine_arn(
                                "arn:aws:states:eu-west-1:123456789012:stateMachine:orders",
                            )
                            .input(r#"{"order":42}"#)
                            .send()
                            .with_context(caller.clone()),
                    )
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
