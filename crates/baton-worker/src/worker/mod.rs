//! [`SqsWorker`]: long-poll a queue, handle each message in its producer's trace, delete what
//! succeeded.

mod adapt;
mod delete;
pub(crate) mod process;
mod settle;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use baton::{LinkPolicy, TracerHandle};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::{BoxError, Service};

use crate::backoff::Backoff;
use crate::queue::{MAX_VISIBILITY, Queue, ReceiveNames, SdkQueue};

/// Aborts a background task when dropped (however `run` ends).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long past the shutdown deadline the last SQS calls (give-backs, deletes) may still take
/// before the worker stops without them (messages not deleted are then delivered again).
const DELETE_GRACE: Duration = Duration::from_secs(5);

/// The visibility timeout received messages get when the queue's own is 0 s: SQS's default.
const ZERO_VISIBILITY_STANDIN: Duration = Duration::from_secs(30);

/// The most messages a worker may hold at once (far beyond what one process should).
const MAX_CONCURRENCY: usize = 100_000;
use crate::{StatsSnapshot, WorkerError, WorkerStats};

#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) batch_size: i32,
    pub(crate) wait_time: Duration,
    pub(crate) visibility_timeout: Option<Duration>,
    pub(crate) concurrency: usize,
    pub(crate) heartbeat_fraction: f64,
    pub(crate) retry_backoff: Option<(Duration, Duration)>,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) error_backoff: (Duration, Duration),
    pub(crate) delete_linger: Duration,
    /// The process spans' settings: tracer, link policy, hook, envelopes.
    pub(crate) process: baton_sqs::SqsPropagation,
    pub(crate) pollers: usize,
    /// Whether concurrency and pollers adapt below their bounds (see `adapt`).
    pub(crate) adaptive: bool,
    /// How often the adaptive controller looks.
    pub(crate) adapt_tick: Duration,
    /// Whether the worker's deletes and visibility changes get settle spans.
    pub(crate) settle_spans: bool,
    /// The client's region, for the settle spans.
    pub(crate) region: Option<String>,
    /// Mirrors the process settings' delivery-facts switch: it decides what receives ask for.
    pub(crate) delivery_facts: bool,
    /// System attributes the user asked for beyond what the worker needs.
    pub(crate) system_attributes: Vec<MessageSystemAttributeName>,
    /// Message attributes the user asked for beyond the trace carriers.
    pub(crate) message_attributes: Vec<String>,
    /// Whether receives ask for the trace carriers kept in message attributes.
    pub(crate) attribute_carriers: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            batch_size: 10,
            wait_time: Duration::from_secs(20),
            visibility_timeout: None,
            concurrency: 100,
            heartbeat_fraction: 0.5,
            retry_backoff: None,
            shutdown_timeout: Duration::from_secs(20),
            error_backoff: (Duration::from_millis(100), Duration::from_secs(10)),
            delete_linger: Duration::from_millis(10),
            process: baton_sqs::SqsPropagation::new(),
            pollers: 4,
            adaptive: true,
            adapt_tick: Duration::from_millis(100),
            delivery_facts: false,
            settle_spans: true,
            region: None,
            system_attributes: Vec::new(),
            message_attributes: Vec::new(),
            attribute_carriers: true,
        }
    }
}

impl Settings {
    /// The messaging metrics' instruments, when a meter was given.
    pub(crate) fn metrics(&self) -> Option<&baton::metrics::MessagingMetrics> {
        use baton::driver::TracedService as _;
        self.process.common().metrics()
    }

