//! Where the worker finds a message's producer context.
//!
//! 1. The SQS carriers, in `baton_sqs`'s order: the `AWSTraceHeader` system attribute, then the
//!    `traceparent` / `X-Amzn-Trace-Id` message attributes.
//! 2. Failing those, the body, if it is an envelope another AWS service wrapped the message in:
//!    an EventBridge event (`detail.traceHeader`; EventBridge rule targets get no
//!    `AWSTraceHeader`) or an SNS notification (its `MessageAttributes`).
//!
//! The body is looked at only when it starts with `{` and no SQS carrier was found.

use aws_sdk_sqs::types::Message;
use baton_eventbridge::EventEnvelope;
use baton_sns::Notification;
use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;

/// Where a producer context was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    Sqs,
    EventBridge,
    Sns,
    Nothing,
}

pub(crate) fn producer_context(message: &Message, envelopes: bool) -> (Context, Found) {
    let (cx, carrier) = baton_sqs::extract_with_carrier(message);
    if carrier.is_some() {
        return (cx, Found::Sqs);
    }
    if envelopes
        && let Some(body) = message.body.as_deref()
        && body.trim_start().starts_with('{')
    {
        return from_envelope(body);
    }
    (cx, Found::Nothing)
}

fn valid(cx: &Context) -> bool {
    cx.span().span_context().is_valid()
}

fn from_envelope(body: &str) -> (Context, Found) {
    // Cheap checks first: most JSON bodies are neither envelope.
    if body.contains("\"detail-type\"")
        && let Ok(event) = EventEnvelope::parse(body)
    {
        let cx = event.producer_context();
        if valid(&cx) {
            return (cx, Found::EventBridge);
        }
    } else if body.contains("\"TopicArn\"")
        && let Ok(notification) = Notification::parse(body)
    {
        let cx = notification.producer_context();
        if valid(&cx) {
            return (cx, Found::Sns);
        }
    }
    (Context::new(), Found::Nothing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::types::MessageSystemAttributeName;

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
