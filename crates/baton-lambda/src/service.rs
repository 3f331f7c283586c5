//! The Tower form: a Lambda client as a `tower::Service<LambdaRequest>` (Invoke), and a
//! propagation layer ([`LambdaLayer`]).
//!
//! ```no_run
//! use aws_sdk_lambda::operation::invoke::InvokeInput;
//! use aws_sdk_lambda::primitives::Blob;
//! use baton_lambda::{LambdaPropagation, LambdaRequest};
//! use tower::{Service, ServiceExt};
//!
//! # async fn example(client: aws_sdk_lambda::Client) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let mut lambda = LambdaPropagation::new().service(client);
//! let input = InvokeInput::builder()
//!     .function_name("fulfil")
//!     .payload(Blob::new(r#"{"order":42}"#))
//!     .build()?;
//! let output = lambda.ready().await?.call(LambdaRequest::from(input)).await?;
//! # drop(output);
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::invoke::builders::InvokeFluentBuilder;
use aws_sdk_lambda::operation::invoke::{InvokeInput, InvokeOutput};
use tower::Service;

use crate::config::LambdaPropagation;

/// A request for [`LambdaService`]: the Invoke input and the `X-Amzn-Trace-Id` request header
/// to send it with (the propagation layer sets it; made from an input with `From`).
#[derive(Clone, Debug)]
pub struct LambdaRequest {
    pub(crate) input: InvokeInput,
    pub(crate) trace_header: Option<String>,
}

impl LambdaRequest {
    /// The Invoke input.
    pub fn input(&self) -> &InvokeInput {
        &self.input
    }

    /// The `X-Amzn-Trace-Id` header this request will be sent with, if one is set.
    pub fn trace_header(&self) -> Option<&str> {
        self.trace_header.as_deref()
    }

    /// Sends the request with `header` as its `X-Amzn-Trace-Id` (the propagation layer keeps a
    /// header set here).
    pub fn with_trace_header(mut self, header: Option<String>) -> Self {
        self.trace_header = header;
        self
    }
}

impl From<InvokeInput> for LambdaRequest {
    fn from(input: InvokeInput) -> Self {
        LambdaRequest {
            input,
            trace_header: None,
        }
    }
}

// The input goes into the fluent builder field by field; the unit test
// `the_builder_carries_every_input_field` fails if the SDK adds a field it misses.
fn invoke_builder(client: &Client, i: InvokeInput) -> InvokeFluentBuilder {
    client
        .invoke()
        .set_function_name(i.function_name)
        .set_invocation_type(i.invocation_type)
        .set_log_type(i.log_type)
        .set_client_context(i.client_context)
        .set_durable_execution_name(i.durable_execution_name)
        .set_payload(i.payload)
        .set_qualifier(i.qualifier)
        .set_tenant_id(i.tenant_id)
}

/// A Lambda client as a `tower::Service<LambdaRequest>` (Invoke); errors are the SDK's, as
/// [`aws_sdk_lambda::Error`]. Always ready.
///
/// Lambda reads the trace in the request's `X-Amzn-Trace-Id` header: the service calls a copy of
/// the client that carries one more interceptor, which sets it (see
/// [`call_header_interceptor`](baton::driver::call_header_interceptor)). The copy has a
/// connection pool of its own unless the client's configuration names an HTTP client, and a
/// credentials cache of its own unless it names an identity cache (one made from aws-config's
/// `SdkConfig` does: credentials are then shared).
#[derive(Clone, Debug)]
pub struct LambdaService {
    client: Client,
}

impl LambdaService {
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
        LambdaService { client }
    }
}

/// The future of [`LambdaService`] (boxed: the SDK's futures cannot be named).
pub type LambdaFuture =
    Pin<Box<dyn Future<Output = Result<InvokeOutput, aws_sdk_lambda::Error>> + Send>>;

impl Service<LambdaRequest> for LambdaService {
    type Response = InvokeOutput;
    type Error = aws_sdk_lambda::Error;
    type Future = LambdaFuture;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: LambdaRequest) -> Self::Future {
        let client = self.client.clone();
        let LambdaRequest {
            input,
            trace_header,
        } = request;
        Box::pin(baton::driver::with_call_header(trace_header, async move {
            Ok(invoke_builder(&client, input).send().await?)
        }))
    }
}

/// The Tower layer of Lambda propagation: wraps a Lambda service (usually [`LambdaService`])
/// in [`TracedLambda`]. Made by [`LambdaPropagation::layer`](crate::LambdaPropagation::layer).
pub type LambdaLayer = baton::driver::PropagationLayer<LambdaPropagation>;

/// A Lambda service with propagation (the driver's [`Traced`](baton::driver::Traced), with
/// Lambda's settings): Invoke gets a CLIENT span whose context goes into the `ClientContext`
/// and the request header; errors pass through unchanged.
pub type TracedLambda<S> = baton::driver::Traced<LambdaPropagation, S>;

/// The response future of [`TracedLambda`]: ends the call's span with the outcome (or as
/// cancelled, if dropped first).
pub type LambdaResponseFuture<F> = baton::driver::ResponseFuture<F, LambdaPropagation>;

#[cfg(test)]
mod tests {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{InvocationType, LogType};

    use super::*;

    #[test]
    fn the_builder_carries_every_input_field() {
        let input = InvokeInput::builder()
            .function_name("f")
            .invocation_type(InvocationType::Event)
            .log_type(LogType::Tail)
            .client_context("e30=")
            .durable_execution_name("d")
            .payload(Blob::new("{}"))
            .qualifier("q")
            .tenant_id("t")
            .build()
            .unwrap();
        let debug = format!("{input:#?}");
        assert_eq!(
            baton_test_support::debug_fields(&debug),
            [
                "function_name",
                "invocation_type",
                "log_type",
                "client_context",
                "durable_execution_name",
                "payload",
                "qualifier",
                "tenant_id"
            ]
        );
        let client = Client::from_conf(
            aws_sdk_lambda::Config::builder()
                .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
                .build(),
        );
        let before = format!("{input:?}");
        let after = invoke_builder(&client, input)
            .as_input()
            .clone()
            .build()
            .unwrap();
        assert_eq!(format!("{after:?}"), before);
    }
}
