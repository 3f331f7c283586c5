//! Step Functions as Baton's driver sees it: the operations traced, in one table, and what
//! each does. Both forms (the interceptor and the Tower layer) run this code.

use std::any::Any;

use aws_sdk_sfn::operation::start_execution::{
    StartExecutionError, StartExecutionInput, StartExecutionOutput,
};
use aws_sdk_sfn::operation::start_sync_execution::{
    StartSyncExecutionError, StartSyncExecutionInput, StartSyncExecutionOutput,
};
use baton::CallError;
use baton::driver::{Common, Operation, Start, TracedOperation, TracedService};
use opentelemetry::Context;

use crate::config::SfnPropagation;
use crate::service::{SfnRequest, SfnResponse};
use crate::start::{StartCall, Started};

impl TracedService for SfnPropagation {
    const INTERCEPTOR_NAME: &'static str = "BatonSfnInterceptor";
    const OPERATIONS: &'static [Operation<Self>] = &[
        Operation::of::<StartExecutionInput>(),
        Operation::of::<StartSyncExecutionInput>(),
    ];
    /// Step Functions prefers an `X-Amzn-Trace-Id` request header over the body's
    /// `traceHeader`, and inside Lambda the SDK sets that header to the invocation's trace: it
    /// must say the same as the body.
    const SETS_REQUEST_HEADER: bool = true;
    type Call = StartCall;
    type Request = SfnRequest;
    type Response = SfnResponse;
    type SdkError = aws_sdk_sfn::Error;

    fn common(&self) -> &Common {
        &self.common
    }

    fn active_context(call: &StartCall) -> Option<&Context> {
        Some(call.cx())
    }

    fn measure(call: &mut StartCall) -> Option<&mut baton::metrics::Measure> {
        call.spans.measure_mut()
    }

    fn request_input(request: &mut SfnRequest) -> &mut dyn Any {
        match request {
            SfnRequest::StartExecution(input) => input,
            SfnRequest::StartSyncExecution(input) => input,
        }
    }

    fn response_output(response: &SfnResponse) -> &dyn Any {
        match response {
            SfnResponse::StartExecution(output) => output,
            SfnResponse::StartSyncExecution(output) => output.as_ref(),
        }
    }

    fn request_header(&self, call: &mut StartCall) -> Option<String> {
        call.header.clone()
    }

    /// StartSyncExecution goes to the endpoint's `sync-` host (the SDK's host prefix, on by
    /// default).
    fn probed_server(
        call: &StartCall,
        endpoint: (&str, Option<u16>),
    ) -> Option<(String, Option<u16>)> {
        let host = if call.sync {
            format!("sync-{}", endpoint.0)
        } else {
            endpoint.0.to_owned()
        };
        Some((host, endpoint.1))
    }
}

/// StartExecution and StartSyncExecution carry the context the same way: `traceHeader`, and the
/// input field if configured.
macro_rules! start_operation {
    ($input:ty, $output:ty, $error:ty, $name:literal) => {
        impl TracedOperation<SfnPropagation> for $input {
            type Output = $output;
            type Error = $error;

            fn start(&mut self, sfn: &SfnPropagation, start: &Start<'_>) -> StartCall {
                let arn = self.state_machine_arn.as_deref();
                let mut call = StartCall::start(sfn, $name, arn, start);
                call.inject(
                    sfn,
                    self.name.as_deref(),
                    &mut self.trace_header,
                    &mut self.input,
                );
                call
            }

            fn finish(call: StartCall, result: Result<&$output, &CallError>) {
                call.finish(result.map(Started::from));
            }
        }
    };
}

start_operation!(
    StartExecutionInput,
    StartExecutionOutput,
    StartExecutionError,
    "StartExecution"
);
start_operation!(
    StartSyncExecutionInput,
    StartSyncExecutionOutput,
    StartSyncExecutionError,
    "StartSyncExecution"
);
