//! Throughput of `SqsWorker` draining a queue in LocalStack, side by side in one run with a
//! plain receive/handle/delete loop on the raw SDK and with LocalStack's own ceiling.
//!
//! ```text
//! bash localstack/up.sh
//! cargo bench -p baton-integration --bench worker_throughput            # 1,000 messages a run
//! cargo bench -p baton-integration --bench worker_throughput -- rss      # peak RSS, 10,000 messages
//! ```
//!
//! Every run uses a fresh queue (an aborted long poll holds messages on a reused one).
//! Scenarios:
//! - `raw`: 1, 2 or 4 loops of ReceiveMessage(10) + DeleteMessageBatch with no handler; the
//!   best of them is LocalStack's ceiling (more loops are not faster: LocalStack's one process
//!   is the bottleneck);
//! - `plain`: one hand-written loop (receive 10, handle each in turn, delete the batch);
//! - `worker`: `SqsWorker` with tracing on (an SDK tracer provider that records every span),
//!   concurrency 20 for the no-op handler and 100 for the 20 ms handler.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, SendMessageBatchRequestEntry};
use baton::TracerHandle;
use baton_integration::{sdk_config, unique_name};
use baton_worker::{CancellationToken, SqsWorker};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower::service_fn;

async fn fresh_queue(client: &Client, messages: usize) -> String {
    let url = client
        .create_queue()
        .queue_name(unique_name("bench-drain"))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .unwrap();
    let calls: Vec<_> = (0..messages.div_ceil(10))
        .map(|call| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let entries = (0..10)
                    .map(|i| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(format!("message {call}-{i}"))
                            .build()
                            .unwrap()
                    })
                    .collect();
                client
                    .send_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .expect("SendMessageBatch");
            }
        })
        .collect();
    // Eight sends in flight at a time.
    let mut calls = calls.into_iter();
    loop {
        let group: Vec<_> = calls.by_ref().take(8).collect();
        if group.is_empty() {
            break;
        }
        futures_join(group).await;
    }
    url
}

async fn futures_join<F: std::future::Future<Output = ()> + Send + 'static>(futures: Vec<F>) {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    for h in handles {
        h.await.unwrap();
    }
}

