//! The X-Ray propagator alone and in a composite with W3C trace context; carriers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use baton::carrier::{MapExtractor, MapInjector, SkipReason};
use baton::{PassOnFields, XrayPropagator};
use opentelemetry::Context;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_subscriber::layer::SubscriberExt;

const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

fn carrier(key: &str, value: &str) -> HashMap<String, String> {
    HashMap::from([(key.to_string(), value.to_string())])
}

fn local_child(cx: &Context, span_id: &str) -> Context {
    let parent = cx.span().span_context().clone();
    let child = SpanContext::new(
        parent.trace_id(),
        SpanId::from_hex(span_id).unwrap(),
        parent.trace_flags(),
        false,
        parent.trace_state().clone(),
    );
    cx.with_remote_span_context(child)
}

#[test]
fn extracts_whatever_the_key_case() {
    // A case-sensitive map whose key is spelled the way OpenTelemetry Python writes it.
    struct Exact(Vec<(String, String)>);
    impl Extractor for Exact {
        fn get(&self, key: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.iter().map(|(k, _)| k.as_str()).collect()
        }
    }
    let propagator = XrayPropagator::new();
    for key in ["X-Amzn-Trace-Id", "x-amzn-trace-id", "X-AMZN-TRACE-ID"] {
        let cx = propagator.extract_with_context(
            &Context::new(),
            &Exact(vec![(key.to_string(), HEADER.to_string())]),
        );
        let span = cx.span();
        let sc = span.span_context();
        assert_eq!(
            sc.trace_id(),
            TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap(),
            "{key}"
        );
        assert_eq!(sc.span_id(), SpanId::from_hex("53995c3f42cd8ad8").unwrap());
        assert!(sc.is_remote() && sc.is_sampled());
    }
}

#[test]
fn injects_the_active_span() {
    let sc = SpanContext::new(
        TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap(),
        SpanId::from_hex("53995c3f42cd8ad8").unwrap(),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    );
    let mut map = HashMap::new();
    XrayPropagator::new().inject_context(&Context::new().with_remote_span_context(sc), &mut map);
    assert_eq!(map, carrier("x-amzn-trace-id", HEADER));
    // No span, nothing written.
    let mut empty: HashMap<String, String> = HashMap::new();
    XrayPropagator::new().inject_context(&Context::new(), &mut empty);
    assert!(empty.is_empty());
}

#[test]
fn lineage_and_unknown_fields_survive_extract_then_inject() {
    let incoming = format!("{HEADER};Lineage=1:a87bd80c:1;Foo=bar");
    let propagator = XrayPropagator::new();
    let cx =
        propagator.extract_with_context(&Context::new(), &carrier("x-amzn-trace-id", &incoming));
    assert_eq!(
        cx.get::<PassOnFields>().unwrap().lineage(),
        Some("1:a87bd80c:1")
    );

    // Work happens in a child span; its context still holds the pass-on fields.
    let child = local_child(&cx, "00f067aa0ba902b7");
    let mut out = HashMap::new();
    propagator.inject_context(&child, &mut out);
    assert_eq!(
        out["x-amzn-trace-id"],
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1;\
         Lineage=1:a87bd80c:1;Foo=bar"
    );
}

/// Extracts `incoming`, then injects a child span's context: the header the next hop gets.
fn next_hop_header(incoming: &str) -> String {
    let propagator = XrayPropagator::new();
    let cx =
        propagator.extract_with_context(&Context::new(), &carrier("x-amzn-trace-id", incoming));
    let mut out = HashMap::new();
    propagator.inject_context(&local_child(&cx, "00f067aa0ba902b7"), &mut out);
    out.remove("x-amzn-trace-id").unwrap()
}

#[test]
fn a_long_header_passed_on_stays_readable_by_the_next_hop() {
    // 1,023 bytes and without Parent or Sampled: passing its unknown field on whole after a
    // new Parent and Sampled would make 1,057 bytes, over the bound Baton keeps for what it
    // passes on (other readers may refuse longer headers and lose the trace there).
    let incoming = format!(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=1:a87bd80c:1;Keep=me;Big={}",
        "a".repeat(1023 - 74)
    );
    assert_eq!(incoming.len(), 1023);
    baton::TraceHeader::parse(&incoming).unwrap();
    let out = next_hop_header(&incoming);
    assert!(out.len() <= baton::MAX_HEADER_LEN, "{} bytes", out.len());
    // (No `Sampled` came in, so none goes out.)
    assert_eq!(
        out,
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;\
         Lineage=1:a87bd80c:1;Keep=me",
        "what fits is kept, in order; the field that does not fit is left out"
    );
    baton::TraceHeader::parse(&out).unwrap();
}