    /// What each ReceiveMessage asks for: the trace carriers, what the worker itself reads
    /// (the receive count for retry delays and logs, the group on a FIFO queue), what the
    /// delivery facts need when on, and the user's own names. SQS returns nothing else, and
    /// every name asked for is work for SQS on every message.
    pub(crate) fn receive_names(&self, fifo: bool) -> ReceiveNames {
        let mut system = vec![
            MessageSystemAttributeName::AwsTraceHeader,
            MessageSystemAttributeName::ApproximateReceiveCount,
        ];
        if fifo || self.delivery_facts {
            system.push(MessageSystemAttributeName::MessageGroupId);
        }
        if self.delivery_facts || self.metrics().is_some() {
            // The delivery facts' time in queue, and the time-in-queue histogram.
            system.push(MessageSystemAttributeName::SentTimestamp);
        }
        if self
            .system_attributes
            .contains(&MessageSystemAttributeName::All)
        {
            system = vec![MessageSystemAttributeName::All];
        } else {
            for name in &self.system_attributes {
                if !system.contains(name) {
                    system.push(name.clone());
                }
            }
        }
        let every = |n: &String| n == "All" || n == ".*";
        let message = if self.message_attributes.iter().any(every) {
            vec!["All".to_owned()]
        } else {
            let carriers: &[&str] = if self.attribute_carriers {
                &baton_sqs::TRACE_ATTRIBUTE_NAMES
            } else {
                &[]
            };
            let mut names: Vec<String> = carriers.iter().map(|n| (*n).to_owned()).collect();
            for name in &self.message_attributes {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
            names
        };
        ReceiveNames { system, message }
    }

    fn validate(&self) -> Result<(), WorkerError> {
        if !(1..=10).contains(&self.batch_size) {
            return Err(WorkerError::config(
                "with_batch_size",
                format!("{} is not within 1..=10", self.batch_size),
            ));
        }
        let (base, cap) = self.error_backoff;
        if base.is_zero() || cap < base {
            // A zero base would retry a failing ReceiveMessage in a tight loop.
            return Err(WorkerError::config(
                "with_error_backoff",
                format!("base {base:?} must be above zero and at most the cap {cap:?}"),
            ));
        }
        if self.wait_time > Duration::from_secs(20) {
            return Err(WorkerError::config(
                "with_wait_time",
                format!("{:?} is longer than SQS's 20 s", self.wait_time),
            ));
        }
        if let Some(v) = self.visibility_timeout
            && !(Duration::from_secs(1)..=MAX_VISIBILITY).contains(&v)
        {
            // Zero would hand every message to the next receive while it is being handled.
            return Err(WorkerError::config(
                "with_visibility_timeout",
                format!("{v:?} is not within 1 s..=12 h"),
            ));
        }
        if self.pollers == 0 || self.pollers > 16 {
            return Err(WorkerError::config(
                "with_pollers",
                format!("{} is not within 1..=16", self.pollers),
            ));
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(WorkerError::config(
                "with_concurrency",
                format!("{} is not within 1..={MAX_CONCURRENCY}", self.concurrency),
            ));
        }
        if !(0.05..=0.95).contains(&self.heartbeat_fraction) {
            return Err(WorkerError::config(
                "with_heartbeat_fraction",
                format!("{} is not within 0.05..=0.95", self.heartbeat_fraction),
            ));
        }
        Ok(())
    }
}

/// What the message tasks share.
pub(crate) struct Shared<Q> {
    /// Starts the settle spans and measures of the worker's deletes and visibility changes
    /// (when either is on).
    pub(crate) settle: Option<Arc<settle::Settle>>,
    /// The messaging metrics, when the worker has a meter.
    pub(crate) metrics: Option<baton::metrics::MessagingMetrics>,
    /// The concurrency limit and receive loops now, and what adapts them.
    pub(crate) adapt: adapt::Adapt,
    pub(crate) queue: Arc<Q>,
    pub(crate) queue_name: Arc<str>,
    pub(crate) settings: Settings,
    pub(crate) stats: WorkerStats,
    pub(crate) visibility: Duration,
    pub(crate) fifo: bool,
    /// Starts each message's process span (the settings' tracer, link policy and envelopes).
    pub(crate) process: baton_sqs::SqsPropagation,
    pub(crate) abandon: CancellationToken,
    /// Cancelled [`DELETE_GRACE`] after `abandon`: the last SQS calls of a shutdown (give-backs,
    /// deletes) stop waiting then, so the whole shutdown ends by the deadline plus the grace.
    pub(crate) hard_stop: CancellationToken,
    /// Cancelled once no ReceiveMessage of this worker is open any more. Messages are given
    /// back at the deadline only then: given back while another poll was open, a message would
    /// be received again at once, spending a receive (maybe its last before the dead-letter
    /// queue) for nothing.
    pub(crate) polling_stopped: CancellationToken,
    /// Messages a receive returned past the shutdown deadline, given back once polling stopped.
    late: std::sync::Mutex<Vec<Message>>,
}

impl<Q: Queue> Shared<Q> {
    fn give_back_later(&self, messages: &[Message]) {
        if messages.is_empty() {
            return;
        }
        self.stats.received(messages.len() as u64);
        self.stats.abandoned(messages.len() as u64);
        self.late
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(messages);
    }

