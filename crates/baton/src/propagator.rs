//! The X-Ray [`TextMapPropagator`].

use std::sync::OnceLock;

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceId};
use opentelemetry_sdk::propagation::TraceContextPropagator;

use crate::consts::{MAX_HEADER_LEN, XRAY_HEADER};
use crate::header::{
    HeaderError, MAX_PASSED_TAIL, TraceHeader, format_header, span_context_for,
    without_deferred_marker,
};

/// Fields of an incoming X-Ray header that Baton passes on to the next hop unchanged:
/// `Lineage` (Lambda's recursive-loop detection) and fields Baton does not know, as many as
/// fit: the header passed on stays within [`MAX_HEADER_LEN`](crate::MAX_HEADER_LEN) bytes
/// (an unknown field that would push it over, and those after it, are left out).
///
/// [`XrayPropagator`] stores this in the extracted [`Context`] and writes it back on inject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassOnFields {
    /// `;Lineage=…;key=value…`, ready to append.
    tail: String,
}

impl PassOnFields {
    /// The fields to pass on, as many as fit in a header of [`MAX_HEADER_LEN`] once the
    /// next hop's `Root`, `Parent` and `Sampled` are written in front of them (so the next
    /// reader does not refuse the header as too long and lose the trace).
    fn from_header(header: &TraceHeader<'_>) -> Option<Self> {
        let mut tail = String::new();
        // Writing to a `String` cannot fail.
        let dropped = header
            .write_tail(&mut tail, MAX_PASSED_TAIL, true)
            .unwrap_or(0);
        if dropped > 0 {
            tracing::debug!(
                target: "baton",
                dropped,
                "unknown trace header fields left out of the next hop's header, which would \
                 otherwise grow past the {MAX_HEADER_LEN}-byte limit"
            );
        }
        (!tail.is_empty()).then_some(PassOnFields { tail })
    }

    /// The `Lineage` value, if one is passed on.
    pub fn lineage(&self) -> Option<&str> {
        self.tail
            .split(';')
            .find_map(|field| field.strip_prefix("Lineage="))
    }

    /// The fields as they are appended to an outgoing header, each preceded by `;`.
    pub fn as_str(&self) -> &str {
        &self.tail
    }
}

/// Reads and writes the AWS X-Ray trace header (`X-Amzn-Trace-Id`).
///
/// Unlike a plain field-by-field translation, it
/// - matches the carrier key and the header's own keys case-insensitively and tolerates spaces
///   and tabs (see below for OpenTelemetry's own `HashMap` carrier);
/// - reads a header field by field, by the rules of [`TraceHeader::parse`]: a malformed or
///   contradictory field other than `Root` is left out alone, with a `tracing` event;
/// - keeps `Lineage` (only in its documented forms) and unknown fields from extract to inject
///   (see [`PassOnFields`]);
/// - continues a trace from a header with `Root` but no usable `Parent` (see
///   [`remote_span_context`]);
/// - reads `Sampled=?` and a missing `Sampled` as "no decision yet" rather than "not sampled"
///   (see [`XrayParentBased`](crate::XrayParentBased)), and writes back `?` only where it read
///   one;
/// - never fails: an unusable header leaves the context as it was and emits a `tracing` event.
///
/// # Carriers and key case
/// The propagator asks the carrier for `X-Amzn-Trace-Id`, then for any key that equals it
/// ignoring ASCII case. OpenTelemetry's `Extractor for HashMap` lower-cases the key inside
/// `get`, so a `HashMap` holding the header under a key with capitals (`X-Amzn-Trace-Id`, as
/// SQS attributes and OpenTelemetry Python spell it) cannot hand the value to anyone through
/// that `Extractor`: wrap such a map in [`MapExtractor`](crate::carrier::MapExtractor), which
/// reads any spelling. (The propagator emits a warning when it sees such a key it cannot read.)
///
/// It composes with the W3C propagator:
///
/// ```
/// use std::collections::HashMap;
/// use baton::carrier::MapExtractor;
/// use baton::XrayPropagator;
/// use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
/// use opentelemetry::trace::TraceContextExt;
/// use opentelemetry_sdk::propagation::TraceContextPropagator;
///
/// let propagator = TextMapCompositePropagator::new(vec![
///     Box::new(TraceContextPropagator::new()),
///     Box::new(XrayPropagator::new()),
/// ]);
/// // Spelled as the constant `baton::XRAY_HEADER` spells it: read through `MapExtractor`.
/// let carrier = HashMap::from([(
///     "X-Amzn-Trace-Id".to_string(),
///     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_string(),
/// )]);
/// let cx = propagator.extract(&MapExtractor::new(&carrier));
/// assert_eq!(
///     cx.span().span_context().trace_id().to_string(),
///     "5759e988bd862e3fe1be46a994272793"
/// );
/// ```
#[derive(Clone, Debug, Default)]
pub struct XrayPropagator {
    _private: (),
}

