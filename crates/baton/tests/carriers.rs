//! Carriers, side by side with every key spelling: each one Baton documents as reading keys
//! in any ASCII case is read with lower-case, upper-case and mixed-case keys; OpenTelemetry's
//! own `HashMap` carrier, which cannot, is reported rather than silently ignored; and the W3C
//! carrier is written field by field within a map's limits.

mod support;

use std::collections::{BTreeMap, HashMap};
use support::{Exact, recording};

use baton::carrier::{MapExtractor, MapInjector, ReadMap, SkipReason, extract_from_attributes};
use baton::{W3cPropagator, XrayPropagator};
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

const TRACE: &str = "5759e988bd862e3fe1be46a994272793";

fn carrier(key: &str, value: &str) -> HashMap<String, String> {
    HashMap::from([(key.to_owned(), value.to_owned())])
}

// Case-insensitive carriers (issue 14, item 1).

const XRAY_VALUE: &str =
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
const TRACEPARENT_VALUE: &str = "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01";

type Read = fn(&str, &str) -> Context;

fn xray_over_exact(key: &str, value: &str) -> Context {
    XrayPropagator::new().extract(&Exact(vec![(key.to_owned(), value.to_owned())]))
}
fn xray_over_map_extractor(key: &str, value: &str) -> Context {
    XrayPropagator::new().extract(&MapExtractor::new(&carrier(key, value)))
}
fn xray_over_btree_map_extractor(key: &str, value: &str) -> Context {
    let map = BTreeMap::from([(key.to_owned(), value.to_owned())]);
    XrayPropagator::new().extract(&MapExtractor::new(&map))
}
fn w3c_over_map_extractor(key: &str, value: &str) -> Context {
    W3cPropagator::new().extract(&MapExtractor::new(&carrier(key, value)))
}
fn attributes(key: &str, value: &str) -> Context {
    extract_from_attributes(&carrier(key, value)).map_or_else(Context::new, |(cx, _)| cx)
}
fn attributes_btree(key: &str, value: &str) -> Context {
    let map = BTreeMap::from([(key.to_owned(), value.to_owned())]);
    extract_from_attributes(&map).map_or_else(Context::new, |(cx, _)| cx)
}
fn read_map_get_ignore_case(key: &str, value: &str) -> Context {
    let map = carrier(key, value);
    let found = ["X-Amzn-Trace-Id", "AWSTraceHeader"]
        .into_iter()
        .find_map(|name| map.get_ignore_case(name));
    found.map_or_else(Context::new, |v| {
        baton::extract_header(&Context::new(), v, "test")
    })
}
fn read_map_find_ignore_case(key: &str, value: &str) -> Context {
    let map = carrier(key, value);
    ["X-Amzn-Trace-Id", "AWSTraceHeader"]
        .into_iter()
        .find_map(|name| {
            map.find_ignore_case(name, |v| {
                let cx = baton::extract_header(&Context::new(), v, "test");
                cx.span().span_context().is_valid().then_some(cx)
            })
        })
        .unwrap_or_default()
}

