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
use tower::{Layer, Service};

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
        let active = call.cx().clone();
        let inner = {
            let _guard = active.clone().attach();
            self.inner.call(input)
        };
        ResponseFuture::new(inner, Some(call), active)
    }
}

/// The response future of [`Propagation`]: ends the call's spans with the outcome (or as
/// cancelled, if dropped first).
pub type ResponseFuture<F> = baton::sdk::TracedFuture<F, PutCall>;

impl<E: Display + 'static> baton::sdk::Finish<PutEventsOutput, E> for PutCall {
    fn finish(self, result: &Result<PutEventsOutput, E>) {
        match result {
            Ok(output) => PutCall::finish(self, Ok(output)),
            Err(error) => PutCall::finish(
                self,
                Err(&baton::sdk::service_error::<aws_sdk_eventbridge::Error, E>(
                    error,
                )),
            ),
        }
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
