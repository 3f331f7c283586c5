//! SNS events: each notification handled in its own process span, continuing its producer.

use std::task::{Context as TaskContext, Poll};

use aws_lambda_events::event::sns::{SnsEvent, SnsMessage};
use baton::driver::Common;
use baton_sns::Notification;
use lambda_runtime::LambdaEvent;
use opentelemetry::Context;
use serde::Deserialize;
use tower::{BoxError, Service};

use super::{BoxFuture, process_record};

/// The destination name of a process span whose notification names no topic.
const UNKNOWN_TOPIC: &str = "unknown";

/// A Lambda handler for SNS events (a topic subscription that invokes the function) that calls
/// a `tower::Service<SnsMessage>` per notification.
///
/// Each notification is handled inside a `process {topic}` CONSUMER span (`faas.trigger` =
/// `pubsub`) that continues its producer's trace, read from its message attributes as Baton's
/// SNS interceptor and OpenTelemetry SDKs write them (`traceparent`, then `X-Amzn-Trace-Id`),
/// or links to it under [`LinkPolicy::Link`](baton::LinkPolicy::Link), as a child of the span current when the handler
/// is called (an [`InvocationLayer`](super::InvocationLayer)'s invocation span). The span's
/// context is current while the handler's future runs, so what the handler sends through
/// Baton's interceptors goes on in the same trace.
///
/// SNS invokes a function with one notification at a time. Should an event hold more, they are
/// handled in order; the first failure (an `Err` or a panic of the handler) ends the invocation
/// with that error, its span with an error status, and Lambda retries the event (asynchronous
/// invocation) and finally hands it to the function's dead-letter queue or failure destination.
///
/// ```no_run
/// use aws_lambda_events::event::sns::SnsMessage;
/// use baton_worker::lambda::{InvocationLayer, SnsHandler};
///
/// # async fn main_() -> Result<(), lambda_runtime::Error> {
/// let handler = tower::service_fn(|notification: SnsMessage| async move {
///     println!("{}", notification.message);
///     Ok::<_, std::io::Error>(())
/// });
/// let function = tower::ServiceBuilder::new()
///     .layer(InvocationLayer::new())
///     .service(SnsHandler::new(handler));
/// lambda_runtime::run(function).await
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a handler does nothing until Lambda invokes it"]
pub struct SnsHandler<S> {
    inner: S,
    process: Common,
}

impl<S> SnsHandler<S> {
    /// An adapter calling `handler` for each notification.
    pub fn new(handler: S) -> Self {
        SnsHandler {
            inner: handler,
            process: Common::default(),
        }
    }

    process_builders!(process, "notification");

    /// The wrapped handler.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped handler, taking the adapter apart.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The notification envelope Baton reads the producer from, as the SNS record gives it.
pub(crate) fn notification(message: &SnsMessage) -> Notification {
    serde_json::to_value(message)
        .ok()
        .and_then(|value| Notification::deserialize(value).ok())
        .unwrap_or_default()
}

impl<S> Service<LambdaEvent<SnsEvent>> for SnsHandler<S>
where
    S: Service<SnsMessage> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    type Response = ();
    type Error = BoxError;
    type Future = BoxFuture<(), BoxError>;

    /// Always ready: the handler's own readiness is awaited per notification.
    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<SnsEvent>) -> Self::Future {
        let (mut service, process) = (self.inner.clone(), self.process.clone());
        // The invocation's context, if an `InvocationLayer` made one current.
        let enclosing = Context::current();
        Box::pin(async move {
            for record in event.payload.records {
                let envelope = notification(&record.sns);
                let topic = record
                    .sns
                    .topic_arn
                    .rsplit(':')
                    .next()
                    .filter(|t| !t.is_empty())
                    .unwrap_or(UNKNOWN_TOPIC)
                    .to_owned();
                let cx = process.start_delivery_within(&envelope, &topic, &enclosing);
                let measure = process.measure_process(baton::MessagingSystem::Sns, &topic);
                let log = |error: &str| {
                    tracing::warn!(
                        target: "baton_worker",
                        topic = %topic,
                        %error,
                        "handler failed; the event goes back to Lambda as the function error"
                    );
                };
                process_record(&mut service, record.sns, &cx, measure, log)
                    .await
                    .map_err(BoxError::from)?;
            }
            Ok(())
        })
    }
}
