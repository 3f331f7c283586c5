//! The README's "Why Baton" claims, shown side by side against `opentelemetry-aws` 0.21's
//! X-Ray propagator: the same header, the same carrier, the same SDK tracer, and what becomes
//! of the trace in each.
//!
//! A claim goes in the README only if a row here shows it. Where both behave the same (both
//! keep a well-formed `Lineage`, for instance), the row is here too, so that nobody claims
//! otherwise.

mod support;

use std::collections::HashMap;
use support::Exact;

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span, SpanId, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

const TRACE: &str = "5759e988bd862e3fe1be46a994272793";

#[derive(Clone, Copy, Debug)]
enum Carrier {
    /// OpenTelemetry's own `HashMap` carrier, key `x-amzn-trace-id`.
    LowerCaseMap,
    /// An exact-match map with the key `X-Amzn-Trace-Id` (as OpenTelemetry Python and the AWS
    /// SDKs spell it).
    MixedCaseExact,
}

fn extract(propagator: &dyn TextMapPropagator, carrier: Carrier, header: &str) -> Context {
    match carrier {
        Carrier::LowerCaseMap => propagator.extract(&HashMap::from([(
            "x-amzn-trace-id".to_owned(),
            header.to_owned(),
        )])),
        Carrier::MixedCaseExact => propagator.extract(&Exact(vec![(
            "X-Amzn-Trace-Id".to_owned(),
            header.to_owned(),
        )])),
    }
}

/// What becomes of the trace: does the first span started under the extracted context (SDK
/// tracer, the default `ParentBased(AlwaysOn)` sampler) belong to the sender's trace, and is it
/// sampled?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Outcome {
    joins: bool,
    sampled: bool,
}

fn outcome(cx: &Context) -> Outcome {
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .build();
    let span = provider.tracer("why").start_with_context("process", cx);
    let sc = span.span_context();
    Outcome {
        joins: sc.trace_id().to_string() == TRACE,
        sampled: sc.is_sampled(),
    }
}

const JOINED: Outcome = Outcome {
    joins: true,
    sampled: true,
};
const JOINED_BUT_DROPPED: Outcome = Outcome {
    joins: true,
    sampled: false,
};
/// A new trace (sampled by `AlwaysOn` as a root).
const LOST: Outcome = Outcome {
    joins: false,
    sampled: true,
};

#[test]
fn what_becomes_of_the_trace() {
    #[rustfmt::skip]
    let cases: &[(&str, Carrier, &str, Outcome, Outcome)] = &[
        // (claim, carrier, header, opentelemetry-aws 0.21, Baton)
        ("both read the canonical header",
         Carrier::LowerCaseMap, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
         JOINED, JOINED),
        ("the header's own keys are matched case-sensitively",
         Carrier::LowerCaseMap, "root=1-5759e988-bd862e3fe1be46a994272793;parent=53995c3f42cd8ad8;sampled=1",
         LOST, JOINED),
        ("the carrier key is looked up in lower case only",
         Carrier::MixedCaseExact, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
         LOST, JOINED),
        ("a header with Root but no Parent loses its trace",
         Carrier::LowerCaseMap, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
         LOST, JOINED),
        ("a malformed Parent loses the trace",
         Carrier::LowerCaseMap, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=zz;Sampled=1",
         LOST, JOINED),
        ("an empty Parent loses the trace",
         Carrier::LowerCaseMap, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=;Sampled=1",
         LOST, JOINED),
        ("one unknown field that a W3C trace state cannot hold fails the whole header",
         Carrier::LowerCaseMap, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Fo o=bar",
         LOST, JOINED),
        ("Sampled=? becomes a flag that a parent-based sampler reads as not sampled",
         Carrier::LowerCaseMap, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?",
         JOINED_BUT_DROPPED, JOINED),
        ("so does a header without Sampled",
         Carrier::LowerCaseMap, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
         JOINED_BUT_DROPPED, JOINED),
        ("both follow Sampled=0",
         Carrier::LowerCaseMap, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
         JOINED_BUT_DROPPED, JOINED_BUT_DROPPED),
    ];
    let theirs = opentelemetry_aws::trace::XrayPropagator::new();
    let ours = baton::XrayPropagator::new();
    let mut failures = Vec::new();
    for (claim, carrier, header, want_theirs, want_ours) in cases {
        let got = (
            outcome(&extract(&theirs, *carrier, header)),
            outcome(&extract(&ours, *carrier, header)),
        );
        if got != (*want_theirs, *want_ours) {
            failures.push(format!(
                "{claim}: (opentelemetry-aws, Baton) got {got:?}, want {:?}",
                (want_theirs, want_ours)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The `Lineage` the next hop receives after extract, a child span, and inject.
fn lineage_passed_on(propagator: &dyn TextMapPropagator, header: &str) -> Option<String> {
    let cx = extract(propagator, Carrier::LowerCaseMap, header);
    let parent = cx.span().span_context().clone();
    let child = cx.with_remote_span_context(opentelemetry::trace::SpanContext::new(
        parent.trace_id(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        parent.trace_flags(),
        false,
        parent.trace_state().clone(),
    ));
    let mut out: HashMap<String, String> = HashMap::new();
    propagator.inject_context(&child, &mut out);
    out.get("x-amzn-trace-id")?
        .split(';')
        .find_map(|field| field.strip_prefix("Lineage="))
        .map(str::to_owned)
}

#[test]
fn lineage_is_kept_by_both_and_checked_by_baton() {
    #[rustfmt::skip]
    let cases: &[(&str, Option<&str>, Option<&str>)] = &[
        // (Lineage in, passed on by opentelemetry-aws 0.21, passed on by Baton)
        ("1:a87bd80c:1",        Some("1:a87bd80c:1"),        Some("1:a87bd80c:1")),
        ("a87bd80c:1|68fd508a:5", Some("a87bd80c:1|68fd508a:5"), Some("a87bd80c:1|68fd508a:5")),
        // Not a Lineage any AWS service writes: Baton does not hand it to Lambda's loop detection.
        ("99999:zz:1",          Some("99999:zz:1"),          None),
        ("1:A87BD80C:300",      Some("1:A87BD80C:300"),      None),
    ];
    let theirs = opentelemetry_aws::trace::XrayPropagator::new();
    let ours = baton::XrayPropagator::new();
    for &(lineage, want_theirs, want_ours) in cases {
        let header = format!(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;\
             Lineage={lineage}"
        );
        assert_eq!(
            (
                lineage_passed_on(&theirs, &header).as_deref(),
                lineage_passed_on(&ours, &header).as_deref()
            ),
            (want_theirs, want_ours),
            "{lineage}"
        );
    }
}