    /// Gives back what receives returned past the deadline, bounded by the hard stop.
    async fn give_back_late(&self) {
        let late = std::mem::take(
            &mut *self
                .late
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if late.is_empty() {
            return;
        }
        tracing::warn!(
            target: "baton_worker",
            queue = %self.queue_name,
            messages = late.len(),
            "a receive answered after the shutdown deadline; its messages go back to the queue"
        );
        let give_back = async {
            for batch in late.chunks(delete::MAX_BATCH) {
                let entries = batch
                    .iter()
                    .enumerate()
                    .map(|(i, m)| crate::queue::Entry {
                        id: i.to_string(),
                        receipt_handle: m.receipt_handle.clone().unwrap_or_default(),
                    })
                    .collect();
                let settling = self
                    .settle
                    .as_deref()
                    .map(|s| s.start("ChangeMessageVisibilityBatch", batch.len(), []))
                    .unwrap_or_default();
                let outcome = Box::pin(self.queue.change_visibility(entries, Duration::ZERO)).await;
                settle::Settle::end(settling, batch.len(), &outcome);
                match outcome {
                    Ok(failed) => {
                        for f in failed {
                            tracing::warn!(
                                target: "baton_worker",
                                queue = %self.queue_name,
                                code = %f.code,
                                "could not give a message back; it reappears after its visibility timeout"
                            );
                        }
                    }
                    Err(error) => tracing::warn!(
                        target: "baton_worker",
                        queue = %self.queue_name,
                        %error,
                        "could not give messages back; they reappear after their visibility timeout"
                    ),
                }
            }
        };
        tokio::select! {
            () = give_back => {}
            () = self.hard_stop.cancelled() => {}
        }
    }
}

/// A traced, at-least-once SQS consumer.
///
/// It long-polls one queue and calls `handler` — any [`tower::Service`] over the SDK's
/// [`Message`], so tower layers (timeouts, rate limits) stack on it — for each message, at
/// most [`concurrency`](Self::with_concurrency) at a time. (The handler is asked for readiness
/// once a message is in hand, so a load-shedding layer's refusal counts as a failure: the
/// message comes back later and its receive count grows. Bound the work with `concurrency`
/// rather than by shedding.)
///
/// - **Trace.** Each message is handled inside a `process {queue}` span that continues its
///   producer's trace ([`LinkPolicy::Parent`], the default) or links to it
///   ([`LinkPolicy::Link`]). The producer context is read from the SQS carriers
///   (`AWSTraceHeader`, `traceparent`, `X-Amzn-Trace-Id`) and, failing those, from an EventBridge
///   or SNS envelope in the body. The span's context is the current OpenTelemetry context
///   while the handler's future runs, so `Context::current()` and `tracing` spans made in the
///   handler (through `tracing-opentelemetry`) nest under it.
/// - **Acknowledge.** A message is deleted (in DeleteMessageBatch calls) only after its handler
///   returned `Ok`. An error or a panic leaves it on the queue for SQS to deliver again,
///   optionally after a [retry backoff](Self::with_retry_backoff); the queue's redrive policy
///   moves a poison message to its dead-letter queue.
/// - **Heartbeat.** While a handler runs longer than a
///   [fraction](Self::with_heartbeat_fraction) of the visibility timeout, the message's
///   visibility is extended, so a slow handler does not see its message delivered twice.
/// - **FIFO.** On a `.fifo` queue the messages of one message group are handled one after
///   another in the order received (and the rest of a group is left alone once one fails);
///   groups run in parallel.
/// - **Failures of SQS itself** (throttling, refused connections, an emulator restarting) are
///   logged with their cause and retried with capped exponential backoff; the worker never
///   stops because of them.
/// - **Shutdown.** When the token is cancelled the worker stops asking for messages, lets
///   running handlers finish and their deletes happen. The [shutdown
///   timeout](Self::with_shutdown_timeout) counts from the cancellation and covers all of it:
///   at the deadline the worker gives up on what is left, which goes back to the queue, and
///   stops within a few seconds more (the last SQS calls are bounded too). Set it below the
///   time your platform waits before killing the process (30 s by default on ECS and
///   Kubernetes).
/// - **Receive counts.** SQS counts every receive of a message against the redrive policy's
///   `maxReceiveCount`, so a shutdown spends none that handling does not need:
///   - a ReceiveMessage in flight is not cut off (SQS would go on handing a cut-off long poll
///     messages that nobody handles, each then hidden for its visibility timeout with one
///     receive spent); the worker waits for its answer and handles what it returns like any
///     other batch. So that this leaves time to handle them, a long poll waits at most half
///     the shutdown timeout (at least 1 s): with the defaults, 10 s instead of the
///     [wait time](Self::with_wait_time)'s 20 s, and an idle worker stops within 10 s (within
///     1 s with `with_wait_time(Duration::from_secs(1))`, at the price of more receive calls
///     on an empty queue);
///   - only messages whose handlers have not finished at the deadline are given back, once,
///     and only after every receive of this worker has answered (given back while another
///     poll was open, a message would be received again at once). Their visibility keeps
///     being extended until then.
///
///   So each receive by the worker hands the message to a handler, with at least half the
///   shutdown timeout to run in, and a redrive policy's `maxReceiveCount` counts deliveries
///   to handlers. The exceptions: a handler that has not finished by the deadline (its
///   message was delivered, and goes back); a receive that answers after the deadline
///   although its wait ended well before it (a slow network or an overloaded SQS: no time is
///   left, so its messages go back once polling has stopped); and a receive still unanswered
///   at the hard stop, 5 s after the deadline, which the worker then leaves (what it takes
///   reappears after its visibility timeout), as it does the give-backs still waiting for it.
/// - **Adapts** how many messages it handles at once and how many ReceiveMessage calls it keeps
///   open, within [`with_concurrency`](Self::with_concurrency) (default 100) and
///   [`with_pollers`](Self::with_pollers) (default 4): more slots while slow handlers hold back
///   a backlog and their latency stays flat, fewer when their latency doubles (what they call
///   is saturated); more receive loops while receives come back full, fewer when they come
///   back part empty. [`with_adaptive(false)`](Self::with_adaptive) fixes both.
/// - **Asks SQS for little**: each receive asks for the trace carriers and what the worker
///   reads; name what your handler reads with
///   [`with_message_attribute_names`](Self::with_message_attribute_names).
/// - **Memory** is bounded: at most `concurrency` messages are held at once.
///
/// ```no_run
/// use aws_sdk_sqs::types::Message;
/// use baton_worker::{CancellationToken, SqsWorker};
/// use tower::service_fn;
///
/// # async fn run(client: aws_sdk_sqs::Client, queue_url: String) -> Result<(), baton_worker::WorkerError> {
/// let handler = service_fn(|message: Message| async move {
///     println!("order {}", message.body().unwrap_or_default());
///     Ok::<_, std::io::Error>(())
/// });
/// let shutdown = CancellationToken::new();
/// let stats = SqsWorker::new(client, queue_url, handler)
///     .with_concurrency(32)
///     .run(shutdown.clone())
///     .await?;
/// println!("{} messages handled", stats.succeeded);
/// # Ok(()) }
/// ```
#[must_use = "a worker does nothing until it is run"]
#[derive(Debug)]
pub struct SqsWorker<S> {
    runner: Runner<S, SdkQueue>,
}

impl<S> SqsWorker<S> {
    /// A worker for the queue at `queue_url`, calling `handler` for each message.
    ///
    /// The client may have Baton's SQS interceptor installed (then each ReceiveMessage gets its
    /// `receive` span too) or not. Each receive asks SQS only for the trace carriers and what
    /// the worker reads; ask for more with
    /// [`with_message_attribute_names`](Self::with_message_attribute_names) and
    /// [`with_system_attribute_names`](Self::with_system_attribute_names).
    pub fn new(client: Client, queue_url: impl Into<String>, handler: S) -> Self {
        let url = queue_url.into();
        let region = client.config().region().map(ToString::to_string);
        let mut worker = SqsWorker {
            runner: Runner::new(
                SdkQueue {
                    client: crate::queue::worker_client(&client),
                    url: url.clone(),
                    names: ReceiveNames::default(),
                },
                &url,
                handler,
            ),
        };
        worker.runner.settings.region = region;
        worker
    }

