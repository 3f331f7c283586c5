//! With the `tracing` feature, the current context comes from the current `tracing` span when
//! `tracing-opentelemetry` bridges it, and from OpenTelemetry's own current context otherwise.
#![cfg(feature = "tracing")]

use baton::current_context;
use opentelemetry::Context;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider,
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;

fn otel_context() -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap(),
        SpanId::from_hex("53995c3f42cd8ad8").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    ))
}

#[test]
fn tracing_span_wins_when_bridged() {
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("t")));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request");
        let _entered = span.enter();
        let cx = current_context();
        let sc = cx.span().span_context().clone();
        assert!(sc.is_valid());
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        assert_eq!(sc.span_id(), span.context().span().span_context().span_id());
    });
}

#[test]
fn opentelemetry_context_is_used_without_a_bridged_span() {
    // A tracing subscriber without the OpenTelemetry layer: the tracing span has no context.
    let subscriber = tracing_subscriber::registry();
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request");
        let _entered = span.enter();
        let _attached = otel_context().attach();
        let cx = current_context();
        assert_eq!(
            cx.span().span_context().span_id(),
            SpanId::from_hex("53995c3f42cd8ad8").unwrap()
        );
    });
    // No tracing span at all.
    let _attached = otel_context().attach();
    assert!(current_context().span().span_context().is_valid());
}
