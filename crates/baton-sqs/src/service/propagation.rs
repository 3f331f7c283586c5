//! The propagation service.

use std::fmt::Display;
use std::task::{Context as TaskContext, Poll};

use tower::Service;

use super::future::ResponseFuture;
use super::request::{SqsRequest, SqsResponse};
use crate::call::{Call, CallState};
use crate::config::SqsPropagation;
use crate::receive::ReceiveCall;
use crate::send::SendCall;

/// Propagates trace context through an inner SQS service: SendMessage and SendMessageBatch get
/// a PRODUCER span whose context goes into each message, ReceiveMessage asks for the trace
/// carriers and gets a `receive` span linked to every producer; other operations pass through.
///
/// The caller's context is taken when [`call`](Service::call) is made (see
/// [`baton::current_context`]). Errors of the inner service pass through unchanged.
#[derive(Clone, Debug)]
pub struct Propagation<S> {
    inner: S,
    config: SqsPropagation,
}

impl<S> Propagation<S> {
    /// Wraps `inner` with `config`.
    pub fn new(inner: S, config: SqsPropagation) -> Self {
        Propagation { inner, config }
    }

    /// A layer that wraps services in `Propagation` with `config`.
    pub fn layer(config: SqsPropagation) -> super::PropagationLayer {
        super::PropagationLayer::new(config)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Service<SqsRequest> for Propagation<S>
where
    S: Service<SqsRequest, Response = SqsResponse>,
    S::Error: Display + 'static,
{
    type Response = SqsResponse;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: SqsRequest) -> Self::Future {
        let parent = baton::current_context();
        let state = match &mut request {
            SqsRequest::SendMessage(input) => {
                let call = SendCall::start(
                    &self.config,
                    "SendMessage",
                    input.queue_url.as_deref(),
                    None,
                    self.config.region.as_deref(),
                    &parent,
                );
                call.inject_message(&self.config, input);
                Some(CallState(Call::Send(call)))
            }
            SqsRequest::SendMessageBatch(input) => {
                let mut call = SendCall::start(
                    &self.config,
                    "SendMessageBatch",
                    input.queue_url.as_deref(),
                    Some(input.entries.as_ref().map_or(0, Vec::len)),
                    self.config.region.as_deref(),
                    &parent,
                );
                call.inject_batch(&self.config, input);
                Some(CallState(Call::Batch(call)))
            }
            SqsRequest::ReceiveMessage(input) => {
                ReceiveCall::request_carriers(input);
                Some(CallState(Call::Receive(ReceiveCall::start(
                    &self.config,
                    input.queue_url.as_deref(),
                    self.config.region.as_deref(),
                    &parent,
                ))))
            }
            _ => None,
        };
        let active = state
            .as_ref()
            .and_then(CallState::active_context)
            .unwrap_or(parent);
        let future = {
            let _guard = active.clone().attach();
            self.inner.call(request)
        };
        ResponseFuture::new(future, state, active)
    }
}
