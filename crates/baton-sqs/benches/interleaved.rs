//! Baton's added time per SQS call, measured interleaved: each round times a block of raw calls
//! and a block of instrumented calls back to back, so drift on a shared machine hits both alike;
//! the median over rounds of the per-round difference and ratio is reported. Once against the
//! in-memory HTTP client (the SDK's own work is all that is compared), once against the
//! loopback stub server (the cheapest real HTTP round trip).
//!
//! `cargo bench -p baton-sqs --bench interleaved`

mod hand;
mod support;

use std::time::Instant;

use aws_sdk_sqs::operation::receive_message::ReceiveMessageInput;
use aws_sdk_sqs::operation::send_message::SendMessageInput;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use baton_sqs::SqsRequest;
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer, TracerProvider};
use tokio::runtime::Runtime;
use tower::{Service, ServiceExt};

const ROUNDS: usize = 41;
const CALLS: usize = 200;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Times `CALLS` calls of `op` in µs per call.
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
        // Alternate which goes first, so neither always runs on a warmer cache.
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

fn main() {
    let provider = support::tracer_provider();
    println!("in-memory HTTP client:");
    run(support::in_memory_clients(&provider), &provider);
    println!("loopback HTTP/1.1 stub server:");
    run(
        support::clients(support::start_stub(), &provider),
        &provider,
    );
}

fn run(clients: support::Clients, provider: &opentelemetry_sdk::trace::SdkTracerProvider) {
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
    let noop = aws_sdk_sqs::Client::from_conf(
        raw.config().to_builder().interceptor(support::Noop).build(),
    );
    let caller = Context::new().with_span(provider.tracer("app").start("request"));
    let bare = baton_sqs::SqsService::new(raw.clone());

    let send = |client: &aws_sdk_sqs::Client, rt: &Runtime| {
        rt.block_on(
            client
                .send_message()
                .queue_url(&url)
                .message_body("hello")
                .send()
                .with_context(caller.clone()),
        )
        .unwrap();
    };
    let receive = |client: &aws_sdk_sqs::Client, rt: &Runtime| {
        rt.block_on(
            client
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
                .send()
                .with_context(caller.clone()),
        )
        .unwrap();
    };
    compare(
        &runtime,
        "SendMessage: interceptor vs raw client",
        &mut |rt| send(&raw, rt),
        &mut |rt| send(&intercepted, rt),
    );
    // What carrying a trace header costs the SDK itself (serializing and signing the larger
    // request), whoever writes it: the raw client with a header set by hand.
    let header = aws_sdk_sqs::types::MessageSystemAttributeValue::builder()
        .data_type("String")
        .string_value("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
        .build()
        .unwrap();
    compare(
        &runtime,
        "SendMessage: raw + hand-set header vs raw",
        &mut |rt| send(&raw, rt),
        &mut |rt| {
            rt.block_on(
                raw.send_message()
                    .queue_url(&url)
                    .message_body("hello")
                    .message_system_attributes(
                        aws_sdk_sqs::types::MessageSystemAttributeNameForSends::AwsTraceHeader,
                        header.clone(),
                    )
                    .send()
                    .with_context(caller.clone()),
            )
            .unwrap();
        },
    );
    // The hand-written baseline: what propagation costs at the least, written by the user
    // without Baton — a PRODUCER span started and ended by hand around the call, and its
    // context set by hand as `AWSTraceHeader`. Baton's forms are judged against what this
    // adds (issue 15: at most 1.5 times as much).
    let tracer = provider.tracer("app");
    compare(
        &runtime,
        "SendMessage: hand-written span + header vs raw",
        &mut |rt| send(&raw, rt),
        &mut |rt| rt.block_on(hand::send(&raw, &url, &caller, &tracer)),
    );
    // The same span written by hand with the attributes Baton records (the conventions'):
    // what the baseline costs once it records what Baton's span does.
    compare(
        &runtime,
        "SendMessage: hand-written, conventions' span vs raw",
        &mut |rt| send(&raw, rt),
        &mut |rt| rt.block_on(hand::send_conventions(&raw, &url, &caller, &tracer)),
    );
    let shared = support::shared_interceptor_client(&raw, provider);
    compare(
        &runtime,
        "SendMessage: interceptor (into_shared) vs raw",
        &mut |rt| send(&raw, rt),
        &mut |rt| send(&shared, rt),
    );
    compare(
        &runtime,
        "SendMessage: interceptor vs no-op interceptor",
        &mut |rt| send(&noop, rt),
        &mut |rt| send(&intercepted, rt),
    );
    let tower_call = |service: &mut dyn FnMut(SqsRequest, &Runtime), rt: &Runtime| {
        let input = SendMessageInput::builder()
            .queue_url(&url)
            .message_body("hello")
            .build()
            .unwrap();
        service(SqsRequest::from(input), rt);
    };
    let mut bare_service = bare.clone();
    let mut traced = |request: SqsRequest, rt: &Runtime| {
        rt.block_on(async {
            let ready = tower.ready().await.unwrap();
            let call = {
                let _active = caller.clone().attach();
                ready.call(request)
            };
            call.await.unwrap();
        })
    };
    let mut untraced = |request: SqsRequest, rt: &Runtime| {
        rt.block_on(async {
            // The caller's context current at `call`, as for the Tower form above.
            let ready = bare_service.ready().await.unwrap();
            let call = {
                let _active = caller.clone().attach();
                ready.call(request)
            };
            call.await.unwrap();
        })
    };
    compare(
        &runtime,
        "SendMessage: Tower layer vs bare SqsService",
        &mut |rt| tower_call(&mut untraced, rt),
        &mut |rt| tower_call(&mut traced, rt),
    );
    compare(
        &runtime,
        "ReceiveMessage(10): interceptor vs raw client",
        &mut |rt| receive(&raw, rt),
        &mut |rt| receive(&intercepted, rt),
    );
    // The hand-written baseline of a receive: a `receive` span linked to each message's
    // producer, read from its `AWSTraceHeader` by hand.
    compare(
        &runtime,
        "ReceiveMessage(10): hand-written span + links vs raw",
        &mut |rt| receive(&raw, rt),
        &mut |rt| rt.block_on(hand::receive(&raw, &url, &caller, &tracer)),
    );
    compare(
        &runtime,
        "ReceiveMessage(10): hand-written, Baton's carriers and span vs raw",
        &mut |rt| receive(&raw, rt),
        &mut |rt| rt.block_on(hand::receive_conventions(&raw, &url, &caller, &tracer)),
    );
    compare(
        &runtime,
        "ReceiveMessage(10): interceptor (into_shared) vs raw",
        &mut |rt| receive(&raw, rt),
        &mut |rt| receive(&shared, rt),
    );
    let receive_tower = |service: &mut dyn FnMut(SqsRequest, &Runtime), rt: &Runtime| {
        let input = ReceiveMessageInput::builder()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
            .build()
            .unwrap();
        service(SqsRequest::from(input), rt);
    };
    compare(
        &runtime,
        "ReceiveMessage(10): Tower layer vs bare SqsService",
        &mut |rt| receive_tower(&mut untraced, rt),
        &mut |rt| receive_tower(&mut traced, rt),
    );
}
