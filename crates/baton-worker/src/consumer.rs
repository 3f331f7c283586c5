//! [`EventConsumer`]: route EventBridge events to typed handlers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use aws_sdk_sqs::types::Message;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tower::{BoxError, Service};

/// An EventBridge event with its detail read as `T`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Event<T> {
    /// The event id EventBridge assigned.
    pub id: Option<String>,
    /// `source`.
    pub source: String,
    /// `detail-type`.
    pub detail_type: String,
    /// The account that sent the event.
    pub account: Option<String>,
    /// When the event happened (RFC 3339).
    pub time: Option<String>,
    /// The region of the bus.
    pub region: Option<String>,
    /// ARNs the event concerns.
    pub resources: Vec<String>,
    /// The detail (Baton's `traceHeader` field, if any, is ignored unless `T` asks for it).
    pub detail: T,
}

/// Why an event was not handled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// The input is not an EventBridge event envelope.
    #[error("not an EventBridge event")]
    NotAnEvent(#[source] serde_json::Error),
    /// No handler is registered for this `source` and `detail-type`.
    #[error("no handler for source `{event_source}`, detail-type `{detail_type}`")]
    NoRoute {
        /// The event's `source`.
        event_source: String,
        /// The event's `detail-type`.
        detail_type: String,
    },
    /// The detail does not have the shape the handler expects.
    #[error("the detail of `{detail_type}` from `{event_source}` does not fit its handler's type")]
    BadDetail {
        /// The event's `source`.
        event_source: String,
        /// The event's `detail-type`.
        detail_type: String,
        /// What serde said.
        #[source]
        error: serde_json::Error,
    },
    /// An SQS message without a body.
    #[error("the message has no body")]
    NoBody,
    /// The handler failed.
    #[error("the handler failed")]
    Handler(#[source] BoxError),
}

#[derive(Deserialize)]
struct Envelope {
    id: Option<String>,
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    account: Option<String>,
    time: Option<String>,
    region: Option<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    detail: serde_json::Value,
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), ConsumeError>> + Send>>;
type Handler = Box<dyn Fn(Envelope) -> HandlerFuture + Send + Sync>;

/// Routes EventBridge events by `source` and `detail-type` to handlers that take the detail
/// as a typed value (serde).
///
/// It is a [`tower::Service`] over SQS messages whose body is an event (a queue as the rule's
/// target), so it runs behind [`SqsWorker`](crate::SqsWorker), which continues each event's trace
/// from `detail.traceHeader` before calling it. Behind the `lambda` feature it also runs as a
/// Lambda function for EventBridge events. An event that is not an event, has no route, or
/// whose detail does not fit is returned as a [`ConsumeError`] — behind the worker the message
/// then stays on the queue and ends in its dead-letter queue.
///
/// ```
/// use baton_worker::{Event, EventConsumer};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct OrderPlaced {
///     order_id: String,
/// }
///
/// let consumer = EventConsumer::new().on(
///     "shop.orders",
///     "OrderPlaced",
///     |event: Event<OrderPlaced>| async move {
///         println!("order {}", event.detail.order_id);
///         Ok::<_, std::convert::Infallible>(())
///     },
/// );
/// # let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let json = r#"{"source":"shop.orders","detail-type":"OrderPlaced","detail":{"order_id":"42"}}"#;
/// runtime.block_on(consumer.handle_json(json)).unwrap();
/// ```
#[derive(Clone, Default)]
pub struct EventConsumer {
    routes: Arc<HashMap<(String, String), Handler>>,
}

impl std::fmt::Debug for EventConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventConsumer")
            .field("routes", &self.routes.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl EventConsumer {
    /// A consumer with no routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `handler` for events of `source` and `detail_type`, with the detail read as `T`.
    /// A later route for the same pair replaces the earlier one.
    ///
    /// # Panics
    /// If called on a clone of a consumer that is already shared (routes are set up before use).
    pub fn on<T, F, Fut, E>(
        mut self,
        source: impl Into<String>,
        detail_type: impl Into<String>,
        handler: F,
    ) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Event<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let handler: Handler = Box::new(move |envelope: Envelope| {
            let Envelope {
                id,
                source,
                detail_type,
                account,
                time,
                region,
                resources,
                detail,
            } = envelope;
            match T::deserialize(detail) {
                Ok(detail) => {
                    let future = handler(Event {
                        id,
                        source,
                        detail_type,
                        account,
                        time,
                        region,
                        resources,
                        detail,
                    });
                    Box::pin(
                        async move { future.await.map_err(|e| ConsumeError::Handler(e.into())) },
                    )
                }
                Err(error) => Box::pin(std::future::ready(Err(ConsumeError::BadDetail {
                    event_source: source,
                    detail_type,
                    error,
                }))),
            }
        });
        Arc::get_mut(&mut self.routes)
            .expect("routes are added before the consumer is cloned")
            .insert((source.into(), detail_type.into()), handler);
        self
    }

    /// Handles one event given as JSON text (an SQS body, a Lambda payload, a test fixture).
    /// Trace context is not touched: the caller's current context is the handler's.
    pub fn handle_json(
        &self,
        json: &str,
    ) -> impl Future<Output = Result<(), ConsumeError>> + Send + 'static {
        let routed = serde_json::from_str::<Envelope>(json)
            .map_err(ConsumeError::NotAnEvent)
            .and_then(|envelope| self.route(envelope));
        async move { routed?.await }
    }

    /// Handles one event already parsed as a JSON value.
    pub fn handle_value(
        &self,
        event: serde_json::Value,
    ) -> impl Future<Output = Result<(), ConsumeError>> + Send + 'static {
        let routed = Envelope::deserialize(event)
            .map_err(ConsumeError::NotAnEvent)
            .and_then(|envelope| self.route(envelope));
        async move { routed?.await }
    }

    fn route(&self, envelope: Envelope) -> Result<HandlerFuture, ConsumeError> {
        // Look the pair up without building owned keys.
        let handler = self
            .routes
            .iter()
            .find(|((s, d), _)| *s == envelope.source && *d == envelope.detail_type)
            .map(|(_, h)| h);
        match handler {
            Some(handler) => Ok(handler(envelope)),
            None => {
                tracing::warn!(
                    target: "baton_worker",
                    source = %envelope.source,
                    detail_type = %envelope.detail_type,
                    "no handler for this event"
                );
                Err(ConsumeError::NoRoute {
                    event_source: envelope.source,
                    detail_type: envelope.detail_type,
                })
            }
        }
    }
}

