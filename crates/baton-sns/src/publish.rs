//! Publish and PublishBatch, shared by the Tower layer and the SDK interceptor.

use std::collections::HashMap;

use aws_sdk_sns::operation::RequestId;
use aws_sdk_sns::operation::publish::{PublishInput, PublishOutput};
use aws_sdk_sns::operation::publish_batch::{PublishBatchInput, PublishBatchOutput};
use aws_sdk_sns::types::MessageAttributeValue;
use baton::driver::Start;
use baton::{
    AWS_TRACE_HEADER, BatchResponse, CallError, EntryOutcome, MessagingSystem, SendOutcome,
    SendSpans, TRACEPARENT, XRAY_HEADER, attr, aws_header_for_context,
};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};

use crate::config::SnsPropagation;

/// Message attributes a message may carry for every subscriber to get them all: raw delivery
/// to an SQS queue forwards at most 10.
pub(crate) const MAX_MESSAGE_ATTRIBUTES: usize = 10;

type Attributes = Option<HashMap<String, MessageAttributeValue>>;

/// A message's size as SNS counts it.
fn message_size(
    message: Option<&str>,
    attributes: Option<&HashMap<String, MessageAttributeValue>>,
) -> usize {
    let attributes: usize = attributes
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            name.len()
                + value.data_type().len()
                + value.string_value().map_or(0, str::len)
                + value.binary_value().map_or(0, |b| b.as_ref().len())
        })
        .sum();
    message.map_or(0, str::len) + attributes
}

/// The destination a publish names: the topic name at the end of a topic ARN; for a publish
/// to a mobile endpoint (`…:endpoint/APNS/app/3f2a…`), its platform application
/// (`endpoint/APNS/app`), not the endpoint itself, whose id would make one span name per
/// device. (A publish to a phone number is named `sms` by the callers.)
fn topic_name(arn: Option<&str>) -> String {
    let Some(arn) = arn else {
        return "unknown".to_owned();
    };
    let name = arn.rsplit(':').next().unwrap_or(arn);
    if let Some(endpoint) = name.strip_prefix("endpoint/")
        && let Some((application, _id)) = endpoint.rsplit_once('/')
    {
        return format!("endpoint/{application}");
    }
    if name.is_empty() { arn } else { name }.to_owned()
}

/// A Publish or PublishBatch call in flight (opaque).
#[derive(Clone, Debug)]
pub struct PublishCall {
    /// The send span and each batch entry's `create` span (keyed by entry id).
    pub(crate) spans: SendSpans<String>,
    /// The send span's X-Ray header, kept from the message attribute for the request header
    /// (the same text: made once per call instead of twice).
    header: Option<String>,
}

impl PublishCall {
    /// Starts the send span, named after `destination` (a topic or target ARN, or `sms`), with
    /// the topic's ARN (`aws.sns.topic.arn`) and, for a single message, its size
    /// (`messaging.message.body.size`) if the settings record it.
    pub(crate) fn start(
        config: &SnsPropagation,
        operation: &'static str,
        destination: Option<&str>,
        (topic_arn, message): (Option<&str>, Option<&str>),
        batch_len: Option<usize>,
        start: &Start<'_>,
    ) -> Self {
        let arn = topic_arn.map(|arn| KeyValue::new(attr::AWS_SNS_TOPIC_ARN, arn.to_owned()));
        PublishCall {
            spans: config.common.send_spans(
                MessagingSystem::Sns,
                topic_name(destination),
                operation,
                batch_len,
                start,
                arn.into_iter()
                    .chain(message.and_then(|message| config.common.body_size(message))),
            ),
            header: None,
        }
    }

    /// The caller's context with the send span active.
    pub(crate) fn cx(&self) -> &Context {
        self.spans.cx()
    }

    /// The `X-Amzn-Trace-Id` request header for this call: the send span's context, with the
    /// Lambda invocation's `Lineage` if there is one (SNS hands it to SQS subscribers as their
    /// `AWSTraceHeader`).
    pub(crate) fn http_header(&mut self, config: &SnsPropagation) -> Option<String> {
        self.header
            .take()
            .or_else(|| send_header(config, self.spans.cx()))
    }

    pub(crate) fn inject_publish(&mut self, config: &SnsPropagation, input: &mut PublishInput) {
        if config.message_attribute {
            let size = message_size(input.message.as_deref(), input.message_attributes.as_ref());
            let mut budget = config.common.size_limit().saturating_sub(size);
            let (cx, kept) = (self.spans.cx(), &mut self.header);
            add_attribute(&mut input.message_attributes, &mut budget, || {
                let header = send_header(config, cx)?;
                *kept = Some(header.clone());
                Some(header)
            });
        }
    }

