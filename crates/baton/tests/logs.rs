//! `baton::logs::TraceIdFormat` in a real `tracing-subscriber` stack: JSON and plain lines
//! parsed back, ids compared with the spans' own.
#![cfg(feature = "logs")]

mod log_output;

use baton::logs::TraceIdFormat;
use log_output::Output;
use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

fn provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_simple_exporter(InMemorySpanExporter::default())
        .with_id_generator(baton::XrayIdGenerator::default())
        .build()
}

/// Runs `f` under a subscriber bridging `tracing` spans to OpenTelemetry, logging JSON lines
/// through `TraceIdFormat`.
fn with_json_logs(provider: &SdkTracerProvider, f: impl FnOnce()) -> Vec<serde_json::Value> {
    let output = Output::default();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(output.clone())
                .event_format(TraceIdFormat::new(
                    tracing_subscriber::fmt::format().json().without_time(),
                )),
        );
    tracing::subscriber::with_default(subscriber, f);
    output
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn xray_form(span: &SpanContext) -> String {
    let hex = span.trace_id().to_string();
    format!("1-{}-{}", &hex[..8], &hex[8..])
}

fn assert_ids(line: &serde_json::Value, span: &SpanContext) {
    assert_eq!(line["xray_trace_id"], xray_form(span), "{line}");
    assert_eq!(line["trace_id"], span.trace_id().to_string(), "{line}");
    assert_eq!(line["span_id"], span.span_id().to_string(), "{line}");
    let flags = if span.is_sampled() { "01" } else { "00" };
    assert_eq!(line["trace_flags"], flags, "{line}");
}

#[test]
fn a_json_line_inside_a_span_carries_its_trace_and_span_ids() {
    let provider = provider();
    let mut span_context = None;
    let lines = with_json_logs(&provider, || {
        let span = tracing::info_span!("checkout");
        let _entered = span.enter();
        span_context = Some(span.context().span().span_context().clone());
        tracing::info!(order = 42, "paid");
    });
    let span = span_context.unwrap();
    assert!(span.is_valid());
    assert_eq!(lines.len(), 1);
    assert_ids(&lines[0], &span);
    // The inner format's own keys are all still there.
    assert_eq!(lines[0]["fields"]["message"], "paid");
    assert_eq!(lines[0]["fields"]["order"], 42);
    assert_eq!(lines[0]["level"], "INFO");
    // An X-Ray id: its first 8 hex digits are the epoch seconds it was made at.
    let epoch = u32::from_str_radix(&xray_form(&span)[2..10], 16).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    assert!(now.abs_diff(epoch) < 600);
}

#[test]
fn nested_spans_give_the_innermost_span_id() {
    let provider = provider();
    let mut ids = Vec::new();
    let lines = with_json_logs(&provider, || {
        let outer = tracing::info_span!("outer");
        let _outer = outer.enter();
        tracing::info!("in outer");
        let inner = tracing::info_span!("inner");
        {
            let _inner = inner.enter();
            tracing::info!("in inner");
        }
        tracing::info!("back in outer");
        ids.push(outer.context().span().span_context().clone());
        ids.push(inner.context().span().span_context().clone());
    });
    let (outer, inner) = (&ids[0], &ids[1]);
    assert_eq!(outer.trace_id(), inner.trace_id());
    assert_ne!(outer.span_id(), inner.span_id());
    assert_ids(&lines[0], outer);
    assert_ids(&lines[1], inner);
    assert_ids(&lines[2], outer);
}

#[test]
fn an_event_with_an_explicit_parent_never_gets_the_current_span_s_ids() {
    // Under a scoped subscriber (`with_default`) the parent's OpenTelemetry context cannot be
    // looked up while an event is being written (tracing refuses a nested dispatch); the line
    // then carries no ids rather than the current span's. Under a global subscriber the
    // parent's ids are there: tests/logs_global.rs.
    let provider = provider();
    let lines = with_json_logs(&provider, || {
        let other = tracing::info_span!("other");
        let current = tracing::info_span!("current");
        let _entered = current.enter();
        tracing::info!(parent: &other, "for the other span");
        tracing::info!(parent: None, "explicitly in no span");
    });
    assert!(lines[0].get("trace_id").is_none(), "{}", lines[0]);
    assert!(lines[1].get("trace_id").is_none(), "{}", lines[1]);
}

#[test]
fn an_opentelemetry_context_made_current_directly_is_used_too() {
    // Baton's worker makes each message's process span current as an OpenTelemetry context,
    // not as a `tracing` span.
    let provider = provider();
    let tracer = provider.tracer("worker");
    let process = tracer.start("process orders");
    let cx = Context::new().with_span(process);
    let span = cx.span().span_context().clone();
    let lines = with_json_logs(&provider, || {
        let _attached = cx.clone().attach();
        tracing::warn!("handler failed");
    });
    assert_ids(&lines[0], &span);
}

#[test]
fn an_unsampled_trace_says_so() {
    let provider = SdkTracerProvider::builder()
        .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff)
        .with_id_generator(baton::XrayIdGenerator::default())
        .build();
    let tracer = provider.tracer("worker");
    let cx = Context::new().with_span(tracer.start("dropped"));
    let span = cx.span().span_context().clone();
    assert!(span.is_valid() && !span.is_sampled());
    let lines = with_json_logs(&provider, || {
        let _attached = cx.clone().attach();
        tracing::info!("not sampled");
    });
    assert_ids(&lines[0], &span);
}

#[test]
fn events_outside_any_span_are_written_unchanged() {
    let provider = provider();
    let write = |wrapped: bool| {
        let output = Output::default();
        let format = tracing_subscriber::fmt::format().without_time();
        let fmt = tracing_subscriber::fmt::layer().with_writer(output.clone());
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        if wrapped {
            let subscriber = subscriber.with(fmt.event_format(TraceIdFormat::new(format)));
            tracing::subscriber::with_default(subscriber, || tracing::info!(n = 1, "alone"));
        } else {
            let subscriber = subscriber.with(fmt.event_format(format));
            tracing::subscriber::with_default(subscriber, || tracing::info!(n = 1, "alone"));
        }
        output.lines()
    };
    let plain = write(false);
    assert_eq!(plain.len(), 1);
    assert_eq!(write(true), plain);
}

#[test]
fn a_plain_text_line_ends_with_the_ids() {
    let provider = provider();
    let output = Output::default();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(output.clone())
                .event_format(TraceIdFormat::new(
                    tracing_subscriber::fmt::format().without_time(),
                )),
        );
    let mut span_context = None;
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("checkout", order = 7);
        let _entered = span.enter();
        span_context = Some(span.context().span().span_context().clone());
        tracing::info!("paid");
    });
    let span = span_context.unwrap();
    let lines = output.lines();
    assert_eq!(lines.len(), 1);
    let expected_tail = format!(
        "paid xray_trace_id={} trace_id={} span_id={} trace_flags=01",
        xray_form(&span),
        span.trace_id(),
        span.span_id()
    );
    assert!(lines[0].ends_with(&expected_tail), "{}", lines[0]);
    assert!(lines[0].contains("checkout{order=7}"), "{}", lines[0]);
}
