//! Deleting handled messages in DeleteMessageBatch calls.
//!
//! Handled messages arrive on a channel; the deleter gathers up to ten, waiting at most the
//! linger time for more, and sends them in one call while it goes on gathering. Entries SQS could
//! not delete for a reason of its own are retried with backoff; an entry refused as the caller's
//! fault (an expired receipt handle: the message was already delivered again) is logged and
//! counted, as is a batch still failing after the last attempt. Either way SQS delivers those
//! messages again, so nothing is lost: at-least-once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use opentelemetry::trace::SpanContext;

use super::settle::Settle;
use crate::WorkerStats;
use crate::backoff::Backoff;
use crate::queue::{Entry, Queue};

/// The most entries SQS takes in one batch call.
pub(crate) const MAX_BATCH: usize = 10;
/// Batch calls in flight at once.
const MAX_CALLS: usize = 4;
/// Attempts per batch before giving up on it.
const ATTEMPTS: u32 = 5;

/// A message to delete.
#[derive(Debug)]
pub(crate) struct Handled {
    pub(crate) receipt_handle: String,
    pub(crate) message_id: Option<String>,
    /// The message's process span, which the delete's settle span links to.
    pub(crate) span: SpanContext,
}

pub(crate) async fn run<Q: Queue>(
    queue: Arc<Q>,
    mut handled: mpsc::Receiver<Handled>,
    stats: WorkerStats,
    linger: Duration,
    queue_name: Arc<str>,
    settle: Option<Arc<Settle>>,
) {
    let calls = Arc::new(Semaphore::new(MAX_CALLS));
    let mut running = JoinSet::new();
    while let Some(first) = handled.recv().await {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        batch.push(first);
        // Take what is already queued without touching the timer; wait (one timer per batch)
        // only if the batch is still short.
        while batch.len() < MAX_BATCH {
            match handled.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        if batch.len() < MAX_BATCH && !linger.is_zero() {
            let wait = tokio::time::sleep(linger);
            tokio::pin!(wait);
            while batch.len() < MAX_BATCH {
                tokio::select! {
                    biased;
                    next = handled.recv() => match next {
                        Some(next) => batch.push(next),
                        None => break,
                    },
                    () = &mut wait => break,
                }
            }
        }
        let permit = calls
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (queue, stats, name) = (queue.clone(), stats.clone(), queue_name.clone());
        let settle = settle.clone();
        running.spawn(async move {
            delete_batch(&*queue, batch, &stats, &name, settle.as_deref()).await;
            drop(permit);
        });
        // Reap finished calls so the set stays small.
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

async fn delete_batch<Q: Queue>(
    queue: &Q,
    batch: Vec<Handled>,
    stats: &WorkerStats,
    name: &str,
    settle: Option<&Settle>,
) {
    let mut pending: Vec<(usize, &Handled)> = batch.iter().enumerate().collect();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
    for attempt in 1..=ATTEMPTS {
        let entries = pending
            .iter()
            .map(|(i, h)| Entry {
                id: i.to_string(),
                receipt_handle: h.receipt_handle.clone(),
            })
            .collect();
        let span = settle
            .map(|s| {
                s.start(
                    "DeleteMessageBatch",
                    pending.len(),
                    pending.iter().map(|(_, h)| &h.span),
                )
            })
            .unwrap_or_default();
        let outcome = Box::pin(queue.delete(entries)).await;
        Settle::end(span, pending.len(), &outcome);
        match outcome {
            Ok(failed) => {
                let mut retry = Vec::new();
                for (i, h) in &pending {
                    let Some(f) = failed.iter().find(|f| f.id == i.to_string()) else {
                        stats.deleted(1);
                        continue;
                    };
                    if f.sender_fault || attempt == ATTEMPTS {
                        stats.delete_failed(1);
                        tracing::warn!(
                            target: "baton_worker",
                            queue = name,
                            message_id = h.message_id.as_deref().unwrap_or(""),
                            code = %f.code,
                            "could not delete a handled message; SQS will deliver it again"
                        );
                    } else {
                        retry.push((*i, *h));
                    }
                }
                pending = retry;
            }
            Err(error) if attempt < ATTEMPTS => {
                tracing::warn!(
                    target: "baton_worker",
                    queue = name,
                    attempt,
                    %error,
                    "DeleteMessageBatch failed; retrying"
                );
            }
            Err(error) => {
                stats.delete_failed(pending.len() as u64);
                tracing::error!(
                    target: "baton_worker",
                    queue = name,
                    messages = pending.len(),
                    %error,
                    "DeleteMessageBatch failed {ATTEMPTS} times; SQS will deliver these messages again"
                );
                return;
            }
        }
        if pending.is_empty() {
            return;
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}
