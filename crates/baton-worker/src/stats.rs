//! Counters a running worker keeps, readable while it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    panicked: AtomicU64,
    deleted: AtomicU64,
    delete_failed: AtomicU64,
    in_flight: AtomicU64,
    extended: AtomicU64,
    abandoned: AtomicU64,
    receive_errors: AtomicU64,
    concurrency_limit: AtomicU64,
    pollers: AtomicU64,
}

/// A live view of a worker's counters; clone it before [`run`](crate::SqsWorker::run) and read
/// it from anywhere (metrics exporters, health checks, tests).
///
/// ```
/// # fn worker() -> baton_worker::SqsWorker<tower::util::BoxCloneService<aws_sdk_sqs::types::Message, (), std::convert::Infallible>> { unimplemented!() }
/// # fn f() {
/// let worker = worker();
/// let stats = worker.stats();
/// // … run the worker …
/// let now = stats.snapshot();
/// println!("{} received, {} deleted", now.received, now.deleted);
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct WorkerStats(Arc<Counters>);

/// The counters of a [`WorkerStats`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Messages received from the queue.
    pub received: u64,
    /// Handler calls that returned `Ok`.
    pub succeeded: u64,
    /// Handler calls that returned an error or panicked (panics are also in `panicked`).
    pub failed: u64,
    /// Handler calls that panicked.
    pub panicked: u64,
    /// Messages deleted after their handler succeeded.
    pub deleted: u64,
    /// Messages whose handler succeeded but whose delete failed; SQS will deliver them again.
    pub delete_failed: u64,
    /// Messages received and not yet finished (handled, or given up at shutdown).
    pub in_flight: u64,
    /// Visibility extensions (heartbeats) made for long-running handlers.
    pub extended: u64,
    /// Messages left unfinished at the shutdown deadline (they reappear on the queue).
    pub abandoned: u64,
    /// Failed ReceiveMessage calls (each retried after a backoff).
    pub receive_errors: u64,
    /// How many messages the worker lets itself hold at once now (it adapts this below
    /// [`with_concurrency`](crate::SqsWorker::with_concurrency); see there).
    pub concurrency_limit: u64,
    /// Receive loops the worker means to run now (at most
    /// [`with_pollers`](crate::SqsWorker::with_pollers); a loop stopping or starting catches
    /// up within moments).
    pub pollers: u64,
}

macro_rules! counter {
    ($($name:ident),*) => {
        impl WorkerStats {
            $(
                pub(crate) fn $name(&self, n: u64) {
                    self.0.$name.fetch_add(n, Ordering::Relaxed);
                }
            )*

            /// The counters now.
            pub fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot {
                    $($name: self.0.$name.load(Ordering::Relaxed),)*
                    concurrency_limit: self.0.concurrency_limit.load(Ordering::Relaxed),
                    pollers: self.0.pollers.load(Ordering::Relaxed),
                }
            }
        }
    };
}

counter!(
    received,
    succeeded,
    failed,
    panicked,
    deleted,
    delete_failed,
    in_flight,
    extended,
    abandoned,
    receive_errors
);

impl WorkerStats {
    pub(crate) fn set_gauges(&self, limit: usize, pollers: usize) {
        self.0
            .concurrency_limit
            .store(limit as u64, Ordering::Relaxed);
        self.0.pollers.store(pollers as u64, Ordering::Relaxed);
    }

    pub(crate) fn finished(&self, n: u64) {
        self.0.in_flight.fetch_sub(n, Ordering::Relaxed);
    }
}
