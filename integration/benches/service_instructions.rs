//! Runs one SNS, EventBridge or Step Functions call variant N times against the in-memory HTTP
//! client, for counting instructions under callgrind (the variants of `service_interleaved`;
//! `service_instructions variants` lists them). Allocations go through mimalloc, whose cost
//! per allocation is steady, as in `baton-sqs`'s `instructions` bench.
//!
//! `CRATE=baton-integration BENCH=service_instructions bash crates/baton-sqs/benches/instructions.sh`

mod services;
mod support;

use opentelemetry::Context;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let provider = services::tracer_provider();
    let caller = Context::new().with_span(provider.tracer("app").start("request"));
    let mut variants = services::variants(&provider, &caller);
    match (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) {
        (Some(name), Some(count)) => {
            let Some((_, variant)) = variants.iter_mut().find(|(n, _)| n == name) else {
                eprintln!("no variant {name}");
                std::process::exit(2);
            };
            let timer = baton_test_support::LoopTimer::start();
            for _ in 0..count {
                variant(&runtime);
            }
            timer.report();
        }
        (Some(pairs), None) if pairs == "pairs" => {
            // `pairs`: what `walltime.sh` compares, as `base:variant`.
            let pairs: Vec<String> = services::COMPARISONS
                .iter()
                .map(|(_, base, with)| format!("{base}:{with}"))
                .collect();
            println!("{}", pairs.join(" "));
        }
        _ => {
            // `variants` (or anything else): the names, in a sensible order.
            let mut names: Vec<&str> = variants.iter().map(|(n, _)| *n).collect();
            names.sort_by_key(|n| {
                let (service, form) = n.split_once('-').unwrap_or((n, ""));
                let order = [
                    "raw",
                    "raw-carriers",
                    "hand",
                    "hand-conventions",
                    "interceptor",
                    "interceptor-shared",
                    "tower-bare",
                    "tower",
                ];
                (
                    service.to_owned(),
                    order.iter().position(|o| *o == form).unwrap_or(order.len()),
                )
            });
            println!("{}", names.join(" "));
        }
    }
}
