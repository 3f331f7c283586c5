//! Settle calls (DeleteMessage(Batch), ChangeMessageVisibility(Batch)), shared by the Tower
//! layer and the interceptor: a CLIENT `settle {queue}` span, as the messaging conventions
//! describe, made only inside a trace.

use aws_sdk_sqs::operation::RequestId;
use aws_sdk_sqs::types::BatchResultErrorEntry;
use baton::driver::Start;
use baton::metrics::Measure;
use baton::{CallError, MessagingSpan, MessagingSystem, Operation, attr};
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use crate::config::SqsPropagation;
use crate::send::queue_name;

/// A settle call in flight: its span, active in `cx` (when the call is traced), and its
/// metrics (when a meter was given).
#[derive(Clone, Debug)]
pub(crate) struct SettleCall {
    cx: Option<Context>,
    measure: Option<Measure>,
}

impl SettleCall {
    /// Whether a settle call made under `start` gets a span: only when settle spans are on and
    /// the caller is inside a trace (a delete made outside any span would otherwise start a
    /// trace of its own, one per delete).
    pub(crate) fn wanted(config: &SqsPropagation, start: &Start<'_>) -> bool {
        Self::spanned(config, start) || config.common.metrics().is_some()
    }

    /// Whether the call gets a span (settle spans on, inside a trace).
    fn spanned(config: &SqsPropagation, start: &Start<'_>) -> bool {
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
        let queue = queue_name(queue_url);
        let measure =
            config
                .common
                .measure(MessagingSystem::Sqs, Operation::Settle, operation, &queue);
        if !Self::spanned(config, start) {
            return SettleCall { cx: None, measure };
        }
        let mut span = MessagingSpan::settle(MessagingSystem::Sqs, queue).operation_name(operation);
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
            cx: Some(config.common.tracer().start(span, start.parent)),
            measure,
        }
    }

    /// The caller's context with the settle span active, if the call has one.
    pub(crate) fn cx(&self) -> Option<&Context> {
        self.cx.as_ref()
    }

    /// Records where the call went on the span and in the metrics.
    pub(crate) fn set_server(&mut self, address: &str, port: Option<u16>) {
        if let Some(cx) = &self.cx {
            baton::driver::set_server(cx, address, port);
        }
        if let Some(measure) = &mut self.measure {
            measure.set_server(address, port);
        }
    }

    /// Ends the span: with the request id, in error if the call failed or if any entry of a
    /// batch was refused (`"{failed} of {total} entries failed"`, the first code as
    /// `error.type`).
    pub(crate) fn finish(
        self,
        result: Result<(Option<&str>, usize, &[BatchResultErrorEntry]), &CallError>,
    ) {
        if let Some(measure) = self.measure {
            match result {
                Ok((_, succeeded, failed)) => measure.finish(None, succeeded + failed.len()),
                Err(error) => measure.finish(Some(error.error_type()), 0),
            }
        }
        let Some(cx) = self.cx else { return };
        let span = cx.span();
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