proptest::proptest! {
    /// Whatever header a hop accepts, the one it passes on is accepted by the next hop and
    /// continues the same trace.
    #[test]
    fn every_accepted_header_is_passed_on_readable(
        lineage in proptest::option::of("[0-9a-f]{1,8}:[0-9a-f]{8}:[0-9]"),
        fields in proptest::collection::vec(("[A-Za-z][A-Za-z0-9]{0,10}", "[!-:<>-~]{0,400}"), 0..6),
        parent in proptest::bool::ANY,
        fill_to in proptest::option::of(900usize..=1024),
    ) {
        let mut incoming = "Root=1-5759e988-bd862e3fe1be46a994272793".to_owned();
        if parent {
            incoming.push_str(";Parent=53995c3f42cd8ad8;Sampled=1");
        }
        if let Some(lineage) = lineage {
            incoming.push_str(";Lineage=");
            incoming.push_str(&lineage);
        }
        for (key, value) in &fields {
            incoming.push(';');
            incoming.push_str(key);
            incoming.push('=');
            incoming.push_str(value);
        }
        // Often right up to the limit, where passing everything on would overflow it.
        if let Some(target) = fill_to
            && target > incoming.len() + 3
        {
            incoming.push_str(";P=");
            incoming.push_str(&"x".repeat(target - incoming.len()));
        }
        proptest::prop_assume!(baton::TraceHeader::parse(&incoming).is_ok());
        let out = next_hop_header(&incoming);
        proptest::prop_assert!(out.len() <= baton::MAX_HEADER_LEN, "{} bytes", out.len());
        let next = baton::TraceHeader::parse(&out).unwrap();
        proptest::prop_assert_eq!(
            next.trace_id(),
            TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap()
        );
    }
}

#[test]
fn root_without_parent_continues_the_trace() {
    let cx = XrayPropagator::new().extract_with_context(
        &Context::new(),
        &carrier(
            "x-amzn-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        ),
    );
    let span = cx.span();
    let sc = span.span_context();
    assert!(sc.is_valid());
    assert_eq!(
        sc.trace_id(),
        TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap()
    );
    assert!(sc.is_sampled());
}

/// Counts `tracing` events at WARN or above.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() <= tracing::Level::WARN {
            self.0
                .lock()
                .unwrap()
                .push(event.metadata().target().to_string());
        }
    }
}

#[test]
fn malformed_header_leaves_the_context_alone_and_says_so() {
    let warnings = Warnings::default();
    let subscriber = tracing_subscriber::registry().with(warnings.clone());
    let existing = Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        SpanId::from_hex("b7ad6b7169203331").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    ));
    tracing::subscriber::with_default(subscriber, || {
        for bad in [
            "garbage",
            // A malformed Root (a malformed Parent alone keeps the trace: tests/header_rules.rs).
            "Root=1-5759e988-bd862e3fe1be46a99427279;Parent=53995c3f42cd8ad8",
            &"Root=".repeat(10_000),
            "Root=1-5759e988-bd862e3fe1be46a994272793\u{0};Parent=53995c3f42cd8ad8",
        ] {
            let cx = XrayPropagator::new()
                .extract_with_context(&existing, &carrier("x-amzn-trace-id", bad));
            assert_eq!(
                cx.span().span_context().trace_id(),
                existing.span().span_context().trace_id()
            );
        }
    });
    assert_eq!(*warnings.0.lock().unwrap(), vec!["baton::propagation"; 4]);
}

#[test]
fn composes_with_w3c_trace_context() {
    let propagator = TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(XrayPropagator::new()),
    ]);
    // Only W3C present.
    let cx = propagator.extract(&carrier(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ));
    assert_eq!(
        cx.span().span_context().trace_id(),
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap()
    );
    // Only X-Ray present.
    let cx = propagator.extract(&carrier("x-amzn-trace-id", HEADER));
    assert_eq!(
        cx.span().span_context().span_id(),
        SpanId::from_hex("53995c3f42cd8ad8").unwrap()
    );
    // Inject writes both, describing the same span.
    let mut out = HashMap::new();
    propagator.inject_context(&local_child(&cx, "00f067aa0ba902b7"), &mut out);
    assert_eq!(
        out["traceparent"],
        "00-5759e988bd862e3fe1be46a994272793-00f067aa0ba902b7-01"
    );
    assert_eq!(
        out["x-amzn-trace-id"],
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1"
    );
    let fields: Vec<&str> = propagator.fields().collect();
    assert!(fields.contains(&"X-Amzn-Trace-Id"));
}