    /// Messages asked for per ReceiveMessage call, 1 to 10. Default 10.
    pub fn with_batch_size(mut self, messages: i32) -> Self {
        self.runner.settings.batch_size = messages;
        self
    }

    /// How long one ReceiveMessage call waits for messages (long polling), up to 20 s (whole
    /// seconds; under 1 s is short polling). Default 20 s.
    ///
    /// A shutdown waits for the receives in flight rather than cut them off (see "Receive
    /// counts" in the [type's docs](SqsWorker)), so this is also how long an idle worker may
    /// take to stop. Long polls are capped at half the [shutdown
    /// timeout](Self::with_shutdown_timeout), at least 1 s.
    pub fn with_wait_time(mut self, wait: Duration) -> Self {
        self.runner.settings.wait_time = wait;
        self
    }

    /// The visibility timeout asked for on receive, 1 s to 12 h (whole seconds). By default the
    /// queue's own, read with GetQueueAttributes when the worker starts and then asked for on
    /// every receive; a queue set to 0 s gets 30 s instead (with a warning), since 0 s would
    /// hand a message to the next receive while it is being handled.
    pub fn with_visibility_timeout(mut self, timeout: Duration) -> Self {
        self.runner.settings.visibility_timeout = Some(timeout);
        self
    }

    /// The most ReceiveMessage calls in flight at once (receive loops), 1 to 16. Default 4.
    ///
    /// While one call waits on SQS another's messages are being handled, which is what keeps
    /// a worker at the queue's rate with fast handlers. The worker starts with 2 (or this, if
    /// lower), adds one while receives come back full and handler slots are free, and stops
    /// one whose receive comes back less than half full (one always runs, so an idle worker
    /// makes one long poll at a time). Each call needs a batch's worth of free
    /// [concurrency](Self::with_concurrency) slots before it is made. With
    /// [`with_adaptive(false)`](Self::with_adaptive) exactly this many run.
    pub fn with_pollers(mut self, pollers: usize) -> Self {
        self.runner.settings.pollers = pollers;
        self
    }

    /// The most messages held (being handled) at once: the worker's memory bound. Default 100.
    ///
    /// The worker starts at 20 (or this, if lower) and raises its limit towards this bound
    /// while handler slots are what holds it back (receives come back full and wait for
    /// slots) and handler latency stays flat; it lowers the limit again when handler latency
    /// doubles (what the handlers call is saturated, and more at once would only wait
    /// longer). Slots bound the rate at slots / handler latency: 20 slots allow a 20 ms handler
    /// 1,000 messages a second, 100 slots 5,000. With [`with_adaptive(false)`](Self::with_adaptive) the limit is
    /// this bound from the start. The current limit is in
    /// [`StatsSnapshot::concurrency_limit`](crate::StatsSnapshot::concurrency_limit).
    pub fn with_concurrency(mut self, messages: usize) -> Self {
        self.runner.settings.concurrency = messages;
        self
    }

    /// Whether the concurrency limit and the number of receive loops adapt to the handler and
    /// the queue within their bounds ([`with_concurrency`](Self::with_concurrency),
    /// [`with_pollers`](Self::with_pollers)). Default on; off, both are fixed at their bounds,
    /// as when a handler must never run more than `n` at once.
    pub fn with_adaptive(mut self, enabled: bool) -> Self {
        self.runner.settings.adaptive = enabled;
        self
    }

    /// Extend a running message's visibility each time this share of the visibility timeout
    /// has passed, 0.05 to 0.95. Default 0.5.
    pub fn with_heartbeat_fraction(mut self, fraction: f64) -> Self {
        self.runner.settings.heartbeat_fraction = fraction;
        self
    }

    /// After a failed handler, keep the message invisible for `base` × 2^(receive count − 1),
    /// at most `cap`, before SQS delivers it again. By default a failed message reappears when
    /// its visibility timeout ends.
    pub fn with_retry_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.runner.settings.retry_backoff = Some((base, cap));
        self
    }

    /// How long shutdown may take, from the cancellation: the last receive, the running
    /// handlers and their deletes; what is unfinished then goes back to the queue. Default
    /// 20 s, so that with the few seconds the last SQS calls may take the worker is done
    /// before a platform's usual 30 s grace period ends. Long polls wait at most half of it (at
    /// least 1 s), so that one in flight at the cancellation leaves time to handle what it
    /// returns.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.runner.settings.shutdown_timeout = timeout;
        self
    }

