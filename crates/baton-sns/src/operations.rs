//! SNS as Baton's driver sees it: the operations traced, in one table, and what each does.
//! Both forms (the interceptor and the Tower layer) run this code.

use std::any::Any;

use aws_sdk_sns::operation::publish::{PublishError, PublishInput, PublishOutput};
use aws_sdk_sns::operation::publish_batch::{
    PublishBatchError, PublishBatchInput, PublishBatchOutput,
};
use baton::CallError;
use baton::driver::{Common, Operation, Start, TracedOperation, TracedService};
use opentelemetry::Context;

use crate::config::SnsPropagation;
use crate::publish::PublishCall;
use crate::service::{SnsOperation, SnsRequest, SnsResponse, is_header_value};

impl TracedService for SnsPropagation {
    const INTERCEPTOR_NAME: &'static str = "BatonSnsInterceptor";
    // No SNS operation has a host prefix.
    const HOST_PREFIXES: bool = false;
    const OPERATIONS: &'static [Operation<Self>] = &[
        Operation::of::<PublishInput>(),
        Operation::of::<PublishBatchInput>(),
    ];
    /// SNS reads the trace from the `X-Amzn-Trace-Id` request header to hand it to SQS
    /// subscribers as their `AWSTraceHeader`.
    const SETS_REQUEST_HEADER: bool = true;
    type Call = PublishCall;
    type Request = SnsRequest;
    type Response = SnsResponse;
    type SdkError = aws_sdk_sns::Error;

    fn common(&self) -> &Common {
        &self.common
    }

    fn active_context(call: &PublishCall) -> Option<&Context> {
        Some(call.cx())
    }

    fn measure(call: &mut PublishCall) -> Option<&mut baton::metrics::Measure> {
        call.spans.measure_mut()
    }

    fn request_input(request: &mut SnsRequest) -> &mut dyn Any {
        match &mut request.operation {
            SnsOperation::Publish(input) => input,
            SnsOperation::PublishBatch(input) => input,
        }
    }

    fn response_output(response: &SnsResponse) -> &dyn Any {
        match response {
            SnsResponse::Publish(output) => output,
            SnsResponse::PublishBatch(output) => output,
        }
    }

    /// The send span's header, with the Lambda invocation's `Lineage` if there is one.
    fn request_header(&self, call: &mut PublishCall) -> Option<String> {
        call.http_header(self)
    }

    /// The header rides in the request, so layers between this one and [`SnsService`]
    /// (`tower::buffer`, `tower::retry`) can call it later or elsewhere and it still names the
    /// right span. A header the caller set is kept unless it cannot go on the wire.
    ///
    /// [`SnsService`]: crate::SnsService
    fn prepare_request(&self, request: &mut SnsRequest, call: &mut PublishCall) {
        if let Some(theirs) = &request.trace_header
            && !is_header_value(theirs)
        {
            tracing::warn!(
                target: "baton::sns",
                "the request's trace header cannot be sent as an HTTP header value (control \
                 characters); sending the send span's header instead"
            );
            request.trace_header = None;
        }
        if request.trace_header.is_none() {
            request.trace_header = call.http_header(self);
        }
    }
}

impl TracedOperation<SnsPropagation> for PublishInput {
    type Output = PublishOutput;
    type Error = PublishError;

    fn start(&mut self, sns: &SnsPropagation, start: &Start<'_>) -> PublishCall {
        let topic = self
            .topic_arn
            .as_deref()
            .or(self.target_arn.as_deref())
            .or(self.phone_number.as_ref().map(|_| "sms"));
        let described = (self.topic_arn.as_deref(), self.message.as_deref());
        let mut call = PublishCall::start(sns, "Publish", topic, described, None, start);
        call.inject_publish(sns, self);
        call
    }

    fn finish(call: PublishCall, result: Result<&PublishOutput, &CallError>) {
        call.finish_publish(result);
    }
}

impl TracedOperation<SnsPropagation> for PublishBatchInput {
    type Output = PublishBatchOutput;
    type Error = PublishBatchError;

    fn start(&mut self, sns: &SnsPropagation, start: &Start<'_>) -> PublishCall {
        let entries = self
            .publish_batch_request_entries
            .as_ref()
            .map_or(0, Vec::len);
        let mut call = PublishCall::start(
            sns,
            "PublishBatch",
            self.topic_arn.as_deref(),
            (self.topic_arn.as_deref(), None),
            Some(entries),
            start,
        );
        call.inject_batch(sns, self);
        call
    }

    fn finish(call: PublishCall, result: Result<&PublishBatchOutput, &CallError>) {
        call.finish_batch(result);
    }
}
