//! The receive side: where a message's producer context is read from, in which order.
//!
//! 1. the `AWSTraceHeader` system attribute (AWS services, X-Ray SDKs, OpenTelemetry Python,
//!    Baton);
//! 2. the W3C `traceparent` (+ `tracestate`) message attributes (OpenTelemetry instrumentations
//!    with the W3C propagator, such as OpenTelemetry JS);
//! 3. an `X-Amzn-Trace-Id` (or `AWSTraceHeader`) message attribute (OpenTelemetry with the
//!    X-Ray propagator).
//!
//! ReceiveMessage is made to ask for these by the spellings producers use
//! ([`TRACE_ATTRIBUTE_NAMES`]; SQS matches requested names exactly); among the attributes that
//! come back, names are matched in any letter case.
//!
//! The first carrier that is present *and valid* wins; a malformed one is reported with a
//! `tracing` event and the next is tried. A name present in more than one spelling (say
//! `traceparent` and `TraceParent`) is tried in each, the exact spelling first. With none, the
//! message starts a new trace.

use std::collections::HashMap;

use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
use baton::carrier::{AttributeCarrier, ReadMap, extract_from_attributes};
use baton::{
    AWS_TRACE_HEADER, TRACEPARENT, TRACESTATE, TraceHeader, XRAY_HEADER, extract_header,
    remote_span_context,
};
use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, TraceContextExt};

/// The message attribute names Baton asks ReceiveMessage for (SQS matches them exactly, so
/// the spellings producers use are all listed).
pub const TRACE_ATTRIBUTE_NAMES: [&str; 5] = [
    TRACEPARENT,
    TRACESTATE,
    XRAY_HEADER,
    "x-amzn-trace-id",
    AWS_TRACE_HEADER,
];

/// Where a message's producer context was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Carrier {
    /// The `AWSTraceHeader` system attribute.
    AwsTraceHeader,
    /// The W3C `traceparent` / `tracestate` message attributes.
    TraceParent,
    /// An `X-Amzn-Trace-Id` or `AWSTraceHeader` message attribute.
    XrayAttribute,
}

/// String message attributes as a carrier map.
struct Attributes<'a>(&'a HashMap<String, MessageAttributeValue>);

impl ReadMap for Attributes<'_> {
    fn get_exact(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(MessageAttributeValue::string_value)
    }
    fn key_list(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The `AWSTraceHeader` system attribute of `message`. The map holds a handful of entries at
/// most (SQS returns only the attributes asked for), so a scan comparing enum tags is cheaper
/// than hashing the key.
fn aws_trace_header(message: &Message) -> Option<&String> {
    message
        .attributes
        .as_ref()?
        .iter()
        .find(|(name, _)| **name == MessageSystemAttributeName::AwsTraceHeader)
        .map(|(_, value)| value)
}

fn valid(cx: &Context) -> bool {
    cx.span().span_context().is_valid()
}

/// The producer context of `message` and the carrier it came from (see the module docs for
/// the order); `None` and an empty context if the message carries none that is valid.
pub fn extract_with_carrier(message: &Message) -> (Context, Option<Carrier>) {
    let base = Context::new();
    if let Some(header) = aws_trace_header(message) {
        let cx = extract_header(&base, header, AWS_TRACE_HEADER);
        if valid(&cx) {
            return (cx, Some(Carrier::AwsTraceHeader));
        }
    }
    if let Some((cx, carrier)) = message
        .message_attributes
        .as_ref()
        .and_then(|attributes| extract_from_attributes(&Attributes(attributes)))
    {
        let carrier = match carrier {
            AttributeCarrier::TraceParent => Carrier::TraceParent,
            _ => Carrier::XrayAttribute,
        };
        return (cx, Some(carrier));
    }
    (base, None)
}

/// The producer's span context alone, for span links: the common case (a well-formed
/// `AWSTraceHeader`) is read without building a `Context`; anything else goes through
/// [`extract_with_carrier`], so the order and the warnings are the same.
pub(crate) fn producer_span_context(message: &Message) -> Option<SpanContext> {
    let header = aws_trace_header(message);
    if let Some(Ok(header)) = header.map(|h| TraceHeader::parse(h)) {
        return Some(remote_span_context(&header));
    }
    let cx = extract_with_carrier(message).0;
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.clone())
}

/// The producer context of `message` (an empty context if it carries none).
pub fn producer_context(message: &Message) -> Context {
    extract_with_carrier(message).0
}

/// Trace context of received SQS messages.
///
/// ```
/// use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
/// use baton_sqs::MessageExt;
/// use opentelemetry::trace::{SpanContext, TraceContextExt};
///
/// let message = Message::builder()
///     .attributes(
///         MessageSystemAttributeName::AwsTraceHeader,
///         "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
///     )
///     .build();
/// let producer = message.producer_context();
/// assert_eq!(
///     producer.span().span_context().span_id().to_string(),
///     "53995c3f42cd8ad8"
/// );
/// ```
pub trait MessageExt {
    /// The producer's context, read from the first valid carrier (see [`extract_with_carrier`]).
    fn producer_context(&self) -> Context;
    /// Which carrier held the producer's context, if any.
    fn trace_carrier(&self) -> Option<Carrier>;
}

impl MessageExt for Message {
    fn producer_context(&self) -> Context {
        producer_context(self)
    }
    fn trace_carrier(&self) -> Option<Carrier> {
        extract_with_carrier(self).1
    }
}
