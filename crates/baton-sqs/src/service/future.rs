//! The response future of [`Propagation`](super::Propagation).

use std::error::Error as StdError;
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::Context;
use pin_project_lite::pin_project;

use super::request::SqsResponse;
use crate::call::{CallState, Pending};
use crate::error::ErrorInfo;

pin_project! {
    /// Ends the call's spans with the outcome once the inner future completes; the response
    /// or error itself passes through unchanged.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // Ends the spans as cancelled if this future is dropped before the response.
        pending: Pending,
        active: Context,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, pending: Pending, active: Context) -> Self {
        ResponseFuture {
            inner,
            pending,
            active,
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

fn error_info<E: Display + 'static>(error: &E) -> ErrorInfo {
    let any: &dyn std::any::Any = error;
    if let Some(sqs) = any.downcast_ref::<aws_sdk_sqs::Error>() {
        return ErrorInfo::from_metadata(sqs);
    }
    if let Some(boxed) = any.downcast_ref::<Box<dyn StdError + Send + Sync>>() {
        return crate::error::from_any(boxed.as_ref());
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
        let Some(state) = this.pending.take() else {
            return Poll::Ready(result);
        };
        let config = this.pending.config();
        match (state, &result) {
            (CallState::Send(call), Ok(SqsResponse::SendMessage(output))) => {
                call.finish_message(Ok(output))
            }
            (CallState::Batch(call), Ok(SqsResponse::SendMessageBatch(output))) => {
                call.finish_batch(Ok(output))
            }
            (CallState::Receive(call), Ok(SqsResponse::ReceiveMessage(output))) => {
                call.finish(config, Ok(output))
            }
            (state, Err(error)) => state.fail(config, &error_info(error)),
            (state, Ok(other)) => {
                // An inner service answered with another operation's output: end the spans
                // rather than leave them open.
                let info = ErrorInfo::from_display(&format_args!(
                    "inner service answered with a {} response",
                    other.operation()
                ));
                state.fail(config, &info);
            }
        }
        Poll::Ready(result)
    }
}
