//! The Tower form: an SQS client as a `tower::Service` over the SDK's operation inputs and
//! outputs, and a propagation [`Layer`](tower::Layer) to stack with tower's timeouts, retries
//! and limits.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use aws_sdk_sqs::operation::send_message::SendMessageInput;
//! use baton_sqs::{SqsPropagation, SqsRequest, SqsService};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # async fn example(client: aws_sdk_sqs::Client) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let mut sqs = ServiceBuilder::new()
//!     .timeout(Duration::from_secs(5))
//!     .concurrency_limit(64)
//!     .layer(SqsPropagation::new().layer())
//!     .service(SqsService::new(client));
//!
//! let input = SendMessageInput::builder()
//!     .queue_url("https://sqs.eu-west-1.amazonaws.com/123456789012/orders")
//!     .message_body("{\"order\":42}")
//!     .build()?;
//! let response = sqs.ready().await?.call(SqsRequest::from(input)).await?;
//! let message_id = response.into_send_message().and_then(|o| o.message_id);
//! # drop(message_id);
//! # Ok(())
//! # }
//! ```
//!
//! Put the propagation layer *inside* a retry layer if each attempt should be its own PRODUCER
//! span, *outside* it for one span per logical send.

mod client;
mod request;

pub use client::{SqsFuture, SqsService};
pub use request::{SqsRequest, SqsResponse};

use crate::SqsPropagation;

/// The Tower layer of SQS propagation: wraps an SQS service (usually [`SqsService`]) in
/// [`TracedSqs`]. Made by [`SqsPropagation::layer`].
pub type SqsLayer = baton::driver::PropagationLayer<SqsPropagation>;

/// An SQS service with propagation: SendMessage and SendMessageBatch get a PRODUCER span whose
/// context goes into each message, ReceiveMessage asks for the trace carriers and gets a
/// `receive` span linked to every producer; other operations pass through. The caller's context
/// is taken when `call` is made; readiness and errors of the inner service pass through
/// unchanged. (The driver's [`Traced`](baton::driver::Traced), with SQS's settings.)
pub type TracedSqs<S> = baton::driver::Traced<SqsPropagation, S>;

/// The response future of [`TracedSqs`]: ends the call's spans with the outcome (or as
/// cancelled if it is dropped first); the response or error passes through unchanged.
pub type SqsResponseFuture<F> = baton::driver::ResponseFuture<F, SqsPropagation>;
