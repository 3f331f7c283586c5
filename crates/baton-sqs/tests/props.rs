//! Whatever a caller sends, Baton never breaks the send: generated messages (any body, up to 12
//! user attributes with trace-like names among them, a user-set `AWSTraceHeader` that may be
//! garbage, any size limit, W3C carrier on or off, with or without a caller span) go through
//! both forms against a stub HTTP client, and the request that leaves is checked against the
//! rules: the user's body and attributes byte for byte, their `AWSTraceHeader` untouched, only
//! `traceparent`/`tracestate` ever added and only within 10 attributes and the size limit, and
//! otherwise an `AWSTraceHeader` naming the send's own span.

mod common;

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sqs::operation::send_message::SendMessageInput;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchInput;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
    SendMessageBatchRequestEntry,
};
use baton::TraceHeader;
use baton_sqs::{SqsPropagation, SqsRequest, SqsService};
use baton_test_support::{Spans, sdk_config};
use common::{StubSqs, sqs_client};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, SpanId, TraceContextExt, TraceId, Tracer};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use tower::{Layer, Service, ServiceExt};

const QUEUE: &str = "http://stub.invalid/000000000000/orders";

/// One generated message.
#[derive(Clone, Debug)]
struct Message {
    body: String,
    attributes: BTreeMap<String, String>,
    trace_header: Option<String>,
}

fn attribute_name() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => "[a-zA-Z0-9_.-]{1,16}",
        1 => Just("traceparent".to_owned()),
        1 => Just("TraceParent".to_owned()),
        1 => Just("tracestate".to_owned()),
        1 => Just("X-Amzn-Trace-Id".to_owned()),
        1 => Just("AWSTraceHeader".to_owned()),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        prop_oneof!["\\PC{0,120}", "[\\x00-\\x7f]{0,40}", "x{700,1100}"],
        // Near the 10-attribute limit half of the time.
        prop_oneof![
            proptest::collection::btree_map(attribute_name(), "[ -~]{1,40}", 0..=12),
            proptest::collection::btree_map(attribute_name(), "[ -~]{1,40}", 8..=12),
        ],
        prop_oneof![
            3 => Just(None),
            1 => "\\PC{0,60}".prop_map(Some),
            1 => Just(Some(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
                    .to_owned()
            )),
        ],
    )
        .prop_map(|(body, attributes, trace_header)| Message {
            body,
            attributes,
            trace_header,
        })
}

/// The settings a case runs with.
#[derive(Clone, Debug)]
struct Setting {
    w3c: bool,
    max_bytes: usize,
    caller_span: bool,
    tower: bool,
}

fn setting() -> impl Strategy<Value = Setting> {
    (
        any::<bool>(),
        prop_oneof![0..1600usize, Just(1024 * 1024)],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(w3c, max_bytes, caller_span, tower)| Setting {
            w3c,
            max_bytes,
            caller_span,
            tower,
        })
}

fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .unwrap()
}

fn attributes_of(m: &Message) -> Option<HashMap<String, MessageAttributeValue>> {
    (!m.attributes.is_empty()).then(|| {
        m.attributes
            .iter()
            .map(|(k, v)| (k.clone(), string_attribute(v)))
            .collect()
    })
}

fn system_of(
    m: &Message,
) -> Option<HashMap<MessageSystemAttributeNameForSends, MessageSystemAttributeValue>> {
    m.trace_header.as_ref().map(|h| {
        HashMap::from([(
            MessageSystemAttributeNameForSends::AwsTraceHeader,
            MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(h)
                .build()
                .unwrap(),
        )])
    })
}

