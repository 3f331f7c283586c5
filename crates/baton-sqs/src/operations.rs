//! SQS as Baton's driver sees it: the operations traced, in one table, and what each does.
//! Both forms (the interceptor and the Tower layer) run this code.

use std::any::Any;

use aws_sdk_sqs::operation::receive_message::{
    ReceiveMessageError, ReceiveMessageInput, ReceiveMessageOutput,
};
use aws_sdk_sqs::operation::send_message::{SendMessageError, SendMessageInput, SendMessageOutput};
use aws_sdk_sqs::operation::send_message_batch::{
    SendMessageBatchError, SendMessageBatchInput, SendMessageBatchOutput,
};
use baton::CallError;
use baton::driver::{Common, Operation, Start, TracedOperation, TracedService};
use opentelemetry::Context;

use crate::config::SqsPropagation;
use crate::receive::ReceiveCall;
use crate::send::SendCall;
use crate::service::{SqsRequest, SqsResponse};

/// The spans of one traced SQS operation in flight (opaque). Whatever happens to the call,
/// they end: with its outcome, or as cancelled when it is dropped first.
#[derive(Clone, Debug)]
pub struct SqsCall(Call);

#[derive(Clone, Debug)]
enum Call {
    Send(SendCall),
    Receive(ReceiveCall),
}

impl TracedService for SqsPropagation {
    const INTERCEPTOR_NAME: &'static str = "BatonSqsInterceptor";
    const OPERATIONS: &'static [Operation<Self>] = &[
        Operation::of::<SendMessageInput>(),
        Operation::of::<SendMessageBatchInput>(),
        Operation::of::<ReceiveMessageInput>(),
    ];
    type Call = SqsCall;
    type Request = SqsRequest;
    type Response = SqsResponse;
    type SdkError = aws_sdk_sqs::Error;

    fn common(&self) -> &Common {
        &self.common
    }

    fn active_context(call: &SqsCall) -> Option<&Context> {
        match &call.0 {
            Call::Send(call) => Some(call.cx()),
            Call::Receive(_) => None,
        }
    }

    fn record_server(call: &mut SqsCall, address: &str, port: Option<u16>) {
        match &mut call.0 {
            Call::Send(send) => send.record_server(address, port),
            Call::Receive(receive) => receive.set_server(address, port),
        }
    }

    fn request_input(request: &mut SqsRequest) -> &mut dyn Any {
        request.input_mut()
    }

    fn response_output(response: &SqsResponse) -> &dyn Any {
        response.output()
    }
}

/// The send call of `call`, or the call ended as an error if it is not one (which the driver,
/// ending each call with the operation that started it, never does).
fn send_call(call: SqsCall) -> Option<SendCall> {
    match call.0 {
        Call::Send(call) => Some(call),
        Call::Receive(other) => {
            other.finish(Err(&CallError::new("call of another operation")));
            None
        }
    }
}

impl TracedOperation<SqsPropagation> for SendMessageInput {
    type Output = SendMessageOutput;
    type Error = SendMessageError;

    fn start(&mut self, sqs: &SqsPropagation, start: &Start<'_>) -> SqsCall {
        let call = SendCall::start(sqs, "SendMessage", self.queue_url.as_deref(), None, start);
        call.inject_message(sqs, self);
        SqsCall(Call::Send(call))
    }

    fn finish(call: SqsCall, result: Result<&SendMessageOutput, &CallError>) {
        if let Some(call) = send_call(call) {
            call.finish_message(result);
        }
    }
}

impl TracedOperation<SqsPropagation> for SendMessageBatchInput {
    type Output = SendMessageBatchOutput;
    type Error = SendMessageBatchError;

    fn start(&mut self, sqs: &SqsPropagation, start: &Start<'_>) -> SqsCall {
        let entries = self.entries.as_ref().map_or(0, Vec::len);
        let mut call = SendCall::start(
            sqs,
            "SendMessageBatch",
            self.queue_url.as_deref(),
            Some(entries),
            start,
        );
        call.inject_batch(sqs, self);
        SqsCall(Call::Send(call))
    }

    fn finish(call: SqsCall, result: Result<&SendMessageBatchOutput, &CallError>) {
        if let Some(call) = send_call(call) {
            call.finish_batch(result);
        }
    }
}

impl TracedOperation<SqsPropagation> for ReceiveMessageInput {
    type Output = ReceiveMessageOutput;
    type Error = ReceiveMessageError;

    fn start(&mut self, sqs: &SqsPropagation, start: &Start<'_>) -> SqsCall {
        ReceiveCall::request_carriers(self);
        SqsCall(Call::Receive(ReceiveCall::start(
            sqs,
            self.queue_url.as_deref(),
            start,
        )))
    }

    fn finish(call: SqsCall, result: Result<&ReceiveMessageOutput, &CallError>) {
        match call.0 {
            Call::Receive(call) => call.finish(result),
            Call::Send(other) => {
                other.finish_message(Err(&CallError::new("call of another operation")))
            }
        }
    }
}
