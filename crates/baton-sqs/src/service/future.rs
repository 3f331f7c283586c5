//! The response future of [`Propagation`](super::Propagation).

use std::fmt::Display;

use super::request::SqsResponse;
use crate::call::{Call, CallState};
use crate::error::ErrorInfo;

/// Ends the call's spans with the outcome once the inner future completes (or as cancelled if
/// it is dropped first); the response or error itself passes through unchanged.
pub type ResponseFuture<F> = baton::sdk::TracedFuture<F, CallState>;

impl<E: Display + 'static> baton::sdk::Finish<SqsResponse, E> for CallState {
    fn finish(self, result: &Result<SqsResponse, E>) {
        match (self.0, result) {
            (Call::Send(call), Ok(SqsResponse::SendMessage(output))) => {
                call.finish_message(Ok(output))
            }
            (Call::Batch(call), Ok(SqsResponse::SendMessageBatch(output))) => {
                call.finish_batch(Ok(output))
            }
            (Call::Receive(call), Ok(SqsResponse::ReceiveMessage(output))) => {
                call.finish(Ok(output))
            }
            (call, Err(error)) => baton::sdk::InFlight::fail(
                CallState(call),
                &baton::sdk::service_error::<aws_sdk_sqs::Error, E>(error),
            ),
            (call, Ok(other)) => {
                // An inner service answered with another operation's output: end the spans
                // rather than leave them open.
                let info = ErrorInfo::from_display(&format_args!(
                    "inner service answered with a {} response",
                    other.operation()
                ));
                baton::sdk::InFlight::fail(CallState(call), &info);
            }
        }
    }
}
