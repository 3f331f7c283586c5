//! StartExecution and StartSyncExecution, shared by the Tower layer and the SDK interceptor.

use aws_sdk_sfn::operation::RequestId;
use aws_sdk_sfn::operation::start_execution::StartExecutionOutput;
use aws_sdk_sfn::operation::start_sync_execution::StartSyncExecutionOutput;
use aws_sdk_sfn::types::SyncExecutionStatus;
use baton::driver::Start;
use baton::json::{JsonFieldSkip, add_string_field};
use baton::{
    CallError, EntryOutcome, MessagingSystem, SendOutcome, SendSpans, aws_header_for_context,
};
use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;

use crate::config::SfnPropagation;

/// The longest `traceHeader` Step Functions accepts.
pub(crate) const MAX_TRACE_HEADER_LEN: usize = 256;

/// The state machine's name, from its ARN (`arn:aws:states:…:stateMachine:orders` → `orders`),
/// also when the ARN names a version or an alias of it (`…:stateMachine:orders:10`,
/// `…:stateMachine:orders:PROD`), which StartExecution accepts too.
fn state_machine_name(arn: Option<&str>) -> String {
    let arn = arn.unwrap_or("unknown");
    if let Some((_, rest)) = arn.split_once(":stateMachine:")
        && let Some(name) = rest.split(':').next().filter(|n| !n.is_empty())
    {
        return name.to_owned();
    }
    let name = arn.rsplit(':').next().unwrap_or(arn);
    if name.is_empty() { arn } else { name }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::state_machine_name;

    #[test]
    fn the_name_of_a_state_machine_its_versions_and_aliases() {
        let base = "arn:aws:states:eu-west-1:123456789012:stateMachine:orders";
        for arn in [base, &format!("{base}:10"), &format!("{base}:PROD")] {
            assert_eq!(state_machine_name(Some(arn)), "orders", "{arn}");
        }
        assert_eq!(state_machine_name(Some("orders")), "orders");
        assert_eq!(state_machine_name(None), "unknown");
    }
}

/// A StartExecution or StartSyncExecution call in flight (opaque): the PRODUCER span.
#[derive(Clone, Debug)]
pub struct StartCall {
    pub(crate) spans: SendSpans<()>,
    /// A StartSyncExecution: sent to the `sync-` host of the endpoint.
    pub(crate) sync: bool,
    /// The trace header the request carries, once written (for the HTTP header too).
    pub(crate) header: Option<String>,
}

/// What a finished start call reports.
pub(crate) struct Started<'a> {
    pub(crate) execution_arn: &'a str,
    pub(crate) request_id: Option<&'a str>,
    /// For a synchronous execution that did not succeed: its error and cause.
    pub(crate) failure: Option<CallError>,
}

impl<'a> From<&'a StartExecutionOutput> for Started<'a> {
    fn from(output: &'a StartExecutionOutput) -> Self {
        Started {
            execution_arn: &output.execution_arn,
            request_id: output.request_id(),
            failure: None,
        }
    }
}

impl<'a> From<&'a StartSyncExecutionOutput> for Started<'a> {
    fn from(output: &'a StartSyncExecutionOutput) -> Self {
        let failure = (output.status != SyncExecutionStatus::Succeeded).then(|| {
            let code = output
                .error
                .clone()
                .unwrap_or_else(|| output.status.as_str().to_owned());
            CallError::new(output.cause.clone().unwrap_or_else(|| code.clone())).with_code(code)
        });
        Started {
            execution_arn: &output.execution_arn,
            request_id: output.request_id(),
            failure,
        }
    }
}

impl StartCall {
    pub(crate) fn start(
        config: &SfnPropagation,
        operation: &'static str,
        state_machine_arn: Option<&str>,
        start: &Start<'_>,
    ) -> Self {
        StartCall {
            spans: config.common.send_spans(
                MessagingSystem::StepFunctions,
                state_machine_name(state_machine_arn),
                operation,
                None,
                start,
                [],
            ),
            sync: operation == "StartSyncExecution",
            header: None,
        }
    }

    /// The caller's context with the send span active.
    pub(crate) fn cx(&self) -> &Context {
        self.spans.cx()
    }

    /// Sets `traceHeader` (unless the caller did) and, if configured, the input field, both to
    /// the same header: the caller's if they set one, else the send span's. An execution with
    /// a `name` gets no input field: StartExecution is idempotent by name only for an identical
    /// input, and a fresh span id in it would make a retry fail with ExecutionAlreadyExists.
    pub(crate) fn inject(
        &mut self,
        config: &SfnPropagation,
        name: Option<&str>,
        trace_header: &mut Option<String>,
        input: &mut Option<String>,
    ) {
        let header = match trace_header {
            Some(theirs) => {
                tracing::debug!(target: "baton::sfn", "keeping the traceHeader the caller set");
                theirs.clone()
            }
            None => {
                let Some(ours) = self.header(config) else {
                    return;
                };
                *trace_header = Some(ours.clone());
                ours
            }
        };
        self.header = Some(header.clone());
        let Some(field) = &config.input_field else {
            return;
        };
        if name.is_some() {
            tracing::debug!(
                target: "baton::sfn",
                "named execution: trace header not added to the input, to keep retries idempotent"
            );
            return;
        }
        // No input means `{}` to Step Functions: give it one holding just the header.
        let document = input.as_deref().unwrap_or("{}");
        match add_string_field(document, field, &header, 0, config.common.size_limit()) {
            Ok(with_header) => *input = Some(with_header),
            Err(JsonFieldSkip::AlreadySet) => {}
            Err(reason) => tracing::warn!(
                target: "baton::sfn",
                %reason,
                "trace header not added to the execution input; the input is sent as given"
            ),
        }
    }

    /// The send span's header, within the 256 characters Step Functions takes: a `Lineage`
    /// that would not fit is left out (with a `tracing` event) rather than fail the call.
    fn header(&self, config: &SfnPropagation) -> Option<String> {
        let lineage = config.common.lineage_in(self.spans.cx());
        let header = aws_header_for_context(self.spans.cx(), lineage.as_deref())?;
        if header.len() <= MAX_TRACE_HEADER_LEN {
            return Some(header);
        }
        tracing::warn!(
            target: "baton::sfn",
            len = header.len(),
            "trace header over Step Functions' 256 characters; its Lineage is left out"
        );
        let span = self.spans.cx().span();
        baton::format_header(span.span_context()).map(|h| h.to_string())
    }

    pub(crate) fn finish(self, result: Result<Started<'_>, &CallError>) {
        let outcome = result.map(|started| {
            if let Some(failure) = &started.failure {
                failure.record(&self.spans.cx().span());
            }
            SendOutcome::new(started.request_id).with_message_id(Some(started.execution_arn))
        });
        self.spans.finish(outcome, |()| EntryOutcome::Unreported);
    }
}
