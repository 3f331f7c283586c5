//! The worker's settle spans (issue 16): each DeleteMessageBatch and ChangeMessageVisibilityBatch
//! call the worker makes gets a CLIENT `settle {queue}` span linked to the process spans of the
//! messages it settles. The batched deletes run on their own task, outside any message's
//! context; a span with no parent would start a trace of its own for every call (one more trace
//! per ten messages in X-Ray, each billed and sampled on its own), so the span is a child of the
//! first settled message's process span, and linked to all of them.
//!
//! A call gets a span only when at least one message it settles has a sampled process span, so
//! a worker without a tracer (or whose messages are all sampled out) makes none.

use std::sync::Arc;

use baton::{MessagingSpan, MessagingSystem, TracerHandle, attr};
use opentelemetry::trace::{SpanContext, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use crate::queue::{CallFailed, EntryFailed};

/// What a settle span needs to know of the worker.
#[derive(Debug)]
pub(crate) struct Settle {
    pub(crate) tracer: TracerHandle,
    pub(crate) queue: Arc<str>,
    pub(crate) url: String,
    pub(crate) region: Option<String>,
}

impl Settle {
    /// Starts the span of `operation` over `total` messages, linked to `settled` (the process
    /// spans of those that have one) and a child of the first sampled one; `None` if none of
    /// them was sampled.
    pub(crate) fn start<'a>(
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

    /// Ends `span` (if one was started) with the call's outcome: in error when the call failed
    /// or when any entry was refused.
    pub(crate) fn end(
        span: Option<Context>,
        total: usize,
        outcome: &Result<Vec<EntryFailed>, CallFailed>,
    ) {
        let Some(cx) = span else { return };
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
                span.set_attribute(KeyValue::new(attr::ERROR_TYPE, "call_failed"));
                span.set_status(Status::error(error.to_string()));
            }
        }
        span.end();
    }
}
