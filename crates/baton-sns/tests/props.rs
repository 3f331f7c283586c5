//! Whatever a caller publishes, Baton never breaks the publish: generated messages (any text,
//! control characters included, some sized right at SNS's 256 KiB limit; up to 12 user
//! attributes, trace-like names in odd case among them; the message attribute on or off; with
//! or without a caller span; Publish or PublishBatch) go through the SDK interceptor or the
//! Tower form against a stub HTTP client. The request that leaves is checked against the
//! rules: one request, the caller's text and attributes byte for byte, at most one attribute
//! added per message (`X-Amzn-Trace-Id`, and only where it is allowed and fits), naming the
//! right span, and an `x-amzn-trace-id` request header naming the send span.

mod common;

use baton_test_support::{Spans, sdk_config};
use common::{Stub, parse_form};
use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_sns::operation::publish::PublishInput;
use aws_sdk_sns::operation::publish_batch::PublishBatchInput;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use baton::TraceHeader;
use baton_sns::{SnsPropagation, SnsRequest, SnsService};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, SpanId, TraceContextExt};
use opentelemetry_sdk::trace::SpanData;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tower::{Layer, Service, ServiceExt};

const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:orders";

/// SNS's size limit for one message, and for a whole PublishBatch request.
const LIMIT: usize = 256 * 1024;

/// SNS's limit on message attributes per message.
const MAX_ATTRIBUTES: usize = 10;

/// The attribute Baton adds.
const ADDED: &str = "X-Amzn-Trace-Id";

/// What the added attribute costs against the size limit: its name, its data type and a header
/// without `Lineage` (the tests run outside Lambda, so every header Baton writes is this long).
const ADDED_BYTES: usize = ADDED.len()
    + "String".len()
    + "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=1".len();

/// One message as it left: its text and its attributes, in wire order, with their data type
/// and string value.
#[derive(Debug)]
struct SentMessage {
    message: Option<String>,
    attributes: Vec<(String, Option<String>, Option<String>)>,
}

/// Reads the message whose form keys start with `prefix` (empty for Publish,
/// `PublishBatchRequestEntries.member.N.` for a batch entry).
fn sent_message(form: &HashMap<String, String>, prefix: &str) -> SentMessage {
    let mut attributes = Vec::new();
    for n in 1.. {
        let entry = format!("{prefix}MessageAttributes.entry.{n}");
        let Some(name) = form.get(&format!("{entry}.Name")) else {
            break;
        };
        attributes.push((
            name.clone(),
            form.get(&format!("{entry}.Value.DataType")).cloned(),
            form.get(&format!("{entry}.Value.StringValue")).cloned(),
        ));
    }
    SentMessage {
        message: form.get(&format!("{prefix}Message")).cloned(),
        attributes,
    }
}

/// A message text, described so that a failing case prints short: the huge ones are made from
/// their description once the rest of the request is known.
#[derive(Clone, Debug)]
enum Text {
    /// This text as it is.
    Given(String),
    /// `len` bytes of `x`.
    Fixed(usize),
    /// Fills the message (or the whole batch) to `slack` bytes short of the size limit, with
    /// `unit` repeated (topped up with `x` to the exact byte count).
    Fill { unit: char, slack: usize },
}

/// One generated message: its text and the user's attributes (all of type String).
#[derive(Clone, Debug)]
struct Message {
    text: Text,
    attributes: BTreeMap<String, String>,
}

/// The settings a case runs with.
#[derive(Clone, Debug)]
struct Setting {
    message_attribute: bool,
    caller_span: bool,
    tower: bool,
}

fn text_strategy(big_weight: u32) -> impl Strategy<Value = Text> {
    prop_oneof![
        6 => proptest::collection::vec(any::<char>(), 0..120)
            .prop_map(|chars| Text::Given(chars.into_iter().collect())),
        3 => "\\PC{0,120}".prop_map(Text::Given),
        2 => "[\\x00-\\x1f\\x7f ]{0,20}".prop_map(Text::Given),
        big_weight => (LIMIT - 40..=LIMIT).prop_map(Text::Fixed),
        big_weight => (
            prop_oneof![Just('x'), Just('é'), Just('€'), Just('😀')],
            prop_oneof![
                // Right at the edge where the attribute just fits, or just does not.
                3 => Just(ADDED_BYTES),
                3 => ADDED_BYTES - 3..=ADDED_BYTES + 3,
                2 => 0..=4 * ADDED_BYTES,
                1 => 0..=12 * ADDED_BYTES,
            ],
        )
            .prop_map(|(unit, slack)| Text::Fill { unit, slack }),
    ]
}

