//! A Lambda function for `tests/lambda_runtime.rs`: Baton's SQS batch adapter
//! (`baton_worker::lambda::run_sqs`) inside the real `lambda_runtime` loop, talking to the
//! Runtime API at `AWS_LAMBDA_RUNTIME_API` as a deployed function would.
//!
//! Each record's handler sends `from {body}` to the queue at `BATON_OUT_QUEUE_URL` through
//! Baton's SQS interceptor, so the test can read the trace that left the function. A body of
//! `fail` makes the handler return an error, `panic` makes it panic.
//!
//! With `BATON_LAMBDA_MODE=eventbridge` it is an EventBridge function instead
//! (`baton_worker::lambda::run_eventbridge`): `OrderPlaced` events from `shop.orders` send
//! `from {order_id}` on, `Broken` events fail, and anything else has no route.

use aws_sdk_sqs::types::Message;
use baton_sqs::SqsPropagation;
use baton_worker::{Event, EventConsumer};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower::service_fn;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Spans need ids to travel; no exporter is needed for that.
    let provider = SdkTracerProvider::builder()
        .with_id_generator(baton::XrayIdGenerator::default())
        .build();
    opentelemetry::global::set_tracer_provider(provider);

    let out = std::env::var("BATON_OUT_QUEUE_URL").expect("BATON_OUT_QUEUE_URL");
    let config = baton_integration::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&config)
            .interceptor(SqsPropagation::new().interceptor())
            .build(),
    );
    if std::env::var("BATON_LAMBDA_MODE").as_deref() == Ok("eventbridge") {
        let consumer = EventConsumer::new()
            .on(
                "shop.orders",
                "OrderPlaced",
                move |event: Event<serde_json::Value>| {
                    let (sqs, out) = (sqs.clone(), out.clone());
                    async move {
                        let order = event.detail["order_id"].as_str().unwrap_or("?").to_owned();
                        sqs.send_message()
                            .queue_url(out)
                            .message_body(format!("from {order}"))
                            .send()
                            .await?;
                        Ok::<_, tower::BoxError>(())
                    }
                },
            )
            .on(
                "shop.orders",
                "Broken",
                |_: Event<serde_json::Value>| async {
                    Err::<(), tower::BoxError>("this event cannot be handled".into())
                },
            );
        return baton_worker::lambda::run_eventbridge(consumer).await;
    }
    let handler = service_fn(move |message: Message| {
        let (sqs, out) = (sqs.clone(), out.clone());
        async move {
            let body = message.body().unwrap_or_default().to_owned();
            match body.as_str() {
                "fail" => Err::<(), tower::BoxError>("the handler failed".into()),
                "panic" => panic!("the handler panicked"),
                _ => {
                    sqs.send_message()
                        .queue_url(out)
                        .message_body(format!("from {body}"))
                        .send()
                        .await?;
                    Ok(())
                }
            }
        }
    });
    baton_worker::lambda::run_sqs(handler).await
}
