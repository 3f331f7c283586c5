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
//! 4. failing those, the body, if it is an envelope another AWS service wrapped the message in:
//!    an EventBridge event (`detail.traceHeader`: EventBridge rule targets get no
//!    `AWSTraceHeader`) or an SNS notification delivered without raw delivery (its
//!    `MessageAttributes`). Only a body that starts with `{` is looked at, and only when no SQS
//!    carrier was found; [`extract_message`] can leave envelopes out.
//!
//! The first carrier that is present *and valid* wins; a malformed one is reported with a
//! `tracing` event and the next is tried. A name present in more than one spelling (say
//! `traceparent` and `TraceParent`) is tried in each, the exact spelling first. With none, the
//! message starts a new trace.
//!
//! This is the one reading of a message's producer context in Baton: the receive span's links,
//! [`SqsPropagation::start_process_span`](crate::SqsPropagation::start_process_span),
//! `baton-worker`'s `SqsWorker` and its Lambda adapter all call it.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
use baton::carrier::{AttributeCarrier, ReadMap, extract_from_attributes};
use baton::{
    AWS_TRACE_HEADER, TRACEPARENT, TRACESTATE, TraceHeader, XRAY_HEADER, extract_header,
    remote_span_context,
};
use baton::{Delivery, MessagingSpan, MessagingSystem, attr};
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
    /// An EventBridge event in the body: its `detail.traceHeader`.
    EventBridgeEnvelope,
    /// An SNS notification in the body: its message attributes.
    SnsEnvelope,
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

/// The producer context of `message` and the carrier it came from, in the order of the module
/// docs, envelopes in the body included; `None` and an empty context if the message carries
/// none that is valid. The same as [`extract_message`]`(message, true)`.
pub fn extract_with_carrier(message: &Message) -> (Context, Option<Carrier>) {
    extract_message(message, true)
}

/// The producer context of `message` and where it was found: the SQS carriers first, then,
/// when `envelopes` is set, an EventBridge event or SNS notification in the body (see the
/// module docs). `None` and an empty context if nothing valid was found.
///
/// ```
/// use aws_sdk_sqs::types::Message;
/// use baton_sqs::{Carrier, extract_message};
/// use opentelemetry::trace::TraceContextExt;
///
/// // An EventBridge event delivered to a queue: the context is in `detail.traceHeader`.
/// let message = Message::builder()
///     .body(r#"{"version":"0","id":"1","detail-type":"OrderPlaced","source":"shop",
///              "detail":{"traceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}}"#)
///     .build();
/// let (producer, carrier) = extract_message(&message, true);
/// assert_eq!(carrier, Some(Carrier::EventBridgeEnvelope));
/// assert_eq!(producer.span().span_context().span_id().to_string(), "53995c3f42cd8ad8");
/// ```
pub fn extract_message(message: &Message, envelopes: bool) -> (Context, Option<Carrier>) {
    let (cx, carrier) = sqs_carriers(message);
    if carrier.is_some() || !envelopes {
        return (cx, carrier);
    }
    match message.body.as_deref() {
        Some(body) if body.trim_start().starts_with('{') => from_envelope(body),
        _ => (cx, None),
    }
}

/// An SQS message (or a Lambda SQS record made into one) as a [`Delivery`]: its producer's
/// context is what [`extract_message`] reads — the SQS carriers, then, unless turned off, an
/// SNS or EventBridge envelope in the body.
///
/// ```
/// use aws_sdk_sqs::types::Message;
/// use baton::{Delivery, LinkPolicy, TracerHandle};
/// use baton_sqs::SqsDelivery;
///
/// let message = Message::builder().message_id("m-1").body("{}").build();
/// let cx = TracerHandle::global().start_delivery(&SqsDelivery::new(&message), "orders", LinkPolicy::Parent);
/// # drop(cx);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SqsDelivery<'a> {
    message: &'a Message,
    envelopes: bool,
    facts: bool,
}

impl<'a> SqsDelivery<'a> {
    /// `message`, read with envelope extraction on.
    pub fn new(message: &'a Message) -> Self {
        SqsDelivery {
            message,
            envelopes: true,
            facts: false,
        }
    }

    /// Whether to look for an SNS or EventBridge envelope in the body when the message has no
    /// SQS carrier (default: yes).
    #[must_use]
    pub fn with_envelope_extraction(mut self, enabled: bool) -> Self {
        self.envelopes = enabled;
        self
    }

