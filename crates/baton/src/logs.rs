//! Trace ids in log lines, so a log search leads straight to the trace (feature `logs`).
//!
//! [`TraceIdFormat`] wraps the event format of a `tracing-subscriber` `fmt` layer, plain text or
//! JSON, and adds to every event emitted inside a traced span:
//!
//! | field | example | form, and who reads it |
//! |---|---|---|
//! | `xray_trace_id` | `1-65f3a3e1-abcd1234ef56789012345678` | X-Ray form; the key AWS Lambda Powertools' Logger writes, so existing CloudWatch Logs Insights queries and dashboards keyed on it work unchanged |
//! | `trace_id` | `65f3a3e1abcd1234ef56789012345678` | OpenTelemetry/W3C form (32 hex), the key of OpenTelemetry's log correlation (logs data model, the Java agent's MDC keys, ADOT) and of OTLP-based backends |
//! | `span_id` | `53995c3f42cd8ad8` | 16 hex, the span the event was emitted in (see below) |
//! | `trace_flags` | `01` | W3C trace flags in hex, as OpenTelemetry writes them: `01` sampled (the trace reaches X-Ray), `00` not sampled |
//!
//! The span is the current OpenTelemetry context's when the event is emitted: the innermost
//! entered `tracing` span bridged by `tracing-opentelemetry` (which makes its context current on
//! entry; that is its default), or a context made current directly, as Baton's worker does for
//! each message's `process` span. Two cases need a look-up through the subscriber instead, and
//! that look-up works only while no scoped subscriber (`tracing::subscriber::with_default` or
//! `set_default`, on any thread) is in use; otherwise the line gets no ids, never wrong ones:
//! - an event with an explicit parent (`info!(parent: &span, ..)`) gets that span's ids;
//! - with `tracing-opentelemetry`'s context activation turned off, the current `tracing` span's
//!   ids are used, but only when no OpenTelemetry context is current (an attached `process`
//!   span then wins over a `tracing` span entered inside it).
//!
//! An event outside any span is passed to the inner format untouched, at the cost of one
//! look-up of the current context.
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let subscriber = tracing_subscriber::registry()
//!     // .with(tracing_opentelemetry::layer().with_tracer(tracer)) to bridge `tracing` spans
//!     .with(
//!         tracing_subscriber::fmt::layer()
//!             .event_format(baton::logs::TraceIdFormat::new(tracing_subscriber::fmt::format())),
//!     );
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::info!("outside any span: the line is unchanged");
//! });
//! ```
//!
//! For JSON lines (what CloudWatch Logs Insights discovers fields in), wrap the JSON format:
//! `fmt::layer().json().event_format(TraceIdFormat::new(fmt::format().json()))`
//! (`tracing-subscriber`'s `json` feature). The ids become top-level keys of the object.
//!
//! **How the ids are added.** The inner format writes the line into a buffer first. If the line
//! is a JSON object (it starts with `{` and ends with `}`), the fields are added as its last
//! keys; otherwise ` xray_trace_id=… trace_id=… span_id=… trace_flags=…` is appended before the
//! line break. Two consequences: a plain format with time, level and target all turned off whose
//! message is itself `{…}` is taken for JSON; and a JSON format that flattens event fields into
//! the object (`flatten_event(true)`) gets a duplicate key if an event has a field named like one
//! of the four. The buffer's writer has ANSI colours off, so the parts the inner format colours by
//! the writer (level, target) come out plain unless the format sets `.with_ansi(true)` itself;
//! span fields the fmt layer formatted earlier keep the layer's own setting.

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The trace id in X-Ray form (`1-{epoch hex}-{24 hex}`): AWS Lambda Powertools' key.
pub const XRAY_TRACE_ID_FIELD: &str = "xray_trace_id";
/// The trace id in OpenTelemetry form (32 hex): OpenTelemetry's log-correlation key.
pub const TRACE_ID_FIELD: &str = "trace_id";
/// The span id (16 hex): OpenTelemetry's log-correlation key.
pub const SPAN_ID_FIELD: &str = "span_id";
/// The W3C trace flags (`01` sampled, `00` not): OpenTelemetry's log-correlation key.
pub const TRACE_FLAGS_FIELD: &str = "trace_flags";

/// An event format that adds the current span's trace id (X-Ray and OpenTelemetry forms), span
/// id and sampled flag to each line another format writes. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct TraceIdFormat<F> {
    inner: F,
}

impl<F> TraceIdFormat<F> {
    /// Wraps `inner`, the format that writes the line (`tracing_subscriber::fmt::format()`,
    /// `.json()`, `.compact()` or a format of your own).
    pub fn new(inner: F) -> Self {
        TraceIdFormat { inner }
    }

    /// The wrapped format.
    pub fn get_ref(&self) -> &F {
        &self.inner
    }

    /// The wrapped format, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.inner
    }

    /// Unwraps the format.
    pub fn into_inner(self) -> F {
        self.inner
    }
}

thread_local! {
    /// One line's buffer per thread, reused: adding the ids costs no allocation once warm.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<S, N, F> FormatEvent<S, N> for TraceIdFormat<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some(span) = span_of(ctx, event) else {
            return self.inner.format_event(ctx, writer, event);
        };
        LINE.with(|line| match line.try_borrow_mut() {
            Ok(mut line) => {
                line.clear();
                self.inner
                    .format_event(ctx, Writer::new(&mut *line), event)?;
                add_ids(&mut line, &span);
                writer.write_str(&line)
            }
            // Formatting an event while formatting another on this thread (an inner format
            // that logs): a buffer of its own.
            Err(_) => {
                let mut line = String::new();
                self.inner
                    .format_event(ctx, Writer::new(&mut line), event)?;
                add_ids(&mut line, &span);
                writer.write_str(&line)
            }
        })
    }
}

