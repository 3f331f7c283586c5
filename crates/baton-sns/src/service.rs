//! The Tower form: an SNS client as a `tower::Service<SnsRequest>`, and a propagation layer
//! ([`SnsLayer`]).
//!
//! The propagation layer opens the send span, writes the message attributes and puts the
//! `X-Amzn-Trace-Id` header into the [`SnsRequest`] itself; [`SnsService`] sends the request
//! with that header. Because the header travels inside the request, layers between the two may
//! call the inner service on another task (`tower::buffer`) or later (`tower::retry`) and the
//! header still names the right span. A request that reaches [`SnsService`] without a header
//! (no propagation layer above it) gets one from the context current when it is called.
//!
//! ```no_run
//! use aws_sdk_sns::operation::publish::PublishInput;
//! use baton_sns::{SnsPropagation, SnsRequest, SnsService};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # async fn example(client: aws_sdk_sns::Client) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let mut sns = ServiceBuilder::new()
//!     .layer(SnsPropagation::new().layer())
//!     .service(SnsService::new(client));
//! let input = PublishInput::builder()
//!     .topic_arn("arn:aws:sns:eu-west-1:123456789012:orders")
//!     .message("order 42")
//!     .build()?;
//! let response = sns.ready().await?.call(SnsRequest::from(input)).await?;
//! # drop(response);
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use aws_sdk_sns::Client;
use aws_sdk_sns::operation::publish::builders::PublishFluentBuilder;
use aws_sdk_sns::operation::publish::{PublishInput, PublishOutput};
use aws_sdk_sns::operation::publish_batch::builders::PublishBatchFluentBuilder;
use aws_sdk_sns::operation::publish_batch::{PublishBatchInput, PublishBatchOutput};
use tower::Service;

use crate::config::SnsPropagation;

/// An SNS operation input.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SnsOperation {
    /// `Publish`.
    Publish(PublishInput),
    /// `PublishBatch`.
    PublishBatch(PublishBatchInput),
}

/// A request for [`SnsService`]: the operation's input and the `X-Amzn-Trace-Id` request header
/// to send it with.
///
/// Made from an input with `From`; the propagation layer sets the header. SNS reads the header,
/// not the input, to hand the trace to SQS subscribers as their `AWSTraceHeader`, so the header
/// rides along with the input instead of being taken from whatever context is current when the
/// client is finally called.
#[derive(Clone, Debug)]
pub struct SnsRequest {
    pub(crate) operation: SnsOperation,
    pub(crate) trace_header: Option<String>,
}

impl SnsRequest {
    /// The operation's input.
    pub fn operation(&self) -> &SnsOperation {
        &self.operation
    }

    /// The operation's input, to change.
    pub fn operation_mut(&mut self) -> &mut SnsOperation {
        &mut self.operation
    }

    /// The operation's input, unwrapped.
    pub fn into_operation(self) -> SnsOperation {
        self.operation
    }

    /// The `X-Amzn-Trace-Id` header this request will be sent with, if one is set.
    pub fn trace_header(&self) -> Option<&str> {
        self.trace_header.as_deref()
    }

    /// Sends the request with `header` as its `X-Amzn-Trace-Id` (`None`: with the context
    /// current when [`SnsService`] is called). The propagation layer keeps a header set here,
    /// unless it could not go on the wire (control characters): then it sends its own, with a
    /// `tracing` warning; [`SnsService`] alone publishes without it.
    pub fn with_trace_header(mut self, header: Option<String>) -> Self {
        self.trace_header = header;
        self
    }
}

impl From<SnsOperation> for SnsRequest {
    fn from(operation: SnsOperation) -> Self {
        SnsRequest {
            operation,
            trace_header: None,
        }
    }
}

/// The output of the matching [`SnsRequest`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SnsResponse {
    /// `Publish`.
    Publish(PublishOutput),
    /// `PublishBatch`.
    PublishBatch(PublishBatchOutput),
}

impl From<PublishInput> for SnsRequest {
    fn from(input: PublishInput) -> Self {
        SnsOperation::Publish(input).into()
    }
}

impl From<PublishBatchInput> for SnsRequest {
    fn from(input: PublishBatchInput) -> Self {
        SnsOperation::PublishBatch(input).into()
    }
}

// Inputs go into fluent builders field by field (the fluent form is the one that can add a
// request header); the unit test `builders_carry_every_input_field` fails if the SDK adds a
// field these miss.
pub(crate) fn publish_builder(client: &Client, i: PublishInput) -> PublishFluentBuilder {
    client
        .publish()
        .set_topic_arn(i.topic_arn)
        .set_target_arn(i.target_arn)
        .set_phone_number(i.phone_number)
        .set_message(i.message)
        .set_subject(i.subject)
        .set_message_structure(i.message_structure)
        .set_message_attributes(i.message_attributes)
        .set_message_deduplication_id(i.message_deduplication_id)
        .set_message_group_id(i.message_group_id)
}

pub(crate) fn publish_batch_builder(
    client: &Client,
    i: PublishBatchInput,
) -> PublishBatchFluentBuilder {
    client
        .publish_batch()
        .set_topic_arn(i.topic_arn)
        .set_publish_batch_request_entries(i.publish_batch_request_entries)
}