impl Service<Message> for EventConsumer {
    type Response = ();
    type Error = ConsumeError;
    type Future = Pin<Box<dyn Future<Output = Result<(), ConsumeError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, message: Message) -> Self::Future {
        match message.body.as_deref() {
            Some(body) => Box::pin(self.handle_json(body)),
            None => Box::pin(std::future::ready(Err(ConsumeError::NoBody))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Deserialize, Debug, PartialEq)]
    struct OrderPlaced {
        order_id: String,
        total: u32,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Refund {
        order_id: String,
    }

    fn consumer(seen: Arc<Mutex<Vec<String>>>) -> EventConsumer {
        let (a, b) = (seen.clone(), seen);
        EventConsumer::new()
            .on(
                "shop.orders",
                "OrderPlaced",
                move |e: Event<OrderPlaced>| {
                    a.lock().unwrap().push(format!(
                        "placed {} {} {}",
                        e.detail.order_id, e.detail.total, e.source
                    ));
                    async { Ok::<_, std::io::Error>(()) }
                },
            )
            .on("shop.payments", "Refund", move |e: Event<Refund>| {
                b.lock()
                    .unwrap()
                    .push(format!("refund {}", e.detail.order_id));
                async { Err::<(), _>(std::io::Error::other("refunds are closed")) }
            })
    }

    #[tokio::test]
    async fn routes_by_source_and_detail_type() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let c = consumer(seen.clone());
        c.handle_json(r#"{"version":"0","id":"e1","source":"shop.orders","detail-type":"OrderPlaced","detail":{"order_id":"7","total":12,"traceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}}"#)
            .await
            .unwrap();
        let error = c
            .handle_json(
                r#"{"source":"shop.payments","detail-type":"Refund","detail":{"order_id":"7"}}"#,
            )
            .await
            .unwrap_err();
        assert!(matches!(error, ConsumeError::Handler(_)), "{error:?}");
        assert_eq!(
            *seen.lock().unwrap(),
            ["placed 7 12 shop.orders", "refund 7"]
        );
    }

    #[tokio::test]
    async fn unknown_and_malformed_events_are_errors() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut c = consumer(seen.clone());
        let cases = [
            ("not json", "NotAnEvent"),
            (r#"{"detail":{}}"#, "NotAnEvent"),
            (r#"[1,2]"#, "NotAnEvent"),
            (
                r#"{"source":"shop.orders","detail-type":"OrderShipped","detail":{}}"#,
                "NoRoute",
            ),
            (
                r#"{"source":"other","detail-type":"OrderPlaced","detail":{}}"#,
                "NoRoute",
            ),
            (
                r#"{"source":"shop.orders","detail-type":"OrderPlaced","detail":{"order_id":7}}"#,
                "BadDetail",
            ),
            (
                r#"{"source":"shop.orders","detail-type":"OrderPlaced","detail":"text"}"#,
                "BadDetail",
            ),
        ];
        for (json, kind) in cases {
            let message = Message::builder().body(json).build();
            let error = c.call(message).await.unwrap_err();
            assert!(format!("{error:?}").starts_with(kind), "{json}: {error:?}");
        }
        let error = c.call(Message::builder().build()).await.unwrap_err();
        assert!(matches!(error, ConsumeError::NoBody));
        assert!(seen.lock().unwrap().is_empty());
    }
}