/// The span an event belongs to, if it is part of a valid trace: its explicit parent's, else the
/// current OpenTelemetry context's, else (context activation turned off in
/// `tracing-opentelemetry`) the current `tracing` span's.
fn span_of<S, N>(ctx: &FmtContext<'_, S, N>, event: &Event<'_>) -> Option<SpanContext>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    if let Some(parent) = event.parent() {
        return otel_span_of(parent);
    }
    if event.is_root() {
        return None;
    }
    let current = Context::map_current(|cx| {
        let span = cx.span();
        let span_context = span.span_context();
        span_context.is_valid().then(|| span_context.clone())
    });
    if current.is_some() {
        return current;
    }
    let span = ctx.lookup_current()?;
    otel_span_of(&span.id())
}

fn otel_span_of(id: &tracing::span::Id) -> Option<SpanContext> {
    let cx = tracing::dispatcher::get_default(|dispatch| {
        tracing_opentelemetry::get_otel_context(id, dispatch)
    })?;
    let span = cx.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| span_context.clone())
}

/// Adds the ids of `span` to a formatted line: as the last keys of a JSON object, or appended
/// as `key=value` pairs before the line break.
fn add_ids(line: &mut String, span: &SpanContext) {
    let trace = u128::from_be_bytes(span.trace_id().to_bytes());
    let epoch = (trace >> 96) as u32;
    let rest = trace & ((1u128 << 96) - 1);
    let span_id = u64::from_be_bytes(span.span_id().to_bytes());
    let flags = span.trace_flags().to_u8();

    let body_end = line.trim_end_matches(['\n', '\r']).len();
    let ending = line.split_off(body_end);
    if line.starts_with('{') && line.ends_with('}') {
        line.pop();
        let empty_object = line.trim_end().ends_with('{');
        let _ = write!(
            line,
            "{comma}\"{XRAY_TRACE_ID_FIELD}\":\"1-{epoch:08x}-{rest:024x}\",\
             \"{TRACE_ID_FIELD}\":\"{trace:032x}\",\"{SPAN_ID_FIELD}\":\"{span_id:016x}\",\
             \"{TRACE_FLAGS_FIELD}\":\"{flags:02x}\"}}",
            comma = if empty_object { "" } else { "," },
        );
    } else {
        let _ = write!(
            line,
            " {XRAY_TRACE_ID_FIELD}=1-{epoch:08x}-{rest:024x} {TRACE_ID_FIELD}={trace:032x} \
             {SPAN_ID_FIELD}={span_id:016x} {TRACE_FLAGS_FIELD}={flags:02x}",
        );
    }
    line.push_str(&ending);
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    fn span() -> SpanContext {
        SpanContext::new(
            TraceId::from_hex("65f3a3e1abcd1234ef56789012345678").unwrap(),
            SpanId::from_hex("53995c3f42cd8ad8").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        )
    }

    #[rustfmt::skip]
    const LINES: &[(&str, &str)] = &[
        // plain text: appended before the line break
        ("2026-12-06T05:00:00Z  INFO app: paid order=42\n",
         "2026-12-06T05:00:00Z  INFO app: paid order=42 xray_trace_id=1-65f3a3e1-abcd1234ef56789012345678 trace_id=65f3a3e1abcd1234ef56789012345678 span_id=53995c3f42cd8ad8 trace_flags=01\n"),
        // no line break at all
        ("paid",
         "paid xray_trace_id=1-65f3a3e1-abcd1234ef56789012345678 trace_id=65f3a3e1abcd1234ef56789012345678 span_id=53995c3f42cd8ad8 trace_flags=01"),
        // JSON: the last keys of the object
        ("{\"level\":\"INFO\",\"fields\":{\"message\":\"paid\"}}\n",
         "{\"level\":\"INFO\",\"fields\":{\"message\":\"paid\"},\"xray_trace_id\":\"1-65f3a3e1-abcd1234ef56789012345678\",\"trace_id\":\"65f3a3e1abcd1234ef56789012345678\",\"span_id\":\"53995c3f42cd8ad8\",\"trace_flags\":\"01\"}\n"),
        // an empty JSON object gets no leading comma
        ("{}\r\n",
         "{\"xray_trace_id\":\"1-65f3a3e1-abcd1234ef56789012345678\",\"trace_id\":\"65f3a3e1abcd1234ef56789012345678\",\"span_id\":\"53995c3f42cd8ad8\",\"trace_flags\":\"01\"}\r\n"),
        // braces only at one end: text
        ("{not json\n",
         "{not json xray_trace_id=1-65f3a3e1-abcd1234ef56789012345678 trace_id=65f3a3e1abcd1234ef56789012345678 span_id=53995c3f42cd8ad8 trace_flags=01\n"),
    ];

    #[test]
    fn ids_are_added_to_text_and_json_lines() {
        for (input, expected) in LINES {
            let mut line = (*input).to_owned();
            add_ids(&mut line, &span());
            assert_eq!(line, *expected, "input {input:?}");
        }
    }

    #[test]
    fn an_unsampled_span_has_flags_00() {
        let unsampled = SpanContext::new(
            span().trace_id(),
            span().span_id(),
            TraceFlags::default(),
            false,
            TraceState::default(),
        );
        let mut line = String::from("x\n");
        add_ids(&mut line, &unsampled);
        assert!(line.ends_with(" trace_flags=00\n"), "{line}");
    }
}
