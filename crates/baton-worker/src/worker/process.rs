//! Handling what one ReceiveMessage returned: one task per message, or per message group of a
//! FIFO queue (in order), each message in its own process span.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use baton::MessagingSystem;
use baton::metrics::Measure;
use baton_sqs::MessageExt as _;
use futures_util::FutureExt as _;
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanContext, Status, TraceContextExt};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::Instant;
use tower::{BoxError, Service, ServiceExt};

use super::Shared;
use super::delete::Handled;
use super::settle::{Settle, Settling};
use crate::queue::{Entry, Queue};

/// Messages handled one after another by one task: a single message on a standard queue, all
/// messages of one group (in the order received) on a FIFO queue.
pub(crate) type Chain = Vec<Message>;

/// Splits a received batch into chains. On a FIFO queue the messages of one group stay in one
/// chain, in order; elsewhere every message is a chain of its own.
pub(crate) fn chains(messages: Vec<Message>, fifo: bool) -> Vec<Chain> {
    if !fifo {
        return messages.into_iter().map(|m| vec![m]).collect();
    }
    let mut chains: Vec<(Option<String>, Chain)> = Vec::new();
    for message in messages {
        let group = message
            .attributes
            .as_ref()
            .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
            .cloned();
        match chains.iter_mut().find(|(g, _)| *g == group) {
            Some((_, chain)) => chain.push(message),
            None => chains.push((group, vec![message])),
        }
    }
    chains.into_iter().map(|(_, c)| c).collect()
}

fn entry(index: usize, message: &Message) -> Entry {
    Entry {
        id: index.to_string(),
        receipt_handle: message.receipt_handle.clone().unwrap_or_default(),
    }
}

fn receive_count(message: &Message) -> u32 {
    message
        .attributes
        .as_ref()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// How a handler call ended.
pub(crate) enum Outcome {
    Succeeded,
    Failed(String),
    Panicked(String),
}

/// Calls the handler (readiness first) with `cx` current while its future runs; a panic in
/// `poll_ready`, `call` or the future becomes [`Outcome::Panicked`].
pub(crate) async fn call_handler<M, S>(service: &mut S, message: M, cx: &Context) -> Outcome
where
    S: Service<M>,
    S::Error: Into<BoxError>,
{
    let call = async {
        service.ready().await.map_err(Into::into)?;
        service.call(message).await.map_err(Into::into)
    };
    match AssertUnwindSafe(call.with_context(cx.clone()))
        .catch_unwind()
        .await
    {
        Ok(Ok(_)) => Outcome::Succeeded,
        Ok(Err(error)) => Outcome::Failed(error_text(&*error)),
        Err(panic) => Outcome::Panicked(panic_text(&*panic)),
    }
}

pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned())
}

