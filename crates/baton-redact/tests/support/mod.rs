//! Span fixtures shared by the tests.

#![allow(dead_code, unreachable_pub)]

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

pub fn context(trace: u128, span: u64) -> SpanContext {
    SpanContext::new(
        TraceId::from(trace),
        SpanId::from(span),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    )
}

/// A span with every field set, carrying `attributes`, one event and one link with their
/// own attribute lists.
pub fn span(
    attributes: Vec<KeyValue>,
    event_attributes: Vec<KeyValue>,
    link_attributes: Vec<KeyValue>,
) -> SpanData {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    let mut events = SpanEvents::default();
    events.events.push(Event::new(
        "exception",
        start + Duration::from_millis(3),
        event_attributes,
        2,
    ));
    events.dropped_count = 1;
    let mut links = SpanLinks::default();
    links.links.push(Link::new(
        context(0x5759e988bd862e3fe1be46a994272793, 0x53995c3f42cd8ad8),
        link_attributes,
        3,
    ));
    links.dropped_count = 4;
    SpanData {
        span_context: context(0x6920a1b0aaaabbbbccccddddeeeeffff, 0x1122334455667788),
        parent_span_id: SpanId::from(0x0102030405060708),
        parent_span_is_remote: true,
        span_kind: SpanKind::Producer,
        name: Cow::Borrowed("send orders"),
        start_time: start,
        end_time: start + Duration::from_millis(12),
        attributes,
        dropped_attributes_count: 5,
        events,
        links,
        status: Status::error("boom"),
        instrumentation_scope: InstrumentationScope::builder("baton-test")
            .with_version("1.0")
            .build(),
    }
}

/// The value of `key` in `attributes`, if present.
pub fn value<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// The string form of the value of `key`, if present.
pub fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    value(attributes, key).map(Value::to_string)
}