    /// The backoff between failed ReceiveMessage calls: doubling from `base` up to `cap`.
    /// Default 100 ms to 10 s. `base` must be above zero and at most `cap`.
    pub fn with_error_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.runner.settings.error_backoff = (base, cap);
        self
    }

    /// How long the deleter waits to fill a DeleteMessageBatch call. Default 10 ms.
    pub fn with_delete_linger(mut self, linger: Duration) -> Self {
        self.runner.settings.delete_linger = linger;
        self
    }

    /// How process spans relate to their producers. Default [`LinkPolicy::Parent`].
    pub fn with_link_policy(mut self, policy: LinkPolicy) -> Self {
        self.runner.settings.process = self.runner.settings.process.with_link_policy(policy);
        self
    }

    /// The tracer process spans are made with. Default: the global tracer provider's.
    pub fn with_tracer(mut self, tracer: TracerHandle) -> Self {
        self.runner.settings.process = self.runner.settings.process.with_tracer(tracer);
        self
    }

    /// Records each message's delivery facts on its process span (default: off): time in
    /// queue, receive count (a redelivery shows as more than 1) and FIFO group (see
    /// [`SqsPropagation::with_delivery_facts`](baton_sqs::SqsPropagation::with_delivery_facts)).
    /// Each receive then also asks SQS for `SentTimestamp` and `MessageGroupId`.
    pub fn with_delivery_facts(mut self, enabled: bool) -> Self {
        self.runner.settings.process = self.runner.settings.process.with_delivery_facts(enabled);
        self.runner.settings.delivery_facts = enabled;
        self
    }

    /// Records `messaging.message.body.size` on each process span (default: off, as the
    /// semantic conventions make it opt-in; see
    /// [`SqsPropagation::with_body_size`](baton_sqs::SqsPropagation::with_body_size)).
    pub fn with_body_size(mut self, enabled: bool) -> Self {
        self.runner.settings.process = self.runner.settings.process.with_body_size(enabled);
        self
    }

    /// Whether each DeleteMessageBatch and ChangeMessageVisibilityBatch call the worker makes
    /// (batched deletes, heartbeats, retry delays, give-backs at shutdown) gets a CLIENT
    /// `settle {queue}` span linked to the process spans of the messages it settles, in the
    /// trace of the first of them (its child). Default on; a call gets a span only when one of
    /// those process spans was sampled.
    pub fn with_settle_spans(mut self, enabled: bool) -> Self {
        self.runner.settings.process = self.runner.settings.process.with_settle_spans(enabled);
        self.runner.settings.settle_spans = enabled;
        self
    }

    /// Records the semantic conventions' messaging metrics on `meter` (see
    /// [`baton::metrics`]): each ReceiveMessage's duration and the messages it returned
    /// (`messaging.client.operation.duration`, `messaging.client.consumed.messages`), each
    /// batched delete and visibility change (`settle`), each message's handling
    /// (`messaging.process.duration`, with `error.type` `handler_error`, `panic` or
    /// `abandoned`) and how long it waited in the queue (`baton.messaging.time_in_queue`, for
    /// which each receive also asks SQS for `SentTimestamp`). Off by default.
    ///
    /// Give the meter here, not also to a Baton interceptor on the worker's client, or the
    /// worker's receives and settles are counted twice.
    ///
    /// ```
    /// # fn build(client: aws_sdk_sqs::Client, url: String) {
    /// use baton_worker::SqsWorker;
    ///
    /// let handler = tower::service_fn(|_message: aws_sdk_sqs::types::Message| async {
    ///     Ok::<_, std::convert::Infallible>(())
    /// });
    /// let meter = opentelemetry::global::meter("orders-worker");
    /// let worker = SqsWorker::new(client, url, handler).with_meter(&meter);
    /// # drop(worker);
    /// # }
    /// ```
    pub fn with_meter(mut self, meter: &opentelemetry::metrics::Meter) -> Self {
        self.runner.settings.process = self.runner.settings.process.with_meter(meter);
        self
    }

    /// Message attributes to receive beside the trace carriers, which the worker asks for
    /// unless [told not to](Self::with_message_attribute_carriers). By default the handler
    /// sees only those: SQS returns no attribute that was not asked for, and every name asked
    /// for is work for SQS on every message. Names are exact or end in `.*` (a prefix);
    /// `"All"` asks for every attribute.
    ///
    /// ```no_run
    /// # use baton_worker::SqsWorker;
    /// # fn example(client: aws_sdk_sqs::Client) {
    /// # let handler = tower::service_fn(|_: aws_sdk_sqs::types::Message| async { Ok::<_, std::convert::Infallible>(()) });
    /// let worker = SqsWorker::new(client, "https://sqs.eu-west-1.amazonaws.com/123456789012/orders", handler)
    ///     .with_message_attribute_names(["tenant", "order.*"]);
    /// # drop(worker);
    /// # }
    /// ```
    pub fn with_message_attribute_names<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.runner.settings.message_attributes = names.into_iter().map(Into::into).collect();
        self
    }

    /// Whether each receive asks SQS for the message attributes producers carry a trace in,
    /// besides the `AWSTraceHeader` system attribute (default: yes). Turn it off when every
    /// producer writes `AWSTraceHeader`; a message whose producer wrote only message attributes
    /// then starts a new trace unless its attribute was asked for with
    /// [`with_message_attribute_names`](Self::with_message_attribute_names). See
    /// [`SqsPropagation::with_message_attribute_carriers`]; if the worker's client carries
    /// Baton's SQS interceptor, turn the option off there too, or the interceptor asks for the
    /// carriers again on every receive.
    ///
    /// [`SqsPropagation::with_message_attribute_carriers`]:
    ///     baton_sqs::SqsPropagation::with_message_attribute_carriers
    pub fn with_message_attribute_carriers(mut self, enabled: bool) -> Self {
        self.runner.settings.process = self
            .runner
            .settings
            .process
            .with_message_attribute_carriers(enabled);
        self.runner.settings.attribute_carriers = enabled;
        self
    }

    /// System attributes to receive beside those the worker reads itself (`AWSTraceHeader`,
    /// `ApproximateReceiveCount`, `MessageGroupId` on a FIFO queue, and `SentTimestamp` with
    /// [delivery facts](Self::with_delivery_facts)). [`MessageSystemAttributeName::All`] asks
    /// for every one.
    pub fn with_system_attribute_names(
        mut self,
        names: impl IntoIterator<Item = MessageSystemAttributeName>,
    ) -> Self {
        self.runner.settings.system_attributes = names.into_iter().collect();
        self
    }

    /// Calls `hook` with each message's process span just after it starts: add attributes of
    /// your own (a tenant, a message group) or read its ids.
    ///
    /// ```no_run
    /// use aws_sdk_sqs::types::Message;
    /// use baton_worker::SqsWorker;
    /// use opentelemetry::KeyValue;
    ///
    /// # fn example(client: aws_sdk_sqs::Client) {
    /// let handler = tower::service_fn(|_: Message| async { Ok::<_, std::convert::Infallible>(()) });
    /// let queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders";
    /// let worker = SqsWorker::new(client, queue_url, handler)
    ///     .with_on_process(|span| span.set_attribute(KeyValue::new("shop.tenant", "acme")));
    /// # drop(worker);
    /// # }
    /// ```
    pub fn with_on_process(
        mut self,
        hook: impl Fn(&baton::driver::SpanRef<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.runner.settings.process = self.runner.settings.process.with_on_process(hook);
        self
    }

    /// Whether to look for the producer context in an EventBridge or SNS envelope in the body
    /// when the message has no SQS carrier. Default on.
    pub fn with_envelope_extraction(mut self, enabled: bool) -> Self {
        self.runner.settings.process = self
            .runner
            .settings
            .process
            .with_envelope_extraction(enabled);
        self
    }

    /// The worker's counters, live.
    pub fn stats(&self) -> WorkerStats {
        self.runner.stats.clone()
    }
}