fn attribute_name() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => "[a-zA-Z0-9_.-]{1,16}",
        // Close to a trace attribute's name, but not one.
        1 => Just("X-Amzn-Trace-Id2".to_owned()),
        1 => Just("tracestate".to_owned()),
    ]
}

/// Names of trace attributes a caller may set themselves, in odd case too.
fn trace_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("X-Amzn-Trace-Id".to_owned()),
        Just("x-amzn-trace-id".to_owned()),
        Just("X-AMZN-TRACE-ID".to_owned()),
        Just("AWSTraceHeader".to_owned()),
        Just("awstraceheader".to_owned()),
        Just("traceparent".to_owned()),
        Just("TraceParent".to_owned()),
    ]
}

fn attribute_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[ -~]{1,40}",
        2 => "\\PC{1,30}",
        1 => proptest::collection::vec(any::<char>(), 1..20)
            .prop_map(|chars| chars.into_iter().collect::<String>()),
    ]
}

fn message(big_weight: u32) -> impl Strategy<Value = Message> {
    (
        text_strategy(big_weight),
        // Half of the cases near the 10-attribute limit.
        prop_oneof![
            proptest::collection::btree_map(attribute_name(), attribute_value(), 0..=12),
            proptest::collection::btree_map(attribute_name(), attribute_value(), 8..=12),
        ],
        // A trace attribute of the caller's own in a quarter of the messages.
        prop_oneof![
            3 => Just(None),
            1 => (trace_name(), attribute_value()).prop_map(Some),
        ],
    )
        .prop_map(|(text, mut attributes, trace)| {
            if let Some((name, value)) = trace {
                // Still at most 12 attributes.
                if attributes.len() >= 12 {
                    attributes.pop_first();
                }
                attributes.insert(name, value);
            }
            Message { text, attributes }
        })
}

fn setting() -> impl Strategy<Value = Setting> {
    (
        prop_oneof![3 => Just(true), 1 => Just(false)],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(message_attribute, caller_span, tower)| Setting {
            message_attribute,
            caller_span,
            tower,
        })
}

/// The attributes' share of a message's size, as SNS counts it.
fn attributes_size<'a>(attributes: impl IntoIterator<Item = (&'a String, &'a String)>) -> usize {
    attributes
        .into_iter()
        .map(|(name, value)| name.len() + "String".len() + value.len())
        .sum()
}

