//! Heap allocations Baton adds per SQS call, counted (not timed) with a global allocator that
//! tallies every allocation in the process, the stub server's included (it does the same work
//! for every client, so the differences are Baton's).
//!
//! `cargo bench -p baton-sqs --bench alloc_counts`

mod support;

use std::alloc::System;

use aws_sdk_sqs::operation::send_message::SendMessageInput;
use baton_sqs::SqsRequest;
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer, TracerProvider};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Service, ServiceExt};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ROUNDS: usize = 500;

fn count<F: FnMut()>(label: &str, mut op: F) -> f64 {
    for _ in 0..20 {
        op(); // warm connections and lazy state
    }
    let region = Region::new(GLOBAL);
    for _ in 0..ROUNDS {
        op();
    }
    let stats = region.change();
    let per_call = stats.allocations as f64 / ROUNDS as f64;
    println!(
        "{label:<32} {per_call:>8.1} allocations/call {:>10.0} bytes/call",
        stats.bytes_allocated as f64 / ROUNDS as f64
    );
    per_call
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = support::start_stub();
    let provider = support::tracer_provider();
    let support::Clients {
        raw,
        intercepted,
        mut tower,
        url,
    } = support::clients(addr, &provider);
    let caller = Context::new().with_span(provider.tracer("app").start("request"));

    let raw_send = count("SendMessage raw", || {
        runtime
            .block_on(
                raw.send_message()
                    .queue_url(&url)
                    .message_body("hello")
                    .send(),
            )
            .unwrap();
    });
    let intercepted_send = count("SendMessage interceptor", || {
        runtime
            .block_on(
                intercepted
                    .send_message()
                    .queue_url(&url)
                    .message_body("hello")
                    .send()
                    .with_context(caller.clone()),
            )
            .unwrap();
    });
    let tower_send = count("SendMessage tower", || {
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
            call.await.unwrap();
        })
    });
    let raw_receive = count("ReceiveMessage(10) raw", || {
        runtime
            .block_on(
                raw.receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .message_system_attribute_names(
                        aws_sdk_sqs::types::MessageSystemAttributeName::AwsTraceHeader,
                    )
                    .send(),
            )
            .unwrap();
    });
    let intercepted_receive = count("ReceiveMessage(10) interceptor", || {
        runtime
            .block_on(
                intercepted
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .send()
                    .with_context(caller.clone()),
            )
            .unwrap();
    });
    println!();
    println!(
        "added by the interceptor, SendMessage:        {:+.1}",
        intercepted_send - raw_send
    );
    println!(
        "added by the Tower form, SendMessage:         {:+.1}",
        tower_send - raw_send
    );
    println!(
        "added by the interceptor, ReceiveMessage(10): {:+.1}",
        intercepted_receive - raw_receive
    );
}
