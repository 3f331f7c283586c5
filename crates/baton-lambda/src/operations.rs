//! Lambda as Baton's driver sees it: Invoke, the one operation traced. Both forms (the
//! interceptor and the Tower layer) run this code.

use std::any::Any;

use aws_sdk_lambda::operation::invoke::{InvokeError, InvokeInput, InvokeOutput};
use baton::CallError;
use baton::driver::{Common, Operation, Start, TracedOperation, TracedService};
use opentelemetry::Context;

use crate::config::LambdaPropagation;
use crate::invoke::InvokeCall;
use crate::service::LambdaRequest;

impl TracedService for LambdaPropagation {
    const INTERCEPTOR_NAME: &'static str = "BatonLambdaInterceptor";
    const OPERATIONS: &'static [Operation<Self>] = &[Operation::of::<InvokeInput>()];
    /// Lambda continues the trace of the `X-Amzn-Trace-Id` request header; inside Lambda the
    /// SDK sets it to the invocation's own trace, which the invoke span's header replaces.
    const SETS_REQUEST_HEADER: bool = true;
    type Call = InvokeCall;
    type Request = LambdaRequest;
    type Response = InvokeOutput;
    type SdkError = aws_sdk_lambda::Error;

    fn common(&self) -> &Common {
        &self.common
    }

    fn active_context(call: &InvokeCall) -> Option<&Context> {
        Some(call.cx())
    }

    fn request_input(request: &mut LambdaRequest) -> &mut dyn Any {
        &mut request.input
    }

    fn response_output(response: &InvokeOutput) -> &dyn Any {
        response
    }

    fn request_header(&self, call: &mut InvokeCall) -> Option<String> {
        call.header.clone()
    }

    fn prepare_request(&self, request: &mut LambdaRequest, call: &mut InvokeCall) {
        if request.trace_header.is_none() {
            request.trace_header = call.header.clone();
        }
    }
}

impl TracedOperation<LambdaPropagation> for InvokeInput {
    type Output = InvokeOutput;
    type Error = InvokeError;

    fn start(&mut self, lambda: &LambdaPropagation, start: &Start<'_>) -> InvokeCall {
        InvokeCall::start(lambda, self, start)
    }

    fn finish(call: InvokeCall, result: Result<&InvokeOutput, &CallError>) {
        call.finish(result);
    }
}
