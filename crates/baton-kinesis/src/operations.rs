//! Kinesis as Baton's driver sees it: the operations traced, in one table, and what each does.
//! Both forms (the interceptor and the Tower layer) run this code.

use std::any::Any;

use aws_sdk_kinesis::operation::get_records::{GetRecordsError, GetRecordsInput, GetRecordsOutput};
use aws_sdk_kinesis::operation::put_record::{PutRecordError, PutRecordInput, PutRecordOutput};
use aws_sdk_kinesis::operation::put_records::{PutRecordsError, PutRecordsInput, PutRecordsOutput};
use baton::CallError;
use baton::driver::{Common, Operation, Start, TracedOperation, TracedService};
use opentelemetry::Context;

use crate::config::KinesisPropagation;
use crate::get::GetCall;
use crate::put::{PutCall, stream_name};
use crate::service::{KinesisRequest, KinesisResponse};

/// A Kinesis call in flight (opaque).
#[derive(Debug)]
pub struct KinesisCall(Call);

#[derive(Debug)]
enum Call {
    Put(PutCall),
    Get(GetCall),
}

impl TracedService for KinesisPropagation {
    const INTERCEPTOR_NAME: &'static str = "BatonKinesisInterceptor";
    const OPERATIONS: &'static [Operation<Self>] = &[
        Operation::of::<PutRecordInput>(),
        Operation::of::<PutRecordsInput>(),
        Operation::of::<GetRecordsInput>(),
    ];
    type Call = KinesisCall;
    type Request = KinesisRequest;
    type Response = KinesisResponse;
    type SdkError = aws_sdk_kinesis::Error;

    fn common(&self) -> &Common {
        &self.common
    }

    fn active_context(call: &KinesisCall) -> Option<&Context> {
        match &call.0 {
            Call::Put(put) => Some(put.cx()),
            Call::Get(_) => None,
        }
    }

    fn record_server(call: &mut KinesisCall, address: &str, port: Option<u16>) {
        match &mut call.0 {
            Call::Put(put) => put.spans.set_server(address, port),
            Call::Get(get) => get.set_server(address, port),
        }
    }

    fn request_input(request: &mut KinesisRequest) -> &mut dyn Any {
        match request {
            KinesisRequest::PutRecord(input) => input,
            KinesisRequest::PutRecords(input) => input,
            KinesisRequest::GetRecords(input) => input,
        }
    }

    fn response_output(response: &KinesisResponse) -> &dyn Any {
        match response {
            KinesisResponse::PutRecord(output) => output,
            KinesisResponse::PutRecords(output) => output,
            KinesisResponse::GetRecords(output) => output,
        }
    }
}

/// Ends a call that another operation is asked to end (which the driver, ending each call with
/// the operation that started it, never does) as an error.
fn mismatched(call: Call) {
    let error = CallError::new("call of another operation");
    match call {
        Call::Put(put) => put.finish_record(Err(&error)),
        Call::Get(get) => get.finish(Err(&error)),
    }
}

fn put_call(call: KinesisCall) -> Option<PutCall> {
    match call.0 {
        Call::Put(put) => Some(put),
        other => {
            mismatched(other);
            None
        }
    }
}

impl TracedOperation<KinesisPropagation> for PutRecordInput {
    type Output = PutRecordOutput;
    type Error = PutRecordError;

    fn start(&mut self, kinesis: &KinesisPropagation, start: &Start<'_>) -> KinesisCall {
        let stream = stream_name(self.stream_name.as_deref(), self.stream_arn.as_deref());
        let mut call = PutCall::start(kinesis, "PutRecord", stream, None, start);
        call.inject_record(kinesis, &mut self.data, self.partition_key.as_deref());
        KinesisCall(Call::Put(call))
    }

    fn finish(call: KinesisCall, result: Result<&PutRecordOutput, &CallError>) {
        if let Some(call) = put_call(call) {
            call.finish_record(result);
        }
    }
}

impl TracedOperation<KinesisPropagation> for PutRecordsInput {
    type Output = PutRecordsOutput;
    type Error = PutRecordsError;

    fn start(&mut self, kinesis: &KinesisPropagation, start: &Start<'_>) -> KinesisCall {
        let stream = stream_name(self.stream_name.as_deref(), self.stream_arn.as_deref());
        let records = self.records.as_deref_mut().unwrap_or_default();
        let mut call = PutCall::start(
            kinesis,
            "PutRecords",
            stream.clone(),
            Some(records.len()),
            start,
        );
        call.inject_records(kinesis, &stream, records);
        KinesisCall(Call::Put(call))
    }

    fn finish(call: KinesisCall, result: Result<&PutRecordsOutput, &CallError>) {
        if let Some(call) = put_call(call) {
            call.finish_records(result);
        }
    }
}

impl TracedOperation<KinesisPropagation> for GetRecordsInput {
    type Output = GetRecordsOutput;
    type Error = GetRecordsError;

    /// GetRecords names its stream only by `StreamARN`, when the caller gives it (the shard
    /// iterator cannot be read); without it the span is `receive unknown`.
    fn start(&mut self, kinesis: &KinesisPropagation, start: &Start<'_>) -> KinesisCall {
        let stream = stream_name(None, self.stream_arn.as_deref());
        KinesisCall(Call::Get(GetCall::start(kinesis, stream, start)))
    }

    fn finish(call: KinesisCall, result: Result<&GetRecordsOutput, &CallError>) {
        match call.0 {
            Call::Get(get) => get.finish(result),
            other => mismatched(other),
        }
    }
}