#[test]
fn deferred_decision_is_passed_on_as_a_question_mark() {
    let cx = XrayPropagator::new().extract_with_context(
        &Context::new(),
        &carrier(
            "x-amzn-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?",
        ),
    );
    let mut out = HashMap::new();
    XrayPropagator::new().inject_context(&local_child(&cx, "00f067aa0ba902b7"), &mut out);
    assert_eq!(
        out["x-amzn-trace-id"],
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=?"
    );
}

#[test]
fn map_extractor_ignores_key_case() {
    let map = carrier("TraceParent", "x");
    let extractor = MapExtractor::new(&map);
    assert_eq!(extractor.get("traceparent"), Some("x"));
    assert_eq!(extractor.get("TRACEPARENT"), Some("x"));
    assert_eq!(extractor.get("tracestate"), None);
}

#[test]
fn map_injector_keeps_user_values_and_limits() {
    let mut map = carrier("TraceParent", "user");
    let mut injector = MapInjector::new(&mut map)
        .with_max_entries(3)
        .with_byte_budget(40);
    injector.set("traceparent", "ours".into()); // already set (other case)
    injector.set("a", "1".into());
    injector.set("b", "x".repeat(64)); // over the byte budget
    injector.set("c", "3".into());
    injector.set("d", "4".into()); // fourth entry
    assert_eq!(
        injector.skipped(),
        &[
            ("traceparent".to_string(), SkipReason::AlreadySet),
            ("b".to_string(), SkipReason::TooLarge),
            ("d".to_string(), SkipReason::TooManyEntries),
        ]
    );
    assert_eq!(map.len(), 3);
    assert_eq!(map["TraceParent"], "user");
}

#[test]
fn process_env_reads_the_process_environment() {
    for name in [
        "PATH",
        "HOME",
        "AWS_LAMBDA_FUNCTION_NAME",
        "_X_AMZN_TRACE_ID",
    ] {
        assert_eq!(baton::process_env(name), std::env::var(name).ok(), "{name}");
        // The remembered variable answers the same the second time.
        assert_eq!(baton::process_env(name), std::env::var(name).ok(), "{name}");
    }
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_none() {
        assert_eq!(baton::lambda_lineage(baton::process_env), None);
    }
}

#[test]
fn a_foreign_tracestate_cannot_reopen_a_w3c_sampling_decision() {
    let traceparent = "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01";
    let tracestate = "xray-sampled=deferred,vendor=x";
    let mut fields = carrier("traceparent", traceparent);
    fields.insert("tracestate".into(), tracestate.into());
    for cx in [
        baton::W3cPropagator::new().extract_with_context(&Context::new(), &fields),
        baton::carrier::extract_w3c(&Context::new(), traceparent, Some(tracestate)),
    ] {
        let span = cx.span();
        let sc = span.span_context();
        assert!(sc.is_valid() && sc.is_sampled());
        assert!(
            !baton::is_deferred(sc),
            "the parent's sampled flag is its decision"
        );
        assert_eq!(
            sc.trace_state().header(),
            "vendor=x",
            "other vendors' entries stay"
        );
    }
}

#[test]
fn the_deferred_marker_never_leaves_in_a_tracestate() {
    // `Sampled=?` upstream: deferred here, and so written back into the X-Ray header...
    let xray = XrayPropagator::new();
    let cx = xray.extract_with_context(
        &Context::new(),
        &carrier(
            "x-amzn-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?",
        ),
    );
    assert!(baton::is_deferred(cx.span().span_context()));
    // ...but never into W3C trace state, which other tracers read.
    let mut out = HashMap::new();
    baton::W3cPropagator::new().inject_context(&cx, &mut out);
    assert_eq!(
        out["traceparent"],
        "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
    );
    assert!(
        out.get("tracestate")
            .is_none_or(|s| !s.contains("xray-sampled")),
        "{out:?}"
    );

    // With no traceparent to read, the W3C half of a composite leaves the X-Ray context
    // (and its open decision) as it found it.
    let composite = TextMapCompositePropagator::new(vec![
        Box::new(XrayPropagator::new()),
        Box::new(baton::W3cPropagator::new()),
    ]);
    let cx = composite.extract_with_context(
        &Context::new(),
        &carrier(
            "x-amzn-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?",
        ),
    );
    assert!(baton::is_deferred(cx.span().span_context()));
}