async fn handle(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// `loops` raw receive/handle/delete loops until `total` messages are deleted.
async fn raw_loops(client: &Client, url: &str, total: u64, loops: usize, delay: Duration) -> f64 {
    let deleted = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(std::sync::OnceLock::new());
    let start = Instant::now();
    let tasks: Vec<_> = (0..loops)
        .map(|_| {
            let (client, url, deleted) = (client.clone(), url.to_owned(), deleted.clone());
            let finished = finished.clone();
            async move {
                while deleted.load(Ordering::Relaxed) < total {
                    let out = client
                        .receive_message()
                        .queue_url(&url)
                        .max_number_of_messages(10)
                        .wait_time_seconds(1)
                        .send()
                        .await
                        .expect("ReceiveMessage");
                    let messages = out.messages.unwrap_or_default();
                    if messages.is_empty() {
                        continue;
                    }
                    let mut entries = Vec::with_capacity(messages.len());
                    for (i, m) in messages.iter().enumerate() {
                        handle(delay).await;
                        entries.push(
                            DeleteMessageBatchRequestEntry::builder()
                                .id(i.to_string())
                                .receipt_handle(m.receipt_handle.clone().unwrap())
                                .build()
                                .unwrap(),
                        );
                    }
                    let n = entries.len() as u64;
                    client
                        .delete_message_batch()
                        .queue_url(&url)
                        .set_entries(Some(entries))
                        .send()
                        .await
                        .expect("DeleteMessageBatch");
                    // The clock stops when the last message is deleted, not when the other
                    // loops' final (empty) long polls return.
                    if deleted.fetch_add(n, Ordering::Relaxed) + n >= total {
                        let _ = finished.set(start.elapsed());
                    }
                }
            }
        })
        .collect();
    futures_join(tasks).await;
    total as f64 / finished.get().expect("all deleted").as_secs_f64()
}

async fn worker(
    client: &Client,
    url: &str,
    total: u64,
    delay: Duration,
    concurrency: usize,
) -> f64 {
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(support::Discard)
        .with_id_generator(baton::XrayIdGenerator::default())
        .build();
    let handler = service_fn(move |_m: Message| async move {
        handle(delay).await;
        Ok::<_, std::convert::Infallible>(())
    });
    let worker = SqsWorker::new(client.clone(), url, handler)
        .with_tracer(TracerHandle::new(provider.tracer("bench")))
        .with_concurrency(concurrency)
        .with_wait_time(Duration::from_secs(1));
    let stats = worker.stats();
    let token = CancellationToken::new();
    let start = Instant::now();
    let run = tokio::spawn(worker.run(token.clone()));
    while stats.snapshot().deleted < total {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    token.cancel();
    run.await.unwrap().unwrap();
    rate
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let args: Vec<String> = std::env::args().collect();
    runtime.block_on(async {
        let client = Client::new(&sdk_config().await);
        if args.iter().any(|a| a == "rss") {
            let url = fresh_queue(&client, 10_000).await;
            let before = support::peak_rss_kib();
            let rate = worker(&client, &url, 10_000, Duration::ZERO, 20).await;
            println!(
                "worker drained 10,000 messages at {rate:.0}/s; peak RSS {} MiB (before draining {} MiB)",
                support::peak_rss_kib() / 1024,
                before / 1024
            );
            return;
        }
        const TOTAL: u64 = 1_000;
        let rounds = 3;
        let mut rows: Vec<(&str, Vec<f64>)> = vec![
            ("raw: 2 loops, no handler", vec![]),
            ("raw: 4 loops, no handler", vec![]),
            ("plain loop, no-op handler", vec![]),
            ("SqsWorker, no-op handler (concurrency 20)", vec![]),
            ("plain loop, 20 ms handler", vec![]),
            ("SqsWorker, 20 ms handler (concurrency 100)", vec![]),
        ];
        let ms20 = Duration::from_millis(20);
        for round in 0..rounds {
            for (i, row) in rows.iter_mut().enumerate() {
                // The slow plain loop is slow: give it a tenth of the messages.
                let total = if i == 4 { TOTAL / 10 } else { TOTAL };
                let url = fresh_queue(&client, total as usize).await;
                let rate = match i {
                    0 => raw_loops(&client, &url, total, 2, Duration::ZERO).await,
                    1 => raw_loops(&client, &url, total, 4, Duration::ZERO).await,
                    2 => raw_loops(&client, &url, total, 1, Duration::ZERO).await,
                    3 => worker(&client, &url, total, Duration::ZERO, 20).await,
                    4 => raw_loops(&client, &url, total, 1, ms20).await,
                    _ => worker(&client, &url, total, ms20, 100).await,
                };
                eprintln!("round {round}: {:<45} {rate:>7.0} msg/s", row.0);
                row.1.push(rate);
                let _ = client.delete_queue().queue_url(&url).send().await;
            }
        }
        let best = |v: &Vec<f64>| v.iter().cloned().fold(0.0, f64::max);
        println!("\n{:<45} {:>10}", "scenario (best of 3 rounds)", "msg/s");
        for (name, rates) in &rows {
            println!("{name:<45} {:>10.0}", best(rates));
        }
        // LocalStack's ceiling: the best any raw receive/delete set-up reached.
        let ceiling = best(&rows[0].1).max(best(&rows[1].1)).max(best(&rows[2].1));
        println!(
            "\nceiling (best raw set-up) {ceiling:.0} msg/s; no-op handler: worker / ceiling = {:.2}, worker / plain loop = {:.2}",
            best(&rows[3].1) / ceiling,
            best(&rows[3].1) / best(&rows[2].1)
        );
        println!(
            "20 ms handler: worker / plain loop = {:.1}",
            best(&rows[5].1) / best(&rows[4].1)
        );
    });
}
