//! The Tower form: a Step Functions client as a `tower::Service<SfnRequest>`, and a
//! propagation layer ([`SfnLayer`]).
//!
//! ```no_run
//! use aws_sdk_sfn::operation::start_execution::StartExecutionInput;
//! use baton_sfn::{SfnPropagation, SfnRequest, SfnService};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # async fn example(client: aws_sdk_sfn::Client) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let mut sfn = ServiceBuilder::new()
//!     .layer(SfnPropagation::new().with_input_field("traceHeader").layer())
//!     .service(SfnService::new(client));
//! let input = StartExecutionInput::builder()
//!     .state_machine_arn("arn:aws:states:eu-west-1:123456789012:stateMachine:orders")
//!     .input(r#"{"order":42}"#)
//!     .build()?;
//! let response = sfn.ready().await?.call(SfnRequest::from(input)).await?;
//! # drop(response);
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use aws_sdk_sfn::Client;
use aws_sdk_sfn::operation::start_execution::builders::StartExecutionFluentBuilder;
use aws_sdk_sfn::operation::start_execution::{StartExecutionInput, StartExecutionOutput};
use aws_sdk_sfn::operation::start_sync_execution::builders::StartSyncExecutionFluentBuilder;
use aws_sdk_sfn::operation::start_sync_execution::{
    StartSyncExecutionInput, StartSyncExecutionOutput,
};
use tower::Service;

use crate::config::SfnPropagation;

/// A Step Functions operation input.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SfnRequest {
    /// `StartExecution`.
    StartExecution(StartExecutionInput),
    /// `StartSyncExecution` (Express state machines).
    StartSyncExecution(StartSyncExecutionInput),
}

/// The output of the matching [`SfnRequest`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SfnResponse {
    /// `StartExecution`.
    StartExecution(StartExecutionOutput),
    /// `StartSyncExecution` (boxed: its output is large).
    StartSyncExecution(Box<StartSyncExecutionOutput>),
}

impl From<StartExecutionInput> for SfnRequest {
    fn from(input: StartExecutionInput) -> Self {
        SfnRequest::StartExecution(input)
    }
}

impl From<StartSyncExecutionInput> for SfnRequest {
    fn from(input: StartSyncExecutionInput) -> Self {
        SfnRequest::StartSyncExecution(input)
    }
}

// Inputs go into fluent builders field by field (the fluent form can also set the request
// header); the unit test `builders_carry_every_input_field` fails if the SDK adds a field these
// miss.
pub(crate) fn start_execution_builder(
    client: &Client,
    i: StartExecutionInput,
) -> StartExecutionFluentBuilder {
    client
        .start_execution()
        .set_state_machine_arn(i.state_machine_arn)
        .set_name(i.name)
        .set_input(i.input)
        .set_trace_header(i.trace_header)
}

pub(crate) fn start_sync_execution_builder(
    client: &Client,
    i: StartSyncExecutionInput,
) -> StartSyncExecutionFluentBuilder {
    client
        .start_sync_execution()
        .set_state_machine_arn(i.state_machine_arn)
        .set_name(i.name)
        .set_input(i.input)
        .set_trace_header(i.trace_header)
        .set_included_data(i.included_data)
}

/// A Step Functions client as a `tower::Service<SfnRequest>`; errors are the SDK's, as
/// [`aws_sdk_sfn::Error`]. Always ready.
///
/// Each request also carries its input's `traceHeader` as its `X-Amzn-Trace-Id` header: Step
/// Functions prefers the header, and inside Lambda the SDK sets that header to the invocation's
/// trace. It calls a copy of the client that carries one more interceptor, which sets the
/// header (see [`call_header_interceptor`](baton::driver::call_header_interceptor)). The copy
/// has a connection pool of its own unless the client's configuration names an HTTP client, and
/// a credentials cache of its own unless it names an identity cache (one made from aws-config's
/// `SdkConfig` does: credentials are then shared).
#[derive(Clone, Debug)]
pub struct SfnService {
    client: Client,
}

impl SfnService {
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
        SfnService { client }
    }
}

/// The future of [`SfnService`] (boxed: the SDK's futures cannot be named).
pub type SfnFuture = Pin<Box<dyn Future<Output = Result<SfnResponse, aws_sdk_sfn::Error>> + Send>>;

impl Service<SfnRequest> for SfnService {
    type Response = SfnResponse;
    type Error = aws_sdk_sfn::Error;
    type Future = SfnFuture;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: SfnRequest) -> Self::Future {
        let client = self.client.clone();
        let header = match &request {
            SfnRequest::StartExecution(i) => i.trace_header.clone(),
            SfnRequest::StartSyncExecution(i) => i.trace_header.clone(),
        };
        Box::pin(baton::driver::with_call_header(header, async move {
            Ok(match request {
                SfnRequest::StartExecution(i) => {
                    SfnResponse::StartExecution(start_execution_builder(&client, i).send().await?)
                }
                SfnRequest::StartSyncExecution(i) => SfnResponse::StartSyncExecution(Box::new(
                    start_sync_execution_builder(&client, i).send().await?,
                )),
            })
        }))
    }
}

/// The Tower layer of Step Functions propagation: wraps a Step Functions service (usually
/// [`SfnService`]) in [`TracedSfn`]. Made by [`SfnPropagation::layer`](crate::SfnPropagation::layer).
pub type SfnLayer = baton::driver::PropagationLayer<SfnPropagation>;

/// A Step Functions service with propagation: StartExecution and StartSyncExecution get a
/// PRODUCER span whose context goes into `traceHeader` (and the input field, if configured);
/// the caller's context is taken when `call` is made, errors pass through unchanged. (The
/// driver's [`Traced`](baton::driver::Traced), with Step Functions' settings.)
pub type TracedSfn<S> = baton::driver::Traced<SfnPropagation, S>;

/// The response future of [`TracedSfn`]: ends the call's span with the outcome (or as
/// cancelled, if dropped first).
pub type SfnResponseFuture<F> = baton::driver::ResponseFuture<F, SfnPropagation>;

#[cfg(test)]
mod tests {
    use aws_sdk_sfn::types::IncludedData;

    use super::*;
    #[test]
    fn builders_carry_every_input_field() {
        let input = StartExecutionInput::builder()
            .state_machine_arn("a")
            .name("n")
            .input("{}")
            .trace_header("t")
            .build()
            .unwrap();
        let debug = format!("{input:#?}");
        assert_eq!(
            baton_test_support::debug_fields(&debug),
            ["state_machine_arn", "name", "input", "trace_header"]
        );
        let client = Client::from_conf(
            aws_sdk_sfn::Config::builder()
                .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
                .build(),
        );
        let before = format!("{input:?}");
        let after = start_execution_builder(&client, input)
            .as_input()
            .clone()
            .build();
        assert_eq!(format!("{:?}", after.unwrap()), before);

        let input = StartSyncExecutionInput::builder()
            .state_machine_arn("a")
            .name("n")
            .input("{}")
            .trace_header("t")
            .included_data(IncludedData::MetadataOnly)
            .build()
            .unwrap();
        let debug = format!("{input:#?}");
        assert_eq!(
            baton_test_support::debug_fields(&debug),
            [
                "state_machine_arn",
                "name",
                "input",
                "trace_header",
                "included_data"
            ]
        );
        let before = format!("{input:?}");
        let after = start_sync_execution_builder(&client, input)
            .as_input()
            .clone()
            .build();
        assert_eq!(format!("{:?}", after.unwrap()), before);
    }
}
