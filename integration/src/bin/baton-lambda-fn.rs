//! A Lambda function for `tests/lambda_runtime.rs`: Baton's SQS batch adapter
//! (`baton_worker::lambda::SqsBatchHandler`) behind its invocation layer, inside the real
//! `lambda_runtime` loop (`run_concurrent`: sequential unless `AWS_LAMBDA_MAX_CONCURRENCY` is
//! above 1, as on Lambda Managed Instances), talking to the Runtime API at
//! `AWS_LAMBDA_RUNTIME_API` as a deployed function would.
//!
//! Each record's handler sends `from {body}` to the queue at `BATON_OUT_QUEUE_URL` through
//! Baton's SQS interceptor, so the test can read the trace that left the function. A body of
//! `fail` makes the handler return an error, `panic` makes it panic, and one starting with
//! `slow` waits 500 ms first (so that concurrent invocations overlap).
//!
//! With `BATON_LAMBDA_OTLP` set to an OTLP/HTTP traces URL, spans are exported there through
//! `baton-export` and flushed after each invocation by the invocation layer.
//!
//! With `BATON_LAMBDA_MODE=invoke` it is a function called directly (Invoke) with
//! `{"order": …}` events, each sending `from {order}` on.
//!
//! With `BATON_LAMBDA_MODE=eventbridge` it is an EventBridge function instead
//! (`EventBridgeHandler`): `OrderPlaced` events from `shop.orders` send `from {order_id}` on,
//! `Broken` events fail, and anything else has no route.

use std::time::Duration;

use aws_sdk_sqs::types::Message;
use baton_sqs::SqsPropagation;
use baton_worker::lambda::{EventBridgeHandler, InvocationLayer, SqsBatchHandler};
use baton_worker::{Event, EventConsumer};
use lambda_runtime::LambdaEvent;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tower::{ServiceBuilder, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let mut layer = InvocationLayer::new();
    // Kept alive for the process's life: dropping it would shut tracing down.
    let _telemetry = match std::env::var("BATON_LAMBDA_OTLP") {
        Ok(url) => {
            let telemetry = baton_export::Setup::new()
                .with_sampler(baton::XrayParentBased::new(Sampler::AlwaysOn))
                .with_exporter(baton_export::Exporter::otlp().with_endpoint(url))
                .install()?;
            let provider = telemetry.provider().clone();
            layer = layer.with_flush(move || {
                let _ = provider.force_flush();
            });
            Some(telemetry)
        }
        Err(_) => {
            // Spans need ids to travel; no exporter is needed for that.
            let provider = SdkTracerProvider::builder()
                .with_id_generator(baton::XrayIdGenerator::default())
                .build();
            opentelemetry::global::set_tracer_provider(provider);
            None
        }
    };

    let out = std::env::var("BATON_OUT_QUEUE_URL").expect("BATON_OUT_QUEUE_URL");
    let config = baton_integration::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&config)
            .interceptor(SqsPropagation::new().interceptor())
            .build(),
    );
    if std::env::var("BATON_LAMBDA_MODE").as_deref() == Ok("invoke") {
        // Called directly (Invoke): `{"order": …}` events, each sending `from {order}` on.
        let handler = service_fn(move |event: LambdaEvent<serde_json::Value>| {
            let (sqs, out) = (sqs.clone(), out.clone());
            async move {
                let order = event.payload["order"].to_string();
                sqs.send_message()
                    .queue_url(out)
                    .message_body(format!("from {order}"))
                    .send()
                    .await?;
                Ok::<_, tower::BoxError>(serde_json::json!({"ok": true}))
            }
        });
        let function = ServiceBuilder::new().layer(layer).service(handler);
        return lambda_runtime::run_concurrent(function).await;
    }
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
        let function = ServiceBuilder::new()
            .layer(layer)
            .service(EventBridgeHandler::new(consumer));
        return lambda_runtime::run_concurrent(function).await;
    }
    let handler = service_fn(move |message: Message| {
        let (sqs, out) = (sqs.clone(), out.clone());
        async move {
            let body = message.body().unwrap_or_default().to_owned();
            match body.as_str() {
                "fail" => Err::<(), tower::BoxError>("the handler failed".into()),
                "panic" => panic!("the handler panicked"),
                _ => {
                    if body.starts_with("slow") {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
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
    let function = ServiceBuilder::new()
        .layer(layer)
        .service(SqsBatchHandler::new(handler));
    lambda_runtime::run_concurrent(function).await
}
