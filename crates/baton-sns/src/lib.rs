//! Trace context across Amazon SNS.
//!
//! Publish and PublishBatch get a PRODUCER span `send {topic}` whose context travels in the
//! `X-Amzn-Trace-Id` request header — SNS hands it to SQS subscribers as `AWSTraceHeader`, for
//! raw and envelope deliveries alike — and, by default, as an `X-Amzn-Trace-Id` message
//! attribute for consumers that read the notification envelope (each PublishBatch entry with a
//! `create` span of its own). The attribute is never added to a message that has 10 already
//! (the most raw delivery to SQS forwards); a trace attribute the caller set is kept.
//!
//! ```no_run
//! # async fn example(sdk_config: aws_config::SdkConfig) -> Result<(), aws_sdk_sns::Error> {
//! use baton_sns::SnsPropagation;
//! use opentelemetry::trace::FutureExt;
//!
//! let sns = aws_sdk_sns::Client::from_conf(
//!     aws_sdk_sns::config::Builder::from(&sdk_config)
//!         .interceptor(SnsPropagation::new().interceptor())
//!         .build(),
//! );
//! sns.publish()
//!     .topic_arn("arn:aws:sns:eu-west-1:123456789012:orders")
//!     .message("order 42")
//!     .send()
//!     .with_current_context()
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! Consumers of the envelope use [`Notification`]; consumers of raw deliveries to SQS read the
//! SQS message's own attributes (`baton-sqs`).
//!
//! # Layout
//!
//! The interceptor and the Tower layer are Baton's one driver (`baton::driver`); this crate
//! holds only what is SNS's own: `operations.rs`, the table of traced operations (Publish,
//! PublishBatch) and the request header; `publish.rs`, the send span, the message attribute
//! and its limits; `envelope.rs`, the notification envelope read back ([`Notification`]);
//! `config.rs`, the settings and the process span; `service.rs`, the SNS client as a Tower
//! service.
//!
//! # Features
//! - `sdk` (default): the send side above, over `aws-sdk-sns`. Without it the crate is the
//!   envelope reader ([`Notification`]) alone and compiles no AWS SDK; `baton-worker` uses it
//!   that way.

#[cfg(feature = "sdk")]
mod config;
mod envelope;
#[cfg(feature = "sdk")]
mod operations;
#[cfg(feature = "sdk")]
mod publish;
#[cfg(feature = "sdk")]
pub mod service;

#[cfg(feature = "sdk")]
pub use config::SnsPropagation;
pub use envelope::{EnvelopeAttribute, Notification};
#[cfg(feature = "sdk")]
pub use publish::PublishCall;
#[cfg(feature = "sdk")]
pub use service::{
    SnsLayer, SnsOperation, SnsRequest, SnsResponse, SnsResponseFuture, SnsService, TracedSns,
};

/// Baton's SNS propagation as an AWS SDK interceptor (the driver's
/// [`Interceptor`](baton::driver::Interceptor) with SNS's settings).
///
/// ```
/// # async fn example() {
/// let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let config = aws_sdk_sns::config::Builder::from(&sdk_config)
///     .interceptor(baton_sns::SnsInterceptor::default())
///     .build();
/// let client = aws_sdk_sns::Client::from_conf(config);
/// # drop(client);
/// # }
/// ```
///
/// Publish and PublishBatch then open a PRODUCER span and carry its context (see
/// [`SnsPropagation`]). The `X-Amzn-Trace-Id` header is set just before signing, replacing the
/// one the SDK's recursion detection copies from `_X_AMZN_TRACE_ID` inside Lambda, whose
/// `Lineage` is kept.
#[cfg(feature = "sdk")]
pub type SnsInterceptor = baton::driver::Interceptor<SnsPropagation>;