/// An SNS client as a `tower::Service<SnsRequest>`; errors are the SDK's, as
/// [`aws_sdk_sns::Error`]. Sends each request with its [`SnsRequest::trace_header`], or, if it
/// has none, with the header of the span current when it is called. Always ready.
///
/// It calls a copy of the client that carries one more interceptor, which puts each call's
/// header on the wire (cheaper than a per-call `customize()`). The copy has a connection pool
/// of its own unless the client's configuration names an HTTP client, and a credentials cache
/// of its own unless it names an identity cache (one made from aws-config's `SdkConfig` does:
/// credentials are then shared).
#[derive(Clone, Debug)]
pub struct SnsService {
    client: Client,
    env: fn(&str) -> Option<String>,
}

impl SnsService {
    /// Wraps a copy of `client` (see above): make one and clone it, rather than one per call,
    /// which would build a client each time.
    pub fn new(client: Client) -> Self {
        Self::prepared(Self::header_client(&client))
    }

    /// `client` with the interceptor that sets each call's header.
    pub(crate) fn header_client(client: &Client) -> Client {
        let mut config = client.config().to_builder();
        config.push_interceptor(baton::driver::call_header_interceptor());
        Client::from_conf(config.build())
    }

    /// Wraps `client` as it is: one that [`header_client`](Self::header_client) made, or a copy
    /// of one (the copy `service(client)` gives its server probe).
    pub(crate) fn prepared(client: Client) -> Self {
        SnsService {
            client,
            env: baton::process_env,
        }
    }
}

/// The future of [`SnsService`] (boxed: the SDK's futures cannot be named).
pub type SnsFuture = Pin<Box<dyn Future<Output = Result<SnsResponse, aws_sdk_sns::Error>> + Send>>;

impl Service<SnsRequest> for SnsService {
    type Response = SnsResponse;
    type Error = aws_sdk_sns::Error;
    type Future = SnsFuture;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: SnsRequest) -> Self::Future {
        let SnsRequest {
            operation,
            trace_header,
        } = request;
        let header = trace_header.or_else(|| {
            let cx = baton::current_context();
            let lineage = baton::invocation_lineage(&cx, self.env);
            baton::aws_header_for_context(&cx, lineage.as_deref())
        });
        let client = self.client.clone();
        Box::pin(baton::driver::with_call_header(header, async move {
            send(&client, operation).await
        }))
    }
}

async fn send(client: &Client, operation: SnsOperation) -> Result<SnsResponse, aws_sdk_sns::Error> {
    Ok(match operation {
        SnsOperation::Publish(i) => SnsResponse::Publish(publish_builder(client, i).send().await?),
        SnsOperation::PublishBatch(i) => {
            SnsResponse::PublishBatch(publish_batch_builder(client, i).send().await?)
        }
    })
}

/// Whether `value` can be sent as an HTTP header value: no control characters but tab.
pub(crate) fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// The Tower layer of SNS propagation: wraps an SNS service (usually [`SnsService`]) in
/// [`TracedSns`]. Made by [`SnsPropagation::layer`](crate::SnsPropagation::layer).
pub type SnsLayer = baton::driver::PropagationLayer<SnsPropagation>;

/// An SNS service with propagation: Publish and PublishBatch get a PRODUCER span whose context
/// goes into the request (its `X-Amzn-Trace-Id` header) and each message; the caller's context
/// is taken when `call` is made, errors pass through unchanged. (The driver's
/// [`Traced`](baton::driver::Traced), with SNS's settings.)
pub type TracedSns<S> = baton::driver::Traced<SnsPropagation, S>;

/// The response future of [`TracedSns`]: ends the call's spans with the outcome (or as
/// cancelled, if dropped first).
pub type SnsResponseFuture<F> = baton::driver::ResponseFuture<F, SnsPropagation>;

#[cfg(test)]
mod tests {
    use aws_sdk_sns::operation::publish::PublishInput;
    use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

    use super::*;
    #[test]
    fn builders_carry_every_input_field() {
        let client = Client::from_conf(
            aws_sdk_sns::Config::builder()
                .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
                .build(),
        );
        let input = PublishInput::builder()
            .topic_arn("t")
            .target_arn("a")
            .phone_number("p")
            .message("m")
            .subject("s")
            .message_structure("json")
            .message_attributes(
                "k",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("v")
                    .build()
                    .unwrap(),
            )
            .message_deduplication_id("d")
            .message_group_id("g")
            .build()
            .unwrap();
        let debug = format!("{input:#?}");
        assert_eq!(
            baton_test_support::debug_fields(&debug),
            [
                "topic_arn",
                "target_arn",
                "phone_number",
                "message",
                "subject",
                "message_structure",
                "message_attributes",
                "message_deduplication_id",
                "message_group_id"
            ]
        );
        let before = format!("{input:?}");
        assert_eq!(
            format!(
                "{:?}",
                publish_builder(&client, input)
                    .as_input()
                    .clone()
                    .build()
                    .unwrap()
            ),
            before
        );

        let input = PublishBatchInput::builder()
            .topic_arn("t")
            .publish_batch_request_entries(
                PublishBatchRequestEntry::builder()
                    .id("1")
                    .message("m")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert_eq!(
            baton_test_support::debug_fields(&format!("{input:#?}")),
            ["topic_arn", "publish_batch_request_entries"]
        );
        let before = format!("{input:?}");
        assert_eq!(
            format!(
                "{:?}",
                publish_batch_builder(&client, input)
                    .as_input()
                    .clone()
                    .build()
                    .unwrap()
            ),
            before
        );
    }
}
