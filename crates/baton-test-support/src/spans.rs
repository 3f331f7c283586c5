//! A tracer whose finished spans a test can read.

use baton::{TracerHandle, XrayIdGenerator};
use opentelemetry::Context;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, InMemorySpanExporterBuilder, SdkTracer, SdkTracerProvider, SpanData,
};

/// A tracer provider with X-Ray ids (so every trace id fits an X-Ray header) whose spans go,
/// one by one as they end, to an in-memory exporter.
///
/// Reading spans flushes the provider first, so a span that ended is always there.
#[derive(Debug)]
pub struct Spans {
    /// The provider: take more tracers from it (`spans.provider.tracer("app")`).
    pub provider: SdkTracerProvider,
    /// The exporter holding the finished spans (`reset()` empties it between cases).
    pub exporter: InMemorySpanExporter,
}

impl Default for Spans {
    fn default() -> Self {
        Self::new()
    }
}

impl Spans {
    /// A provider with no finished spans yet.
    pub fn new() -> Self {
        let exporter = InMemorySpanExporterBuilder::new().build();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_id_generator(XrayIdGenerator::default())
            .build();
        Spans { provider, exporter }
    }

    /// A tracer from this provider, named `test`.
    pub fn tracer(&self) -> SdkTracer {
        self.provider.tracer("test")
    }

    /// The same tracer as [`tracer`](Self::tracer), as Baton takes it (`with_tracer(..)`).
    pub fn handle(&self) -> TracerHandle {
        TracerHandle::new(self.tracer())
    }

    /// A context holding a fresh span named `caller` (from a tracer named `app`) when
    /// `with_span` is set; an empty context otherwise. The caller's span is never ended.
    pub fn caller(&self, with_span: bool) -> Context {
        if with_span {
            Context::new().with_span(self.provider.tracer("app").start("caller"))
        } else {
            Context::new()
        }
    }

    /// Every span that has ended so far, in the order they ended.
    pub fn finished(&self) -> Vec<SpanData> {
        self.provider
            .force_flush()
            .expect("flush the span processor");
        self.exporter
            .get_finished_spans()
            .expect("read the in-memory exporter")
    }

    /// The finished spans named `name`, in the order they ended.
    pub fn named(&self, name: &str) -> Vec<SpanData> {
        self.finished()
            .into_iter()
            .filter(|span| span.name == name)
            .collect()
    }

    /// The one finished span named `name`.
    ///
    /// # Panics
    /// When there is no such span or more than one.
    pub fn one(&self, name: &str) -> SpanData {
        let mut spans = self.named(name);
        assert_eq!(
            spans.len(),
            1,
            "expected one span named {name}, got {spans:?}"
        );
        spans.remove(0)
    }

    /// The [`Shape`]s of every finished span but those named `except` (a caller's span), in
    /// the order they ended.
    pub fn shapes_except(&self, except: &str) -> Vec<Shape> {
        self.finished()
            .iter()
            .filter(|span| span.name != except)
            .map(shape)
            .collect()
    }

    /// Forgets every finished span (for property tests that run many cases on one provider).
    pub fn reset(&self) {
        self.exporter.reset();
    }
}

/// What a span says, without its ids and times: name, kind, attributes in the order they were
/// set (values as text), the number of links, the status, and whether it has a parent. Two
/// spans with equal shapes were made the same way (to compare the interceptor and Tower forms).
pub type Shape = (
    String,
    opentelemetry::trace::SpanKind,
    Vec<(String, String)>,
    usize,
    opentelemetry::trace::Status,
    bool,
);

/// The [`Shape`] of `span`.
pub fn shape(span: &SpanData) -> Shape {
    (
        span.name.to_string(),
        span.span_kind.clone(),
        span.attributes
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect(),
        span.links.len(),
        span.status.clone(),
        span.parent_span_id != opentelemetry::trace::SpanId::INVALID,
    )
}

/// Calls `service` with `request` the way a caller inside `cx` does: `cx` is current when
/// `call` is made (where a Tower form reads the caller's context) and while the response future
/// runs (where an SDK interceptor's hooks read it).
pub async fn call_in<S, R>(
    service: &mut S,
    request: R,
    cx: &Context,
) -> Result<S::Response, S::Error>
where
    S: tower::Service<R>,
{
    use opentelemetry::trace::FutureExt as _;
    use tower::ServiceExt as _;

    let ready = service.ready().await?;
    let call = {
        let _current = cx.clone().attach();
        ready.call(request)
    };
    call.with_context(cx.clone()).await
}

/// Attribute pairs as a [`Shape`] holds them: `pairs(&[("messaging.system", "aws_sqs")])`.
pub fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The X-Ray trace header that names `span` as the parent, sampled:
/// `Root=1-{8 hex}-{24 hex};Parent={16 hex};Sampled=1`.
pub fn header_of(span: &SpanData) -> String {
    let trace_id = span.span_context.trace_id().to_string();
    let (epoch, unique) = trace_id.split_at(8);
    format!(
        "Root=1-{epoch}-{unique};Parent={};Sampled=1",
        span.span_context.span_id()
    )
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{Span, Tracer};

    use super::*;

    #[test]
    fn reads_the_spans_that_ended() {
        let spans = Spans::new();
        spans.tracer().start("a").end();
        let mut open = spans.tracer().start("b");
        assert_eq!(spans.finished().len(), 1);
        open.end();
        assert_eq!(spans.named("b").len(), 1);
        let a = spans.one("a");
        let header = header_of(&a);
        assert_eq!(
            header.len(),
            "Root=1-".len() + 8 + 1 + 24 + ";Parent=".len() + 16 + 10
        );
        assert!(header.ends_with(&format!(";Parent={};Sampled=1", a.span_context.span_id())));
        spans.reset();
        assert!(spans.finished().is_empty());
    }

    #[test]
    fn the_caller_context_holds_a_span_only_when_asked() {
        let spans = Spans::new();
        assert!(spans.caller(true).has_active_span());
        assert!(!spans.caller(false).has_active_span());
    }
}
