//! The Tower form: an EventBridge client as a `tower::Service<PutEventsInput>`, and a
//! propagation [`Layer`] to stack with tower's middleware.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use aws_sdk_eventbridge::operation::put_events::PutEventsInput;
//! use aws_sdk_eventbridge::types::PutEventsRequestEntry;
//! use baton_eventbridge::{EventBridgePropagation, EventBridgeService};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # async fn example(client: aws_sdk_eventbridge::Client) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let mut events = ServiceBuilder::new()
//!     .timeout(Duration::from_secs(5))
//!     .layer(EventBridgePropagation::new().layer())
//!     .service(EventBridgeService::new(client));
//! let input = PutEventsInput::builder()
//!     .entries(
//!         PutEventsRequestEntry::builder()
//!             .source("shop.orders")
//!             .detail_type("OrderPlaced")
//!             .detail(r#"{"order":42}"#)
//!             .build(),
//!     )
//!     .build()?;
//! let output = events.ready().await?.call(input).await?;
//! # drop(output);
//! # Ok(())
//! # }
//! ```

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::operation::put_events::builders::PutEventsInputBuilder;
use aws_sdk_eventbridge::operation::put_events::{PutEventsInput, PutEventsOutput};
use baton::CallError;
use opentelemetry::Context;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::call::Pending;
use crate::config::EventBridgePropagation;
use crate::put::PutCall;

/// An EventBridge client as a `tower::Service<PutEventsInput>`; errors are the SDK's, as
/// [`aws_sdk_eventbridge::Error`]. Always ready.
#[derive(Clone, Debug)]
pub struct EventBridgeService {
    client: Client,
}

impl EventBridgeService {
    /// Wraps `client`.
    pub fn new(client: Client) -> Self {
        EventBridgeService { client }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

// The input goes back into its builder field by field; the unit test
// `builder_carries_every_input_field` fails if the SDK adds a field this misses.
pub(crate) fn put_events_builder(input: PutEventsInput) -> PutEventsInputBuilder {
    PutEventsInput::builder()
        .set_entries(input.entries)
        .set_endpoint_id(input.endpoint_id)
}

/// The future of [`EventBridgeService`] (boxed: the SDK's futures cannot be named).
pub type EventBridgeFuture =
    Pin<Box<dyn Future<Output = Result<PutEventsOutput, aws_sdk_eventbridge::Error>> + Send>>;

impl Service<PutEventsInput> for EventBridgeService {
    type Response = PutEventsOutput;
    type Error = aws_sdk_eventbridge::Error;
    type Future = EventBridgeFuture;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, input: PutEventsInput) -> Self::Future {
        let client = self.client.clone();
        Box::pin(async move { Ok(put_events_builder(input).send_with(&client).await?) })
    }
}

/// A [`Layer`] wrapping a PutEvents service in [`Propagation`].
#[derive(Clone, Debug, Default)]
pub struct PropagationLayer {
    config: EventBridgePropagation,
}

impl PropagationLayer {
    /// A layer with `config`.
    pub fn new(config: EventBridgePropagation) -> Self {
        PropagationLayer { config }
    }
}

impl<S> Layer<S> for PropagationLayer {
    type Service = Propagation<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Propagation::new(inner, self.config.clone())
    }
}

/// Propagates trace context through an inner PutEvents service (see the crate documentation).
/// The caller's context is taken when `call` is made; errors pass through unchanged.
#[derive(Clone, Debug)]
pub struct Propagation<S> {
    inner: S,
    config: EventBridgePropagation,
}

impl<S> Propagation<S> {
    /// Wraps `inner` with `config`.
    pub fn new(inner: S, config: EventBridgePropagation) -> Self {
        Propagation { inner, config }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Service<PutEventsInput> for Propagation<S>
where
    S: Service<PutEventsInput, Response = PutEventsOutput>,
    S::Error: Display + 'static,
{
    type Response = PutEventsOutput;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut input: PutEventsInput) -> Self::Future {
        let mut call = PutCall::start(&self.config, &input, None, &baton::current_context());
        call.inject(&self.config, &mut input);
        let active = call.cx.clone();
        let inner = {
            let _guard = active.clone().attach();
            self.inner.call(input)
        };
        ResponseFuture {
            inner,
            pending: Pending::new(Some(call)),
            active,
        }
    }
}

pin_project! {
    /// Ends the call's spans with the outcome (or as cancelled, if dropped first); the output
    /// or error passes through unchanged.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        pending: Pending,
        active: Context,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

fn error_info<E: Display + 'static>(error: &E) -> CallError {
    let any: &dyn std::any::Any = error;
    match any.downcast_ref::<aws_sdk_eventbridge::Error>() {
        Some(sdk) => CallError::from_metadata(sdk),
        None => CallError::from_display(error),
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<PutEventsOutput, E>>,
    E: Display + 'static,
{
    type Output = Result<PutEventsOutput, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _guard = this.active.clone().attach();
            match this.inner.poll(cx) {
                Poll::Ready(result) => result,
                Poll::Pending => return Poll::Pending,
            }
        };
        if let Some(call) = this.pending.take() {
            match &result {
                Ok(output) => call.finish(Ok(output)),
                Err(error) => call.finish(Err(&error_info(error))),
            }
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_eventbridge::types::PutEventsRequestEntry;

    use super::*;

    #[test]
    fn builder_carries_every_input_field() {
        let input = PutEventsInput::builder()
            .entries(PutEventsRequestEntry::builder().source("s").build())
            .endpoint_id("e")
            .build()
            .unwrap();
        let debug = format!("{input:#?}");
        let fields: Vec<&str> = debug
            .lines()
            .filter_map(|l| l.strip_prefix("    "))
            .filter(|l| !l.starts_with(' '))
            .filter_map(|l| l.split_once(':').map(|(name, _)| name))
            .collect();
        assert_eq!(fields, ["entries", "endpoint_id"], "{debug}");
        let before = format!("{input:?}");
        let after = put_events_builder(input).build().unwrap();
        assert_eq!(format!("{after:?}"), before);
    }
}