/// Handles one chain; `permit` holds one concurrency slot per message of it.
///
/// Two counters say how far the chain got, for the heartbeat and for a shutdown that gives up:
/// `done` counts messages finished (their delete queued, or left for redelivery); `succeeded`
/// runs ahead of it by one while a succeeded message's delete waits for room in the deleter's
/// channel, so that giving up then still deletes it rather than handing it back.
pub(crate) async fn run_chain<S, Q>(
    shared: Arc<Shared<Q>>,
    mut service: S,
    chain: Chain,
    mut permit: OwnedSemaphorePermit,
    received_at: Instant,
    deletes: mpsc::Sender<Handled>,
) where
    S: Service<Message> + Send,
    S::Error: Into<BoxError>,
    S::Future: Send,
    Q: Queue,
{
    let entries: Vec<Entry> = chain.iter().enumerate().map(|(i, m)| entry(i, m)).collect();
    // Held by the heartbeat for each extension, and by a failure for its retry delay: a delay
    // set while an extension is on its way would be undone by it when it lands.
    let visibility_calls = tokio::sync::Mutex::new(());
    // The process span of the message being handled: the settle spans of the chain's
    // visibility changes link to it.
    let current = std::sync::Mutex::new(SpanContext::empty_context());
    let done = AtomicUsize::new(0);
    let succeeded = AtomicUsize::new(0);
    let total = chain.len();
    let work = async {
        for (index, message) in chain.into_iter().enumerate() {
            let message_id = message.message_id.clone();
            let receive_count = receive_count(&message);
            if handle(&shared, &mut service, message, &current).await {
                succeeded.store(index + 1, Ordering::Release);
                // The deleter outlives every chain, so this only fails if it panicked.
                let _ = deletes
                    .send(Handled {
                        receipt_handle: entries[index].receipt_handle.clone(),
                        message_id,
                        span: current_span(&current),
                    })
                    .await;
                done.store(index + 1, Ordering::Release);
                shared.stats.finished(1);
                drop(permit.split(1));
                continue;
            }
            // Failed. On a FIFO queue the later messages of the group must wait for this one:
            // they are left on the queue, where SQS keeps the group's order.
            let last = if shared.fifo { total } else { index + 1 };
            done.store(last, Ordering::Release);
            shared.stats.finished((last - index) as u64);
            if last - index > 1 {
                tracing::debug!(
                    target: "baton_worker",
                    queue = %shared.queue_name,
                    skipped = last - index - 1,
                    "a FIFO message failed; the rest of its group is left for redelivery in order"
                );
            }
            if let Some((base, cap)) = shared.settings.retry_backoff {
                // The heartbeat no longer touches these (`done` moved past them), and an
                // extension already on its way lands before the delay is set (the lock), so
                // the delay set here is the one that holds. On a FIFO queue the rest of the
                // group gets the same delay, so the group is not held longer than the failed
                // message.
                let _no_extension_in_flight = visibility_calls.lock().await;
                let delay = base
                    .saturating_mul(1u32 << receive_count.saturating_sub(1).min(20))
                    .min(cap);
                let span = settle_start(&shared, last - index, &current);
                let again = Box::pin(
                    shared
                        .queue
                        .change_visibility(entries[index..last].to_vec(), delay),
                );
                let outcome = again.await;
                Settle::end(span, last - index, &outcome);
                match outcome {
                    Ok(failed) => {
                        for f in failed {
                            tracing::warn!(
                                target: "baton_worker",
                                queue = %shared.queue_name,
                                // The entry's place in its chain (the failed message's, or a
                                // later one of its FIFO group).
                                entry = %f.id,
                                code = %f.code,
                                "could not set the retry delay; the message reappears after its visibility timeout"
                            );
                        }
                    }
                    Err(error) => tracing::warn!(
                        target: "baton_worker",
                        queue = %shared.queue_name,
                        message_id = message_id.as_deref().unwrap_or(""),
                        %error,
                        "could not set the retry delay; the message reappears after its visibility timeout"
                    ),
                }
            }
            if shared.fifo {
                break;
            }
            drop(permit.split(1));
        }
    };
    let heartbeat = heartbeat(
        &shared,
        &entries,
        &done,
        &visibility_calls,
        received_at,
        &current,
    );
    tokio::pin!(heartbeat);
    tokio::select! {
        () = work => {}
        () = &mut heartbeat => {}
        () = shared.abandon.cancelled() => {
            let mut from = done.load(Ordering::Acquire);
            if succeeded.load(Ordering::Acquire) > from {
                // Handled, its delete still waiting for room: queue it now (the deleter is
                // draining), rather than giving back a message that was handled.
                let handled = Handled {
                    receipt_handle: entries[from].receipt_handle.clone(),
                    message_id: None,
                    span: current_span(&current),
                };
                tokio::select! {
                    _ = deletes.send(handled) => {}
                    () = shared.hard_stop.cancelled() => {}
                }
                shared.stats.finished(1);
                from += 1;
            }
            let unfinished = &entries[from..];
            shared.stats.abandoned(unfinished.len() as u64);
            shared.stats.finished(unfinished.len() as u64);
            if !unfinished.is_empty() {
                tracing::warn!(
                    target: "baton_worker",
                    queue = %shared.queue_name,
                    messages = unfinished.len(),
                    "shutdown deadline reached; unfinished messages go back to the queue"
                );
                // Best effort: make them visible again now rather than at the end of their
                // visibility timeout. Boxed, like every rare SDK call here: an SDK future is
                // many kilobytes, and inline it would make every message's task that much
                // bigger to spawn.
                // An extension already on its way lands first (it holds the lock while its
                // call runs), so it cannot hide the messages again after the give-back.
                let give_back = async {
                    // Not while a receive of this worker is open: it would take the message
                    // straight back, spending one of its receives for nothing. Meanwhile the
                    // heartbeat goes on, so the message stays hidden until it is given back.
                    tokio::select! {
                        () = shared.polling_stopped.cancelled() => {}
                        // (The heartbeat never ends.)
                        () = &mut heartbeat => {}
                    }
                    let _no_extension_in_flight = tokio::select! {
                        // (The heartbeat never ends; were it to, the lock is free.)
                        () = &mut heartbeat => visibility_calls.lock().await,
                        guard = visibility_calls.lock() => guard,
                    };
                    let span = settle_start(&shared, unfinished.len(), &current);
                    let again = Box::pin(
                        shared.queue.change_visibility(unfinished.to_vec(), Duration::ZERO),
                    );
                    Settle::end(span, unfinished.len(), &again.await);
                };
                tokio::select! {
                    () = give_back => {}
                    () = shared.hard_stop.cancelled() => {}
                }
            }
        }
    }
}