impl XrayPropagator {
    /// A new X-Ray propagator.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Looks `key` up as given, then under every key of the carrier that equals it ignoring ASCII
/// case. A carrier may list a key that its own `get` cannot read back (OpenTelemetry's
/// `HashMap` extractor lower-cases the key it is asked for): that is reported, since the
/// trace is lost and the fix is on the caller's side.
pub(crate) fn get_ignore_case<'a>(extractor: &'a dyn Extractor, key: &str) -> Option<&'a str> {
    if let Some(value) = extractor.get(key) {
        return Some(value);
    }
    let mut unreadable = None;
    for found in extractor.keys() {
        if !found.eq_ignore_ascii_case(key) {
            continue;
        }
        match extractor.get(found) {
            Some(value) => return Some(value),
            None => unreadable = Some(found),
        }
    }
    if let Some(found) = unreadable {
        tracing::warn!(
            target: "baton::propagation",
            key = found,
            "the carrier lists a trace header key that its own Extractor cannot read \
             (OpenTelemetry's HashMap Extractor looks keys up in lower case); wrap the map in \
             baton::carrier::MapExtractor to read it in any letter case"
        );
    }
    None
}

/// A bounded, printable excerpt of untrusted input for log events.
pub(crate) fn excerpt(value: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = value
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if value.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

fn report_dropped(source: &str, value: &str, header: &TraceHeader<'_>) {
    let dropped = header.dropped();
    if dropped.is_empty() {
        return;
    }
    const MESSAGE: &str =
        "left malformed or conflicting fields out of an X-Ray trace header; its trace is kept";
    if dropped.touches_trace() {
        tracing::warn!(
            target: "baton::propagation",
            source,
            ?dropped,
            header = %excerpt(value),
            "{MESSAGE}"
        );
    } else {
        tracing::debug!(target: "baton::propagation", source, ?dropped, "{MESSAGE}");
    }
}

pub(crate) fn report_invalid(source: &str, value: &str, error: &HeaderError) {
    tracing::warn!(
        target: "baton::propagation",
        source,
        header = %excerpt(value),
        %error,
        "ignoring malformed X-Ray trace header; the message starts a new trace"
    );
}

/// A stand-in parent id for a header that has a `Root` but no usable `Parent`: derived from the
/// trace id (so every reader of the same header agrees) and never zero.
fn stand_in_parent(trace_id: TraceId) -> SpanId {
    let low = u128::from_be_bytes(trace_id.to_bytes()) as u64;
    SpanId::from_bytes(low.max(1).to_be_bytes())
}

/// The remote span context an X-Ray header describes.
///
/// A header with `Root` but no `Parent` (as some AWS services send), or whose `Parent` was
/// malformed and left out, still continues its trace: OpenTelemetry needs a parent span id, so
/// a stand-in derived from the trace id is used (its low 64 bits), and the first span of this
/// service appears in X-Ray under the right trace with an absent parent.
pub fn remote_span_context(header: &TraceHeader<'_>) -> SpanContext {
    header.span_context().unwrap_or_else(|| {
        span_context_for(
            header.trace_id(),
            stand_in_parent(header.trace_id()),
            header.sampled_field(),
        )
    })
}

/// `cx` with the span context and pass-on fields of `header`.
pub fn context_from_header(cx: &Context, header: &TraceHeader<'_>) -> Context {
    let cx = cx.with_remote_span_context(remote_span_context(header));
    match PassOnFields::from_header(header) {
        Some(fields) => cx.with_value(fields),
        None => cx,
    }
}

/// Parses `value` as an X-Ray header and returns `cx` continued from it; on unusable input,
/// emits a `tracing` event naming `source` and returns `cx` unchanged.
///
/// Fields left out of a usable header ([`TraceHeader::dropped`]) are named in a `tracing`
/// event too: a warning when they change the trace passed on (`Parent`, `Sampled`,
/// `Lineage`), a debug event otherwise.
pub fn extract_header(cx: &Context, value: &str, source: &str) -> Context {
    match TraceHeader::parse(value) {
        Ok(header) => {
            report_dropped(source, value, &header);
            context_from_header(cx, &header)
        }
        Err(error) => {
            report_invalid(source, value, &error);
            cx.clone()
        }
    }
}

/// The X-Ray header for the active span of `cx`, with the pass-on fields stored in `cx`;
/// `None` if `cx` has no valid span context.
pub fn header_for_context(cx: &Context) -> Option<String> {
    let span = cx.span();
    let header = format_header(span.span_context())?;
    let mut out = String::with_capacity(96);
    header.push_to(&mut out);
    if let Some(fields) = cx.get::<PassOnFields>() {
        out.push_str(&fields.tail);
    }
    Some(out)
}

/// The X-Ray header for the active span of `cx` in the form AWS *system attributes* take
/// (SQS `AWSTraceHeader`, an EventBridge entry's `TraceHeader`): `Root`, `Parent`, `Sampled` and
/// `Lineage`, without unknown fields, which AWS may refuse there. The `Lineage` is
/// `lambda_lineage` when running inside Lambda (see [`lambda_lineage`]: Lambda has already
/// advanced it for this invocation, and its recursive-loop detection counts on seeing the
/// advanced value), else the one `cx` carries. `None` if `cx` has no valid span.
pub fn aws_header_for_context(cx: &Context, lambda_lineage: Option<&str>) -> Option<String> {
    let span = cx.span();
    let header = format_header(span.span_context())?;
    let mut out = String::with_capacity(128);
    header.push_to(&mut out);
    let lineage =
        lambda_lineage.or_else(|| cx.get::<PassOnFields>().and_then(PassOnFields::lineage));
    if let Some(lineage) = lineage {
        out.push_str(";Lineage=");
        out.push_str(lineage);
    }
    Some(out)
}

/// Reads an environment variable of this process, as `std::env::var(name).ok()` does, except
/// that `AWS_LAMBDA_FUNCTION_NAME` is read once and remembered: Lambda sets it before the
/// process starts and it never changes, and outside Lambda this makes [`lambda_lineage`] cost
/// one atomic load instead of a locked walk over the environment on every send.
///
/// The default environment of the service crates' middleware.
pub fn process_env(name: &str) -> Option<String> {
    static FUNCTION_NAME: OnceLock<Option<String>> = OnceLock::new();
    if name == LAMBDA_FUNCTION_NAME {
        return FUNCTION_NAME
            .get_or_init(|| std::env::var(LAMBDA_FUNCTION_NAME).ok())
            .clone();
    }
    std::env::var(name).ok()
}

const LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// The trace header Lambda handed one invocation (the Runtime API's `Lambda-Runtime-Trace-Id`,
/// `lambda_runtime::Context::xray_trace_id`), kept in the OpenTelemetry [`Context`] the
/// invocation's work runs in.
///
/// Baton's send paths take the `Lineage` they pass on (the one Lambda's recursive-loop
/// detection counts) from here before `_X_AMZN_TRACE_ID`: a process that runs several
/// invocations at once (Lambda Managed Instances, `lambda_runtime`'s `concurrency-tokio`) has
/// one environment but as many trace headers. `baton_worker::lambda::InvocationLayer` puts it
/// in place; put it there yourself with `cx.with_value(LambdaInvocationTrace::new(header))`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LambdaInvocationTrace {
    header: String,
    lineage: Option<String>,
}

