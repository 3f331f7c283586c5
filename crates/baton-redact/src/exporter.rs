//! The exporter wrapper.

use std::future::Future;
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::Redactor;

/// A [`SpanExporter`] that redacts every span with a [`Redactor`] and hands the batch to the
/// exporter it wraps (the X-Ray daemon exporter, an OTLP exporter, any other).
///
/// Redaction runs inside `export`, so with a batch span processor it costs the
/// application's threads nothing. Shutdown, flush and the resource go straight to the
/// inner exporter, and its result is returned unchanged.
#[derive(Debug)]
pub struct RedactingExporter<E> {
    inner: E,
    redactor: Redactor,
}

impl<E> RedactingExporter<E> {
    /// Wraps `inner` with the default policy ([`Redactor::new`]).
    pub fn new(inner: E) -> Self {
        Self::with_redactor(inner, Redactor::new())
    }

    /// Wraps `inner` with the given policy.
    pub fn with_redactor(inner: E, redactor: Redactor) -> Self {
        Self { inner, redactor }
    }

    /// The policy in use.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The wrapped exporter.
    pub fn get_ref(&self) -> &E {
        &self.inner
    }

    /// The wrapped exporter, mutably.
    pub fn get_mut(&mut self) -> &mut E {
        &mut self.inner
    }

    /// Unwraps the inner exporter.
    pub fn into_inner(self) -> E {
        self.inner
    }
}

impl<E: SpanExporter> SpanExporter for RedactingExporter<E> {
    fn export(&self, mut batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        for span in &mut batch {
            self.redactor.redact(span);
        }
        self.inner.export(batch)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown()
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