impl<S> SqsWorker<S>
where
    S: Service<Message> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    /// Runs until `shutdown` is cancelled, then drains (see the type's docs) and returns the
    /// final counters. Fails only on invalid settings.
    pub async fn run(self, shutdown: CancellationToken) -> Result<StatsSnapshot, WorkerError> {
        self.runner.run(shutdown).await
    }

    /// Runs until the process gets SIGINT (Ctrl-C) or, on Unix, SIGTERM (what ECS, Kubernetes
    /// and systemd send), then drains as [`run`](Self::run) does.
    pub async fn run_until_signal(self) -> Result<StatsSnapshot, WorkerError> {
        let shutdown = CancellationToken::new();
        let signal = shutdown_signal()?;
        let token = shutdown.clone();
        tokio::spawn(async move {
            signal.await;
            tracing::info!(target: "baton_worker", "shutdown signal received");
            token.cancel();
        });
        self.run(shutdown).await
    }
}

fn shutdown_signal() -> Result<impl Future<Output = ()> + Send, WorkerError> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(WorkerError::Signal)?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// The worker over any [`Queue`] (the SDK in production, an in-memory queue in unit tests).
#[derive(Debug)]
pub(crate) struct Runner<S, Q> {
    queue: Q,
    url: String,
    queue_name: Arc<str>,
    fifo: bool,
    handler: S,
    pub(crate) settings: Settings,
    pub(crate) stats: WorkerStats,
}

impl<S, Q> Runner<S, Q> {
    pub(crate) fn new(queue: Q, url: &str, handler: S) -> Self {
        let name = url.rsplit('/').next().unwrap_or(url);
        Runner {
            queue,
            url: url.to_owned(),
            queue_name: Arc::from(name),
            fifo: name.ends_with(".fifo"),
            handler,
            settings: Settings::default(),
            stats: WorkerStats::default(),
        }
    }
}