/// Runs the handler for one message in its process span, whose context it leaves in
/// `current` (for the settle spans of the chain's visibility changes); `true` if it succeeded.
async fn handle<S, Q>(
    shared: &Shared<Q>,
    service: &mut S,
    message: Message,
    current: &std::sync::Mutex<SpanContext>,
) -> bool
where
    S: Service<Message> + Send,
    S::Error: Into<BoxError>,
    S::Future: Send,
    Q: Queue,
{
    let cx = shared
        .process
        .start_process_span(&message, &shared.queue_name);
    if shared.settle.as_ref().is_some_and(|s| s.spans) {
        *current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = cx.span().span_context().clone();
    }
    let message_id = message.message_id.clone();
    let receive_count = receive_count(&message);
    let measure = shared.metrics.as_ref().map(|metrics| {
        if let Some(waited) = message.time_in_queue(std::time::SystemTime::now()) {
            metrics.record_time_in_queue(MessagingSystem::Sqs, shared.queue_name.clone(), waited);
        }
        metrics.start_process(MessagingSystem::Sqs, shared.queue_name.clone())
    });
    // Dropped unfinished (the shutdown deadline gave the message back), the span says so
    // rather than ending as if the handler had succeeded.
    let mut unfinished = Unfinished(Some(&cx), measure);
    let started = Instant::now();
    let outcome = call_handler(service, message, &cx).await;
    if matches!(outcome, Outcome::Succeeded) {
        shared.adapt.handled(started.elapsed());
    }
    unfinished.0 = None;
    let measure = unfinished.1.take();

    let span = cx.span();
    let id = message_id.as_deref().unwrap_or("");
    let (error, panicked) = match outcome {
        Outcome::Succeeded => {
            span.end();
            if let Some(measure) = measure {
                measure.finish(None, 1);
            }
            shared.stats.succeeded(1);
            return true;
        }
        Outcome::Failed(error) => (error, false),
        Outcome::Panicked(panic) => (format!("handler panicked: {panic}"), true),
    };
    let error_type = if panicked { "panic" } else { "handler_error" };
    span.set_attribute(opentelemetry::KeyValue::new("error.type", error_type));
    if let Some(measure) = measure {
        measure.finish(Some(error_type), 1);
    }
    span.set_status(Status::error(error.clone()));
    span.end();
    shared.stats.failed(1);
    if panicked {
        shared.stats.panicked(1);
    }
    // Logged in the message's context, so a log layer that adds trace ids
    // (`baton::logs::TraceIdFormat`) ties the line to the message's trace.
    let _in_message_context = cx.clone().attach();
    tracing::warn!(
        target: "baton_worker",
        queue = %shared.queue_name,
        message_id = id,
        receive_count,
        %error,
        "handler failed; the message stays on the queue for redelivery"
    );
    false
}

/// Ends a process span (and its measure) whose handler never finished: its future was dropped
/// at the shutdown deadline and the message given back to the queue.
struct Unfinished<'a>(Option<&'a Context>, Option<Measure>);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if let (Some(_), Some(measure)) = (self.0, self.1.take()) {
            measure.finish(Some("abandoned"), 1);
        }
        if let Some(cx) = self.0 {
            let span = cx.span();
            span.set_attribute(opentelemetry::KeyValue::new("error.type", "abandoned"));
            span.set_status(Status::error(
                "the shutdown deadline came before the handler finished; the message was given back",
            ));
            span.end();
        }
    }
}

/// The error and its sources, `: `-separated.
pub(crate) fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Extends the visibility of the chain's unfinished messages each time `fraction` of the
/// visibility timeout has passed since they were received. Never returns.
async fn heartbeat<Q: Queue>(
    shared: &Shared<Q>,
    entries: &[Entry],
    done: &AtomicUsize,
    calls: &tokio::sync::Mutex<()>,
    received_at: Instant,
    current: &std::sync::Mutex<SpanContext>,
) {
    let visibility = shared.visibility;
    if visibility.is_zero() {
        return std::future::pending().await;
    }
    let every = visibility
        .mul_f64(shared.settings.heartbeat_fraction)
        .max(Duration::from_millis(500));
    let mut due = received_at + every;
    loop {
        tokio::time::sleep_until(due).await;
        due += every;
        let _calling = calls.lock().await;
        let pending = &entries[done.load(Ordering::Acquire)..];
        if pending.is_empty() {
            continue;
        }
        let span = settle_start(shared, pending.len(), current);
        let outcome = Box::pin(shared.queue.change_visibility(pending.to_vec(), visibility)).await;
        Settle::end(span, pending.len(), &outcome);
        match outcome {
            Ok(failed) => {
                shared
                    .stats
                    .extended(pending.len().saturating_sub(failed.len()) as u64);
                for f in failed {
                    tracing::warn!(
                        target: "baton_worker",
                        queue = %shared.queue_name,
                        code = %f.code,
                        "could not extend a running message's visibility; it may be delivered twice"
                    );
                }
            }
            Err(error) => tracing::warn!(
                target: "baton_worker",
                queue = %shared.queue_name,
                %error,
                "could not extend running messages' visibility; they may be delivered twice"
            ),
        }
    }
}

/// The process span of the chain's current message (empty when settle spans are off).
fn current_span(current: &std::sync::Mutex<SpanContext>) -> SpanContext {
    current
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// Starts the settle span of a ChangeMessageVisibilityBatch over `total` messages of a chain,
/// linked to the process span of the chain's current message.
fn settle_start<Q>(
    shared: &Shared<Q>,
    total: usize,
    current: &std::sync::Mutex<SpanContext>,
) -> Settling {
    let Some(settle) = shared.settle.as_deref() else {
        return Settling::default();
    };
    let span = current_span(current);
    settle.start("ChangeMessageVisibilityBatch", total, [&span])
}
