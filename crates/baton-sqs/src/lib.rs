//! Trace context across Amazon SQS.
//!
//! On **send**, every message carries the context of a PRODUCER span in its `AWSTraceHeader`
//! system attribute — the carrier AWS services, the X-Ray SDKs and OpenTelemetry Python read —
//! and, if asked for, in W3C `traceparent` / `tracestate` message attributes. On **receive**,
//! the call asks SQS for those carriers, a CONSUMER `receive` span links to each message's
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
//! - **Tower** — [`SqsService`] and [`PropagationLayer`], to stack with tower's middleware (see
//!   the [`service`] module).
//!
//! Baton never makes a send fail: a value the caller set is kept, a carrier that would push a
//! message past 10 attributes or the size limit is left out (with a `tracing` event), and a
//! malformed incoming header starts a fresh trace (with a `tracing` event).
//!
//! Which carrier wins on receive, when several are present, is documented in
//! [`extract_with_carrier`].

mod call;
mod config;
mod error;
mod extract;
mod interceptor;
mod limits;
mod receive;
mod send;
pub mod service;

pub use call::CallState;
pub use config::{DEFAULT_MAX_MESSAGE_BYTES, SqsPropagation};
pub use extract::{
    Carrier, MessageExt, TRACE_ATTRIBUTE_NAMES, extract_message, extract_with_carrier,
    producer_context,
};
pub use interceptor::SqsInterceptor;
pub use service::{Propagation, PropagationLayer, SqsRequest, SqsResponse, SqsService};
