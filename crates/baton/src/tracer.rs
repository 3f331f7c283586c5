//! Which OpenTelemetry tracer Baton's middleware starts its spans with.

use std::fmt;
use std::sync::Arc;

use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::trace::Tracer;

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
pub struct TracerHandle(Option<Arc<BoxedTracer>>);

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
        TracerHandle(Some(Arc::new(BoxedTracer::new(Box::new(tracer)))))
    }

    /// Runs `f` with the tracer.
    pub fn with<R>(&self, f: impl FnOnce(&BoxedTracer) -> R) -> R {
        match &self.0 {
            Some(tracer) => f(tracer),
            None => f(&global::tracer(INSTRUMENTATION_SCOPE)),
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
