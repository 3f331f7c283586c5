//! Settle calls (DeleteMessage(Batch), ChangeMessageVisibility(Batch)), shared by the Tower
//! layer and the interceptor: a CLIENT `settle {queue}` span, as the messaging conventions
//! describe, made only inside a trace.

use aws_sdk_sqs::operation::RequestId;
use aws_sdk_sqs::types::BatchResultErrorEntry;
use baton::driver::Start;
use baton::{CallError, MessagingSpan, MessagingSystem, attr};
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use crate::config::SqsPropagation;
use crate::send::queue_name;

/// A settle call in flight: its span, active in `cx`.
#[derive(Clone, Debug)]
pub(crate) struct SettleCall {
    cx: Context,
}

impl SettleCall {
    /// Whether a settle call made under `start` gets a span: only when settle spans are on and
    /// the caller is inside a trace (a delete made outside any span would otherwise start a
    /// trace of its own, one per delete).
    pub(crate) fn wanted(config: &SqsPropagation, start: &Start<'_>) -> bool {
        config.settle && start.parent.span().span_context().is_valid()
    }

    /// Starts the `settle {queue}` span of `operation` (`batch_len` entries for a batch call).
    pub(crate) fn start(
        config: &SqsPropagation,
        operation: &'static str,
        queue_url: Option<&str>,
        batch_len: Option<usize>,
        start: &Start<'_>,
    ) -> Self {
        let mut span = MessagingSpan::settle(MessagingSystem::Sqs, queue_name(queue_url))
            .operation_name(operation);
        if let Some(len) = batch_len {
            span = span.batch_count(len);
        }
        if let Some(region) = start.region {
            span = span.region(region.to_owned());
        }
        if let Some(url) = queue_url {
            span = span.attribute(attr::AWS_SQS_QUEUE_URL, url.to_owned());
        }
        SettleCall {
            cx: config.common.tracer().start(span, start.parent),
        }
    }

    /// The caller's context with the settle span active.
    pub(crate) fn cx(&self) -> &Context {
        &self.cx
    }

    /// Ends the span: with the request id, in error if the call failed or if any entry of a
    /// batch was refused (`"{failed} of {total} entries failed"`, the first code as
    /// `error.type`).
    pub(crate) fn finish(
        self,
        result: Result<(Option<&str>, usize, &[BatchResultErrorEntry]), &CallError>,
    ) {
        let span = self.cx.span();
        match result {
            Ok((request_id, succeeded, failed)) => {
                if let Some(id) = request_id {
                    span.set_attribute(KeyValue::new(attr::AWS_REQUEST_ID, id.to_owned()));
                }
                if let Some(first) = failed.first() {
                    span.set_attribute(KeyValue::new(attr::ERROR_TYPE, first.code.clone()));
                    span.set_status(Status::error(format!(
                        "{} of {} entries failed",
                        failed.len(),
                        failed.len() + succeeded
                    )));
                }
            }
            Err(error) => error.record(&span),
        }
        span.end();
    }
}

/// The request id of any SQS output.
pub(crate) fn request_id_of(output: &impl RequestId) -> Option<&str> {
    output.request_id()
}
