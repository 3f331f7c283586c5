//! The send side, shared by the Tower layer and the SDK interceptor: the PRODUCER span, and
//! what goes into each message.

use std::collections::HashMap;

use aws_sdk_sqs::operation::RequestId;
use aws_sdk_sqs::operation::send_message::{SendMessageInput, SendMessageOutput};
use aws_sdk_sqs::operation::send_message_batch::{SendMessageBatchInput, SendMessageBatchOutput};
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
    SendMessageBatchRequestEntry,
};
use baton::driver::Start;
use baton::{
    BatchResponse, CallError, EntryOutcome, MessagingSystem, SendOutcome, SendSpans, TRACEPARENT,
    TRACESTATE, W3cPropagator, attr, aws_header_for_context,
};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};

use crate::config::SqsPropagation;
use crate::limits::{MAX_MESSAGE_ATTRIBUTES, MAX_MESSAGE_BYTES, message_size};

type SystemAttributes =
    Option<HashMap<MessageSystemAttributeNameForSends, MessageSystemAttributeValue>>;
type Attributes = Option<HashMap<String, MessageAttributeValue>>;

/// The queue name at the end of a queue URL (`…/123456789012/orders` → `orders`).
pub(crate) fn queue_name(queue_url: Option<&str>) -> String {
    let url = queue_url.unwrap_or_default().trim_end_matches('/');
    match url.rsplit_once('/') {
        Some((_, name)) if !name.is_empty() => name.to_owned(),
        _ if !url.is_empty() => url.to_owned(),
        _ => "unknown".to_owned(),
    }
}

/// A send in flight: the PRODUCER span, and for a batch the `create` span of each entry
/// (keyed by entry id).
#[derive(Clone, Debug)]
pub(crate) struct SendCall {
    pub(crate) spans: SendSpans<String>,
}

impl SendCall {
    /// Starts the `send {queue}` span for `operation` under `parent`.
    pub(crate) fn start(
        config: &SqsPropagation,
        operation: &'static str,
        queue_url: Option<&str>,
        batch_len: Option<usize>,
        body: Option<&str>,
        start: &Start<'_>,
    ) -> Self {
        let url = queue_url.map(|url| KeyValue::new(attr::AWS_SQS_QUEUE_URL, url.to_owned()));
        let spans = config.common.send_spans(
            MessagingSystem::Sqs,
            queue_name(queue_url),
            operation,
            batch_len,
            start,
            url.into_iter()
                .chain(body.and_then(|body| config.common.body_size(body))),
        );
        SendCall { spans }
    }

    /// Records where the call went on the send span and its metrics.
    pub(crate) fn record_server(&mut self, address: &str, port: Option<u16>) {
        self.spans.set_server(address, port);
    }

    /// The caller's context with the send span active.
    pub(crate) fn cx(&self) -> &Context {
        self.spans.cx()
    }

    /// Writes the send span's context into a SendMessage input.
    pub(crate) fn inject_message(&self, config: &SqsPropagation, input: &mut SendMessageInput) {
        let size = message_size(
            input.message_body.as_deref(),
            input.message_attributes.as_ref(),
        );
        let mut budget = config.common.size_limit().saturating_sub(size);
        let lineage = config.common.lineage_in(self.cx());
        inject(
            config,
            self.cx(),
            lineage.as_deref(),
            &mut input.message_system_attributes,
            &mut input.message_attributes,
            &mut budget,
        );
    }

    /// Gives each entry of a SendMessageBatch input a `create` span of its own, child of the
    /// send span, and writes that span's context into the entry. Entries whose
    /// `AWSTraceHeader` the caller set are left as they are.
    pub(crate) fn inject_batch(
        &mut self,
        config: &SqsPropagation,
        input: &mut SendMessageBatchInput,
    ) {
        let queue = queue_name(input.queue_url.as_deref());
        let Some(entries) = input.entries.as_mut() else {
            return;
        };
        // Each message has the queue's limit, and the batch request as a whole SQS's.
        let used: usize = entries
            .iter()
            .map(|e| message_size(Some(&e.message_body), e.message_attributes.as_ref()))
            .sum();
        let mut batch_budget = MAX_MESSAGE_BYTES.saturating_sub(used);
        let lineage = config.common.lineage_in(self.cx());
        for entry in entries.iter_mut() {
            if has_trace_header(&entry.message_system_attributes) {
                tracing::debug!(
                    target: "baton::sqs",
                    entry = %entry.id,
                    "keeping the AWSTraceHeader the caller set on a batch entry"
                );
                continue;
            }
            let cx =
                self.spans
                    .start_entry(config.common.tracer(), MessagingSystem::Sqs, queue.clone());
            if let Some(size) = config.common.body_size(&entry.message_body) {
                cx.span().set_attribute(size);
            }
            let size = message_size(Some(&entry.message_body), entry.message_attributes.as_ref());
            let before = config
                .common
                .size_limit()
                .saturating_sub(size)
                .min(batch_budget);
            let mut budget = before;
            inject(
                config,
                &cx,
                lineage.as_deref(),
                &mut entry.message_system_attributes,
                &mut entry.message_attributes,
                &mut budget,
            );
            batch_budget -= before - budget;
            self.spans.push_entry(entry.id.clone(), cx);
        }
    }

    /// Ends the spans of a SendMessage call.
    pub(crate) fn finish_message(self, result: Result<&SendMessageOutput, &CallError>) {
        let outcome = result.map(|output| {
            SendOutcome::new(output.request_id()).with_message_id(output.message_id())
        });
        self.spans.finish(outcome, |_| EntryOutcome::Unreported);
    }

