//! The messaging metrics against LocalStack: a producer's sends measured by the SQS
//! interceptor, and `SqsWorker` draining them with a meter, every count asserted exactly.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::{Message, SendMessageBatchRequestEntry};
use baton::metrics::{
    CONSUMED_MESSAGES, OPERATION_DURATION, PROCESS_DURATION, SENT_MESSAGES, TIME_IN_QUEUE,
};
use baton_integration::{TestQueue, endpoint, sqs};
use baton_sqs::SqsPropagation;
use baton_test_support::{Metrics, Point, point};
use baton_worker::{CancellationToken, SqsWorker};

/// The host and port of the LocalStack endpoint, as `server.address` / `server.port` read.
fn server() -> (String, String) {
    let endpoint = endpoint();
    let authority = endpoint.split("://").nth(1).unwrap_or(&endpoint);
    let authority = authority.split('/').next().unwrap();
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "80"));
    (host.to_owned(), port.to_owned())
}

#[tokio::test]
async fn sends_and_the_worker_are_measured_exactly() {
    let plain = sqs().await;
    let queue = TestQueue::create(&plain, "metrics").await;
    let (host, port) = server();

    // The producer: eleven messages in two calls, measured by the interceptor.
    let producer_metrics = Metrics::new();
    let producer = aws_sdk_sqs::Client::from_conf(
        plain
            .config()
            .to_builder()
            .interceptor(
                SqsPropagation::new()
                    .with_meter(&producer_metrics.meter())
                    .interceptor(),
            )
            .build(),
    );
    let mut batch = producer.send_message_batch().queue_url(&queue.url);
    for i in 0..10 {
        batch = batch.entries(
            SendMessageBatchRequestEntry::builder()
                .id(format!("e{i}"))
                .message_body(format!("m{i}"))
                .build()
                .unwrap(),
        );
    }
    let sent = batch.send().await.expect("SendMessageBatch");
    assert!(sent.failed().is_empty());
    producer
        .send_message()
        .queue_url(&queue.url)
        .message_body("m10")
        .send()
        .await
        .expect("SendMessage");

    let producer_base = |operation: &'static str| {
        vec![
            ("messaging.destination.name", queue.name.as_str()),
            ("messaging.operation.name", operation),
            ("messaging.system", "aws_sqs"),
            ("server.address", host.as_str()),
            ("server.port", port.as_str()),
        ]
    };
    let duration = |operation| {
        let mut attributes = producer_base(operation);
        attributes.push(("messaging.operation.type", "send"));
        point(OPERATION_DURATION, &attributes, 1)
    };
    let mut expected: Vec<Point> = vec![
        duration("SendMessage"),
        duration("SendMessageBatch"),
        point(SENT_MESSAGES, &producer_base("SendMessage"), 1),
        point(SENT_MESSAGES, &producer_base("SendMessageBatch"), 10),
    ];
    expected.sort();
    assert_eq!(producer_metrics.points(), expected);

    // The worker: "m3" fails once (back after a 1 s retry delay), the rest succeed.
    let worker_metrics = Metrics::new();
    let failed_once = Arc::new(Mutex::new(false));
    let handler = {
        let failed_once = failed_once.clone();
        tower::service_fn(move |m: Message| {
            let fail = m.body() == Some("m3")
                && !std::mem::replace(&mut *failed_once.lock().unwrap(), true);
            async move {
                if fail {
                    Err(std::io::Error::other("not yet"))
                } else {
                    Ok(())
                }
            }
        })
    };
    let worker = SqsWorker::new(plain.clone(), &queue.url, handler)
        .with_meter(&worker_metrics.meter())
        .with_wait_time(Duration::from_secs(1))
        .with_retry_backoff(Duration::from_secs(1), Duration::from_secs(1));
    let stats = worker.stats();
    let token = CancellationToken::new();
    let run = tokio::spawn(worker.run(token.clone()));
    for _ in 0..400 {
        if stats.snapshot().deleted >= 11 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    token.cancel();
    let end = run.await.unwrap().unwrap();
    assert_eq!(
        (end.deleted, end.failed, end.received),
        (11, 1, 12),
        "{end:?}"
    );

    let base = [
        ("messaging.destination.name", queue.name.as_str()),
        ("messaging.system", "aws_sqs"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = base.to_vec();
        all.extend_from_slice(extra);
        all
    };
    let points = worker_metrics.points();
    let exact: Vec<Point> = points
        .iter()
        .filter(|(name, _, _)| name != OPERATION_DURATION)
        .cloned()
        .collect();
    let mut expected = vec![
        point(
            CONSUMED_MESSAGES,
            &with(&[("messaging.operation.name", "ReceiveMessage")]),
            12,
        ),
        point(
            PROCESS_DURATION,
            &with(&[("messaging.operation.name", "process")]),
            11,
        ),
        point(
            PROCESS_DURATION,
            &with(&[
                ("messaging.operation.name", "process"),
                ("error.type", "handler_error"),
            ]),
            1,
        ),
        point(TIME_IN_QUEUE, &base, 12),
    ];
    expected.sort();
    assert_eq!(exact, expected);
    // How many receives and delete batches it took depends on timing; which calls were
    // measured does not: receives, batched deletes, and the one retry delay.
    let kinds: Vec<(String, String)> = points
        .iter()
        .filter(|(name, _, _)| name == OPERATION_DURATION)
        .map(|(_, attributes, _)| {
            (
                attributes["messaging.operation.name"].clone(),
                attributes["messaging.operation.type"].clone(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("ChangeMessageVisibilityBatch".into(), "settle".into()),
            ("DeleteMessageBatch".into(), "settle".into()),
            ("ReceiveMessage".into(), "receive".into()),
        ]
    );
    let retry_delay = points
        .iter()
        .find(|(name, attributes, _)| {
            name == OPERATION_DURATION
                && attributes["messaging.operation.name"] == "ChangeMessageVisibilityBatch"
        })
        .unwrap();
    assert_eq!(retry_delay.2, 1, "one retry delay set");

    // Each handled message waited at most as long as the test has run.
    let waits = worker_metrics.histogram(TIME_IN_QUEUE);
    assert_eq!(waits[0].1, 12);
    assert!(
        waits[0].2 >= 0.0 && waits[0].2 < 12.0 * 60.0,
        "{}",
        waits[0].2
    );
    queue.delete().await;
}