impl<S, Q> Runner<S, Q>
where
    S: Service<Message> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    Q: Queue,
{
    pub(crate) async fn run(
        self,
        shutdown: CancellationToken,
    ) -> Result<StatsSnapshot, WorkerError> {
        self.settings.validate()?;
        let Runner {
            queue,
            url,
            queue_name,
            fifo,
            handler,
            mut settings,
            stats,
        } = self;
        // A receive open when the shutdown comes is waited for, never cut off (see `poll`).
        // A long poll of at most half the shutdown timeout answers with at least the other
        // half left for handling what it returns (short polls, under 1 s, stay as they are).
        settings.wait_time = settings
            .wait_time
            .min((settings.shutdown_timeout / 2).max(Duration::from_secs(1)));
        let mut queue = queue;
        queue.ask_for(settings.receive_names(fifo));
        let queue = Arc::new(queue);
        let mut backoff = Backoff::new(settings.error_backoff.0, settings.error_backoff.1);

        let visibility = match settings.visibility_timeout {
            Some(v) => v,
            None => loop {
                let result = tokio::select! {
                    () = shutdown.cancelled() => return Ok(stats.snapshot()),
                    r = queue.visibility_timeout() => r,
                };
                match result {
                    // A queue may be set to 0 s; receiving with that would hand each message
                    // to the next receive while its handler still runs.
                    Ok(v) if v.is_zero() => {
                        tracing::warn!(
                            target: "baton_worker",
                            queue = %queue_name,
                            instead = ?ZERO_VISIBILITY_STANDIN,
                            "the queue's visibility timeout is 0 s; receiving with a longer one \
                             (set it with with_visibility_timeout)"
                        );
                        break ZERO_VISIBILITY_STANDIN;
                    }
                    Ok(v) => break v,
                    Err(error) => {
                        let delay = backoff.next_delay();
                        tracing::warn!(
                            target: "baton_worker",
                            queue = %queue_name,
                            %error,
                            retry_in = ?delay,
                            "cannot read the queue's visibility timeout; retrying"
                        );
                        tokio::select! {
                            () = shutdown.cancelled() => return Ok(stats.snapshot()),
                            () = tokio::time::sleep(delay) => {}
                        }
                    }
                }
            },
        };
        backoff.reset();
        tracing::info!(
            target: "baton_worker",
            queue = %queue_name,
            fifo,
            visibility_timeout = ?visibility,
            concurrency = settings.concurrency,
            "worker started"
        );

        let (delete_tx, delete_rx) = mpsc::channel(settings.concurrency + delete::MAX_BATCH);
        let metrics = settings.metrics().cloned();
        let settle = (settings.settle_spans || metrics.is_some()).then(|| {
            use baton::driver::TracedService as _;
            Arc::new(settle::Settle {
                tracer: settings.process.common().tracer().clone(),
                queue: queue_name.clone(),
                url,
                region: settings.region.clone(),
                spans: settings.settle_spans,
                metrics: metrics.clone(),
            })
        });
        let deleter = tokio::spawn(delete::run(
            queue.clone(),
            delete_rx,
            stats.clone(),
            settings.delete_linger,
            queue_name.clone(),
            settle.clone(),
        ));
        let process = settings.process.clone();
        let per_call = (settings.batch_size as usize).min(settings.concurrency);
        let adapt = adapt::Adapt::new(
            settings.adaptive,
            settings.concurrency,
            settings.pollers,
            per_call,
        );
        let slots = Arc::new(Semaphore::new(adapt.limit()));
        let shared = Arc::new(Shared {
            adapt,
            settle,
            metrics,
            queue,
            queue_name,
            process,
            settings,
            stats,
            visibility,
            fifo,
            abandon: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
            polling_stopped: CancellationToken::new(),
            late: std::sync::Mutex::default(),
        });
        shared
            .stats
            .set_gauges(shared.adapt.limit(), shared.adapt.pollers());
        let _controller = shared
            .adapt
            .enabled()
            .then(|| AbortOnDrop(tokio::spawn(adapt::control(shared.clone(), slots.clone()))));
        let tracker = TaskTracker::new();
        // One deadline for the whole shutdown, counted from the cancellation: the last
        // receive, the running handlers and the deletes all share it.
        let _deadline = AbortOnDrop(tokio::spawn({
            let (shutdown, abandon) = (shutdown.clone(), shared.abandon.clone());
            let hard_stop = shared.hard_stop.clone();
            let timeout = shared.settings.shutdown_timeout;
            async move {
                shutdown.cancelled().await;
                tokio::time::sleep(timeout).await;
                abandon.cancel();
                tokio::time::sleep(DELETE_GRACE).await;
                hard_stop.cancel();
            }
        }));

        let start_poller = |handler: S| {
            poll(
                &shared, &slots, per_call, handler, &tracker, &delete_tx, &shutdown,
            )
        };
        let mut pollers = FuturesUnordered::new();
        for _ in 0..shared.adapt.pollers() {
            pollers.push(start_poller(handler.clone()));
        }
        // Until every loop has stopped: loops stop at the shutdown, or retire when their
        // receives come back near empty; the controller asks for more while receives are full.
        loop {
            tokio::select! {
                done = pollers.next() => {
                    if done.is_none() || pollers.is_empty() {
                        if shutdown.is_cancelled() {
                            break;
                        }
                        // A loop retired while the controller was asking for another: the
                        // worker never goes without one before the shutdown.
                        pollers.push(start_poller(handler.clone()));
                    }
                }
                () = shared.adapt.more_pollers.notified(), if !shutdown.is_cancelled() => {
                    while pollers.len() < shared.adapt.pollers() && !shutdown.is_cancelled() {
                        pollers.push(start_poller(handler.clone()));
                    }
                }
            }
        }
        drop(pollers);
        shared.polling_stopped.cancel();
        shared.give_back_late().await;

        tracing::info!(
            target: "baton_worker",
            queue = %shared.queue_name,
            in_flight = tracker.len(),
            "stopped polling; letting running handlers finish"
        );
        tracker.close();
        tokio::select! {
            () = tracker.wait() => {}
            // The chains still running give their messages back (each within a few seconds).
            () = shared.abandon.cancelled() => tracker.wait().await,
        }
        drop(delete_tx);
        let mut deleter = deleter;
        tokio::select! {
            joined = &mut deleter => {
                if let Err(error) = joined {
                    tracing::error!(target: "baton_worker", %error, "the deleter task failed");
                }
            }
            () = shared.hard_stop.cancelled() => {
                deleter.abort();
                tracing::warn!(
                    target: "baton_worker",
                    queue = %shared.queue_name,
                    "deletes still pending at the shutdown deadline; SQS will deliver those messages again"
                );
            }
        }
        let stats = shared.stats.snapshot();
        tracing::info!(target: "baton_worker", queue = %shared.queue_name, ?stats, "worker stopped");
        Ok(stats)
    }
}