impl LambdaInvocationTrace {
    /// The invocation's trace header, as Lambda gave it.
    pub fn new(header: impl Into<String>) -> Self {
        let header = header.into();
        let lineage = TraceHeader::parse(&header)
            .ok()
            .and_then(|h| h.lineage().map(str::to_owned));
        LambdaInvocationTrace { header, lineage }
    }

    /// The header as given.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// Its `Lineage`, in a documented form, if it has one.
    pub fn lineage(&self) -> Option<&str> {
        self.lineage.as_deref()
    }
}

/// Inside AWS Lambda (`AWS_LAMBDA_FUNCTION_NAME` set, as `env` reads it), the `Lineage` a send
/// from `cx` passes on: the invocation's, when `cx` (else the current context) carries a
/// [`LambdaInvocationTrace`] (even when that header has none), else the one in
/// `_X_AMZN_TRACE_ID` ([`lambda_lineage`]). `None` outside Lambda, where this costs the one
/// lookup of the function name.
pub fn invocation_lineage(cx: &Context, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    env(LAMBDA_FUNCTION_NAME)?;
    if let Some(trace) = cx.get::<LambdaInvocationTrace>() {
        return trace.lineage.clone();
    }
    match Context::current().get::<LambdaInvocationTrace>() {
        Some(trace) => trace.lineage.clone(),
        None => lambda_lineage(env),
    }
}

