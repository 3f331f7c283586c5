//! Delivery facts on process spans, against LocalStack: a message sent with `DelaySeconds`
//! shows at least that long in the queue, and a redelivered one a receive count of 2.

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
