//! Baton's side of the peer comparison (`integration/benches/peer/compare.py`): drains one
//! queue that the script filled with an `SqsWorker` and prints one JSON line.
//!
//! ```text
//! worker_peer --queue-url URL --messages N [--handler-ms MS] [--concurrency C] [--pollers P]
//! ```
//!
//! Without `--concurrency`/`--pollers` the worker runs with its defaults, as
//! `SqsWorker::new(client, url, handler).run(..)` does. Spans are recorded (an SDK tracer provider
//! whose exporter drops them), as a traced service would. The endpoint comes from
//! `BATON_LOCALSTACK_ENDPOINT` (default `http://127.0.0.1:4566`).
//!
//! The clock starts when the worker is started and stops when SQS has acknowledged the delete of
//! the `N`th message; the JSON line also says how many handler calls there were and how many
//! distinct bodies they saw, so the script can check that each message was handled once.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::Message;
use baton::TracerHandle;
use baton_integration::sdk_config;
use baton_worker::{CancellationToken, SqsWorker};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower::service_fn;

struct Args {
    queue_url: String,
    messages: u64,
    handler: Duration,
    concurrency: Option<usize>,
    pollers: Option<usize>,
}

fn args() -> Args {
    let mut out = Args {
        queue_url: String::new(),
        messages: 0,
        handler: Duration::ZERO,
        concurrency: None,
        pollers: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        // `cargo bench` passes `--bench`; anything else unknown is a mistake.
        if flag == "--bench" {
            continue;
        }
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--queue-url" => out.queue_url = value,
            "--messages" => out.messages = value.parse().expect("--messages"),
            "--handler-ms" => {
                out.handler = Duration::from_millis(value.parse().expect("--handler-ms"));
            }
            "--concurrency" => out.concurrency = Some(value.parse().expect("--concurrency")),
            "--pollers" => out.pollers = Some(value.parse().expect("--pollers")),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(
        !out.queue_url.is_empty() && out.messages > 0,
        "usage: worker_peer --queue-url URL --messages N [--handler-ms MS] [--concurrency C] [--pollers P]"
    );
    out
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = Client::new(&sdk_config().await);
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(support::Discard)
            .with_id_generator(baton::XrayIdGenerator::default())
            .build();
        let seen = Arc::new(Mutex::new(HashSet::<String>::new()));
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let delay = args.handler;
        let handler = {
            let (seen, calls) = (seen.clone(), calls.clone());
            service_fn(move |m: Message| {
                let (seen, calls) = (seen.clone(), calls.clone());
                async move {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    seen.lock()
                        .unwrap()
                        .insert(m.body.unwrap_or_default());
                    Ok::<_, std::convert::Infallible>(())
                }
            })
        };
        let mut worker = SqsWorker::new(client, &args.queue_url, handler)
            .with_tracer(TracerHandle::new(provider.tracer("peer-bench")));
        if let Some(c) = args.concurrency {
            worker = worker.with_concurrency(c);
        }
        if let Some(p) = args.pollers {
            worker = worker.with_pollers(p);
        }
        let stats = worker.stats();
        let token = CancellationToken::new();
        let start = Instant::now();
        let run = tokio::spawn(worker.run(token.clone()));
        while stats.snapshot().deleted < args.messages {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let seconds = start.elapsed().as_secs_f64();
        let end = stats.snapshot();
        let unique = seen.lock().unwrap().len();
        // Printed at the clock stop, before the shutdown (which waits for the open long poll),
        // so the script reads CPU times at the right moment.
        println!(
            "{{\"runner\":\"baton\",\"messages\":{},\"handled\":{},\"unique\":{},\"deleted\":{},\"seconds\":{:.4},\"rate\":{:.1},\"peak_rss_kib\":{}}}",
            args.messages,
            calls.load(std::sync::atomic::Ordering::Relaxed),
            unique,
            end.deleted,
            seconds,
            args.messages as f64 / seconds,
            support::peak_rss_kib()
        );
        token.cancel();
        run.await.unwrap().unwrap();
    });
}
