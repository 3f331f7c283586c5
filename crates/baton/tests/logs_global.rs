//! `baton::logs::TraceIdFormat` under a global subscriber, as applications install it: an event
//! with an explicit parent span carries that span's ids, and with `tracing-opentelemetry`'s
//! context activation turned off the current `tracing` span's ids are still found. (One test:
//! a process has one global subscriber.)
#![cfg(feature = "logs")]

mod log_output;

use baton::logs::TraceIdFormat;
use log_output::Output;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn explicit_parents_and_inactive_contexts_resolve_under_a_global_subscriber() {
    let provider = SdkTracerProvider::builder()
        .with_id_generator(baton::XrayIdGenerator::default())
        .build();
    let output = Output::default();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("test"))
                .with_context_activation(false),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(output.clone())
                .event_format(TraceIdFormat::new(
                    tracing_subscriber::fmt::format().json().without_time(),
                )),
        );
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let other = tracing::info_span!("other");
    let current = tracing::info_span!("current");
    {
        let _entered = current.enter();
        tracing::info!(parent: &other, "for the other span");
        tracing::info!("in the current span");
    }
    let other = other.context().span().span_context().clone();
    let current = current.context().span().span_context().clone();
    assert_ne!(other.span_id(), current.span_id());

    let text = output.lines();
    let lines: Vec<serde_json::Value> = text
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text:?}");
    assert_eq!(
        lines[0]["span_id"],
        other.span_id().to_string(),
        "{}",
        lines[0]
    );
    assert_eq!(lines[0]["trace_id"], other.trace_id().to_string());
    assert_eq!(
        lines[1]["span_id"],
        current.span_id().to_string(),
        "{}",
        lines[1]
    );
}
