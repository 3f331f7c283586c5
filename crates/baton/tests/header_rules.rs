//! The X-Ray header rules of issue 14, one table per rule: what a header yields (trace id,
//! parent, sampling decision, `Lineage`, fields dropped) and what the next hop receives when
//! the context is extracted and a child span's context injected.
//!
//! Each table holds inputs that the rules before issue 14 got wrong, next to inputs that were
//! already right and must stay so. (Carriers: `tests/carriers.rs`; time per byte:
//! `tests/header_linear.rs`.)

mod support;

use std::collections::HashMap;
use std::fmt::Write as _;
use support::recording;

use baton::{Sampled, TraceHeader, XrayPropagator};
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceId};

const TRACE: &str = "5759e988bd862e3fe1be46a994272793";
const ROOT: &str = "Root=1-5759e988-bd862e3fe1be46a994272793";
/// The span id Baton stands in for an absent `Parent`: the trace id's low 64 bits.
const STAND_IN: &str = "e1be46a994272793";
/// The child span whose context is injected for the next hop.
const CHILD: &str = "00f067aa0ba902b7";

fn carrier(key: &str, value: &str) -> HashMap<String, String> {
    HashMap::from([(key.to_owned(), value.to_owned())])
}

/// `cx` with a local child span (same flags and trace state) as its active span.
fn local_child(cx: &Context) -> Context {
    let parent = cx.span().span_context().clone();
    cx.with_remote_span_context(SpanContext::new(
        parent.trace_id(),
        SpanId::from_hex(CHILD).unwrap(),
        parent.trace_flags(),
        false,
        parent.trace_state().clone(),
    ))
}

/// The `Sampled` field of a parsed header as its canonical form writes it: `None` when the
/// header has none (or none that was kept).
fn sampled_field(header: &TraceHeader<'_>) -> Option<Sampled> {
    header
        .to_string()
        .split(';')
        .any(|field| field.starts_with("Sampled="))
        .then(|| header.sampled())
}

/// The names of the dropped fields, as `Dropped`'s `Debug` lists them.
fn dropped_names(header: &TraceHeader<'_>) -> Vec<String> {
    let text = format!("{:?}", header.dropped());
    text.trim_matches(|c| c == '{' || c == '}')
        .split(", ")
        .filter(|name| !name.is_empty())
        .map(|name| name.trim_matches('"').to_owned())
        .collect()
}

/// One input header and what it must yield.
struct Case {
    input: &'static str,
    /// `None`: the header is unusable (the context is left as it was).
    trace_id: Option<&'static str>,
    /// The `Parent` kept; `None`: absent (the stand-in is the remote parent).
    parent: Option<&'static str>,
    /// The `Sampled` field kept; `None`: absent.
    sampled: Option<Sampled>,
    lineage: Option<&'static str>,
    /// The names of the fields dropped (`Dropped`'s `Debug`).
    dropped: &'static [&'static str],
    /// The header the next hop gets (`""` when nothing is injected).
    passed_on: &'static str,
}

