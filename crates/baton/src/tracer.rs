//! Which OpenTelemetry tracer Baton's middleware starts its spans with.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use opentelemetry::Context;
use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::trace::{TraceContextExt, Tracer};
use opentelemetry_sdk::trace::SdkTracer;

use crate::{LinkPolicy, MessagingSpan};

/// The instrumentation scope name of spans Baton starts with the global tracer provider.
pub const INSTRUMENTATION_SCOPE: &str = "baton";

/// The tracer Baton's middleware uses: by default the global tracer provider's (looked up at
/// each use, so a provider installed after the middleware was built is still honoured), or
/// one given explicitly.
///
/// ```
/// use baton::TracerHandle;
/// use opentelemetry::trace::TracerProvider;
/// use opentelemetry_sdk::trace::SdkTracerProvider;
///
/// let provider = SdkTracerProvider::builder().build();
/// let handle = TracerHandle::new(provider.tracer("my-service"));
/// # drop(handle);
/// ```
#[derive(Clone, Default)]
pub struct TracerHandle(Option<Arc<Explicit>>);

/// A tracer given explicitly.
struct Explicit {
    boxed: BoxedTracer,
    /// The same tracer without the box, when it is the OpenTelemetry SDK's (the usual case):
    /// its spans then go into a [`Context`] boxed once rather than twice, and every later
    /// call on them (attributes, end) makes one dynamic dispatch instead of two.
    sdk: Option<SdkTracer>,
}

impl TracerHandle {
    /// Use the global tracer provider, looked up at each use.
    pub fn global() -> Self {
        TracerHandle(None)
    }

    /// Use `tracer`.
    pub fn new<T>(tracer: T) -> Self
    where
        T: Tracer + Send + Sync + 'static,
        T::Span: Send + Sync + 'static,
    {
        let sdk = (&tracer as &dyn Any).downcast_ref::<SdkTracer>().cloned();
        TracerHandle(Some(Arc::new(Explicit {
            boxed: BoxedTracer::new(Box::new(tracer)),
            sdk,
        })))
    }

    /// Runs `f` with the tracer.
    pub fn with<R>(&self, f: impl FnOnce(&BoxedTracer) -> R) -> R {
        match &self.0 {
            Some(tracer) => f(&tracer.boxed),
            None => f(&global::tracer(INSTRUMENTATION_SCOPE)),
        }
    }

    /// Starts `span` as a child of the active span of `parent` (see [`MessagingSpan::start`])
    /// and returns `parent` with the new span active. The same as
    /// `parent.with_span(handle.with(|tracer| span.start(tracer, parent)))`, but an
    /// OpenTelemetry SDK tracer is called directly, without a box around each span.
    pub fn start(&self, span: MessagingSpan, parent: &Context) -> Context {
        match self.0.as_deref() {
            Some(Explicit {
                sdk: Some(tracer), ..
            }) => parent.with_span(span.start(tracer, parent)),
            _ => parent.with_span(self.with(|tracer| span.start(tracer, parent))),
        }
    }

    /// Starts `span` as a child of the active span of `parent` and ends it at once: for a span
    /// whose attributes are all known when it is made (a `receive` span, made when the call
    /// returned, with its start time set to when the call began). Like [`start`](Self::start),
    /// an OpenTelemetry SDK tracer is called directly, and the span goes into no `Context`.
    pub fn record(&self, span: MessagingSpan, parent: &Context) {
        use opentelemetry::trace::Span as _;
        match self.0.as_deref() {
            Some(Explicit {
                sdk: Some(tracer), ..
            }) => span.start(tracer, parent).end(),
            _ => self.with(|tracer| span.start(tracer, parent).end()),
        }
    }

    /// [`record`](Self::record) for a call that failed: the span records `error` (status,
    /// `error.type`, request id, HTTP status) before it ends.
    pub fn record_failed(&self, span: MessagingSpan, parent: &Context, error: &crate::CallError) {
        use opentelemetry::trace::TraceContextExt as _;
        let cx = self.start(span, parent);
        let span = cx.span();
        error.record(&span);
        span.end();
    }

    /// Starts the processing span `span` for a message whose producer context is `producer`
    /// (see [`MessagingSpan::start_process`]) and returns `producer` with the new span active
    /// in place of the producer's (its pass-on fields and baggage stay). Like
    /// [`start`](Self::start), an OpenTelemetry SDK tracer is called without a box.
    pub fn start_process(
        &self,
        span: MessagingSpan,
        producer: &Context,
        policy: LinkPolicy,
    ) -> Context {
        match self.0.as_deref() {
            Some(Explicit {
                sdk: Some(tracer), ..
            }) => producer.with_span(span.start_process(tracer, producer, policy)),
            _ => {
                producer.with_span(self.with(|tracer| span.start_process(tracer, producer, policy)))
            }
        }
    }
}

impl fmt::Debug for TracerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Some(_) => "TracerHandle(explicit)",
            None => "TracerHandle(global)",
        })
    }
}