/// One poll loop: hold slots for a batch, receive, hand each chain to its own task; until
/// `shutdown`. Several run side by side (see [`SqsWorker::with_pollers`]).
async fn poll<S, Q>(
    shared: &Arc<Shared<Q>>,
    slots: &Arc<Semaphore>,
    per_call: usize,
    handler: S,
    tracker: &TaskTracker,
    delete_tx: &mpsc::Sender<delete::Handled>,
    shutdown: &CancellationToken,
) where
    S: Service<Message> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    Q: Queue,
{
    let (base, cap) = shared.settings.error_backoff;
    let mut backoff = Backoff::new(base, cap);
    loop {
        // Hold slots for a whole batch before asking for one, so nothing received waits
        // (with its visibility timeout running) for a slot.
        let mut permit = match slots.clone().try_acquire_many_owned(per_call as u32) {
            Ok(permit) => permit,
            Err(_) => {
                let waiting = Instant::now();
                let permit = tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    p = slots.clone().acquire_many_owned(per_call as u32) => {
                        p.expect("the semaphore is never closed")
                    }
                };
                shared.adapt.waited_for_slots(waiting.elapsed());
                permit
            }
        };
        // A shrink not yet settled takes its permits out of circulation here.
        let owed = shared.adapt.take_debt(per_call);
        if owed > 0 {
            if let Some(owed) = permit.split(owed) {
                owed.forget();
            }
            continue;
        }
        if shutdown.is_cancelled() {
            break;
        }
        // Always ask for the visibility timeout the heartbeats are timed by, even when it came
        // from the queue (its setting may change while the worker runs).
        let asked = Some(shared.visibility);
        let measure = shared.metrics.as_ref().map(|m| {
            m.start(
                baton::MessagingSystem::Sqs,
                baton::Operation::Receive,
                "ReceiveMessage",
                shared.queue_name.clone(),
            )
        });
        // Boxed: the SDK's future is large, and this loop's future is held for the whole run.
        let mut receive = Box::pin(shared.queue.receive(
            per_call as i32,
            shared.settings.wait_time,
            asked,
        ));
        // A ReceiveMessage in flight is never cut off. SQS does not notice that the caller
        // went away: a cut-off long poll still takes the next messages that arrive, hides them
        // for the visibility timeout and spends one of their receives, with nobody to handle
        // them. So a shutdown waits for the call (at most the wait time) and handles what it
        // returns like any other batch: the slots are already held.
        let received = tokio::select! {
            biased;
            r = &mut receive => r,
            () = shutdown.cancelled() => {
                tracing::debug!(
                    target: "baton_worker",
                    queue = %shared.queue_name,
                    "shutting down: waiting for the open ReceiveMessage to answer"
                );
                tokio::select! {
                    r = &mut receive => r,
                    () = shared.abandon.cancelled() => {
                        // Past the deadline: what it still returns goes back to the queue
                        // once polling has stopped (see `Runner::run`).
                        let finished = tokio::select! {
                            r = receive => Some(r),
                            () = shared.hard_stop.cancelled() => None,
                        };
                        if let Some(measure) = measure {
                            match &finished {
                                Some(Ok(messages)) => measure.finish(None, messages.len()),
                                Some(Err(error)) => measure.finish(Some(error.error_type()), 0),
                                None => measure.finish(Some("cancelled"), 0),
                            }
                        }
                        match finished {
                            Some(Ok(messages)) => shared.give_back_later(&messages),
                            Some(Err(_)) => {}
                            None => tracing::warn!(
                                target: "baton_worker",
                                queue = %shared.queue_name,
                                "a ReceiveMessage was still unanswered at the hard stop; \
                                 messages it takes reappear after their visibility timeout"
                            ),
                        }
                        break;
                    }
                }
            }
        };
        if let Some(measure) = measure {
            match &received {
                Ok(messages) => measure.finish(None, messages.len()),
                Err(error) => measure.finish(Some(error.error_type()), 0),
            }
        }
        if shared.abandon.is_cancelled() {
            // Answered past the deadline: no time is left to handle these.
            if let Ok(messages) = &received {
                shared.give_back_later(messages);
            }
            break;
        }
        let mut messages = match received {
            Ok(messages) => {
                backoff.reset();
                messages
            }
            Err(error) => {
                shared.stats.receive_errors(1);
                let delay = backoff.next_delay();
                tracing::warn!(
                    target: "baton_worker",
                    queue = %shared.queue_name,
                    attempt = backoff.attempts(),
                    retry_in = ?delay,
                    %error,
                    "ReceiveMessage failed; retrying"
                );
                drop(permit);
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
                continue;
            }
        };
        let received_at = Instant::now();
        shared.adapt.received(messages.len());
        let retire = shared.adapt.retire_after(messages.len());
        if messages.is_empty() {
            if retire {
                break;
            }
            if shared.settings.wait_time < Duration::from_secs(1) {
                // Short polling an empty queue: do not spin.
                drop(permit);
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            continue;
        }
        if messages.len() > per_call {
            // Not something SQS does; a stand-in might. Keep the bound: the extra messages
            // are left alone and reappear when their visibility timeout ends.
            tracing::warn!(
                target: "baton_worker",
                queue = %shared.queue_name,
                asked = per_call,
                got = messages.len(),
                "ReceiveMessage returned more messages than asked for; leaving the extra ones"
            );
            messages.truncate(per_call);
        }
        shared.stats.received(messages.len() as u64);
        shared.stats.in_flight(messages.len() as u64);
        for chain in process::chains(messages, shared.fifo) {
            let chain_permit = permit
                .split(chain.len())
                .expect("one slot is held per message received");
            tracker.spawn(process::run_chain(
                shared.clone(),
                handler.clone(),
                chain,
                chain_permit,
                received_at,
                delete_tx.clone(),
            ));
        }
        if retire {
            tracing::debug!(
                target: "baton_worker",
                queue = %shared.queue_name,
                pollers = shared.adapt.pollers(),
                "receives come back part empty; one receive loop fewer"
            );
            break;
        }
    }
}

#[cfg(test)]
mod tests;