/// Checks one message of the request that left against what the caller gave; returns the
/// `AWSTraceHeader` Baton wrote, if it wrote one.
fn check_message(
    sent: &Value,
    given: &Message,
    setting: &Setting,
) -> Result<Option<String>, TestCaseError> {
    prop_assert_eq!(sent["MessageBody"].as_str(), Some(given.body.as_str()));
    let empty = serde_json::Map::new();
    let attributes = sent["MessageAttributes"].as_object().unwrap_or(&empty);
    for (name, value) in &given.attributes {
        prop_assert_eq!(
            attributes[name]["StringValue"].as_str(),
            Some(value.as_str()),
            "user attribute {} changed",
            name
        );
    }
    let added: Vec<&String> = attributes
        .keys()
        .filter(|k| !given.attributes.contains_key(*k))
        .collect();
    prop_assert!(
        added.iter().all(|k| *k == "traceparent"),
        "unexpected attributes added: {added:?}"
    );
    // The W3C carrier is added exactly when the rules allow it: turned on, no trace header
    // or W3C attribute of the caller's, room for one more attribute, and room under the
    // configured limit (as `with_size_limit` clamps it) for `traceparent` (55
    // characters; `tracestate` is empty and not written).
    let user_w3c = given
        .attributes
        .keys()
        .any(|k| k.eq_ignore_ascii_case("traceparent") || k.eq_ignore_ascii_case("tracestate"));
    let user_size: usize = given.body.len()
        + given
            .attributes
            .iter()
            .map(|(k, v)| k.len() + "String".len() + v.len())
            .sum::<usize>();
    let limit = setting.max_bytes.clamp(1024, 1024 * 1024);
    let allowed = setting.w3c
        && given.trace_header.is_none()
        && !user_w3c
        && given.attributes.len() < 10
        && user_size + "traceparent".len() + "String".len() + 55 <= limit;
    prop_assert_eq!(
        !added.is_empty(),
        allowed,
        "traceparent added: {}, allowed by the rules: {} ({} attributes, {} of {} bytes)",
        !added.is_empty(),
        allowed,
        given.attributes.len(),
        user_size,
        limit
    );
    let header = sent["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"].as_str();
    match &given.trace_header {
        Some(theirs) => {
            prop_assert_eq!(header, Some(theirs.as_str()), "the caller's header changed");
            Ok(None)
        }
        None => {
            let header = header.expect("Baton writes AWSTraceHeader");
            prop_assert!(
                TraceHeader::parse(header).is_ok(),
                "{header} does not parse"
            );
            Ok(Some(header.to_owned()))
        }
    }
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn any_single_send_goes_out_as_the_caller_made_it_plus_the_trace() {
    let runtime = runtime();
    let spans = Spans::new();
    runner()
        .run(&(message(), setting()), |(given, setting)| {
            let stub = StubSqs::default();
            spans.exporter.reset();
            let config = SqsPropagation::new()
                .with_tracer(spans.handle())
                .with_w3c_message_attributes(setting.w3c)
                .with_size_limit(setting.max_bytes);
            let input = SendMessageInput::builder()
                .queue_url(QUEUE)
                .message_body(&given.body)
                .set_message_attributes(attributes_of(&given))
                .set_message_system_attributes(system_of(&given))
                .build()
                .unwrap();
            let cx = if setting.caller_span {
                Context::new().with_span(spans.tracer().start("caller"))
            } else {
                Context::new()
            };
            runtime
                .block_on(
                    async {
                        if setting.tower {
                            let mut service =
                                config.layer().layer(SqsService::new(sqs_client(&stub)));
                            service
                                .ready()
                                .await
                                .unwrap()
                                .call(SqsRequest::from(input))
                                .await
                                .map(drop)
                                .map_err(|e| e.to_string())
                        } else {
                            let client = aws_sdk_sqs::Client::from_conf(
                                sdk_config!(aws_sdk_sqs, stub)
                                    .interceptor(config.interceptor())
                                    .build(),
                            );
                            client
                                .send_message()
                                .set_queue_url(input.queue_url)
                                .set_message_body(input.message_body)
                                .set_message_attributes(input.message_attributes)
                                .set_message_system_attributes(input.message_system_attributes)
                                .send()
                                .await
                                .map(drop)
                                .map_err(|e| e.to_string())
                        }
                    }
                    .with_context(cx.clone()),
                )
                .map_err(|e| TestCaseError::fail(format!("the send failed: {e}")))?;
            let captured = stub.requests();
            prop_assert_eq!(captured.len(), 1);
            let sent: Value = serde_json::from_str(captured[0].body()).unwrap();
            let written = check_message(&sent, &given, &setting)?;
            let send = spans.one("send orders");
            if let Some(header) = written {
                let header = TraceHeader::parse(&header).unwrap();
                prop_assert_eq!(header.trace_id(), send.span_context.trace_id());
                prop_assert_eq!(header.parent_id(), Some(send.span_context.span_id()));
            }
            if setting.caller_span {
                prop_assert_eq!(send.parent_span_id, cx.span().span_context().span_id());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn any_batch_goes_out_entry_by_entry_as_the_caller_made_it_plus_the_trace() {
    let runtime = runtime();
    let spans = Spans::new();
    let strategy = (proptest::collection::vec(message(), 1..=10), setting());
    runner()
        .run(&strategy, |(given, setting)| {
            let stub = StubSqs::default();
            spans.exporter.reset();
            let config = SqsPropagation::new()
                .with_tracer(spans.handle())
                .with_w3c_message_attributes(setting.w3c)
                .with_size_limit(setting.max_bytes);
            let entries: Vec<SendMessageBatchRequestEntry> = given
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("e{i}"))
                        .message_body(&m.body)
                        .set_message_attributes(attributes_of(m))
                        .set_message_system_attributes(system_of(m))
                        .build()
                        .unwrap()
                })
                .collect();
            let input = SendMessageBatchInput::builder()
                .queue_url(QUEUE)
                .set_entries(Some(entries))
                .build()
                .unwrap();
            let result = runtime.block_on(async {
                if setting.tower {
                    let mut service = config.layer().layer(SqsService::new(sqs_client(&stub)));
                    service
                        .ready()
                        .await
                        .unwrap()
                        .call(SqsRequest::from(input))
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string())
                } else {
                    let client = aws_sdk_sqs::Client::from_conf(
                        sdk_config!(aws_sdk_sqs, stub)
                            .interceptor(config.interceptor())
                            .build(),
                    );
                    client
                        .send_message_batch()
                        .set_queue_url(input.queue_url)
                        .set_entries(input.entries)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string())
                }
            });
            result.map_err(|e| TestCaseError::fail(format!("the send failed: {e}")))?;
            let captured = stub.requests();
            prop_assert_eq!(captured.len(), 1);
            let sent: Value = serde_json::from_str(captured[0].body()).unwrap();
            let sent_entries = sent["Entries"].as_array().unwrap();
            prop_assert_eq!(sent_entries.len(), given.len());
            let send = spans.one("send orders");
            let creates = spans.named("create orders");
            prop_assert_eq!(
                creates.len(),
                given.iter().filter(|m| m.trace_header.is_none()).count()
            );
            let mut named = std::collections::HashSet::new();
            for (i, (entry, m)) in sent_entries.iter().zip(&given).enumerate() {
                let id = format!("e{i}");
                prop_assert_eq!(entry["Id"].as_str(), Some(id.as_str()));
                if let Some(header) = check_message(entry, m, &setting)? {
                    // Each entry names a `create` span of its own, child of the send span.
                    let header = TraceHeader::parse(&header).unwrap();
                    prop_assert_eq!(header.trace_id(), send.span_context.trace_id());
                    let create = creates
                        .iter()
                        .find(|c| Some(c.span_context.span_id()) == header.parent_id());
                    prop_assert!(create.is_some(), "entry {i} names no create span");
                    prop_assert_eq!(create.unwrap().parent_span_id, send.span_context.span_id());
                    named.insert(header.parent_id());
                }
            }
            prop_assert_eq!(named.len(), creates.len(), "entries share create spans");
            Ok(())
        })
        .unwrap();
}

