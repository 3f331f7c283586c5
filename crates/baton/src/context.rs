//! Where the "current" trace context comes from.

use opentelemetry::Context;

/// The context a send should continue.
///
/// With the `tracing` feature, this is the OpenTelemetry context of the current `tracing` span
/// when the application bridges `tracing` to OpenTelemetry with `tracing-opentelemetry` and a
/// span is entered; otherwise (and without the feature) it is [`Context::current()`].
pub fn current_context() -> Context {
    #[cfg(feature = "tracing")]
    {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;

        let span = tracing::Span::current();
        if !span.is_none() {
            let cx = span.context();
            if cx.span().span_context().is_valid() {
                return cx;
            }
        }
    }
    Context::current()
}
