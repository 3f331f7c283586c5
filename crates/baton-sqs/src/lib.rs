//! Trace context across Amazon SQS.
//!
//! On **send**, every message carries the context of a PRODUCER span in its `AWSTraceHeader`
//! system attribute — the carrier AWS services, the X-Ray SDKs and OpenTelemetry Python read —
//! and, if asked for, in W3C `traceparent` / `tracestate` message attributes. On **receive**,
//! the call asks SQS for those carriers, a CLIENT `receive` span links to each message's
//! producer, and each message yields its producer context ([`MessageExt`]) and a processing
//! span that continues the producer's trace ([`SqsPropagation::start_process_span`]).
//!
//! Two ways in, one implementation:
//! - **Interceptor** — one line on the SDK configuration; fluent call sites stay as they are:
//!
//! ```no_run
//! # async fn example(sdk_config: aws_config::SdkConfig) -> Result<(), aws_sdk_sqs::Error> {
//! use baton_sqs::{MessageExt, SqsPropagation};
//! use opentelemetry::trace::{FutureExt, TraceContextExt};
//!
//! let propagation = SqsPropagation::new();
//! let client = aws_sdk_sqs::Client::from_conf(
//!     aws_sdk_sqs::config::Builder::from(&sdk_config)
//!         .interceptor(propagation.interceptor())
//!         .build(),
//! );
//! let queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders";
//!
//! // Producer: the send span is a child of the context current while `send()` runs.
//! client
//!     .send_message()
//!     .queue_url(queue_url)
//!     .message_body("hello")
//!     .send()
//!     .with_current_context()
//!     .await?;
//!
//! // Consumer: each message continues its producer's trace.
//! let received = client.receive_message().queue_url(queue_url).send().await?;
//! for message in received.messages() {
//!     let cx = propagation.start_process_span(message, "orders");
//!     // … handle the message with `cx` attached …
//!     cx.span().end();
//! }
//! # Ok(())
//! # }
//! ```
//!
//! - **Tower** — [`SqsService`] and [`SqsLayer`], to stack with tower's middleware (see the
//!   [`service`] module).
//!
//! Baton never makes a send fail: a value the caller set is kept, a carrier that would push a
//! message past 10 attributes or the size limit is left out (with a `tracing` event), and a
//! malformed incoming header starts a fresh trace (with a `tracing` event).
//!
//! Which carrier wins on receive, when several are present, is documented in
//! [`extract_with_carrier`].
//!
//! # Layout
//!
//! The interceptor and the Tower layer are Baton's one driver ([`baton::driver`]); this crate
//! holds only what is SQS's own:
//! - `operations.rs`: the table of traced operations (SendMessage, SendMessageBatch,
//!   ReceiveMessage) and what each does, for both forms;
//! - `send.rs`: the send span and what goes into each message (`AWSTraceHeader`, the W3C
//!   attributes within the limits in `limits.rs`);
//! - `receive.rs`: the `receive` span and the carriers asked for;
//! - `extract.rs`: reading a message's producer context, SNS and EventBridge envelopes
//!   included ([`extract_message`]); `config.rs`: the settings and the process span
//!   ([`SqsPropagation::start_process_span`]);
//! - [`service`]: the SQS client as a Tower service.

mod config;
mod extract;
mod limits;
mod operations;
mod receive;
mod send;
pub mod service;
mod settle;

pub use config::SqsPropagation;
pub use extract::{
    Carrier, MessageExt, SqsDelivery, TRACE_ATTRIBUTE_NAMES, extract_message, extract_with_carrier,
    producer_context,
};
pub use operations::SqsCall;
pub use service::{SqsLayer, SqsRequest, SqsResponse, SqsResponseFuture, SqsService, TracedSqs};

/// Baton's SQS propagation as an AWS SDK interceptor (the driver's
/// [`Interceptor`](baton::driver::Interceptor) with SQS's settings). Install it once on the
/// client configuration:
///
/// ```
/// # async fn example() {
/// let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let config = aws_sdk_sqs::config::Builder::from(&sdk_config)
///     .interceptor(baton_sqs::SqsInterceptor::default())
///     .build();
/// let client = aws_sdk_sqs::Client::from_conf(config);
/// # drop(client);
/// # }
/// ```
///
/// Then SendMessage and SendMessageBatch open a PRODUCER span and write its context into every
/// message, and ReceiveMessage asks for the trace carriers and records a `receive` span linked
/// to each producer. Other operations are untouched.
///
/// With `tracing-opentelemetry` installed and the SDK's own `debug` spans enabled, the context
/// current inside the hooks is the SDK's operation span (a child of the caller's), so the
/// PRODUCER span appears one level deeper, still in the caller's trace. The Tower form reads
/// the caller's context before the SDK runs and has no such extra level.
///
/// To give each entry of a batch the context of a different request, see
/// [`SqsPropagation::inject_entry_context`].
pub type SqsInterceptor = baton::driver::Interceptor<SqsPropagation>;