/// A generated carrier for a received message: its text and, when it is well formed, the
/// trace and span it names.
#[derive(Clone, Debug)]
struct Carrier {
    text: String,
    names: Option<(TraceId, SpanId)>,
}

fn garbage() -> impl Strategy<Value = Carrier> {
    prop_oneof![
        "\\PC{0,60}",
        "Root=1-[0-9a-z]{8}-[0-9a-z]{24};Parent=[0-9a-z]{16};Sampled=[01?x]",
        "00-[0-9a-z]{32}-[0-9a-z]{16}-0[0-9]",
    ]
    .prop_map(|text| Carrier { text, names: None })
}

/// An X-Ray header, well formed or not.
fn xray_carrier() -> impl Strategy<Value = Carrier> {
    let valid = (any::<u32>(), any::<u128>(), 1..=u64::MAX).prop_map(|(epoch, rest, parent)| {
        let rest = rest & ((1 << 96) - 1);
        let trace = TraceId::from((u128::from(epoch) << 96) | rest);
        Carrier {
            text: format!("Root=1-{epoch:08x}-{rest:024x};Parent={parent:016x};Sampled=1"),
            names: (trace != TraceId::INVALID).then(|| (trace, SpanId::from(parent))),
        }
    });
    prop_oneof![valid, garbage()]
}

/// A W3C `traceparent`, well formed or not.
fn traceparent_carrier() -> impl Strategy<Value = Carrier> {
    let valid = (any::<u128>(), 1..=u64::MAX).prop_map(|(trace, span)| Carrier {
        text: format!("00-{trace:032x}-{span:016x}-01"),
        names: (trace != 0).then(|| (TraceId::from(trace), SpanId::from(span))),
    });
    prop_oneof![valid, garbage()]
}

/// What one received message carries.
#[derive(Clone, Debug)]
struct Received {
    body: String,
    system: Option<Carrier>,
    traceparent: Option<Carrier>,
    /// Under `X-Amzn-Trace-Id` in one of the letter cases producers use.
    xray: Option<(&'static str, Carrier)>,
    aws_trace_header: Option<Carrier>,
    others: BTreeMap<String, String>,
}

impl Received {
    /// The producer the documented order reads: the `AWSTraceHeader` system attribute, then
    /// `traceparent`, then `X-Amzn-Trace-Id`, then an `AWSTraceHeader` attribute; the first
    /// well-formed one wins.
    fn producer(&self) -> Option<(TraceId, SpanId)> {
        [
            self.system.as_ref(),
            self.traceparent.as_ref(),
            self.xray.as_ref().map(|(_, c)| c),
            self.aws_trace_header.as_ref(),
        ]
        .into_iter()
        .flatten()
        .find_map(|c| c.names)
    }

