//! Whatever the shape of a batch, the datagrams fit and every span is sent exactly once.

mod common;

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use common::*;
use opentelemetry::KeyValue;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry_sdk::trace::SpanData;
use proptest::prelude::*;

/// A span `i` (ids start at 1) under `parent` (0 for none), with a payload of `payload` bytes.
fn span(i: u64, parent: u64, remote: bool, kind: SpanKind, payload: usize) -> SpanData {
    let start = SystemTime::now();
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_hex("6925f000bd862e3fe1be46a994272793").unwrap(),
            SpanId::from_bytes(i.to_be_bytes()),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::from_bytes(parent.to_be_bytes()),
        parent_span_is_remote: remote,
        span_kind: kind,
        name: Cow::Borrowed("work"),
        start_time: start,
        end_time: start + Duration::from_millis(3),
        attributes: vec![
            KeyValue::new("messaging.system", "aws_sqs"),
            KeyValue::new("payload", "p".repeat(payload)),
        ],
        dropped_attributes_count: 0,
        events: Default::default(),
        links: Default::default(),
        status: Status::Unset,
        instrumentation_scope: Default::default(),
    }
}

fn kind(k: u8) -> SpanKind {
    match k % 5 {
        0 => SpanKind::Internal,
        1 => SpanKind::Client,
        2 => SpanKind::Producer,
        3 => SpanKind::Server,
        _ => SpanKind::Consumer,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_span_once_and_every_datagram_within_the_limit(
        // For each span: which earlier span is its parent (or none, or a remote one), its
        // kind, and its payload size.
        shape in prop::collection::vec((0u64..1000, any::<u8>(), 0usize..3000), 1..150),
        limit in 1024usize..10_000,
    ) {
        let spans: Vec<SpanData> = shape
            .iter()
            .enumerate()
            .map(|(i, &(p, k, payload))| {
                let i = i as u64 + 1;
                // 0: no parent; 1: a remote parent; otherwise an earlier span, or one missing
                // from the batch.
                let (parent, remote) = match p % 10 {
                    0 => (0, false),
                    1 => (0xdead_beef, true),
                    2 => (0xfeed_f00d, false),
                    _ => (1 + p % i.max(2).saturating_sub(1).max(1), false),
                };
                let parent = if parent == i { 0 } else { parent };
                span(i, parent, remote, kind(k), payload)
            })
            .collect();
        let exporter = baton_xray::XrayExporter::builder()
            .with_daemon_address("127.0.0.1:9")
            .with_max_datagram_size(limit)
            .build()
            .unwrap();
        let ids_of_spans: HashMap<String, &SpanData> = spans
            .iter()
            .map(|s| (hex_id(s.span_context.span_id()), s))
            .collect();
        let mut seen = Vec::new();
        exporter.encode(&spans, |d| {
            assert!(d.len() <= limit, "{} bytes over {limit}", d.len());
            let doc = parse_datagram(d);
            assert!(is_xray_trace_id(doc["trace_id"].as_str().unwrap()));
            if doc.get("type").is_some() {
                assert_eq!(&doc["type"], "subsegment");
                assert!(is_hex(doc["parent_id"].as_str().unwrap(), 16));
            }
            let mut ids = Vec::new();
            ids_in(&doc, &mut ids);
            // Root calls add a subsegment of their own, with an id no span has.
            seen.extend(ids.into_iter().filter(|id| ids_of_spans.contains_key(id)));
        });
        seen.sort();
        let mut expected: Vec<String> = ids_of_spans.keys().cloned().collect();
        expected.sort();
        prop_assert_eq!(seen, expected);
    }
}
