//! The worker's settle spans (issue 16): each DeleteMessageBatch and ChangeMessageVisibilityBatch
//! call the worker makes gets a CLIENT `settle {queue}` span linked to the process spans of the
//! messages it settles. The batched deletes run on their own task, outside any message's
//! context; a span with no parent would start a trace of its own for every call (one more trace
//! per ten messages in X-Ray, each billed and sampled on its own), so the span is a child of the
//! first settled message's process span, and linked to all of them.
//!
//! A call gets a span only when at least one message it settles has a sampled process span, so
//! a worker without a tracer (or whose messages are all sampled out) makes none.
//!
//! With a meter, every such call is also measured (`messaging.client.operation.duration`,
//! operation type `settle`), spans or not.

use std::sync::Arc;

use baton::metrics::{Measure, MessagingMetrics};
use baton::{MessagingSpan, MessagingSystem, Operation, TracerHandle, attr};
use opentelemetry::trace::{SpanContext, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use crate::queue::{CallFailed, EntryFailed};

/// What a settle span and its metrics need to know of the worker.
#[derive(Debug)]
pub(crate) struct Settle {
    pub(crate) tracer: TracerHandle,
    pub(crate) queue: Arc<str>,
    pub(crate) url: String,
    pub(crate) region: Option<String>,
    /// Whether settle calls get spans.
    pub(crate) spans: bool,
    /// The worker's metrics, when it has a meter.
    pub(crate) metrics: Option<MessagingMetrics>,
}

/// A settle call in flight: its span, if it has one, and its measure, if metrics are on.
/// Dropped before [`Settle::end`] (the hard stop of a shutdown cut the call off), both end as
/// cancelled.
#[derive(Debug, Default)]
pub(crate) struct Settling {
    span: Option<Context>,
    measure: Option<Measure>,
}

impl Drop for Settling {
    fn drop(&mut self) {
        if let Some(measure) = self.measure.take() {
            measure.finish(Some("cancelled"), 0);
        }
        if let Some(cx) = self.span.take() {
            let span = cx.span();
            span.set_attribute(KeyValue::new(attr::ERROR_TYPE, "cancelled"));
            span.set_status(Status::error(
                "the shutdown's hard stop came before an answer",
            ));
            span.end();
        }
    }
}

impl Settle {
    /// Starts a settle call of `operation` over `total` messages: its measure (with a meter),
    /// and its span (settle spans on), linked to `settled` (the process spans of those that
    /// have one) and a child of the first sampled one; no span if none of them was sampled.
    pub(crate) fn start<'a>(
        &self,
        operation: &'static str,
        total: usize,
        settled: impl IntoIterator<Item = &'a SpanContext> + Clone,
    ) -> Settling {
        let measure = self.metrics.as_ref().map(|m| {
            m.start(
                MessagingSystem::Sqs,
                Operation::Settle,
                operation,
                self.queue.clone(),
            )
        });
        let span = self
            .spans
            .then(|| self.start_span(operation, total, settled))
            .flatten();
        Settling { span, measure }
    }

    fn start_span<'a>(
        &self,
        operation: &'static str,
        total: usize,
        settled: impl IntoIterator<Item = &'a SpanContext> + Clone,
    ) -> Option<Context> {
        let parent = settled
            .clone()
            .into_iter()
            .find(|c| c.is_sampled())?
            .clone();
        let mut span = MessagingSpan::settle(MessagingSystem::Sqs, self.queue.to_string())
            .operation_name(operation)
            .batch_count(total)
            .attribute(attr::AWS_SQS_QUEUE_URL, self.url.clone())
            .links(settled.into_iter().cloned());
        if let Some(region) = &self.region {
            span = span.region(region.clone());
        }
        Some(
            self.tracer
                .start(span, &Context::new().with_remote_span_context(parent)),
        )
    }

    /// Ends the call's span (if it has one) with its outcome, in error when the call failed or
    /// when any entry was refused, and records its duration (with a meter).
    pub(crate) fn end(
        mut settling: Settling,
        total: usize,
        outcome: &Result<Vec<EntryFailed>, CallFailed>,
    ) {
        if let Some(measure) = settling.measure.take() {
            match outcome {
                Ok(_) => measure.finish(None, total),
                Err(error) => measure.finish(Some(error.error_type()), total),
            }
        }
        let Some(cx) = settling.span.take() else {
            return;
        };
        let span = cx.span();
        match outcome {
            Ok(failed) => {
                if let Some(first) = failed.first() {
                    span.set_attribute(KeyValue::new(attr::ERROR_TYPE, first.code.clone()));
                    span.set_status(Status::error(format!(
                        "{} of {total} entries failed",
                        failed.len()
                    )));
                }
            }
            Err(error) => {
                span.set_attribute(KeyValue::new(
                    attr::ERROR_TYPE,
                    error.error_type().to_owned(),
                ));
                span.set_status(Status::error(error.to_string()));
            }
        }
        span.end();
    }
}
