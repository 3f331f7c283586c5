//! Counting what the exporter did with the spans handed to it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// What the exporter did with the spans the batch processor handed it: read any time, from
/// [`Telemetry::stats`](crate::Telemetry::stats).
///
/// Every exported batch ends up in exactly one of [`exported`](Self::exported) (the receiver
/// took it: a 2xx answer, or for the daemon the kernel took the datagram) and
/// [`failed`](Self::failed) (refused, unreachable, timed out after the exporter's retries).
/// Spans the batch processor dropped because its queue was full never reach the exporter and
/// are not counted here (the SDK logs them when it shuts down). Spans a receiver took the
/// request of but reported as rejected in an OTLP `partial_success` count as exported (the
/// OTLP exporter logs the rejection; it does not hand the count on).
#[derive(Clone, Default)]
pub struct ExportStats(Arc<Counters>);

#[derive(Default)]
struct Counters {
    exported: AtomicU64,
    failed: AtomicU64,
    batches_failed: AtomicU64,
    /// Whether the last export failed: failures are logged once per outage.
    failing: AtomicBool,
}

impl ExportStats {
    /// Spans the receiver accepted.
    pub fn exported(&self) -> u64 {
        self.0.exported.load(Ordering::Relaxed)
    }

    /// Spans dropped because their export failed.
    pub fn failed(&self) -> u64 {
        self.0.failed.load(Ordering::Relaxed)
    }

    /// Export calls that failed.
    pub fn batches_failed(&self) -> u64 {
        self.0.batches_failed.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for ExportStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportStats")
            .field("exported", &self.exported())
            .field("failed", &self.failed())
            .field("batches_failed", &self.batches_failed())
            .finish()
    }
}

/// An exporter that counts the outcome of every export in [`ExportStats`], and says in a
/// `tracing` event when exports start and stop failing.
#[derive(Debug)]
pub(crate) struct Counted<E> {
    pub(crate) inner: E,
    pub(crate) stats: ExportStats,
    /// What the exporter sends to, for the log.
    pub(crate) target: String,
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let spans = batch.len() as u64;
        let export = self.inner.export(batch);
        let counters = Arc::clone(&self.stats.0);
        let target = self.target.clone();
        async move {
            let result = export.await;
            match &result {
                Ok(()) => {
                    counters.exported.fetch_add(spans, Ordering::Relaxed);
                    if counters.failing.swap(false, Ordering::Relaxed) {
                        tracing::info!(target: "baton_export", %target, "spans are exported again");
                    }
                }
                Err(error) => {
                    counters.failed.fetch_add(spans, Ordering::Relaxed);
                    counters.batches_failed.fetch_add(1, Ordering::Relaxed);
                    if !counters.failing.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            target: "baton_export",
                            %target,
                            %error,
                            spans,
                            "cannot export spans; dropping them until exports succeed again"
                        );
                    }
                }
            }
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
