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
//! # Features
//! - `sdk` (default): the send side above, over `aws-sdk-sns`. Without it the crate is the
//!   envelope reader ([`Notification`]) alone and compiles no AWS SDK; `baton-worker` uses it
//!   that way.

#[cfg(feature = "sdk")]
mod config;
mod envelope;
#[cfg(feature = "sdk")]
mod interceptor;
#[cfg(feature = "sdk")]
mod publish;
#[cfg(feature = "sdk")]
pub mod service;

#[cfg(feature = "sdk")]
pub use config::{DEFAULT_MAX_MESSAGE_BYTES, SnsPropagation};
pub use envelope::{EnvelopeAttribute, Notification};
#[cfg(feature = "sdk")]
pub use interceptor::SnsInterceptor;
#[cfg(feature = "sdk")]
pub use publish::{CallState, PublishCall};
#[cfg(feature = "sdk")]
pub use service::{
    Propagation, PropagationLayer, SnsOperation, SnsRequest, SnsResponse, SnsService,
};
