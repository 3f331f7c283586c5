//! EventBridge as Baton's driver sees it: PutEvents, the one operation traced, and what it
//! does. Both forms (the interceptor and the Tower layer) run this code.

use std::any::Any;

use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsInput, PutEventsOutput};
use baton::CallError;
use baton::driver::{Common, Operation, Start, TracedOperation, TracedService};
use opentelemetry::Context;

use crate::config::EventBridgePropagation;
use crate::put::PutCall;

impl TracedService for EventBridgePropagation {
    const INTERCEPTOR_NAME: &'static str = "BatonEventBridgeInterceptor";
    // No EventBridge operation has a host prefix.
    const HOST_PREFIXES: bool = false;
    const OPERATIONS: &'static [Operation<Self>] = &[Operation::of::<PutEventsInput>()];
    type Call = PutCall;
    type Request = PutEventsInput;
    type Response = PutEventsOutput;
    type SdkError = aws_sdk_eventbridge::Error;

    fn common(&self) -> &Common {
        &self.common
    }

    fn active_context(call: &PutCall) -> Option<&Context> {
        Some(call.cx())
    }

    /// A call to a global endpoint (`EndpointId`) goes to a host of its own, which the
    /// client's endpoint does not tell: no address for it.
    fn probed_server(
        call: &PutCall,
        endpoint: (&str, Option<u16>),
    ) -> Option<(String, Option<u16>)> {
        (!call.global_endpoint).then(|| (endpoint.0.to_owned(), endpoint.1))
    }

    fn measure(call: &mut PutCall) -> Option<&mut baton::metrics::Measure> {
        call.spans.measure_mut()
    }

    fn request_input(request: &mut PutEventsInput) -> &mut dyn Any {
        request
    }

    fn response_output(response: &PutEventsOutput) -> &dyn Any {
        response
    }
}

impl TracedOperation<EventBridgePropagation> for PutEventsInput {
    type Output = PutEventsOutput;
    type Error = PutEventsError;

    fn start(&mut self, events: &EventBridgePropagation, start: &Start<'_>) -> PutCall {
        let mut call = PutCall::start(events, self, start);
        call.inject(events, self);
        call
    }

    fn finish(call: PutCall, result: Result<&PutEventsOutput, &CallError>) {
        call.finish(result);
    }
}