#[test]
fn every_case_insensitive_carrier_reads_lower_upper_and_mixed_keys() {
    #[rustfmt::skip]
    let carriers: &[(&str, Read, &[&str], &str)] = &[
        // (carrier, read, keys it is documented to read, value)
        ("XrayPropagator over an exact-match map", xray_over_exact, &["X-Amzn-Trace-Id"], XRAY_VALUE),
        ("XrayPropagator over MapExtractor(HashMap)", xray_over_map_extractor, &["X-Amzn-Trace-Id"], XRAY_VALUE),
        ("XrayPropagator over MapExtractor(BTreeMap)", xray_over_btree_map_extractor, &["X-Amzn-Trace-Id"], XRAY_VALUE),
        ("W3cPropagator over MapExtractor(HashMap)", w3c_over_map_extractor, &["traceparent"], TRACEPARENT_VALUE),
        ("extract_from_attributes(HashMap)", attributes, &["X-Amzn-Trace-Id", "AWSTraceHeader"], XRAY_VALUE),
        ("extract_from_attributes(HashMap), W3C", attributes, &["traceparent"], TRACEPARENT_VALUE),
        ("extract_from_attributes(BTreeMap)", attributes_btree, &["X-Amzn-Trace-Id", "AWSTraceHeader"], XRAY_VALUE),
        ("ReadMap::get_ignore_case", read_map_get_ignore_case, &["X-Amzn-Trace-Id", "AWSTraceHeader"], XRAY_VALUE),
        ("ReadMap::find_ignore_case", read_map_find_ignore_case, &["X-Amzn-Trace-Id", "AWSTraceHeader"], XRAY_VALUE),
    ];
    let mut failures = Vec::new();
    for (name, read, keys, value) in carriers {
        for key in *keys {
            let mixed = (*key).to_owned();
            for spelling in [key.to_ascii_lowercase(), key.to_ascii_uppercase(), mixed] {
                let cx = read(&spelling, value);
                let span = cx.span();
                let sc = span.span_context();
                if (sc.trace_id().to_string(), sc.span_id().to_string())
                    != (TRACE.to_owned(), "53995c3f42cd8ad8".to_owned())
                {
                    failures.push(format!("{name} with key {spelling:?}: {sc:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// OpenTelemetry's `Extractor for HashMap` lower-cases the key inside `get`, so a value stored
/// under a key with capitals cannot be read through it by anyone. Baton reads the lower-case
/// key, and for any other spelling says what happened and how to read it instead.
#[test]
fn a_plain_hash_map_with_capitals_in_the_key_is_reported_not_silently_ignored() {
    #[rustfmt::skip]
    let cases: &[(&str, bool)] = &[
        // (key, extracted through the plain HashMap)
        ("x-amzn-trace-id", true),
        ("X-Amzn-Trace-Id", false),
        ("X-AMZN-TRACE-ID", false),
    ];
    for &(key, extracted) in cases {
        let (cx, events) = recording(|| XrayPropagator::new().extract(&carrier(key, XRAY_VALUE)));
        assert_eq!(cx.span().span_context().is_valid(), extracted, "{key}");
        if !extracted {
            assert!(
                events
                    .iter()
                    .any(|e| e.starts_with("WARN") && e.contains("MapExtractor")),
                "{key}: the event should point to MapExtractor: {events:?}"
            );
        }
        // The same map through Baton's carrier view is read whatever the spelling.
        let cx = XrayPropagator::new().extract(&MapExtractor::new(&carrier(key, XRAY_VALUE)));
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            TRACE,
            "{key}"
        );
    }
}

// The W3C carrier is not all-or-nothing (issue 14, item 8).

type Skipped = &'static [(&'static str, SkipReason)];

/// With room for one more attribute, `traceparent` is written alone; `tracestate` only when
/// there is room for it as well. (The core's `MapInjector` does this; the SQS send path has its
/// own test of the same rule.)
#[test]
fn traceparent_is_written_alone_when_tracestate_does_not_fit() {
    let cx = Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_hex(TRACE).unwrap(),
        SpanId::from_hex("53995c3f42cd8ad8").unwrap(),
        TraceFlags::SAMPLED,
        false,
        TraceState::from_key_value([("vendor", "x")]).unwrap(),
    ));
    #[rustfmt::skip]
    let cases: &[(usize, usize, &[&str], Skipped)] = &[
        // (user attributes, byte budget, written, skipped)
        (8,  usize::MAX, &["traceparent", "tracestate"], &[]),
        (9,  usize::MAX, &["traceparent"], &[("tracestate", SkipReason::TooManyEntries)]),
        (10, usize::MAX, &[], &[("traceparent", SkipReason::TooManyEntries), ("tracestate", SkipReason::TooManyEntries)]),
        (0,  66,         &["traceparent"], &[("tracestate", SkipReason::TooLarge)]),
    ];
    for &(users, budget, written, skipped) in cases {
        let mut map: HashMap<String, String> =
            (0..users).map(|i| (format!("a{i}"), "v".into())).collect();
        let mut injector = MapInjector::new(&mut map)
            .with_max_entries(10)
            .with_byte_budget(budget);
        W3cPropagator::new().inject_context(&cx, &mut injector);
        let got_skipped: Vec<(&str, SkipReason)> = injector
            .skipped()
            .iter()
            .map(|(k, r)| (k.as_str(), *r))
            .collect();
        assert_eq!(got_skipped, skipped, "{users} attributes, {budget} bytes");
        let mut got: Vec<&str> = map
            .keys()
            .map(String::as_str)
            .filter(|k| !k.starts_with('a'))
            .collect();
        got.sort_unstable();
        assert_eq!(got, written, "{users} attributes, {budget} bytes");
        if let Some(traceparent) = map.get("traceparent") {
            assert_eq!(
                traceparent,
                "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
            );
        }
    }
}
