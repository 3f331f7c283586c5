//! The Tower form: an EventBridge client as a `tower::Service<PutEventsInput>`, and a
//! propagation layer ([`EventBridgeLayer`]) to stack with tower's middleware.
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

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::operation::put_events::builders::PutEventsInputBuilder;
use aws_sdk_eventbridge::operation::put_events::{PutEventsInput, PutEventsOutput};
use tower::Service;

use crate::config::EventBridgePropagation;

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

/// The Tower layer of EventBridge propagation: wraps a PutEvents service (usually
/// [`EventBridgeService`]) in [`TracedEventBridge`]. Made by
/// [`EventBridgePropagation::layer`](crate::EventBridgePropagation::layer).
pub type EventBridgeLayer = baton::driver::PropagationLayer<EventBridgePropagation>;

/// A PutEvents service with propagation (see the crate documentation); the caller's context is
/// taken when `call` is made, errors pass through unchanged. (The driver's
/// [`Traced`](baton::driver::Traced), with EventBridge's settings.)
pub type TracedEventBridge<S> = baton::driver::Traced<EventBridgePropagation, S>;

/// The response future of [`TracedEventBridge`]: ends the call's spans with the outcome (or as
/// cancelled, if dropped first).
pub type EventBridgeResponseFuture<F> = baton::driver::ResponseFuture<F, EventBridgePropagation>;

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
        let fields = baton_test_support::debug_fields(&debug);
        assert_eq!(fields, ["entries", "endpoint_id"], "{debug}");
        let before = format!("{input:?}");
        let after = put_events_builder(input).build().unwrap();
        assert_eq!(format!("{after:?}"), before);
    }
}
