//! What Baton adds to an SQS call: SendMessage and a 10-message ReceiveMessage, raw SDK client
//! against the interceptor and the Tower form, side by side in one run, all against the same
//! in-process HTTP stub (so an emulator's speed hides nothing): once over loopback TCP to a
//! stub server (`loopback/…`, the realistic case), once through an HTTP client that answers
//! from memory (`in_memory/…`, where the SDK's own work is all that is compared).
//!
//! `cargo bench -p baton-sqs --bench overhead`

mod support;

use std::hint::black_box;

use aws_sdk_sqs::operation::receive_message::ReceiveMessageInput;
use aws_sdk_sqs::operation::send_message::SendMessageInput;
use baton_sqs::SqsRequest;
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer, TracerProvider};
use tower::{Service, ServiceExt};

fn loopback(c: &mut Criterion) {
    let addr = support::start_stub();
    let provider = support::tracer_provider();
    compare(c, "loopback", support::clients(addr, &provider), &provider);
}

fn in_memory(c: &mut Criterion) {
    let provider = support::tracer_provider();
    compare(
        c,
        "in_memory",
        support::in_memory_clients(&provider),
        &provider,
    );
}

fn compare(
    c: &mut Criterion,
    transport: &str,
    clients: support::Clients,
    provider: &opentelemetry_sdk::trace::SdkTracerProvider,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let support::Clients {
        raw,
        intercepted,
        mut tower,
        url,
    } = clients;
    // Every call is made inside a caller span, as in a traced service.
    let caller = Context::new().with_span(provider.tracer("app").start("request"));

    let mut group = c.benchmark_group(format!("{transport}/send_message"));
    group.bench_function("raw", |b| {
        b.iter(|| {
            runtime
                .block_on(
                    raw.send_message()
                        .queue_url(&url)
                        .message_body("hello")
                        .send()
                        .with_context(caller.clone()),
                )
                .unwrap()
        })
    });
    let noop_client = aws_sdk_sqs::Client::from_conf(
        raw.config().to_builder().interceptor(support::Noop).build(),
    );
    group.bench_function("noop_interceptor", |b| {
        b.iter(|| {
            runtime
                .block_on(
                    noop_client
                        .send_message()
                        .queue_url(&url)
                        .message_body("hello")
                        .send()
                        .with_context(caller.clone()),
                )
                .unwrap()
        })
    });
    let mut bare = baton_sqs::SqsService::new(raw.clone());
    group.bench_function("tower_without_baton", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let input = SendMessageInput::builder()
                    .queue_url(&url)
                    .message_body("hello")
                    .build()
                    .unwrap();
                let ready = bare.ready().await.unwrap();
                black_box(ready.call(SqsRequest::from(input)).await.unwrap())
            })
        })
    });
    group.bench_function("interceptor", |b| {
        b.iter(|| {
            runtime
                .block_on(
                    intercepted
                        .send_message()
                        .queue_url(&url)
                        .message_body("hello")
                        .send()
                        .with_context(caller.clone()),
                )
                .unwrap()
        })
    });
    group.bench_function("tower", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let input = SendMessageInput::builder()
                    .queue_url(&url)
                    .message_body("hello")
                    .build()
                    .unwrap();
                let ready = tower.ready().await.unwrap();
                let call = {
                    let _active = caller.clone().attach();
                    ready.call(SqsRequest::from(input))
                };
                black_box(call.await.unwrap())
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group(format!("{transport}/receive_message_10"));
    group.bench_function("raw", |b| {
        b.iter(|| {
            runtime.block_on(async {
                // The raw client asks for the header too, so both parse the same response.
                raw.receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .message_system_attribute_names(
                        aws_sdk_sqs::types::MessageSystemAttributeName::AwsTraceHeader,
                    )
                    .send()
                    .await
                    .unwrap()
            })
        })
    });
    group.bench_function("interceptor", |b| {
        b.iter(|| {
            runtime
                .block_on(
                    intercepted
                        .receive_message()
                        .queue_url(&url)
                        .max_number_of_messages(10)
                        .send()
                        .with_context(caller.clone()),
                )
                .unwrap()
        })
    });
    group.bench_function("tower", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let input = ReceiveMessageInput::builder()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .build()
                    .unwrap();
                let ready = tower.ready().await.unwrap();
                let call = {
                    let _active = caller.clone().attach();
                    ready.call(SqsRequest::from(input))
                };
                black_box(call.await.unwrap())
            })
        })
    });
    group.finish();
}

criterion_group!(benches, in_memory, loopback);
criterion_main!(benches);
