//! The response future of [`Propagation`](super::Propagation).

use std::error::Error as StdError;
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::Context;
use pin_project_lite::pin_project;

use super::request::SqsResponse;
use crate::config::SqsPropagation;
use crate::error::ErrorInfo;
use crate::receive::ReceiveCall;
use crate::send::SendCall;

#[derive(Debug)]
pub(crate) enum CallState {
    Send(SendCall),
    Batch(SendCall),
    Receive(ReceiveCall),
    PassThrough,
}

impl CallState {
    /// The context to keep current while the inner service works: the send span's, so the
    /// SDK's own spans nest under it.
    pub(crate) fn active_context(&self) -> Option<Context> {
        match self {
            CallState::Send(call) | CallState::Batch(call) => Some(call.cx.clone()),
            _ => None,
        }
    }
}

pin_project! {
    /// Ends the call's spans with the outcome once the inner future completes; the response
    /// or error itself passes through unchanged.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        state: Option<CallState>,
        config: SqsPropagation,
        active: Context,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, state: CallState, config: SqsPropagation, active: Context) -> Self {
        ResponseFuture {
            inner,
            state: Some(state),
            config,
            active,
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

fn error_info<E: Display + 'static>(error: &E) -> ErrorInfo {
    let any: &dyn std::any::Any = error;
    if let Some(sqs) = any.downcast_ref::<aws_sdk_sqs::Error>() {
        return ErrorInfo::from_metadata(sqs);
    }
    if let Some(boxed) = any.downcast_ref::<Box<dyn StdError + Send + Sync>>() {
        return ErrorInfo::from_any(boxed.as_ref());
    }
    ErrorInfo::from_display(error)
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<SqsResponse, E>>,
    E: Display + 'static,
{
    type Output = Result<SqsResponse, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _guard = this.active.clone().attach();
            match this.inner.poll(cx) {
                Poll::Ready(result) => result,
                Poll::Pending => return Poll::Pending,
            }
        };
        let config = &*this.config;
        match (this.state.take(), &result) {
            (Some(CallState::Send(call)), Ok(SqsResponse::SendMessage(output))) => {
                call.finish_message(Ok(output))
            }
            (Some(CallState::Batch(call)), Ok(SqsResponse::SendMessageBatch(output))) => {
                call.finish_batch(Ok(output))
            }
            (Some(CallState::Receive(call)), Ok(SqsResponse::ReceiveMessage(output))) => {
                call.finish(config, Ok(output))
            }
            (Some(state), Err(error)) => {
                let info = error_info(error);
                match state {
                    CallState::Send(call) => call.finish_message(Err(&info)),
                    CallState::Batch(call) => call.finish_batch(Err(&info)),
                    CallState::Receive(call) => call.finish(config, Err(&info)),
                    CallState::PassThrough => {}
                }
            }
            (Some(state), Ok(other)) => {
                // An inner service answered with another operation's output: end the spans
                // rather than leave them open.
                let info = ErrorInfo::from_display(&format_args!(
                    "inner service answered with a {} response",
                    other.operation()
                ));
                match state {
                    CallState::Send(call) => call.finish_message(Err(&info)),
                    CallState::Batch(call) => call.finish_batch(Err(&info)),
                    CallState::Receive(call) => call.finish(config, Err(&info)),
                    CallState::PassThrough => {}
                }
            }
            (None, _) => {}
        }
        Poll::Ready(result)
    }
}
