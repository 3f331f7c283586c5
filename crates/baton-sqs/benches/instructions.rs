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
    if args.get(1).map(String::as_str) == Some("interleave") {
        return interleave(&args[2..]);
    }
    let (Some(variant), Some(count)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!(
            "usage: instructions VARIANT COUNT (variants: send-raw, send-raw-header, send-noop-interceptor, send-interceptor, send-interceptor-shared, send-tower, send-tower-bare, send-hand, send-hand-conventions, receive-raw, receive-interceptor, receive-interceptor-shared, receive-tower, receive-tower-bare, receive-hand, receive-hand-carriers, receive-hand-conventions)"
        );
        return;
    };
    let mut calls = Calls::new();
    let timer = baton_test_support::LoopTimer::start();
    for _ in 0..count {
        calls.call(variant);
    }
    timer.report();
}

/// `interleave ROUNDS CALLS VARIANT...`: every variant in one process, block after block. Each
/// round times CALLS calls of each variant, in an order shuffled from round to round, and
/// prints one line: the round, then each variant's µs per call. Every variant shares the
/// process's code and heap placement, which otherwise moves a variant's time by several per
/// cent from one process to the next (see `walltime.sh` and docs/BENCHMARKS.md).
fn interleave(args: &[String]) {
    let (Some(rounds), Some(per_block)) = (
        args.first().and_then(|n| n.parse::<usize>().ok()),
        args.get(1).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: instructions interleave ROUNDS CALLS VARIANT...");
        std::process::exit(2);
    };
    let variants = &args[2..];
    let mut calls = Calls::new();
    // Warm every variant up first.
    for variant in variants {
        for _ in 0..per_block {
            calls.call(variant);
        }
    }
    println!("round {}", variants.join(" "));
    let mut times = vec![0.0; variants.len()];
    let mut order: Vec<usize> = (0..variants.len()).collect();
    // A fixed-seed xorshift: each round runs the variants in a new order, so no variant is
    // always run after the same neighbour (whose leftovers in the caches and the heap it
    // would otherwise meet every round), and runs repeat exactly.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..rounds {
        for i in (1..order.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            order.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        for &at in &order {
            let started = std::time::Instant::now();
            for _ in 0..per_block {
                calls.call(&variants[at]);
            }
            times[at] = started.elapsed().as_secs_f64() * 1e6 / per_block as f64;
        }
        let line: Vec<String> = times.iter().map(|t| format!("{t:.3}")).collect();
        println!("{round} {}", line.join(" "));
    }
}

/// Every client variant, ready to make one call.
struct Calls {
    runtime: tokio::runtime::Runtime,
    /// Kept alive: dropping the provider shuts its tracers down.
    _provider: opentelemetry_sdk::trace::SdkTracerProvider,
    raw: aws_sdk_sqs::Client,
    intercepted: aws_sdk_sqs::Client,
    tower: baton_sqs::TracedSqs<baton_sqs::SqsService>,
    url: String,
    bare: baton_sqs::SqsService,
    probed: baton_sqs::TracedSqs<baton::driver::Probed<baton_sqs::SqsService>>,
    shared: aws_sdk_sqs::Client,
    noop: aws_sdk_sqs::Client,
    header: MessageSystemAttributeValue,
    caller: Context,
    tracer: opentelemetry_sdk::trace::SdkTracer,
}

impl Calls {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let provider = support::tracer_provider();
        let support::Clients {
            raw,
            intercepted,
            tower,
            url,
        } = support::in_memory_clients(&provider);
        let bare = baton_sqs::SqsService::new(raw.clone());
        // The Tower form as `service(client)` builds it: the layer, and a server probe on the client.
        let probed = support::propagation(&provider).service(raw.clone());
        let shared = support::shared_interceptor_client(&raw, &provider);
        let noop = aws_sdk_sqs::Client::from_conf(
            raw.config().to_builder().interceptor(support::Noop).build(),
        );
        let header = MessageSystemAttributeValue::builder()
            .data_type("String")
            .string_value(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            )
            .build()
            .unwrap();
        let caller = Context::new().with_span(provider.tracer("app").start("request"));
        let tracer = provider.tracer("app");
        Calls {
            runtime,
            _provider: provider,
            raw,
            intercepted,
            tower,
            url,
            bare,
            probed,
            shared,
            noop,
            header,
            caller,
            tracer,
        }
    }

    /// One call of `variant`.
    fn call(&mut self, variant: &str) {
        let Calls {
            runtime,
            raw,
            intercepted,
            tower,
            url,
            bare,
            probed,
            shared,
            noop,
            header,
            caller,
            tracer,
            ..
        } = self;
        let url: &String = url;
        runtime.block_on(async {
            match variant {
                "send-raw" => {
                    raw.send_message()
                        .queue_url(url)
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
                        .queue_url(url)
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
                        .queue_url(url)
                        .message_body("hello")
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "send-interceptor-shared" => {
                    shared
                        .send_message()
                        .queue_url(url)
                        .message_body("hello")
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "receive-interceptor-shared" => {
                    shared
                        .receive_message()
                        .queue_url(url)
                        .max_number_of_messages(10)
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "send-noop-interceptor" => {
                    noop.send_message()
                        .queue_url(url)
                        .message_body("hello")
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "send-tower" => {
                    let input = SendMessageInput::builder()
                        .queue_url(url)
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
                        .queue_url(url)
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
                        .queue_url(url)
                        .message_body("hello")
                        .build()
                        .unwrap();
                    // With the caller's context current at `call`, as for the Tower form:
                    // what that costs is the harness's, not Baton's.
                    let ready = bare.ready().await.unwrap();
                    let call = {
                        let _active = caller.clone().attach();
                        ready.call(SqsRequest::from(input))
                    };
                    call.await.unwrap();
                }
                "receive-raw" => {
                    raw.receive_message()
                        .queue_url(url)
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
                        .queue_url(url)
                        .max_number_of_messages(10)
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "receive-tower" => {
                    let input = ReceiveMessageInput::builder()
                        .queue_url(url)
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
                        .queue_url(url)
                        .max_number_of_messages(10)
                        .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
                        .build()
                        .unwrap();
                    // With the caller's context current at `call`, as for the Tower form:
                    // what that costs is the harness's, not Baton's.
                    let ready = bare.ready().await.unwrap();
                    let call = {
                        let _active = caller.clone().attach();
                        ready.call(SqsRequest::from(input))
                    };
                    call.await.unwrap();
                }
                "send-hand" => hand::send(raw, url, caller, tracer).await,
                "receive-hand" => hand::receive(raw, url, caller, tracer).await,
                "send-hand-conventions" => hand::send_conventions(raw, url, caller, tracer).await,
                "receive-hand-conventions" => {
                    hand::receive_conventions(raw, url, caller, tracer).await
                }
                "receive-hand-carriers" => hand::receive_carriers(raw, url, caller, tracer).await,
                other => panic!("unknown variant {other}"),
            }
        });
    }
}
