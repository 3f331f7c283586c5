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

use aws_sdk_sqs::operation::change_message_visibility::{
    ChangeMessageVisibilityError, ChangeMessageVisibilityInput, ChangeMessageVisibilityOutput,
};
use aws_sdk_sqs::operation::change_message_visibility_batch::{
    ChangeMessageVisibilityBatchError, ChangeMessageVisibilityBatchInput,
    ChangeMessageVisibilityBatchOutput,
};
use aws_sdk_sqs::operation::delete_message::{
    DeleteMessageError, DeleteMessageInput, DeleteMessageOutput,
};
use aws_sdk_sqs::operation::delete_message_batch::{
    DeleteMessageBatchError, DeleteMessageBatchInput, DeleteMessageBatchOutput,
};
use aws_sdk_sqs::types::BatchResultErrorEntry;

use crate::config::SqsPropagation;
use crate::receive::ReceiveCall;
use crate::send::SendCall;
use crate::service::{SqsRequest, SqsResponse};
use crate::settle::{SettleCall, request_id_of};

/// The spans of one traced SQS operation in flight (opaque). Whatever happens to the call,
/// they end: with its outcome, or as cancelled when it is dropped first.
#[derive(Clone, Debug)]
pub struct SqsCall(Call);

#[derive(Clone, Debug)]
enum Call {
    Send(SendCall),
    Receive(ReceiveCall),
    Settle(SettleCall),
}

impl TracedService for SqsPropagation {
    const INTERCEPTOR_NAME: &'static str = "BatonSqsInterceptor";
    // No SQS operation has a host prefix.
    const HOST_PREFIXES: bool = false;
    const OPERATIONS: &'static [Operation<Self>] = &[
        Operation::of::<SendMessageInput>(),
        Operation::of::<SendMessageBatchInput>(),
        Operation::of::<ReceiveMessageInput>(),
        Operation::of::<DeleteMessageInput>(),
        Operation::of::<DeleteMessageBatchInput>(),
        Operation::of::<ChangeMessageVisibilityInput>(),
        Operation::of::<ChangeMessageVisibilityBatchInput>(),
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
            Call::Settle(call) => call.cx(),
        }
    }

    fn record_server(call: &mut SqsCall, address: &str, port: Option<u16>) {
        match &mut call.0 {
            Call::Send(send) => send.record_server(address, port),
            Call::Receive(receive) => receive.set_server(address, port),
            Call::Settle(settle) => settle.set_server(address, port),
        }
    }

    fn request_input(request: &mut SqsRequest) -> &mut dyn Any {
        request.input_mut()
    }

    fn response_output(response: &SqsResponse) -> &dyn Any {
        response.output()
    }
}

/// Ends `call` as an error: a call of another operation than the one ending it (which the
/// driver, ending each call with the operation that started it, never does).
fn mismatched(call: SqsCall) {
    let error = CallError::new("call of another operation");
    match call.0 {
        Call::Send(call) => call.finish_message(Err(&error)),
        Call::Receive(call) => call.finish(Err(&error)),
        Call::Settle(call) => call.finish(Err(&error)),
    }
}

/// The send call of `call` (see [`mismatched`]).
fn send_call(call: SqsCall) -> Option<SendCall> {
    match call.0 {
        Call::Send(call) => Some(call),
        other => {
            mismatched(SqsCall(other));
            None
        }
    }
}

impl TracedOperation<SqsPropagation> for SendMessageInput {
    type Output = SendMessageOutput;
    type Error = SendMessageError;

    fn start(&mut self, sqs: &SqsPropagation, start: &Start<'_>) -> SqsCall {
        let call = SendCall::start(
            sqs,
            "SendMessage",
            self.queue_url.as_deref(),
            None,
            self.message_body.as_deref(),
            start,
        );
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
            None,
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
        ReceiveCall::request_carriers(self, sqs.facts, sqs.attribute_carriers);
        SqsCall(Call::Receive(ReceiveCall::start(
            sqs,
            self.queue_url.as_deref(),
            start,
        )))
    }

    fn finish(call: SqsCall, result: Result<&ReceiveMessageOutput, &CallError>) {
        match call.0 {
            Call::Receive(call) => call.finish(result),
            other => mismatched(SqsCall(other)),
        }
    }
}

/// The settle operations: a CLIENT `settle {queue}` span, only inside a trace.
macro_rules! settle_operation {
    ($input:ty, $output:ty, $error:ty, $name:literal, $batch:expr, $outcome:expr) => {
        impl TracedOperation<SqsPropagation> for $input {
            type Output = $output;
            type Error = $error;

            fn traced(&self, sqs: &SqsPropagation, start: &Start<'_>) -> bool {
                SettleCall::wanted(sqs, start)
            }

            fn start(&mut self, sqs: &SqsPropagation, start: &Start<'_>) -> SqsCall {
                let batch: fn(&Self) -> Option<usize> = $batch;
                let call =
                    SettleCall::start(sqs, $name, self.queue_url.as_deref(), batch(self), start);
                SqsCall(Call::Settle(call))
            }

            fn finish(call: SqsCall, result: Result<&$output, &CallError>) {
                let outcome: fn(&$output) -> (Option<&str>, usize, &[BatchResultErrorEntry]) =
                    $outcome;
                match call.0 {
                    Call::Settle(call) => call.finish(result.map(outcome)),
                    other => mismatched(SqsCall(other)),
                }
            }
        }
    };
}

settle_operation!(
    DeleteMessageInput,
    DeleteMessageOutput,
    DeleteMessageError,
    "DeleteMessage",
    |_| None,
    |o| (request_id_of(o), 1, &[])
);
settle_operation!(
    DeleteMessageBatchInput,
    DeleteMessageBatchOutput,
    DeleteMessageBatchError,
    "DeleteMessageBatch",
    |i| Some(i.entries.as_ref().map_or(0, Vec::len)),
    |o| (request_id_of(o), o.successful().len(), o.failed())
);
settle_operation!(
    ChangeMessageVisibilityInput,
    ChangeMessageVisibilityOutput,
    ChangeMessageVisibilityError,
    "ChangeMessageVisibility",
    |_| None,
    |o| (request_id_of(o), 1, &[])
);
settle_operation!(
    ChangeMessageVisibilityBatchInput,
    ChangeMessageVisibilityBatchOutput,
    ChangeMessageVisibilityBatchError,
    "ChangeMessageVisibilityBatch",
    |i| Some(i.entries.as_ref().map_or(0, Vec::len)),
    |o| (request_id_of(o), o.successful().len(), o.failed())
);