    /// Whether the process span records the delivery facts the message carries (default: no):
    /// time in queue (from `SentTimestamp`), receive count (`ApproximateReceiveCount`) and FIFO
    /// message group (`MessageGroupId`), as `baton.messaging.time_in_queue_ms`,
    /// `baton.messaging.receive_count` and `baton.aws.sqs.message_group_id`. SQS returns these
    /// system attributes only when asked (see `SqsPropagation::with_delivery_facts`).
    #[must_use]
    pub fn with_delivery_facts(mut self, enabled: bool) -> Self {
        self.facts = enabled;
        self
    }
}

impl Delivery for SqsDelivery<'_> {
    fn system(&self) -> MessagingSystem {
        MessagingSystem::Sqs
    }

    fn message_id(&self) -> Option<&str> {
        self.message.message_id.as_deref()
    }

    fn producer_context(&self) -> Context {
        extract_message(self.message, self.envelopes).0
    }

    fn body_size(&self) -> Option<usize> {
        self.message.body.as_deref().map(str::len)
    }

    fn delivery_facts(&self, span: MessagingSpan) -> MessagingSpan {
        if self.facts {
            delivery_facts(self.message, span, SystemTime::now())
        } else {
            span
        }
    }
}

/// Adds what the message's system attributes say of its delivery, as of `now`.
fn delivery_facts(message: &Message, mut span: MessagingSpan, now: SystemTime) -> MessagingSpan {
    let Some(attributes) = message.attributes() else {
        return span;
    };
    let number = |name: MessageSystemAttributeName| {
        attributes
            .get(&name)
            .and_then(|value| value.parse::<i64>().ok())
    };
    if let Some(waited) = message.time_in_queue(now) {
        let ms = i64::try_from(waited.as_millis()).unwrap_or(i64::MAX);
        span = span.attribute(attr::BATON_TIME_IN_QUEUE_MS, ms);
    }
    if let Some(count) = number(MessageSystemAttributeName::ApproximateReceiveCount) {
        span = span.attribute(attr::BATON_RECEIVE_COUNT, count);
    }
    if let Some(group) = attributes.get(&MessageSystemAttributeName::MessageGroupId) {
        span = span.attribute(attr::BATON_SQS_MESSAGE_GROUP_ID, group.clone());
    }
    span
}

/// The body as an EventBridge event or SNS notification. Cheap checks first: most JSON bodies
/// are neither.
fn from_envelope(body: &str) -> (Context, Option<Carrier>) {
    if body.contains("\"detail-type\"") {
        if let Ok(event) = baton_eventbridge::EventEnvelope::parse(body) {
            let cx = event.producer_context();
            if valid(&cx) {
                return (cx, Some(Carrier::EventBridgeEnvelope));
            }
        }
    } else if body.contains("\"TopicArn\"")
        && let Ok(notification) = baton_sns::Notification::parse(body)
    {
        let cx = notification.producer_context();
        if valid(&cx) {
            return (cx, Some(Carrier::SnsEnvelope));
        }
    }
    (Context::new(), None)
}

/// The SQS carriers alone: the system attribute, then the message attributes.
fn sqs_carriers(message: &Message) -> (Context, Option<Carrier>) {
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
/// [`extract_message`], so the order and the warnings are the same.
pub(crate) fn producer_span_context(message: &Message, envelopes: bool) -> Option<SpanContext> {
    let header = aws_trace_header(message);
    if let Some(Ok(header)) = header.map(|h| TraceHeader::parse(h)) {
        return Some(remote_span_context(&header));
    }
    let cx = extract_message(message, envelopes).0;
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.clone())
}

/// The producer context of `message`, envelopes in the body included (an empty context if it
/// carries none).
pub fn producer_context(message: &Message) -> Context {
    extract_message(message, true).0
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
    /// How long the message had waited at `now` since SQS accepted it (its `SentTimestamp`,
    /// which SQS returns only when asked for); a sender's clock ahead of this one's reads as
    /// no wait at all.
    fn time_in_queue(&self, now: SystemTime) -> Option<std::time::Duration>;
}