    fn json(&self) -> Value {
        let mut attributes = serde_json::Map::new();
        let mut put = |name: &str, text: &str| {
            attributes.insert(
                name.to_owned(),
                serde_json::json!({"DataType": "String", "StringValue": text}),
            );
        };
        for (name, text) in &self.others {
            put(name, text);
        }
        if let Some(c) = &self.traceparent {
            put("traceparent", &c.text);
        }
        if let Some((name, c)) = &self.xray {
            put(name, &c.text);
        }
        if let Some(c) = &self.aws_trace_header {
            put("AWSTraceHeader", &c.text);
        }
        let mut message = serde_json::json!({
            "MessageId": "m",
            "ReceiptHandle": "rh",
            "MD5OfBody": "0",
            "Body": self.body,
            "MessageAttributes": attributes,
        });
        if let Some(c) = &self.system {
            message["Attributes"] = serde_json::json!({ "AWSTraceHeader": c.text });
        }
        message
    }
}

fn received_message() -> impl Strategy<Value = Received> {
    (
        "\\PC{0,40}",
        proptest::option::of(xray_carrier()),
        proptest::option::of(traceparent_carrier()),
        proptest::option::of((
            prop_oneof![Just("X-Amzn-Trace-Id"), Just("x-amzn-trace-id")],
            xray_carrier(),
        )),
        proptest::option::of(xray_carrier()),
        proptest::collection::btree_map("[a-z]{1,8}", "\\PC{0,20}", 0..=6),
    )
        .prop_map(
            |(body, system, traceparent, xray, aws_trace_header, others)| Received {
                body,
                system,
                traceparent,
                xray,
                aws_trace_header,
                others,
            },
        )
}

#[test]
fn any_received_batch_links_exactly_its_well_formed_producers() {
    let runtime = runtime();
    let spans = Spans::new();
    let strategy = (
        proptest::collection::vec(received_message(), 0..=10),
        any::<bool>(),
    );
    runner()
        .run(&strategy, |(messages, tower)| {
            let stub = StubSqs::default();
            let listed: Vec<Value> = messages.iter().map(Received::json).collect();
            stub.responder()
                .receive_body(serde_json::json!({ "Messages": listed }).to_string());
            spans.exporter.reset();
            let config = SqsPropagation::new().with_tracer(spans.handle());
            let output = runtime
                .block_on(async {
                    let input =
                        aws_sdk_sqs::operation::receive_message::ReceiveMessageInput::builder()
                            .queue_url(QUEUE)
                            .max_number_of_messages(10)
                            .build()
                            .unwrap();
                    if tower {
                        let mut service = config.layer().layer(SqsService::new(sqs_client(&stub)));
                        match service
                            .ready()
                            .await
                            .unwrap()
                            .call(SqsRequest::from(input))
                            .await
                        {
                            Ok(baton_sqs::SqsResponse::ReceiveMessage(output)) => Ok(output),
                            Ok(other) => Err(format!("unexpected response {other:?}")),
                            Err(e) => Err(e.to_string()),
                        }
                    } else {
                        let client = aws_sdk_sqs::Client::from_conf(
                            sdk_config!(aws_sdk_sqs, stub)
                                .interceptor(config.interceptor())
                                .build(),
                        );
                        client
                            .receive_message()
                            .set_queue_url(input.queue_url)
                            .max_number_of_messages(10)
                            .send()
                            .await
                            .map_err(|e| e.to_string())
                    }
                })
                .map_err(|e| TestCaseError::fail(format!("the receive failed: {e}")))?;
            let received = output.messages();
            prop_assert_eq!(received.len(), messages.len());
            for (got, sent) in received.iter().zip(&messages) {
                prop_assert_eq!(got.body(), Some(sent.body.as_str()));
                // Each message's own reading agrees with the documented order.
                let cx = baton_sqs::producer_context(got);
                let span = cx.span();
                let sc = span.span_context();
                let read = sc.is_valid().then(|| (sc.trace_id(), sc.span_id()));
                prop_assert_eq!(read, sent.producer());
            }
            // The receive span links exactly the messages with a well-formed producer, each
            // to it, in order.
            let expected: Vec<_> = messages.iter().filter_map(Received::producer).collect();
            let receive = spans.one("receive orders");
            let links: Vec<_> = receive
                .links
                .iter()
                .map(|l| (l.span_context.trace_id(), l.span_context.span_id()))
                .collect();
            prop_assert_eq!(links, expected);
            Ok(())
        })
        .unwrap();
}