    /// Gives each batch entry a `create` span of its own (child of the send span) and its
    /// context as a message attribute. (The request header is one for the whole batch.)
    pub(crate) fn inject_batch(&mut self, config: &SnsPropagation, input: &mut PublishBatchInput) {
        let topic = topic_name(input.topic_arn.as_deref());
        // The size limit holds for the batch request as a whole.
        let used: usize = input
            .publish_batch_request_entries
            .iter()
            .flatten()
            .map(|e| message_size(Some(&e.message), e.message_attributes.as_ref()))
            .sum();
        let mut budget = config.common.size_limit().saturating_sub(used);
        for entry in input.publish_batch_request_entries.iter_mut().flatten() {
            let cx =
                self.spans
                    .start_entry(config.common.tracer(), MessagingSystem::Sns, topic.clone());
            if let Some(size) = config.common.body_size(&entry.message) {
                cx.span().set_attribute(size);
            }
            if config.message_attribute {
                add_attribute(&mut entry.message_attributes, &mut budget, || {
                    send_header(config, &cx)
                });
            }
            self.spans.push_entry(entry.id.clone(), cx);
        }
    }

    pub(crate) fn finish_publish(self, result: Result<&PublishOutput, &CallError>) {
        let outcome = result.map(|output| {
            SendOutcome::new(output.request_id()).with_message_id(output.message_id())
        });
        self.spans.finish(outcome, |_| EntryOutcome::Unreported);
    }

    pub(crate) fn finish_batch(self, result: Result<&PublishBatchOutput, &CallError>) {
        self.spans.finish_by_id(result.map(|output| {
            BatchResponse {
                request_id: output.request_id(),
                sent: output
                    .successful()
                    .iter()
                    .filter_map(|ok| Some((ok.id()?, ok.message_id()))),
                failed: output
                    .failed()
                    .iter()
                    .map(|f| (f.id.as_str(), f.code.as_str(), f.message.as_deref())),
            }
        }));
    }
}

/// The X-Ray header of the active span of `cx`, with the Lambda invocation's `Lineage` if
/// there is one.
fn send_header(config: &SnsPropagation, cx: &Context) -> Option<String> {
    aws_header_for_context(cx, config.common.lineage_in(cx).as_deref())
}

/// Adds the `X-Amzn-Trace-Id` message attribute (the header `make_header` makes) unless the
/// caller set a trace attribute of their own or the message has no room left: under the
/// 10-attribute limit, and within `budget`, the bytes the request may still grow by (taken
/// from it when added).
fn add_attribute(
    attributes: &mut Attributes,
    budget: &mut usize,
    make_header: impl FnOnce() -> Option<String>,
) {
    let existing = attributes.as_ref();
    let user_set = existing.is_some_and(|m| {
        m.keys().any(|k| {
            [XRAY_HEADER, AWS_TRACE_HEADER, TRACEPARENT]
                .iter()
                .any(|name| k.eq_ignore_ascii_case(name))
        })
    });
    if user_set {
        tracing::debug!(target: "baton::sns", "keeping the caller's trace message attribute");
        return;
    }
    let count = existing.map_or(0, HashMap::len);
    if count >= MAX_MESSAGE_ATTRIBUTES {
        tracing::warn!(
            target: "baton::sns",
            attributes = count,
            "trace context not written as a message attribute: the message has SNS's maximum \
             of 10 already; the X-Amzn-Trace-Id request header still carries it"
        );
        return;
    }
    let Some(header) = make_header() else {
        return;
    };
    let adds = XRAY_HEADER.len() + "String".len() + header.len();
    if adds > *budget {
        tracing::warn!(
            target: "baton::sns",
            needed = adds,
            free = *budget,
            "trace context not written as a message attribute: the message would exceed SNS's \
             size limit; the X-Amzn-Trace-Id request header still carries it"
        );
        return;
    }
    *budget -= adds;
    if let Ok(value) = MessageAttributeValue::builder()
        .data_type("String")
        .string_value(header)
        .build()
    {
        attributes
            .get_or_insert_with(HashMap::new)
            .insert(XRAY_HEADER.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::topic_name;

    #[test]
    fn destinations_of_topics_endpoints_and_phone_numbers() {
        assert_eq!(
            topic_name(Some("arn:aws:sns:eu-west-1:123456789012:orders")),
            "orders"
        );
        assert_eq!(
            topic_name(Some(
                "arn:aws:sns:eu-west-1:123456789012:endpoint/APNS/shop-app/3f2a6c1e-0d6b-4a55-9f0e-1c2d3e4f5a6b"
            )),
            "endpoint/APNS/shop-app"
        );
        assert_eq!(topic_name(Some("sms")), "sms");
        assert_eq!(topic_name(None), "unknown");
    }
}