/// Makes the message texts: `Fill` texts take up what the messages before them (and every
/// other message's attributes and fixed text) leave of the limit, less their slack.
fn texts(messages: &[Message]) -> Vec<String> {
    let mut used: usize = messages
        .iter()
        .map(|m| {
            attributes_size(&m.attributes)
                + match &m.text {
                    Text::Given(text) => text.len(),
                    Text::Fixed(len) => *len,
                    Text::Fill { .. } => 0,
                }
        })
        .sum();
    messages
        .iter()
        .map(|m| match &m.text {
            Text::Given(text) => text.clone(),
            Text::Fixed(len) => "x".repeat(*len),
            Text::Fill { unit, slack } => {
                let bytes = LIMIT.saturating_sub(used + slack);
                used += bytes;
                let units = bytes / unit.len_utf8();
                let mut text = unit.to_string().repeat(units);
                text.push_str(&"x".repeat(bytes - units * unit.len_utf8()));
                text
            }
        })
        .collect()
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

/// Whether the caller set a trace attribute of their own (which Baton keeps, adding none).
fn has_trace_attribute(m: &Message) -> bool {
    m.attributes.keys().any(|k| {
        ["X-Amzn-Trace-Id", "AWSTraceHeader", "traceparent"]
            .iter()
            .any(|name| k.eq_ignore_ascii_case(name))
    })
}

/// `text` for a failure message: in full if short, else its length and both ends.
fn shown(text: Option<&str>) -> String {
    match text {
        None => "no text".to_owned(),
        Some(text) if text.len() <= 200 => format!("{text:?}"),
        Some(text) => {
            let head: String = text.chars().take(60).collect();
            let tail: String = text
                .chars()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("{} bytes: {head:?} … {tail:?}", text.len())
        }
    }
}

/// Checks the messages that left against the ones the caller gave, in order, and returns the
/// header of each added attribute (`None` where none was added).
///
/// The size limit holds for the request as a whole, so the room left for added attributes is
/// shared: it is what the caller's own messages leave, used up message by message.
fn check_messages(
    sent: &[SentMessage],
    given: &[Message],
    texts: &[String],
    setting: &Setting,
) -> Result<Vec<Option<String>>, TestCaseError> {
    prop_assert_eq!(sent.len(), given.len());
    let callers_size: usize = given
        .iter()
        .zip(texts)
        .map(|(m, text)| text.len() + attributes_size(&m.attributes))
        .sum();
    let mut room = LIMIT.saturating_sub(callers_size);
    let mut sent_size = 0;
    let mut added_headers = Vec::new();
    for (i, ((sent, m), text)) in sent.iter().zip(given).zip(texts).enumerate() {
        prop_assert!(
            sent.message.as_deref() == Some(text.as_str()),
            "message {i} text changed: {} sent for {}",
            shown(sent.message.as_deref()),
            shown(Some(text))
        );
        let names: Vec<&String> = sent.attributes.iter().map(|(n, _, _)| n).collect();
        let unique: HashSet<&&String> = names.iter().collect();
        prop_assert_eq!(unique.len(), names.len(), "an attribute name sent twice");
        for (name, value) in &m.attributes {
            let found = sent.attributes.iter().find(|(n, _, _)| n == name);
            prop_assert!(found.is_some(), "message {i}: user attribute {name:?} lost");
            let (_, data_type, string_value) = found.unwrap();
            prop_assert_eq!(data_type.as_deref(), Some("String"));
            prop_assert_eq!(
                string_value.as_deref(),
                Some(value.as_str()),
                "message {}: user attribute {:?} changed",
                i,
                name
            );
        }
        let added: Vec<_> = sent
            .attributes
            .iter()
            .filter(|(n, _, _)| !m.attributes.contains_key(n))
            .collect();
        prop_assert!(added.len() <= 1, "message {i}: added {added:?}");
        // Everything that allows the attribute, in the order Baton weighs it.
        let allowed = setting.message_attribute
            && !has_trace_attribute(m)
            && m.attributes.len() < MAX_ATTRIBUTES
            && ADDED_BYTES <= room;
        let header = match added.first() {
            Some((name, data_type, value)) => {
                prop_assert_eq!(name, ADDED, "message {}: unexpected attribute", i);
                prop_assert!(
                    setting.message_attribute,
                    "message {i}: added with the option off"
                );
                prop_assert!(
                    !has_trace_attribute(m),
                    "message {i}: added next to the caller's own trace attribute"
                );
                prop_assert!(
                    sent.attributes.len() <= MAX_ATTRIBUTES,
                    "message {i}: {} attributes",
                    sent.attributes.len()
                );
                prop_assert_eq!(data_type.as_deref(), Some("String"));
                let value = value.clone().unwrap_or_default();
                prop_assert!(
                    TraceHeader::parse(&value).is_ok(),
                    "message {i}: {value:?} does not parse"
                );
                prop_assert!(
                    allowed,
                    "message {i}: added though only {room} bytes were left"
                );
                room -= ADDED_BYTES;
                Some(value)
            }
            None => {
                // Baton adds it wherever the rules allow: otherwise the consumer loses the
                // trace for no reason.
                prop_assert!(
                    !allowed,
                    "message {i}: not added though allowed ({room} bytes left)"
                );
                None
            }
        };
        sent_size += text.len()
            + sent
                .attributes
                .iter()
                .map(|(n, t, v)| {
                    n.len() + t.as_deref().map_or(0, str::len) + v.as_deref().map_or(0, str::len)
                })
                .sum::<usize>();
        added_headers.push(header);
    }
    if added_headers.iter().any(Option::is_some) {
        prop_assert!(
            sent_size <= LIMIT,
            "{sent_size} bytes sent, over the limit of {LIMIT}"
        );
    }
    Ok(added_headers)
}

/// Baton's SNS propagation for `setting`, recording into `spans`.
fn propagation(spans: &Spans, setting: &Setting) -> SnsPropagation {
    SnsPropagation::new()
        .with_tracer(spans.handle())
        .with_message_attribute(setting.message_attribute)
}

/// Checks that `header` names the span `span` (same trace, that span as parent).
fn names_span(header: &str, span: &SpanData, what: &str) -> Result<(), TestCaseError> {
    let parsed = TraceHeader::parse(header);
    prop_assert!(parsed.is_ok(), "{what}: {header:?} does not parse");
    let parsed = parsed.unwrap();
    prop_assert_eq!(
        parsed.trace_id(),
        span.span_context.trace_id(),
        "{}: other trace",
        what
    );
    prop_assert_eq!(
        parsed.parent_id(),
        Some(span.span_context.span_id()),
        "{}: other span",
        what
    );
    Ok(())
}

/// The one request the stub saw, with the send span: checks the request header names it and
/// the send span's parent is the caller's span.
fn the_request(
    stub: &Stub,
    spans: &Spans,
    cx: &Context,
    setting: &Setting,
) -> Result<(HashMap<String, String>, SpanData), TestCaseError> {
    let recorded = stub.requests();
    prop_assert_eq!(recorded.len(), 1, "one request leaves");
    let (header, body) = (recorded[0].trace_header(), recorded[0].body());
    let sends = spans.named("send orders");
    prop_assert_eq!(sends.len(), 1);
    let send = sends.into_iter().next().unwrap();
    prop_assert!(header.is_some(), "no x-amzn-trace-id request header");
    names_span(header.unwrap(), &send, "request header")?;
    if setting.caller_span {
        prop_assert_eq!(send.parent_span_id, cx.span().span_context().span_id());
    } else {
        prop_assert_eq!(send.parent_span_id, SpanId::INVALID);
    }
    Ok((parse_form(body), send))
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
fn any_publish_goes_out_as_the_caller_made_it_plus_the_trace() {
    let runtime = runtime();
    let spans = Spans::new();
    runner()
        .run(&(message(2), setting()), |(given, setting)| {
            let stub = Stub::default();
            spans.exporter.reset();
            let config = propagation(&spans, &setting);
            let given = [given];
            let texts = texts(&given);
            let input = PublishInput::builder()
                .topic_arn(TOPIC)
                .message(&texts[0])
                .set_message_attributes(attributes_of(&given[0]))
                .build()
                .unwrap();
            let cx = spans.caller(setting.caller_span);
            let result = runtime.block_on(
                async {
                    if setting.tower {
                        let client =
                            aws_sdk_sns::Client::from_conf(sdk_config!(aws_sdk_sns, stub).build());
                        let mut service = config.layer().layer(SnsService::new(client));
                        service
                            .ready()
                            .await
                            .unwrap()
                            .call(SnsRequest::from(input))
                            .await
                            .map(drop)
                            .map_err(|e| e.to_string())
                    } else {
                        let client = aws_sdk_sns::Client::from_conf(
                            sdk_config!(aws_sdk_sns, stub)
                                .interceptor(config.interceptor())
                                .build(),
                        );
                        client
                            .publish()
                            .set_topic_arn(input.topic_arn)
                            .set_message(input.message)
                            .set_message_attributes(input.message_attributes)
                            .send()
                            .await
                            .map(drop)
                            .map_err(|e| e.to_string())
                    }
                }
                .with_context(cx.clone()),
            );
            prop_assert!(result.is_ok(), "the publish failed: {result:?}");
            let (form, send) = the_request(&stub, &spans, &cx, &setting)?;
            prop_assert_eq!(form.get("Action").map(String::as_str), Some("Publish"));
            let sent = [sent_message(&form, "")];
            let added = check_messages(&sent, &given, &texts, &setting)?;
            if let Some(header) = &added[0] {
                names_span(header, &send, "message attribute")?;
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn any_batch_goes_out_entry_by_entry_as_the_caller_made_it_plus_the_trace() {
    let runtime = runtime();
    let spans = Spans::new();
    // Huge texts rarely: ten of them would only make the batch slow, not more interesting.
    let strategy = (proptest::collection::vec(message(1), 1..=10), setting());
    runner()
        .run(&strategy, |(given, setting)| {
            let stub = Stub::default();
            spans.exporter.reset();
            let config = propagation(&spans, &setting);
            let texts = texts(&given);
            let entries: Vec<PublishBatchRequestEntry> = given
                .iter()
                .zip(&texts)
                .enumerate()
                .map(|(i, (m, text))| {
                    PublishBatchRequestEntry::builder()
                        .id(format!("e{i}"))
                        .message(text)
                        .set_message_attributes(attributes_of(m))
                        .build()
                        .unwrap()
                })
                .collect();
            let input = PublishBatchInput::builder()
                .topic_arn(TOPIC)
                .set_publish_batch_request_entries(Some(entries))
                .build()
                .unwrap();
            let cx = spans.caller(setting.caller_span);
            let result = runtime.block_on(
                async {
                    if setting.tower {
                        let client =
                            aws_sdk_sns::Client::from_conf(sdk_config!(aws_sdk_sns, stub).build());
                        let mut service = config.layer().layer(SnsService::new(client));
                        service
                            .ready()
                            .await
                            .unwrap()
                            .call(SnsRequest::from(input))
                            .await
                            .map(drop)
                            .map_err(|e| e.to_string())
                    } else {
                        let client = aws_sdk_sns::Client::from_conf(
                            sdk_config!(aws_sdk_sns, stub)
                                .interceptor(config.interceptor())
                                .build(),
                        );
                        client
                            .publish_batch()
                            .set_topic_arn(input.topic_arn)
                            .set_publish_batch_request_entries(input.publish_batch_request_entries)
                            .send()
                            .await
                            .map(drop)
                            .map_err(|e| e.to_string())
                    }
                }
                .with_context(cx.clone()),
            );
            prop_assert!(result.is_ok(), "the batch failed: {result:?}");
            let (form, send) = the_request(&stub, &spans, &cx, &setting)?;
            prop_assert_eq!(form.get("Action").map(String::as_str), Some("PublishBatch"));
            let mut sent = Vec::new();
            for n in 1..=given.len() {
                let prefix = format!("PublishBatchRequestEntries.member.{n}.");
                let id = format!("e{}", n - 1);
                prop_assert_eq!(
                    form.get(&format!("{prefix}Id")).map(String::as_str),
                    Some(id.as_str())
                );
                sent.push(sent_message(&form, &prefix));
            }
            prop_assert!(
                !form.contains_key(&format!(
                    "PublishBatchRequestEntries.member.{}.Id",
                    given.len() + 1
                )),
                "more entries sent than given"
            );
            let added = check_messages(&sent, &given, &texts, &setting)?;
            // Every entry has a `create` span of its own, child of the send span; an added
            // attribute names its entry's.
            let creates = spans.named("create orders");
            prop_assert_eq!(creates.len(), given.len());
            let mut named = HashSet::new();
            for (i, header) in added.iter().enumerate() {
                let Some(header) = header else {
                    continue;
                };
                let parsed = TraceHeader::parse(header).unwrap();
                let create = creates
                    .iter()
                    .find(|c| Some(c.span_context.span_id()) == parsed.parent_id());
                prop_assert!(create.is_some(), "entry {i} names no create span");
                let create = create.unwrap();
                names_span(header, create, "entry attribute")?;
                prop_assert_eq!(create.parent_span_id, send.span_context.span_id());
                prop_assert!(
                    named.insert(create.span_context.span_id()),
                    "entry {i} names another entry's create span"
                );
            }
            Ok(())
        })
        .unwrap();
}
