//! Delivery facts on process spans, against LocalStack, through `SqsPropagation` and through
//! `SqsWorker`: a message sent with `DelaySeconds` shows at least that long in the queue, and a
//! redelivered one a receive count of 2.

use baton::{TracerHandle, attr};
use baton_integration::{TestQueue, TestTracer, sqs};
use baton_sqs::SqsPropagation;
use opentelemetry::Value;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::trace::SpanData;

fn value(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

#[tokio::test]
async fn time_in_queue_and_receive_count_are_recorded() {
    let tracer = TestTracer::new();
    let plain = sqs().await;
    let queue = TestQueue::create(&plain, "facts").await;
    let propagation = SqsPropagation::new()
        .with_tracer(TracerHandle::new(tracer.tracer()))
        .with_delivery_facts(true);
    let client = aws_sdk_sqs::Client::from_conf(
        plain
            .config()
            .to_builder()
            .interceptor(propagation.interceptor())
            .build(),
    );
    client
        .send_message()
        .queue_url(&queue.url)
        .message_body("late")
        .delay_seconds(2)
        .send()
        .await
        .expect("SendMessage");

    // Twice: the first delivery is not deleted, so the message comes back after its
    // one-second visibility timeout.
    for _ in 0..2 {
        let mut message = None;
        for _ in 0..20 {
            let received = client
                .receive_message()
                .queue_url(&queue.url)
                .visibility_timeout(1)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("ReceiveMessage");
            if let Some(m) = received.messages().first() {
                message = Some(m.clone());
                break;
            }
        }
        let message = message.expect("the message was delivered");
        propagation
            .start_process_span(&message, "facts")
            .span()
            .end();
    }
    queue.delete().await;

    let process: Vec<SpanData> = tracer
        .finished_spans()
        .into_iter()
        .filter(|s| s.name == "process facts")
        .collect();
    assert_eq!(process.len(), 2);
    let Some(Value::I64(waited)) = value(&process[0], attr::BATON_TIME_IN_QUEUE_MS) else {
        panic!("no time in queue: {:?}", process[0].attributes);
    };
    // Sent with a two-second delay; some slack for the clocks' rounding.
    assert!((1_900..30_000).contains(&waited), "waited {waited} ms");
    assert_eq!(
        value(&process[0], attr::BATON_RECEIVE_COUNT),
        Some(Value::I64(1))
    );
    assert_eq!(
        value(&process[1], attr::BATON_RECEIVE_COUNT),
        Some(Value::I64(2)),
        "the redelivery counts"
    );
}

#[tokio::test]
async fn the_worker_records_time_in_queue_and_a_redelivery() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use aws_sdk_sqs::types::Message;
    use baton_worker::{CancellationToken, SqsWorker};

    let tracer = TestTracer::new();
    let plain = sqs().await;
    let queue = TestQueue::create(&plain, "facts-worker").await;
    plain
        .send_message()
        .queue_url(&queue.url)
        .message_body("late")
        .delay_seconds(2)
        .send()
        .await
        .expect("SendMessage");
    let sent = std::time::SystemTime::now();

    // The first call fails, so the message comes back (after a 1 s retry delay) with a
    // receive count of 2.
    let calls = Arc::new(AtomicU32::new(0));
    let handler = {
        let calls = calls.clone();
        tower::service_fn(move |_m: Message| {
            let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    Err(std::io::Error::other("not yet"))
                } else {
                    Ok(())
                }
            }
        })
    };
    let worker = SqsWorker::new(plain.clone(), &queue.url, handler)
        .with_tracer(TracerHandle::new(tracer.tracer()))
        .with_delivery_facts(true)
        .with_wait_time(Duration::from_secs(1))
        .with_retry_backoff(Duration::from_secs(1), Duration::from_secs(1));
    let stats = worker.stats();
    let token = CancellationToken::new();
    let run = tokio::spawn(worker.run(token.clone()));
    for _ in 0..300 {
        if stats.snapshot().deleted >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    token.cancel();
    let end = run.await.unwrap().unwrap();
    assert_eq!((end.deleted, end.failed), (1, 1), "{end:?}");
    let waited = sent.elapsed().unwrap();

    let mut process: Vec<SpanData> = tracer
        .finished_spans()
        .into_iter()
        .filter(|s| s.name == format!("process {}", queue.name))
        .collect();
    process.sort_by_key(|s| s.start_time);
    assert_eq!(process.len(), 2);
    for (span, count) in process.iter().zip([1_i64, 2]) {
        assert_eq!(
            value(span, attr::BATON_RECEIVE_COUNT),
            Some(Value::I64(count))
        );
        let Some(Value::I64(ms)) = value(span, attr::BATON_TIME_IN_QUEUE_MS) else {
            panic!("no time in queue on {span:#?}");
        };
        // At least the 2 s delay (SentTimestamp has millisecond precision, LocalStack's clock
        // is this machine's), and no more than the whole test took.
        assert!(
            (1_990..=waited.as_millis() as i64 + 50).contains(&ms),
            "{ms} ms in queue"
        );
    }
    queue.delete().await;
}
