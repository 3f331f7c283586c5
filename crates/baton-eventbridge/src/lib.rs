//! Trace context across Amazon EventBridge.
//!
//! On **PutEvents**, a PRODUCER span `send {bus}` is opened and its context written into every
//! entry twice: in the entry's `TraceHeader` (which X-Ray-integrated targets read) and as
//! `traceHeader` in the event's JSON `detail` (which reaches *every* target, SQS included,
//! where the entry's `TraceHeader` does not). With several entries, each gets a `create` span
//! of its own under the send span. A detail that is not a JSON object, is not valid JSON, or
//! would push the request over EventBridge's size limit (256 KiB unless configured otherwise)
//! is sent exactly as given, with a
//! `tracing` event; a `traceHeader` the caller put in the detail is kept, and so is a
//! `TraceHeader` they set on the entry. Only the new field is inserted: every other byte of
//! the detail is left as written.
//!
//! On the **consumer** side, [`EventEnvelope`] parses the event a target receives and
//! continues the trace from `detail.traceHeader`.
//!
//! ```no_run
//! # async fn example(sdk_config: aws_config::SdkConfig) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use aws_sdk_eventbridge::types::PutEventsRequestEntry;
//! use baton_eventbridge::{EventBridgePropagation, EventEnvelope};
//! use opentelemetry::trace::{FutureExt, TraceContextExt};
//!
//! let propagation = EventBridgePropagation::new();
//! let events = aws_sdk_eventbridge::Client::from_conf(
//!     aws_sdk_eventbridge::config::Builder::from(&sdk_config)
//!         .interceptor(propagation.interceptor())
//!         .build(),
//! );
//! events
//!     .put_events()
//!     .entries(
//!         PutEventsRequestEntry::builder()
//!             .event_bus_name("shop")
//!             .source("shop.orders")
//!             .detail_type("OrderPlaced")
//!             .detail(r#"{"order":42}"#)
//!             .build(),
//!     )
//!     .send()
//!     .with_current_context()
//!     .await?;
//!
//! // In the consumer (say, an SQS queue that is the rule's target), per message body:
//! # let body = String::new();
//! let event = EventEnvelope::parse(&body)?;
//! let cx = propagation.start_process_span(&event, "orders-queue");
//! // … handle the event with `cx` attached …
//! cx.span().end();
//! # Ok(())
//! # }
//! ```
//!
//! The Tower form is in the `service` module.
//!
//! # Layout
//!
//! The interceptor and the Tower layer are Baton's one driver (`baton::driver`); this crate
//! holds only what is EventBridge's own: `operations.rs`, the table (PutEvents); `put.rs`, the
//! send span, each entry's `TraceHeader` and `detail.traceHeader`, and the request size limit;
//! `envelope.rs`, the event read back ([`EventEnvelope`]); `config.rs`, the settings and the
//! process span; `service.rs`, the EventBridge client as a Tower service.
//!
//! # Features
//! - `sdk` (default): the send side, over `aws-sdk-eventbridge`. Without it the crate is the
//!   envelope reader ([`EventEnvelope`], with
//!   [`start_process_span`](EventEnvelope::start_process_span)) alone and compiles no AWS SDK;
//!   `baton-worker` uses it that way.

#[cfg(feature = "sdk")]
mod config;
mod envelope;
#[cfg(feature = "sdk")]
mod operations;
#[cfg(feature = "sdk")]
mod put;
#[cfg(feature = "sdk")]
pub mod service;

#[cfg(feature = "sdk")]
pub use config::EventBridgePropagation;
pub use envelope::{DETAIL_TRACE_FIELD, EventEnvelope, producer_context_from_json};
#[cfg(feature = "sdk")]
pub use put::PutCall;
#[cfg(feature = "sdk")]
pub use service::{
    EventBridgeLayer, EventBridgeResponseFuture, EventBridgeService, TracedEventBridge,
};

/// Baton's EventBridge propagation as an AWS SDK interceptor (the driver's
/// [`Interceptor`](baton::driver::Interceptor) with EventBridge's settings).
///
/// ```
/// # async fn example() {
/// let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let config = aws_sdk_eventbridge::config::Builder::from(&sdk_config)
///     .interceptor(baton_eventbridge::EventBridgeInterceptor::default())
///     .build();
/// let client = aws_sdk_eventbridge::Client::from_conf(config);
/// # drop(client);
/// # }
/// ```
///
/// PutEvents then opens a PRODUCER span and writes its context into every entry (see the crate
/// documentation); other operations are untouched.
#[cfg(feature = "sdk")]
pub type EventBridgeInterceptor = baton::driver::Interceptor<EventBridgePropagation>;