/// Inside AWS Lambda, the `Lineage` of the invocation's trace header (`_X_AMZN_TRACE_ID`), which
/// Lambda's recursive-loop detection counts on; `None` outside Lambda. `env` reads an
/// environment variable (pass [`process_env`] or `|name| std::env::var(name).ok()`; tests pass
/// their own).
pub fn lambda_lineage(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    env(LAMBDA_FUNCTION_NAME)?;
    let value = env("_X_AMZN_TRACE_ID")?;
    let header = TraceHeader::parse(&value).ok()?;
    header.lineage().map(str::to_owned)
}

impl TextMapPropagator for XrayPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        if let Some(value) = header_for_context(cx) {
            injector.set(XRAY_HEADER, value);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match get_ignore_case(extractor, XRAY_HEADER) {
            Some(value) => extract_header(cx, value, XRAY_HEADER),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&*XRAY_FIELDS)
    }
}

static XRAY_FIELDS: std::sync::LazyLock<[String; 1]> =
    std::sync::LazyLock::new(|| [XRAY_HEADER.to_string()]);

/// W3C trace context (`traceparent`, `tracestate`) that keeps Baton's private
/// deferred-sampling marker (see [`is_deferred`](crate::is_deferred)) off the wire both ways:
/// it is never written into an outgoing `tracestate`, and one read from an incoming
/// `tracestate` is dropped. A W3C parent's sampled flag is its decision; a foreign
/// `tracestate` must not reopen it for [`XrayParentBased`](crate::XrayParentBased).
///
/// Otherwise it is OpenTelemetry's `TraceContextPropagator`.
#[derive(Clone, Debug, Default)]
pub struct W3cPropagator(TraceContextPropagator);

impl W3cPropagator {
    /// A W3C trace context propagator.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TextMapPropagator for W3cPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        match without_deferred_marker(span.span_context()) {
            Some(public) => self
                .0
                .inject_context(&Context::new().with_remote_span_context(public), injector),
            None => self.0.inject_context(cx, injector),
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let extracted = self.0.extract_with_context(cx, extractor);
        let read = extracted.span().span_context().clone();
        // Only a context read here is cleaned: `cx`'s own (an X-Ray header's `Sampled=?`, say)
        // is left as it is when there was no valid `traceparent`.
        if &read == cx.span().span_context() {
            return extracted;
        }
        match without_deferred_marker(&read) {
            Some(clean) => cx.with_remote_span_context(clean),
            None => extracted,
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        self.0.fields()
    }
}