fn check(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        if let Err(message) = check_one(case.input, case) {
            failures.push(format!("{:?}: {message}", case.input));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn check_one(input: &str, case: &Case) -> Result<(), String> {
    let parsed = TraceHeader::parse(input);
    let ((cx, passed_on), events) = recording(|| {
        let cx = XrayPropagator::new()
            .extract_with_context(&Context::new(), &carrier("x-amzn-trace-id", input));
        let mut out = HashMap::new();
        XrayPropagator::new().inject_context(&local_child(&cx), &mut out);
        (cx, out.remove("x-amzn-trace-id").unwrap_or_default())
    });
    let span = cx.span();
    let remote = span.span_context();
    let Some(trace_id) = case.trace_id else {
        if let Ok(header) = parsed {
            return Err(format!("should be unusable, parsed as {header}"));
        }
        if remote.is_valid() {
            return Err("an unusable header gave a context".into());
        }
        if !events.iter().any(|e| e.starts_with("WARN")) {
            return Err(format!("no warning for an unusable header: {events:?}"));
        }
        return Ok(());
    };
    let header = parsed.map_err(|e| format!("should parse: {e}"))?;
    let got = (
        header.trace_id().to_string(),
        header.parent_id().map(|p| p.to_string()),
        sampled_field(&header),
        header.lineage(),
        dropped_names(&header),
    );
    let want = (
        trace_id.to_owned(),
        case.parent.map(str::to_owned),
        case.sampled,
        case.lineage,
        case.dropped
            .iter()
            .map(|&d| d.to_owned())
            .collect::<Vec<_>>(),
    );
    if got != want {
        return Err(format!(
            "(trace, parent, sampled, lineage, dropped)\n   got {got:?}\n  want {want:?}"
        ));
    }
    // Extraction: the trace is joined under the parent read, or the stand-in.
    let parent = case.parent.unwrap_or(STAND_IN);
    if (remote.trace_id().to_string(), remote.span_id().to_string())
        != (trace_id.to_owned(), parent.to_owned())
    {
        return Err(format!(
            "extracted {:?}, want trace {trace_id} under {parent}",
            (remote.trace_id(), remote.span_id())
        ));
    }
    if passed_on != case.passed_on {
        return Err(format!(
            "passed on\n   got {passed_on:?}\n  want {:?}",
            case.passed_on
        ));
    }
    // Whatever was dropped is named in a `tracing` event's `dropped` field (not merely in the
    // header excerpt the event also carries).
    for name in case.dropped {
        let named = |e: &String| {
            e.split("dropped=")
                .nth(1)
                .and_then(|rest| rest.split('}').next())
                .is_some_and(|set| set.contains(&format!("{name:?}")))
        };
        if !events.iter().any(named) {
            return Err(format!("no event names the dropped {name}: {events:?}"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. One bad field does not discard the trace.

#[test]
fn malformed_fields_degrade_alone() {
    #[rustfmt::skip]
    check(&[
        // Malformed Parent: treated as absent, the trace is joined under the stand-in.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=;Sampled=1",
               trace_id: Some(TRACE), parent: None, sampled: Some(Sampled::Yes), lineage: None, dropped: &["Parent"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad;Sampled=1",
               trace_id: Some(TRACE), parent: None, sampled: Some(Sampled::Yes), lineage: None, dropped: &["Parent"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8a;Sampled=0",
               trace_id: Some(TRACE), parent: None, sampled: Some(Sampled::No), lineage: None, dropped: &["Parent"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=0" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=+3995c3f42cd8ad8;Sampled=1",
               trace_id: Some(TRACE), parent: None, sampled: Some(Sampled::Yes), lineage: None, dropped: &["Parent"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000;Sampled=1",
               trace_id: Some(TRACE), parent: None, sampled: Some(Sampled::Yes), lineage: None, dropped: &["Parent"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=zz;Sampled=1;Lineage=1:a87bd80c:1",
               trace_id: Some(TRACE), parent: None, sampled: Some(Sampled::Yes), lineage: Some("1:a87bd80c:1"), dropped: &["Parent"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1;Lineage=1:a87bd80c:1" },
        // A malformed Parent next to a good one: the good one is the parent.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=zz;Parent=53995c3f42cd8ad8;Sampled=1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Parent"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        // Segments without `=`, or with an empty key, are ignored.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Parent",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["segment"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled;Parent=53995c3f42cd8ad8",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: None, lineage: None, dropped: &["segment"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;=1;Parent=53995c3f42cd8ad8;Sampled=1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["segment"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "garbage;Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["segment"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        // Already so: a malformed Sampled is dropped alone.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=yes",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: None, lineage: None, dropped: &["Sampled"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7" },
        // Only Root makes a header unusable.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a99427279;Parent=53995c3f42cd8ad8;Sampled=1",
               trace_id: None, parent: None, sampled: None, lineage: None, dropped: &[], passed_on: "" },
        Case { input: "Root=1-00000000-000000000000000000000000;Parent=53995c3f42cd8ad8",
               trace_id: None, parent: None, sampled: None, lineage: None, dropped: &[], passed_on: "" },
        Case { input: "Root;Parent=53995c3f42cd8ad8;Sampled=1",
               trace_id: None, parent: None, sampled: None, lineage: None, dropped: &[], passed_on: "" },
        Case { input: "Parent=53995c3f42cd8ad8;Sampled=1",
               trace_id: None, parent: None, sampled: None, lineage: None, dropped: &[], passed_on: "" },
    ]);
}

// ---------------------------------------------------------------------------------------------
// 3. Lineage is passed on only in its documented forms.

#[test]
fn lineage_is_passed_on_only_in_its_documented_forms() {
    #[rustfmt::skip]
    check(&[
        // The current form, `<0..=32767>:<8 lower-case hex>:<0..=255>`.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=25:a87bd80c:1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: Some("25:a87bd80c:1"), dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1;Lineage=25:a87bd80c:1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=32767:00000000:255",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: Some("32767:00000000:255"), dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1;Lineage=32767:00000000:255" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=0:a87bd80c:0",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: Some("0:a87bd80c:0"), dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1;Lineage=0:a87bd80c:0" },
        // The older list, `<8 lower-case hex>:<0..=255>` joined by `|`, kept verbatim.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: Some("a87bd80c:1|68fd508a:5"), dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1;Lineage=a87bd80c:1|68fd508a:5" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: Some("a87bd80c:1"), dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1;Lineage=a87bd80c:1" },
        // Everything else is dropped; the trace is kept.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1::",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=:",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80:1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:A87BD80C:1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=32768:a87bd80c:1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=65535:a87bd80c:1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c:256",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c:",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=01:a87bd80c:1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c:1:1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|1:68fd508a:5",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=-1:a87bd80c:1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        // Two different well-formed Lineage values: which one is true cannot be known; neither goes on.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c:1;Lineage=2:a87bd80c:1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        // The same value twice is one Lineage.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c:1;lineage=1:a87bd80c:1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: Some("1:a87bd80c:1"), dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1;Lineage=1:a87bd80c:1" },
    ]);
}

// ---------------------------------------------------------------------------------------------
// 4. Conflicting duplicates.

#[test]
fn conflicting_duplicates() {
    #[rustfmt::skip]
    check(&[
        // Two different Sampled values: no decision can be trusted; the field is dropped.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Sampled=0",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: None, lineage: None, dropped: &["Sampled"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0;Sampled=?",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: None, lineage: None, dropped: &["Sampled"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0;Sampled=1;Sampled=0",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: None, lineage: None, dropped: &["Sampled"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7" },
        // A malformed Sampled next to a good one: they disagree, so no decision is trusted.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=x;Sampled=0",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: None, lineage: None, dropped: &["Sampled"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7" },
        // Likewise a malformed Lineage next to a good one: none is passed on.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c:1;Lineage=1::",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        // Identical duplicates are harmless.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0;sampled=0",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::No), lineage: None, dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=0" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;PARENT=53995C3F42CD8AD8;Sampled=1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;root=1-5759E988-BD862E3FE1BE46A994272793;Parent=53995c3f42cd8ad8;Sampled=1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        // Two different Parents: the trace is known, its parent is not.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Parent=53995c3f42cd8ad9;Sampled=1",
               trace_id: Some(TRACE), parent: None, sampled: Some(Sampled::Yes), lineage: None, dropped: &["Parent"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        // Two different Roots: the sender's trace cannot be known.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Root=1-5759e988-bd862e3fe1be46a994272794;Parent=53995c3f42cd8ad8",
               trace_id: None, parent: None, sampled: None, lineage: None, dropped: &[], passed_on: "" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793;Root=1-6759e988-bd862e3fe1be46a994272793",
               trace_id: None, parent: None, sampled: None, lineage: None, dropped: &[], passed_on: "" },
    ]);
}

// ---------------------------------------------------------------------------------------------
// 5. Only SP and HTAB are optional whitespace.

#[test]
fn only_space_and_tab_are_optional_whitespace() {
    #[rustfmt::skip]
    check(&[
        // SP and HTAB around fields, keys and values.
        Case { input: " \tRoot = 1-5759e988-bd862e3fe1be46a994272793\t;\tParent=\t53995c3f42cd8ad8 ; Sampled = 1 \t",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        // Anything else makes the value (or key) it touches invalid.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793\u{a0};Parent=53995c3f42cd8ad8;Sampled=1",
               trace_id: None, parent: None, sampled: None, lineage: None, dropped: &[], passed_on: "" },
        Case { input: "\u{a0}Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
               trace_id: None, parent: None, sampled: None, lineage: None, dropped: &[], passed_on: "" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793\r\n;Parent=53995c3f42cd8ad8;Sampled=1",
               trace_id: None, parent: None, sampled: None, lineage: None, dropped: &[], passed_on: "" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793\u{0};Parent=53995c3f42cd8ad8;Sampled=1",
               trace_id: None, parent: None, sampled: None, lineage: None, dropped: &[], passed_on: "" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8\r;Sampled=1",
               trace_id: Some(TRACE), parent: None, sampled: Some(Sampled::Yes), lineage: None, dropped: &["Parent"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=\u{2003}53995c3f42cd8ad8;Sampled=1",
               trace_id: Some(TRACE), parent: None, sampled: Some(Sampled::Yes), lineage: None, dropped: &["Parent"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1\n",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: None, lineage: None, dropped: &["Sampled"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=\u{b}0",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: None, lineage: None, dropped: &["Sampled"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c:1\u{a0}",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["Lineage"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;\u{c}Lineage=1:a87bd80c:1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &["unknown"],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
    ]);
}

// ---------------------------------------------------------------------------------------------
// 6. Oversized input: read whole with the same rules, passed on within the limit.

/// A header of about `len` bytes: `head`, then unknown fields (and the odd field without
/// `=`), then `tail`.
fn padded(head: &str, len: usize, tail: &str) -> String {
    let mut out = head.to_owned();
    let mut i = 0;
    while out.len() + tail.len() < len {
        if i % 10 == 9 {
            write!(out, ";junk{i}").unwrap();
        } else {
            write!(out, ";k{i}=v{i}").unwrap();
        }
        i += 1;
    }
    out.push_str(tail);
    out
}

#[test]
fn oversized_headers_are_read_with_the_same_rules() {
    struct Big {
        name: &'static str,
        input: String,
        parent: Option<&'static str>,
        sampled: Option<Sampled>,
        lineage: Option<&'static str>,
        /// The start of what the next hop gets (unknown fields follow, as many as fit).
        passed_on: &'static str,
    }
    #[rustfmt::skip]
    let cases = [
        Big { name: "10 KB, Root first", input: padded("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", 10_000, ";Lineage=1:a87bd80c:1"),
              parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: Some("1:a87bd80c:1"),
              passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1;Lineage=1:a87bd80c:1;k0=v0;k1=v1" },
        Big { name: "10 KB, Root last", input: padded("Sampled=0;Parent=53995c3f42cd8ad8", 10_000, ";Root=1-5759e988-bd862e3fe1be46a994272793"),
              parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::No), lineage: None,
              passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=0;k0=v0;k1=v1" },
        Big { name: "2,000 fields", input: padded("Root=1-5759e988-bd862e3fe1be46a994272793", 2_000 * 10, ";Parent=zz;Sampled=1"),
              parent: None, sampled: Some(Sampled::Yes), lineage: None,
              passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1;k0=v0;k1=v1" },
        Big { name: "64 KiB", input: padded("Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=1:a87bd80c:1", 64 * 1024, ";Parent=53995c3f42cd8ad8"),
              parent: Some("53995c3f42cd8ad8"), sampled: None, lineage: Some("1:a87bd80c:1"),
              passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Lineage=1:a87bd80c:1;k0=v0;k1=v1" },
    ];
    let mut failures = Vec::new();
    for case in &cases {
        let header = match TraceHeader::parse(&case.input) {
            Ok(header) => header,
            Err(e) => {
                failures.push(format!("{}: {e}", case.name));
                continue;
            }
        };
        let got = (
            header.trace_id().to_string(),
            header.parent_id().map(|p| p.to_string()),
            sampled_field(&header),
            header.lineage(),
        );
        let want = (
            TRACE.to_owned(),
            case.parent.map(str::to_owned),
            case.sampled,
            case.lineage,
        );
        if got != want {
            failures.push(format!("{}: got {got:?}, want {want:?}", case.name));
        }
        let cx = XrayPropagator::new()
            .extract_with_context(&Context::new(), &carrier("x-amzn-trace-id", &case.input));
        let mut out = HashMap::new();
        XrayPropagator::new().inject_context(&local_child(&cx), &mut out);
        let next = out.remove("x-amzn-trace-id").unwrap_or_default();
        if !next.starts_with(case.passed_on) || next.len() > baton::MAX_HEADER_LEN {
            failures.push(format!(
                "{}: passed on {} bytes: {next:?}",
                case.name,
                next.len()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// 7. No `Sampled` field is not `Sampled=?`.

#[test]
fn absent_sampled_stays_absent_and_question_mark_stays_a_question_mark() {
    #[rustfmt::skip]
    check(&[
        // No field: passed on without one.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: None, lineage: None, dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793",
               trace_id: Some(TRACE), parent: None, sampled: None, lineage: None, dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Lineage=1:a87bd80c:1;Foo=bar",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: None, lineage: Some("1:a87bd80c:1"), dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Lineage=1:a87bd80c:1;Foo=bar" },
        // `?`: passed on as `?`.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Deferred), lineage: None, dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=?" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?",
               trace_id: Some(TRACE), parent: None, sampled: Some(Sampled::Deferred), lineage: None, dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=?" },
        // Decisions are passed on as made.
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::Yes), lineage: None, dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1" },
        Case { input: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
               trace_id: Some(TRACE), parent: Some("53995c3f42cd8ad8"), sampled: Some(Sampled::No), lineage: None, dropped: &[],
               passed_on: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=0" },
    ]);
}

/// For a sampler, no field and `?` mean the same: no decision was made upstream. A plain
/// `ParentBased` sampler records the trace (never drops it for want of a decision); an
/// `XrayParentBased` one lets its root sampler decide, and the decision is what goes on.
#[test]
fn absent_and_question_mark_mean_the_same_to_a_sampler() {
    use opentelemetry::trace::SpanKind;
    use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample};

    let trace_id = TraceId::from_hex(TRACE).unwrap();
    #[rustfmt::skip]
    let cases: &[(&str, bool, SamplingDecision, SamplingDecision)] = &[
        // (Sampled field, deferred, ParentBased(AlwaysOff), XrayParentBased(AlwaysOff))
        ("",           true,  SamplingDecision::RecordAndSample, SamplingDecision::Drop),
        (";Sampled=?", true,  SamplingDecision::RecordAndSample, SamplingDecision::Drop),
        (";Sampled=1", false, SamplingDecision::RecordAndSample, SamplingDecision::RecordAndSample),
        (";Sampled=0", false, SamplingDecision::Drop,            SamplingDecision::Drop),
    ];
    for (field, deferred, plain, xray) in cases {
        let deferred = *deferred;
        let input = format!("{ROOT};Parent=53995c3f42cd8ad8{field}");
        let cx = baton::extract_header(&Context::new(), &input, "test");
        assert_eq!(
            baton::is_deferred(cx.span().span_context()),
            deferred,
            "{input}"
        );
        let decide = |sampler: &dyn ShouldSample| {
            sampler
                .should_sample(Some(&cx), trace_id, "s", &SpanKind::Consumer, &[], &[])
                .decision
        };
        assert_eq!(
            decide(&Sampler::ParentBased(Box::new(Sampler::AlwaysOff))),
            *plain,
            "{input}"
        );
        assert_eq!(
            decide(&baton::XrayParentBased::new(Sampler::AlwaysOff)),
            *xray,
            "{input}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Any input: only Root decides.

proptest::proptest! {
    /// A valid `Root` among any other segments (none of them a `Root`) always gives a usable
    /// header with that trace, and the header passed on from it is usable by the next hop,
    /// names the same trace, and stays within the bound.
    #[test]
    fn a_valid_root_is_never_lost_to_other_fields(
        before in proptest::collection::vec("[^;]{0,24}", 0..6),
        after in proptest::collection::vec(
            "(?i)(parent|sampled|lineage|self|x)[ \t]?=[ \t]?[-0-9a-fA-F:|?= \t\u{a0}\r\n]{0,20}",
            0..6,
        ),
    ) {
        let is_root = |segment: &String| {
            segment.split_once('=').is_some_and(|(key, _)| {
                key.trim_matches(|c| c == ' ' || c == '\t').eq_ignore_ascii_case("root")
            })
        };
        proptest::prop_assume!(!before.iter().chain(&after).any(is_root));
        let mut segments = before;
        segments.push(ROOT.to_owned());
        segments.extend(after);
        let input = segments.join(";");
        let header = TraceHeader::parse(&input);
        proptest::prop_assert!(header.is_ok(), "{:?}: {:?}", input, header);
        let header = header.unwrap();
        proptest::prop_assert_eq!(header.trace_id().to_string(), TRACE);
        let next = header
            .pass_on(SpanId::from_hex(CHILD).unwrap(), header.sampled())
            .to_string();
        proptest::prop_assert!(next.len() <= baton::MAX_HEADER_LEN);
        let again = TraceHeader::parse(&next).unwrap();
        proptest::prop_assert_eq!(again.trace_id().to_string(), TRACE);
        proptest::prop_assert!(again.dropped().is_empty(), "{:?}", again.dropped());
    }
}