    /// Ends the spans of a SendMessageBatch call: each entry's `create` span with its message
    /// id or its error, and the send span, in error if any entry failed.
    pub(crate) fn finish_batch(self, result: Result<&SendMessageBatchOutput, &CallError>) {
        self.spans.finish_by_id(result.map(|output| {
            BatchResponse {
                request_id: output.request_id(),
                sent: output
                    .successful()
                    .iter()
                    .map(|ok| (ok.id.as_str(), Some(ok.message_id.as_str()))),
                failed: output
                    .failed()
                    .iter()
                    .map(|f| (f.id.as_str(), f.code.as_str(), f.message.as_deref())),
            }
        }));
    }
}

/// Writes `cx` into one batch entry the way a send would (see
/// [`SqsPropagation::inject_entry_context`]).
pub(crate) fn inject_entry(
    config: &SqsPropagation,
    cx: &Context,
    entry: &mut SendMessageBatchRequestEntry,
) {
    let size = message_size(Some(&entry.message_body), entry.message_attributes.as_ref());
    let mut budget = config.common.size_limit().saturating_sub(size);
    let lineage = config.common.lineage_in(cx);
    inject(
        config,
        cx,
        lineage.as_deref(),
        &mut entry.message_system_attributes,
        &mut entry.message_attributes,
        &mut budget,
    );
}

fn has_trace_header(system: &SystemAttributes) -> bool {
    system
        .as_ref()
        .is_some_and(|m| m.contains_key(&MessageSystemAttributeNameForSends::AwsTraceHeader))
}

/// Writes `cx` into one message: `AWSTraceHeader` always (unless the caller set one), and the
/// W3C attributes if configured and they fit. `budget` is the bytes still free under the size
/// limit; what is added is taken from it.
fn inject(
    config: &SqsPropagation,
    cx: &Context,
    fallback_lineage: Option<&str>,
    system: &mut SystemAttributes,
    attributes: &mut Attributes,
    budget: &mut usize,
) {
    if has_trace_header(system) {
        tracing::debug!(
            target: "baton::sqs",
            "keeping the AWSTraceHeader the caller set; Baton adds nothing to this message"
        );
        return;
    }
    // Root, Parent, Sampled and Lineage only: SQS wants a well-formed X-Ray header here.
    let Some(header) = aws_header_for_context(cx, fallback_lineage) else {
        return;
    };
    // A system attribute: counts against neither the attribute count nor the size limit.
    match MessageSystemAttributeValue::builder()
        .data_type("String")
        .string_value(header)
        .build()
    {
        Ok(value) => {
            system
                .get_or_insert_with(HashMap::new)
                .insert(MessageSystemAttributeNameForSends::AwsTraceHeader, value);
        }
        Err(error) => {
            tracing::debug!(target: "baton::sqs", %error, "could not build AWSTraceHeader");
        }
    }
    if config.w3c_attributes {
        inject_w3c(cx, attributes, budget);
    }
}

/// The W3C carrier, never over a limit: `traceparent` whenever it fits, and `tracestate` with
/// it only when both fit (a trace state means nothing without its `traceparent`, and its loss
/// costs the trace nothing).
fn inject_w3c(cx: &Context, attributes: &mut Attributes, budget: &mut usize) {
    let mut fields: HashMap<String, String> = HashMap::with_capacity(2);
    // Baton's private deferred-sampling marker stays out of the W3C trace state.
    W3cPropagator::new().inject_context(cx, &mut fields);
    let Some(traceparent) = fields.remove(TRACEPARENT) else {
        return;
    };
    // SQS refuses empty attribute values; an empty `tracestate` carries nothing anyway.
    let tracestate = fields.remove(TRACESTATE).filter(|value| !value.is_empty());
    let existing = attributes.as_ref();
    let user_set = existing.is_some_and(|m| {
        m.keys()
            .any(|k| k.eq_ignore_ascii_case(TRACEPARENT) || k.eq_ignore_ascii_case(TRACESTATE))
    });
    if user_set {
        tracing::debug!(
            target: "baton::sqs",
            "keeping the caller's traceparent/tracestate message attributes"
        );
        return;
    }
    let count = existing.map_or(0, HashMap::len);
    let cost = |key: &str, value: &str| key.len() + value.len() + "String".len();
    let mut bytes = cost(TRACEPARENT, &traceparent);
    if count >= MAX_MESSAGE_ATTRIBUTES {
        tracing::warn!(
            target: "baton::sqs",
            attributes = count,
            "W3C trace context not written as message attributes: the message would exceed \
             SQS's limit of 10; AWSTraceHeader still carries the trace"
        );
        return;
    }
    if bytes > *budget {
        tracing::warn!(
            target: "baton::sqs",
            needed = bytes,
            free = *budget,
            "W3C trace context not written as message attributes: the message would exceed \
             SQS's size limit; AWSTraceHeader still carries the trace"
        );
        return;
    }
    let mut add = vec![(TRACEPARENT, traceparent)];
    if let Some(tracestate) = tracestate {
        let more = cost(TRACESTATE, &tracestate);
        if count + 2 <= MAX_MESSAGE_ATTRIBUTES && bytes + more <= *budget {
            bytes += more;
            add.push((TRACESTATE, tracestate));
        } else {
            tracing::debug!(
                target: "baton::sqs",
                attributes = count,
                "tracestate not written as a message attribute: with it the message would \
                 exceed SQS's limits; traceparent is written alone"
            );
        }
    }
    let map = attributes.get_or_insert_with(HashMap::new);
    for (key, value) in add {
        if let Ok(value) = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
        {
            map.insert(key.to_owned(), value);
        }
    }
    *budget -= bytes;
}
