//! The worker survives its SQS endpoint going away and coming back.
//!
//! This test starts a LocalStack of its own on port 4567 (with `localstack/up.sh`), so stopping
//! it disturbs no other test. LocalStack keeps no state across a restart, so the queue is made
//! again after it and the messages of each phase are sent while LocalStack is up: what is
//! checked is that the worker rides out the outage (logging and counting the failed receives),
//! recovers without help, and handles every message sent, at least once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::Message;
use baton_integration::{sdk_config_at, unique_name};
use baton_worker::{CancellationToken, SqsWorker};
use tower::service_fn;

const PORT: &str = "4567";

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../localstack")
        .join(name)
}

fn localstack(action: &str) {
    let status = Command::new("bash")
        .arg(script(action))
        .env("BATON_LOCALSTACK_PORT", PORT)
        // An open long poll keeps LocalStack from stopping on SIGTERM; do not wait 15 s for it.
        .env("BATON_LOCALSTACK_STOP_TIMEOUT", "3")
        .status()
        .unwrap_or_else(|e| panic!("running localstack/{action}: {e}"));
    assert!(status.success(), "localstack/{action} failed: {status}");
}

/// Stops the second LocalStack however the test ends.
struct Stop;

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script("down.sh"))
            .env("BATON_LOCALSTACK_PORT", PORT)
            .env("BATON_LOCALSTACK_STOP_TIMEOUT", "3")
            .status();
    }
}

async fn create_queue(client: &aws_sdk_sqs::Client, name: &str) -> String {
    client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue URL")
}

async fn send(client: &aws_sdk_sqs::Client, url: &str, bodies: &[String]) {
    for body in bodies {
        client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .expect("SendMessage");
    }
}

async fn wait_for(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_recovers_from_an_emulator_restart_and_handles_every_message() {
    let _stop = Stop;
    tokio::task::spawn_blocking(|| localstack("up.sh"))
        .await
        .unwrap();
    let client =
        aws_sdk_sqs::Client::new(&sdk_config_at(&format!("http://127.0.0.1:{PORT}")).await);
    let name = unique_name("worker-restart");
    let url = create_queue(&client, &name).await;

    let handled: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let handler = {
        let handled = handled.clone();
        service_fn(move |m: Message| {
            *handled
                .lock()
                .unwrap()
                .entry(m.body.unwrap_or_default())
                .or_default() += 1;
            async { Ok::<_, std::convert::Infallible>(()) }
        })
    };
    let worker = SqsWorker::new(client.clone(), &url, handler)
        .with_wait_time(Duration::from_secs(1))
        .with_error_backoff(Duration::from_millis(100), Duration::from_secs(1));
    let stats = worker.stats();
    let token = CancellationToken::new();
    let run = tokio::spawn(worker.run(token.clone()));

    let before: Vec<String> = (0..10).map(|i| format!("before {i}")).collect();
    send(&client, &url, &before).await;
    let h = handled.clone();
    assert!(
        wait_for(Duration::from_secs(30), || h.lock().unwrap().len() == 10).await,
        "messages sent before the restart were not handled: {:?}",
        stats.snapshot()
    );

    tokio::task::spawn_blocking(|| localstack("down.sh"))
        .await
        .unwrap();
    let s = stats.clone();
    assert!(
        wait_for(Duration::from_secs(20), || s.snapshot().receive_errors >= 2).await,
        "the worker did not notice the outage: {:?}",
        stats.snapshot()
    );
    assert!(!run.is_finished(), "the worker stopped on service errors");

    tokio::task::spawn_blocking(|| localstack("up.sh"))
        .await
        .unwrap();
    let again = create_queue(&client, &name).await;
    assert_eq!(again, url, "the queue URL changed across the restart");
    let after: Vec<String> = (0..10).map(|i| format!("after {i}")).collect();
    send(&client, &url, &after).await;
    let h = handled.clone();
    assert!(
        wait_for(Duration::from_secs(60), || h.lock().unwrap().len() == 20).await,
        "messages sent after the restart were not all handled: {:?}",
        stats.snapshot()
    );

    token.cancel();
    let final_stats = run.await.unwrap().unwrap();
    let handled = handled.lock().unwrap();
    for body in before.iter().chain(&after) {
        assert!(
            handled.get(body).copied().unwrap_or(0) >= 1,
            "{body} was never handled"
        );
    }
    let duplicates: u32 = handled.values().map(|n| n - 1).sum();
    println!(
        "restart: {} messages handled, {duplicates} duplicate deliveries, {} failed receives, {} failed deletes",
        handled.len(),
        final_stats.receive_errors,
        final_stats.delete_failed
    );
}
