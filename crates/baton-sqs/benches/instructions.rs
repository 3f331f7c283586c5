//! Runs one client variant N times against the in-memory HTTP client, for counting
//! instructions under callgrind (repeatable on a noisy machine, unlike timings).
//! Driven by `instructions.sh`, which runs each variant at two counts and prints the
//! instructions per call (the difference over the difference, so set-up cancels out).
//!
//! `bash crates/baton-sqs/benches/instructions.sh`

mod hand;
mod support;

use aws_sdk_sqs::operation::receive_message::ReceiveMessageInput;
use aws_sdk_sqs::operation::send_message::SendMessageInput;
use aws_sdk_sqs::types::{
    MessageSystemAttributeName, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
};
use baton_sqs::SqsRequest;
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer, TracerProvider};
use tower::{Service, ServiceExt};

// Counted with mimalloc: glibc's allocator costs a few thousand instructions more or less per
// call from one process to the next (which bins earlier allocations left behind), more than
// the differences measured here; mimalloc's fast path costs about the same every time.
// Allocations are counted on their own (`alloc_counts`), wall time keeps glibc (`interleaved`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let (Some(variant), Some(count)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!(
            "usage: instructions VARIANT COUNT (variants: send-raw, send-raw-header, send-noop-interceptor, send-interceptor, send-interceptor-shared, send-tower, send-tower-bare, send-hand, send-hand-conventions, receive-raw, receive-interceptor, receive-interceptor-shared, receive-tower, receive-tower-bare, receive-hand, receive-hand-conventions)"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let provider = support::tracer_provider();
    let support::Clients {
        raw,
        intercepted,
        mut tower,
        url,
    } = support::in_memory_clients(&provider);
    let mut bare = baton_sqs::SqsService::new(raw.clone());
    // The Tower form as `service(client)` builds it: the layer, and a server probe on the client.
    let mut probed = support::propagation(&provider).service(raw.clone());
    let shared = support::shared_interceptor_client(&raw, &provider);
    let noop = aws_sdk_sqs::Client::from_conf(
        raw.config().to_builder().interceptor(support::Noop).build(),
    );
    let header = MessageSystemAttributeValue::builder()
        .data_type("String")
        .string_value("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
        .build()
        .unwrap();
    let caller = Context::new().with_span(provider.tracer("app").start("request"));
    let tracer = provider.tracer("app");
    let timer = baton_test_support::LoopTimer::start();
    for _ in 0..count {
        runtime.block_on(async {
            match variant.as_str() {
                "send-raw" => {
                    raw.send_message()
                        .queue_url(&url)
                        .message_body("hello")
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "send-raw-header" => {
                    // The raw client carrying a trace header set by hand: what the header
                    // costs the SDK (serializing and signing a larger request), whoever sets it.
                    raw.send_message()
                        .queue_url(&url)
                        .message_body("hello")
                        .message_system_attributes(
                            MessageSystemAttributeNameForSends::AwsTraceHeader,
                            header.clone(),
                        )
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "send-interceptor" => {
                    intercepted
                        .send_message()
                        .queue_url(&url)
                        .message_body("hello")
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "send-interceptor-shared" => {
                    shared
                        .send_message()
                        .queue_url(&url)
                        .message_body("hello")
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "receive-interceptor-shared" => {
                    shared
                        .receive_message()
                        .queue_url(&url)
                        .max_number_of_messages(10)
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "send-noop-interceptor" => {
                    noop.send_message()
                        .queue_url(&url)
                        .message_body("hello")
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "send-tower" => {
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
                    call.await.unwrap();
                }
                "send-tower-service" => {
                    let input = SendMessageInput::builder()
                        .queue_url(&url)
                        .message_body("hello")
                        .build()
                        .unwrap();
                    let ready = probed.ready().await.unwrap();
                    let call = {
                        let _active = caller.clone().attach();
                        ready.call(SqsRequest::from(input))
                    };
                    call.await.unwrap();
                }
                "send-tower-bare" => {
                    let input = SendMessageInput::builder()
                        .queue_url(&url)
                        .message_body("hello")
                        .build()
                        .unwrap();
                    bare.ready()
                        .await
                        .unwrap()
                        .call(SqsRequest::from(input))
                        .await
                        .unwrap();
                }
                "receive-raw" => {
                    raw.receive_message()
                        .queue_url(&url)
                        .max_number_of_messages(10)
                        .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "receive-interceptor" => {
                    intercepted
                        .receive_message()
                        .queue_url(&url)
                        .max_number_of_messages(10)
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "receive-tower" => {
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
                    call.await.unwrap();
                }
                "receive-tower-bare" => {
                    // What the raw client's receive asks for, through the bare service.
                    let input = ReceiveMessageInput::builder()
                        .queue_url(&url)
                        .max_number_of_messages(10)
                        .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
                        .build()
                        .unwrap();
                    bare.ready()
                        .await
                        .unwrap()
                        .call(SqsRequest::from(input))
                        .await
                        .unwrap();
                }
                "send-hand" => hand::send(&raw, &url, &caller, &tracer).await,
                "receive-hand" => hand::receive(&raw, &url, &caller, &tracer).await,
                "send-hand-conventions" => {
                    hand::send_conventions(&raw, &url, &caller, &tracer).await
                }
                "receive-hand-conventions" => {
                    hand::receive_conventions(&raw, &url, &caller, &tracer).await
                }
                other => panic!("unknown variant {other}"),
            }
        });
    }
    timer.report();
}