impl MessageExt for Message {
    fn producer_context(&self) -> Context {
        producer_context(self)
    }
    fn trace_carrier(&self) -> Option<Carrier> {
        extract_with_carrier(self).1
    }
    fn time_in_queue(&self, now: SystemTime) -> Option<std::time::Duration> {
        let sent_ms: u64 = self
            .attributes()?
            .get(&MessageSystemAttributeName::SentTimestamp)?
            .parse()
            .ok()?;
        let sent = UNIX_EPOCH + std::time::Duration::from_millis(sent_ms);
        Some(now.duration_since(sent).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::types::MessageSystemAttributeName;

    /// Where a context was found, as these tests (written for the worker's reading) name it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Found {
        Sqs,
        EventBridge,
        Sns,
        Nothing,
    }

    fn producer_context(message: &Message, envelopes: bool) -> (Context, Found) {
        let (cx, carrier) = extract_message(message, envelopes);
        let found = match carrier {
            Some(Carrier::EventBridgeEnvelope) => Found::EventBridge,
            Some(Carrier::SnsEnvelope) => Found::Sns,
            Some(_) => Found::Sqs,
            None => Found::Nothing,
        };
        (cx, found)
    }

    const HEADER: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    fn parent(cx: &Context) -> String {
        cx.span().span_context().span_id().to_string()
    }

    #[test]
    fn sqs_carrier_wins_over_the_body() {
        let body = r#"{"detail-type":"x","source":"s","detail":{"traceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=1111111111111111;Sampled=1"}}"#;
        let message = Message::builder()
            .body(body)
            .attributes(MessageSystemAttributeName::AwsTraceHeader, HEADER)
            .build();
        let (cx, found) = producer_context(&message, true);
        assert_eq!(found, Found::Sqs);
        assert_eq!(parent(&cx), "53995c3f42cd8ad8");
    }

    #[test]
    fn eventbridge_envelope_in_the_body() {
        let body = format!(
            r#"{{"version":"0","id":"1","detail-type":"OrderPlaced","source":"shop","detail":{{"order":1,"traceHeader":"{HEADER}"}}}}"#
        );
        let message = Message::builder().body(body).build();
        let (cx, found) = producer_context(&message, true);
        assert_eq!(found, Found::EventBridge);
        assert_eq!(parent(&cx), "53995c3f42cd8ad8");
        // Turned off: a new trace.
        let (cx, found) = producer_context(&message, false);
        assert_eq!(found, Found::Nothing);
        assert!(!valid(&cx));
    }

    #[test]
    fn sns_envelope_in_the_body() {
        let body = format!(
            r#"{{"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:0:t","Message":"hi","MessageAttributes":{{"X-Amzn-Trace-Id":{{"Type":"String","Value":"{HEADER}"}}}}}}"#
        );
        let message = Message::builder().body(body).build();
        let (cx, found) = producer_context(&message, true);
        assert_eq!(found, Found::Sns);
        assert_eq!(parent(&cx), "53995c3f42cd8ad8");
    }

    #[test]
    fn other_bodies_start_a_new_trace() {
        for body in [
            "plain text",
            "{not json",
            r#"{"detail-type": 5}"#,
            r#"{"detail-type":"x","detail":"a string"}"#,
            r#"{"TopicArn":"t","MessageAttributes":{"traceparent":{"Type":"String","Value":"garbage"}}}"#,
            "",
        ] {
            let message = Message::builder().body(body).build();
            let (cx, found) = producer_context(&message, true);
            assert_eq!(found, Found::Nothing, "{body}");
            assert!(!valid(&cx), "{body}");
        }
    }

    /// Property: whatever carriers and body a message arrives with (valid, garbage, hostile,
    /// in any mix), reading it never panics, never makes a context out of garbage, and the
    /// SQS `AWSTraceHeader` wins whenever it is well formed.
    mod props {
        use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};
        use opentelemetry::trace::{SpanId, TraceId};
        use proptest::prelude::*;
        use serde_json::json;

        use super::*;

        /// A generated carrier value and, when it is well formed, the context it names.
        #[derive(Clone, Debug)]
        struct Carrier {
            text: String,
            names: Option<(TraceId, SpanId)>,
        }

        fn ids() -> impl Strategy<Value = (u32, u128, u64)> {
            (any::<u32>(), any::<u128>(), 1..=u64::MAX)
        }

        /// An X-Ray header: well formed (any ids, any sampling flag, fields in either order,
        /// spaces), or garbage of every kind.
        fn xray() -> impl Strategy<Value = Carrier> {
            let valid = (
                ids(),
                prop_oneof![Just("1"), Just("0"), Just("?")],
                any::<bool>(),
            )
                .prop_map(|((epoch, rest, parent), sampled, swap)| {
                    let rest = rest & ((1u128 << 96) - 1);
                    let trace = TraceId::from(((epoch as u128) << 96) | rest);
                    let root = format!("Root=1-{epoch:08x}-{rest:024x}");
                    let parent_field = format!("Parent={parent:016x}");
                    let text = if swap {
                        format!("{parent_field}; {root};Sampled={sampled}")
                    } else {
                        format!("{root};{parent_field};Sampled={sampled}")
                    };
                    let names = (trace != TraceId::INVALID).then(|| (trace, SpanId::from(parent)));
                    Carrier { text, names }
                });
            let garbage = prop_oneof![
                "\\PC{0,80}",
                "Root=1-[0-9a-g]{8}-[0-9a-z]{24};Parent=[0-9a-z]{16}",
                "(Root=|Parent=|Sampled=|;|=|-|1){0,30}",
                Just("Root=".repeat(3000)),
                Just(";".repeat(10_000)),
            ]
            .prop_map(|text| Carrier { text, names: None });
            prop_oneof![1 => valid, 1 => garbage]
        }

        /// A W3C `traceparent`: well formed, or garbage.
        fn traceparent() -> impl Strategy<Value = Carrier> {
            let valid =
                (any::<u128>(), 1..=u64::MAX, any::<bool>()).prop_map(|(trace, span, sampled)| {
                    let text = format!(
                        "00-{trace:032x}-{span:016x}-{}",
                        if sampled { "01" } else { "00" }
                    );
                    let trace = TraceId::from(trace);
                    let names = (trace != TraceId::INVALID).then(|| (trace, SpanId::from(span)));
                    Carrier { text, names }
                });
            let garbage = prop_oneof!["\\PC{0,60}", "00-[0-9a-z]{32}-[0-9a-z]{16}-0[0-9]"]
                .prop_map(|text| Carrier { text, names: None });
            prop_oneof![valid, garbage]
        }

        /// A message attribute: a trace carrier under one of the names readers look for
        /// (any case), or some other attribute.
        fn attribute() -> impl Strategy<Value = (String, Carrier)> {
            prop_oneof![
                (
                    prop_oneof![Just("traceparent"), Just("TraceParent")],
                    traceparent()
                )
                    .prop_map(|(n, c)| (n.to_owned(), c)),
                (
                    prop_oneof![
                        Just("X-Amzn-Trace-Id"),
                        Just("x-amzn-trace-id"),
                        Just("AWSTraceHeader")
                    ],
                    xray()
                )
                    .prop_map(|(n, c)| (n.to_owned(), c)),
                ("[a-z]{1,10}", "\\PC{0,20}")
                    .prop_map(|(n, text)| (n, Carrier { text, names: None })),
            ]
        }

        /// A body: text, JSON cut short, or an EventBridge event or SNS notification whose
        /// carrier may be anything (and whose shape may be off).
        fn body() -> impl Strategy<Value = (Option<String>, Vec<Carrier>, Found)> {
            prop_oneof![
                Just((None, vec![], Found::Nothing)),
                "\\PC{0,100}".prop_map(|b| (Some(b), vec![], Found::Nothing)),
                (xray(), any::<bool>(), 0.0..=1.0f64).prop_map(|(c, string_detail, cut)| {
                    let detail = if string_detail {
                        json!(c.text)
                    } else {
                        json!({"order": 1, "traceHeader": c.text})
                    };
                    let event = json!({"version": "0", "id": "1", "detail-type": "OrderPlaced",
                                       "source": "shop", "detail": detail})
                    .to_string();
                    let (body, carriers) =
                        cut_body(event, cut, if string_detail { vec![] } else { vec![c] });
                    (body, carriers, Found::EventBridge)
                }),
                (attribute(), "\\PC{0,8}", 0.0..=1.0f64).prop_map(|((name, c), kind, cut)| {
                    let note = json!({"Type": "Notification", "MessageId": "m",
                                      "TopicArn": "arn:aws:sns:us-east-1:0:t", "Message": "hi",
                                      "MessageAttributes": {name: {"Type": kind, "Value": c.text}}})
                    .to_string();
                    let (body, carriers) = cut_body(note, cut, vec![c]);
                    (body, carriers, Found::Sns)
                }),
            ]
        }

        /// `text` whole (its carriers count) or cut short somewhere (then none can be read).
        fn cut_body(
            text: String,
            cut: f64,
            carriers: Vec<Carrier>,
        ) -> (Option<String>, Vec<Carrier>) {
            if cut > 0.5 {
                return (Some(text), carriers);
            }
            let mut at = (text.len() as f64 * cut) as usize;
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            (Some(text[..at].to_owned()), vec![])
        }

        /// The trace carriers among a message's SQS attributes, under one or more of the
        /// spellings producers use (a message may hold two, one of them malformed), next to
        /// unrelated attributes.
        #[derive(Clone, Debug)]
        struct SqsCarriers {
            traceparent: std::collections::BTreeMap<&'static str, Carrier>,
            xray: std::collections::BTreeMap<&'static str, Carrier>,
            aws_trace_header: Option<Carrier>,
            others: std::collections::BTreeMap<String, String>,
        }

        /// The carrier the documented reading order takes from `spellings` of `name`: the
        /// exact spelling first, then the others in the order of their names; the first
        /// well-formed one.
        fn first_valid(
            spellings: &std::collections::BTreeMap<&'static str, Carrier>,
            name: &str,
        ) -> Option<(TraceId, SpanId)> {
            let exact = spellings.get(name).into_iter();
            let others = spellings
                .iter()
                .filter(|(k, _)| **k != name)
                .map(|(_, c)| c);
            exact.chain(others).find_map(|c| c.names)
        }

        fn sqs_carriers() -> impl Strategy<Value = SqsCarriers> {
            (
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("traceparent"),
                        Just("TraceParent"),
                        Just("TRACEPARENT")
                    ],
                    traceparent(),
                    0..=2,
                ),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("X-Amzn-Trace-Id"),
                        Just("x-amzn-trace-id"),
                        Just("X-AMZN-TRACE-ID")
                    ],
                    xray(),
                    0..=2,
                ),
                proptest::option::of(xray()),
                proptest::collection::btree_map("[a-z]{1,10}", "\\PC{0,20}", 0..=8),
            )
                .prop_map(|(traceparent, xray, aws_trace_header, others)| {
                    SqsCarriers {
                        traceparent,
                        xray,
                        aws_trace_header,
                        others,
                    }
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 1000,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            /// The context read is exactly the one the documented order names: the first
            /// well-formed SQS carrier (`AWSTraceHeader`, `traceparent`, `X-Amzn-Trace-Id`,
            /// an `AWSTraceHeader` attribute; each name in every spelling present), else, with
            /// envelopes on, a well-formed carrier in a whole EventBridge or SNS envelope,
            /// else none.
            #[test]
            fn any_message_is_read_as_the_documented_order_says(
                system in proptest::option::of(xray()),
                carriers in sqs_carriers(),
                (body, body_carriers, envelope) in body(),
                envelopes in any::<bool>(),
            ) {
                let mut message = Message::builder().set_body(body);
                if let Some(system) = &system {
                    message = message
                        .attributes(MessageSystemAttributeName::AwsTraceHeader, &system.text);
                }
                let string = |text: &str| {
                    MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(text)
                        .build()
                        .unwrap()
                };
                for (name, text) in &carriers.others {
                    message = message.message_attributes(name, string(text));
                }
                for (name, c) in carriers.traceparent.iter().chain(&carriers.xray) {
                    message = message.message_attributes(*name, string(&c.text));
                }
                if let Some(c) = &carriers.aws_trace_header {
                    message = message.message_attributes("AWSTraceHeader", string(&c.text));
                }
                let message = message.build();

                let from_sqs = system
                    .as_ref()
                    .and_then(|c| c.names)
                    .or_else(|| first_valid(&carriers.traceparent, "traceparent"))
                    .or_else(|| first_valid(&carriers.xray, "X-Amzn-Trace-Id"))
                    .or_else(|| carriers.aws_trace_header.as_ref().and_then(|c| c.names));
                let from_body = body_carriers.iter().find_map(|c| c.names);
                let expected = match (from_sqs, from_body) {
                    (Some(ids), _) => Some((ids, Found::Sqs)),
                    (None, Some(ids)) if envelopes => Some((ids, envelope)),
                    _ => None,
                };

                let (cx, found) = producer_context(&message, envelopes);
                let span = cx.span();
                let got = span.span_context();
                let read = got.is_valid().then(|| ((got.trace_id(), got.span_id()), found));
                prop_assert_eq!(read, expected);
                if got.is_valid() {
                    prop_assert!(got.is_remote());
                } else {
                    prop_assert_eq!(found, Found::Nothing);
                }
            }
        }
    }
}
