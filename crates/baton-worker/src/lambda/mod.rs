//! AWS Lambda adapters (feature `lambda`): run the handlers the worker runs as Lambda functions.
//!
//! - [`SqsBatchHandler`] serves SQS event source mappings. Every record of the batch becomes an
//!   SDK [`Message`] and goes to the same `tower::Service<Message>` handler an
//!   [`SqsWorker`](crate::SqsWorker) would call, inside its own `process {queue}` span that
//!   continues the trace of *that record's* producer (read from `attributes.AWSTraceHeader`,
//!   the `traceparent` / `X-Amzn-Trace-Id` message attributes, or an EventBridge / SNS envelope
//!   in the body). Records whose handler fails or panics are reported back as partial batch
//!   failures, so only they are delivered again.
//! - [`EventBridgeHandler`] serves EventBridge rules that target the function directly: it
//!   runs an [`EventConsumer`] inside a process span that continues `detail.traceHeader`, and
//!   returns the consumer's [`ConsumeError`] as the function error, so Lambda retries the event
//!   and finally hands it to the rule's dead-letter queue.
//! - [`SnsHandler`] serves SNS subscriptions: each notification goes to a
//!   `tower::Service<SnsMessage>` inside a `process {topic}` span that continues its producer
//!   (`traceparent` / `X-Amzn-Trace-Id` message attributes); a failure is the function error.
//! - [`KinesisBatchHandler`] serves Kinesis event source mappings: each record goes to a
//!   `tower::Service<KinesisEventRecord>`, in order, inside a `process {stream}` span that
//!   continues the producer found in the record's JSON data (optionally taken out of the data
//!   first); the first failure checkpoints the batch there.
//! - [`InvocationLayer`] goes around any of them (or a handler of your own): the invocation
//!   span of the semantic conventions, Lambda's own segment as its parent or link, and a flush
//!   of the spans before the response, since Lambda may freeze the process right after it.
//!
//! Context travels with each record. The trace header Lambda hands each invocation travels in
//! the invocation's context ([`baton::LambdaInvocationTrace`], put there by the layer), where
//! Baton's interceptors take the `Lineage` they pass on; only without it do they read
//! `_X_AMZN_TRACE_ID`, which is wrong when one process runs invocations concurrently. Nothing
//! writes that variable.
//!
//! ```no_run
//! use aws_sdk_sqs::types::Message;
//!
//! # async fn main_() -> Result<(), lambda_runtime::Error> {
//! let handler = tower::service_fn(|message: Message| async move {
//!     // Runs inside `process {queue}`, a child of this record's producer span.
//!     println!("order {}", message.body().unwrap_or_default());
//!     Ok::<_, std::io::Error>(())
//! });
//! // The event source mapping must list `ReportBatchItemFailures` in its
//! // `FunctionResponseTypes`; see `SqsBatchHandler`.
//! baton_worker::lambda::run_sqs(handler).await
//! # }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
use aws_smithy_types::Blob;
use baton::driver::Common;
use baton::{LinkPolicy, TracerHandle};
use baton_eventbridge::EventEnvelope;
use futures_util::{FutureExt as _, StreamExt as _, stream};
use lambda_runtime::{Diagnostic, LambdaEvent};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use serde::Deserialize;
use tower::{BoxError, Service};

use crate::worker::process::{Outcome, call_handler, error_text, panic_text};

/// The process-span builders every push adapter shares (`SnsHandler`, `EventBridgeHandler`,
/// `KinesisBatchHandler`), over its `Common` field `$field`; `$what` names what it handles
/// ("notification", "event", "record") in the docs.
macro_rules! process_builders {
    ($field:ident, $what:literal) => {
        /// Starts the process spans with `tracer` instead of the global tracer provider's.
        pub fn with_tracer(mut self, tracer: baton::TracerHandle) -> Self {
            self.$field = self.$field.with_tracer(tracer);
            self
        }

        /// Continue each producer's trace ([`LinkPolicy::Parent`](baton::LinkPolicy::Parent),
        /// the default) or link to it.
        pub fn with_link_policy(mut self, policy: baton::LinkPolicy) -> Self {
            self.$field = self.$field.with_link_policy(policy);
            self
        }

        #[doc = concat!("Records the semantic conventions' messaging metrics on `meter` (see \
            [`baton::metrics`]): each ", $what, "'s handling (`messaging.process.duration`, with \
            `error.type` on failure) and delivery (`messaging.client.consumed.messages`). Off by \
            default.")]
        /// Lambda freezes the process between invocations: flush the meter provider before each
        /// one ends, for instance with
        /// [`InvocationLayer::with_flush`](crate::lambda::InvocationLayer::with_flush).
        pub fn with_meter(mut self, meter: &opentelemetry::metrics::Meter) -> Self {
            self.$field = self.$field.with_meter(meter);
            self
        }

        #[doc = concat!("Records `messaging.message.body.size` on each ", $what, "'s process \
            span where it has a body (an SNS notification's message, a Kinesis record's data; \
            an EventBridge event has none). Default: off, as the semantic conventions make it \
            opt-in.")]
        pub fn with_body_size(mut self, enabled: bool) -> Self {
            self.$field = self.$field.with_body_size(enabled);
            self
        }

        #[doc = concat!("Calls `hook` with each ", $what, "'s process span just after it \
            starts: add attributes of your own or read its ids.")]
        pub fn with_on_process(
            mut self,
            hook: impl Fn(&baton::driver::SpanRef<'_>) + Send + Sync + 'static,
        ) -> Self {
            self.$field = self
                .$field
                .with_on_process(baton::driver::OnProcess::new(hook));
            self
        }
    };
}

mod invocation;
mod kinesis;
mod sns;

use crate::{ConsumeError, EventConsumer};
pub use invocation::{
    DEFAULT_FLUSH_TIMEOUT, Invocation, InvocationEvent, InvocationLayer, InvocationSpan,
    LambdaTrace,
};
pub use kinesis::KinesisBatchHandler;
pub use sns::SnsHandler;

/// The destination name of a process span whose record names no queue (no `eventSourceARN`).
const UNKNOWN_QUEUE: &str = "unknown";

/// The destination name of a process span whose event names no `source`.
const UNKNOWN_SOURCE: &str = "unknown";

/// The boxed future the adapters return (one per invocation).
type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// A Lambda handler for SQS batch events that calls a `tower::Service<Message>` per record
/// and answers with a partial batch response.
///
/// **Event source mapping.** Partial batch responses work only when the mapping has
/// `ReportBatchItemFailures` in its `FunctionResponseTypes`
/// (`aws lambda update-event-source-mapping --function-response-types ReportBatchItemFailures`).
/// Without it Lambda ignores the response: a batch with a failed record counts as a success
/// and every record of it is deleted.
///
/// For each record:
/// - it is turned into an SDK [`Message`] (id, receipt handle, body, MD5s; `attributes` as
///   system attributes, among them `AWSTraceHeader`, `ApproximateReceiveCount` and
///   `MessageGroupId`; string and binary message attributes), so the handler is the one an
///   [`SqsWorker`](crate::SqsWorker) runs;
/// - a `process {queue}` CONSUMER span starts, continuing the record's own producer trace
///   ([`LinkPolicy::Parent`], the default) or linked to it ([`LinkPolicy::Link`], as a child
///   of the span current when the handler is called: an [`InvocationLayer`]'s invocation
///   span, or a new trace if there is none); the queue
///   is the last `:`-separated part of the record's `eventSourceARN`. The span's context is
///   current while the handler's future runs;
/// - an `Err` or a panic of the handler fails the record (the span gets an error status and
///   `error.type`); its message id goes into `batchItemFailures`. The function itself never
///   fails, and a panic never takes the runtime down.
///
/// **Order.** On a FIFO queue (an ARN ending in `.fifo`) records are handled one after
/// another in the order given, and once one fails every later record is reported failed
/// without being handled, as AWS asks of FIFO partial responses (SQS then delivers them again
/// in order). On a standard queue up to [`concurrency`](Self::with_concurrency) records are
/// handled at once (default 1, one after another). Concurrent records share the invocation's
/// task: they overlap while they wait on I/O, not on CPU.
///
/// A failed record without a message id is reported with an empty identifier, which Lambda
/// reads as a failure of the whole batch: every record comes back, none is lost.
#[derive(Clone, Debug)]
#[must_use = "a handler does nothing until Lambda invokes it"]
pub struct SqsBatchHandler<S> {
    inner: S,
    settings: RecordSettings,
    concurrency: usize,
}

/// What every record's span needs.
#[derive(Clone, Debug)]
struct RecordSettings {
    /// Starts each record's process span (tracer, link policy, envelopes).
    process: baton_sqs::SqsPropagation,
}

impl<S> SqsBatchHandler<S> {
    /// An adapter calling `handler` for each record.
    pub fn new(handler: S) -> Self {
        SqsBatchHandler {
            inner: handler,
            settings: RecordSettings {
                process: baton_sqs::SqsPropagation::new(),
            },
            concurrency: 1,
        }
    }

    /// The tracer process spans are made with. Default: the global tracer provider's.
    pub fn with_tracer(mut self, tracer: TracerHandle) -> Self {
        self.settings.process = self.settings.process.with_tracer(tracer);
        self
    }

    /// How process spans relate to their producers. Default [`LinkPolicy::Parent`].
    pub fn with_link_policy(mut self, policy: LinkPolicy) -> Self {
        self.settings.process = self.settings.process.with_link_policy(policy);
        self
    }

    /// Records each record's delivery facts on its process span (default: off): time in
    /// queue, receive count and FIFO group, from the attributes Lambda hands over with it.
    pub fn with_delivery_facts(mut self, enabled: bool) -> Self {
        self.settings.process = self.settings.process.with_delivery_facts(enabled);
        self
    }

    /// Records `messaging.message.body.size` on each record's process span (default: off,
    /// as the semantic conventions make it opt-in).
    pub fn with_body_size(mut self, enabled: bool) -> Self {
        self.settings.process = self.settings.process.with_body_size(enabled);
        self
    }

    /// Records the semantic conventions' messaging metrics on `meter` (see
    /// [`baton::metrics`]): each record's handling (`messaging.process.duration`, with
    /// `error.type` on failure) and delivery (`messaging.client.consumed.messages`). Off by
    /// default.
    /// Lambda freezes the process between invocations: flush the meter provider before each
    /// one ends, for instance with
    /// [`InvocationLayer::with_flush`](crate::lambda::InvocationLayer::with_flush).
    pub fn with_meter(mut self, meter: &opentelemetry::metrics::Meter) -> Self {
        self.settings.process = self.settings.process.with_meter(meter);
        self
    }

    /// Calls `hook` with each record's process span just after it starts: add attributes of
    /// your own or read its ids.
    pub fn with_on_process(
        mut self,
        hook: impl Fn(&baton::driver::SpanRef<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.settings.process = self.settings.process.with_on_process(hook);
        self
    }

    /// At most this many records of a standard queue's batch are handled at once (0 counts as
    /// 1). Default 1: one after another, in order. FIFO batches always go one at a time.
    pub fn with_concurrency(mut self, records: usize) -> Self {
        self.concurrency = records.max(1);
        self
    }

    /// Whether to look for the producer context in an EventBridge or SNS envelope in the body
    /// when the record has no SQS carrier. Default on.
    pub fn with_envelope_extraction(mut self, enabled: bool) -> Self {
        self.settings.process = self.settings.process.with_envelope_extraction(enabled);
        self
    }

    /// The wrapped handler.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped handler, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped handler, taking the adapter apart.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> SqsBatchHandler<S>
where
    S: Service<Message> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    /// Handles one batch and says which records failed; `enclosing` is the context the batch
    /// came in (an [`InvocationLayer`]'s invocation span, or nothing).
    async fn handle_batch(self, event: SqsEvent, enclosing: Context) -> SqsBatchResponse {
        let SqsBatchHandler {
            inner,
            settings,
            concurrency,
        } = self;
        let fifo = event
            .records
            .iter()
            .any(|r| r.event_source_arn.as_deref().is_some_and(is_fifo));
        let mut failed = Vec::new();
        if fifo {
            let mut service = inner;
            let mut records = event.records.into_iter();
            for record in records.by_ref() {
                let id = record.message_id.clone().unwrap_or_default();
                if !handle_record(&settings, &mut service, record, &enclosing).await {
                    failed.push(id);
                    break;
                }
            }
            let before = failed.len();
            failed.extend(records.map(|r| r.message_id.unwrap_or_default()));
            if failed.len() > before {
                tracing::debug!(
                    target: "baton_worker",
                    skipped = failed.len() - before,
                    "a FIFO record failed; the records after it are returned unhandled"
                );
            }
        } else {
            // Each record gets its own clone of the handler, made here so that the futures
            // own everything they hold and need no `Sync` handler.
            let records: Vec<(SqsMessage, S)> = event
                .records
                .into_iter()
                .map(|record| (record, inner.clone()))
                .collect();
            let (settings, enclosing) = (&settings, &enclosing);
            failed = stream::iter(records)
                .map(|(record, mut service)| async move {
                    let id = record.message_id.clone().unwrap_or_default();
                    let ok = handle_record(settings, &mut service, record, enclosing).await;
                    (!ok).then_some(id)
                })
                .buffered(concurrency)
                .filter_map(std::future::ready)
                .collect()
                .await;
        }
        let mut response = SqsBatchResponse::default();
        response.set_failures(failed);
        response
    }
}

/// Handles one record in its process span; `true` if the handler succeeded.
async fn handle_record<S>(
    settings: &RecordSettings,
    service: &mut S,
    record: SqsMessage,
    enclosing: &Context,
) -> bool
where
    S: Service<Message>,
    S::Error: Into<BoxError>,
{
    let queue = record
        .event_source_arn
        .as_deref()
        .and_then(queue_name)
        .unwrap_or(UNKNOWN_QUEUE)
        .to_owned();
    let message = to_message(record);
    let cx = settings
        .process
        .start_process_span_within(&message, &queue, enclosing);
    let measure = {
        use baton::driver::TracedService as _;
        settings
            .process
            .common()
            .measure_process(baton::MessagingSystem::Sqs, &queue)
    };
    let id = message.message_id.clone().unwrap_or_default();
    let log = |error: &str| {
        tracing::warn!(
            target: "baton_worker",
            queue = %queue,
            message_id = %id,
            %error,
            "handler failed; the record is reported as a batch item failure"
        );
    };
    process_record(service, message, &cx, measure, log)
        .await
        .is_ok()
}

impl<S> Service<LambdaEvent<SqsEvent>> for SqsBatchHandler<S>
where
    S: Service<Message> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    type Response = SqsBatchResponse;
    type Error = Infallible;
    type Future = BoxFuture<SqsBatchResponse, Infallible>;

    /// Always ready: the handler's own readiness is awaited per record.
    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<SqsEvent>) -> Self::Future {
        let this = self.clone();
        // The invocation's context, if an `InvocationLayer` made one current.
        let enclosing = Context::current();
        Box::pin(async move { Ok(this.handle_batch(event.payload, enclosing).await) })
    }
}

/// Runs `handler` as a Lambda function for SQS batch events, with the defaults of
/// [`SqsBatchHandler`] (global tracer provider, records in order). Build the
/// [`SqsBatchHandler`] yourself and pass it to [`lambda_runtime::run`] to change them.
///
/// Remember `ReportBatchItemFailures` on the event source mapping.
pub async fn run_sqs<S>(handler: S) -> Result<(), lambda_runtime::Error>
where
    S: Service<Message> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    lambda_runtime::run(SqsBatchHandler::new(handler)).await
}

fn is_fifo(arn: &str) -> bool {
    arn.ends_with(".fifo")
}

/// The queue name in an SQS ARN (`arn:aws:sqs:{region}:{account}:{name}`).
fn queue_name(arn: &str) -> Option<&str> {
    arn.rsplit(':').next().filter(|name| !name.is_empty())
}

/// The SDK message a Lambda SQS record stands for.
fn to_message(record: SqsMessage) -> Message {
    let mut builder = Message::builder()
        .set_message_id(record.message_id)
        .set_receipt_handle(record.receipt_handle)
        .set_body(record.body)
        .set_md5_of_body(record.md5_of_body)
        .set_md5_of_message_attributes(record.md5_of_message_attributes);
    for (name, value) in record.attributes {
        builder = builder.attributes(MessageSystemAttributeName::from(name.as_str()), value);
    }
    for (name, attribute) in record.message_attributes {
        if let Some(value) = to_attribute_value(attribute) {
            builder = builder.message_attributes(name, value);
        }
    }
    builder.build()
}

/// A Lambda message attribute as the SDK's; `None` for one with no value (nothing to keep).
/// A missing data type is taken from the value: `String` or `Binary`.
fn to_attribute_value(attribute: SqsMessageAttribute) -> Option<MessageAttributeValue> {
    let SqsMessageAttribute {
        string_value,
        binary_value,
        data_type,
        ..
    } = attribute;
    let data_type = match data_type {
        Some(data_type) if !data_type.is_empty() => data_type,
        _ if string_value.is_some() => "String".to_owned(),
        _ if binary_value.is_some() => "Binary".to_owned(),
        _ => return None,
    };
    MessageAttributeValue::builder()
        .data_type(data_type)
        .set_string_value(string_value)
        .set_binary_value(binary_value.map(|b| Blob::new(b.0)))
        .build()
        .ok()
}

/// Calls `service` with one record inside its process span `cx` (`faas.trigger` `pubsub`) and
/// ends the span and the record's `measure` with the outcome. On a failure (an `Err` or a
/// panic) `log` is called with the error, in the record's context so a trace-id log layer ties
/// the line to its trace, before the span ends in error; the error is returned.
async fn process_record<S, R>(
    service: &mut S,
    record: R,
    cx: &Context,
    measure: Option<baton::metrics::Measure>,
    log: impl FnOnce(&str),
) -> Result<(), String>
where
    S: Service<R>,
    S::Error: Into<BoxError>,
{
    cx.span()
        .set_attribute(KeyValue::new("faas.trigger", "pubsub"));
    let (error, kind) = match call_handler(service, record, cx).await {
        Outcome::Succeeded => {
            cx.span().end();
            if let Some(measure) = measure {
                measure.finish_pushed(None);
            }
            return Ok(());
        }
        Outcome::Failed(error) => (error, "handler_error"),
        Outcome::Panicked(panic) => (format!("handler panicked: {panic}"), "panic"),
    };
    if let Some(measure) = measure {
        measure.finish_pushed(Some(kind));
    }
    {
        let _in_record_context = cx.clone().attach();
        log(&error);
    }
    fail_span(cx, kind, error.clone());
    Err(error)
}

/// Ends the span of `cx` as failed.
fn fail_span(cx: &Context, kind: &'static str, error: String) {
    let span = cx.span();
    span.set_attribute(KeyValue::new("error.type", kind));
    span.set_status(Status::error(error));
    span.end();
}

/// A Lambda handler for EventBridge events (a rule targeting the function) around an
/// [`EventConsumer`].
///
/// Each event is handled inside a `process {destination}` CONSUMER span that continues the
/// trace in its `detail.traceHeader` (where Baton's EventBridge interceptor puts it), or links
/// to it under [`LinkPolicy::Link`]; without one the span starts a new trace. The destination
/// is the event's `source` unless [`with_destination`](Self::with_destination) names one (the
/// bus or the rule, say): the event Lambda receives does not say which bus carried it.
///
/// The consumer's [`ConsumeError`] — not an event, no route, a detail that does not fit, the
/// handler's own error, or its panic — is the function's error, so Lambda retries the event
/// (asynchronous invocation) and finally sends it to the rule's or function's dead-letter
/// queue or failure destination. The span then has an error status.
///
/// ```no_run
/// use baton_worker::lambda::EventBridgeHandler;
/// use baton_worker::{Event, EventConsumer};
///
/// # async fn main_() -> Result<(), lambda_runtime::Error> {
/// let consumer = EventConsumer::new().on(
///     "shop.orders",
///     "OrderPlaced",
///     |event: Event<serde_json::Value>| async move {
///         println!("order {}", event.detail);
///         Ok::<_, std::convert::Infallible>(())
///     },
/// );
/// lambda_runtime::run(EventBridgeHandler::new(consumer).with_destination("orders-bus")).await
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a handler does nothing until Lambda invokes it"]
pub struct EventBridgeHandler {
    consumer: EventConsumer,
    /// The process spans' tracer, link policy and hook.
    process: Common,
    destination: Option<String>,
}

impl EventBridgeHandler {
    /// An adapter running `consumer` for each event.
    pub fn new(consumer: EventConsumer) -> Self {
        EventBridgeHandler {
            consumer,
            process: Common::default(),
            destination: None,
        }
    }

    process_builders!(process, "event");

    /// Names the process spans' destination (`process {destination}`,
    /// `messaging.destination.name`), such as the bus. Default: each event's `source`.
    pub fn with_destination(mut self, destination: impl Into<String>) -> Self {
        self.destination = Some(destination.into());
        self
    }

    /// The wrapped consumer.
    pub fn get_ref(&self) -> &EventConsumer {
        &self.consumer
    }

    /// The wrapped consumer, taking the adapter apart.
    pub fn into_inner(self) -> EventConsumer {
        self.consumer
    }

    /// Starts the event's process span and handles it with that span current.
    fn handle(
        &self,
        event: serde_json::Value,
        enclosing: &Context,
    ) -> impl Future<Output = Result<(), ConsumeError>> + Send + 'static {
        // An input that is no envelope still gets its span (a new trace); the consumer
        // then reports why it is not an event.
        let envelope = EventEnvelope::deserialize(&event).unwrap_or_default();
        let destination = self
            .destination
            .as_deref()
            .or(envelope.source.as_deref())
            .filter(|d| !d.is_empty())
            .unwrap_or(UNKNOWN_SOURCE);
        let cx = self
            .process
            .start_delivery_within(&envelope, destination, enclosing);
        let measure = self
            .process
            .measure_process(baton::MessagingSystem::EventBridge, destination);
        cx.span()
            .set_attribute(KeyValue::new("faas.trigger", "pubsub"));
        // The consumer calls the route's closure right away (only its future runs later), so
        // the span is current for both, and a panic in either is the event's failure.
        let routed = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let _current = cx.clone().attach();
            self.consumer.handle_value(event)
        }));
        let cx_handled = cx.clone();
        async move {
            let result = match routed {
                Ok(handled) => AssertUnwindSafe(handled.with_context(cx_handled))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| Err(panicked(&*panic))),
                Err(panic) => Err(panicked(&*panic)),
            };
            if let Some(measure) = measure {
                measure.finish_pushed(result.as_ref().err().map(consume_error_type));
            }
            match &result {
                Ok(()) => cx.span().end(),
                Err(error) => {
                    let kind = consume_error_type(error);
                    let text = error_text(error);
                    {
                        // In the event's context: a trace-id log layer ties the line to it.
                        let _in_event_context = cx.clone().attach();
                        tracing::warn!(
                            target: "baton_worker",
                            error_type = kind,
                            error = %text,
                            "event not handled; it is returned to Lambda as the function error"
                        );
                    }
                    fail_span(&cx, kind, text);
                }
            }
            result
        }
    }
}

impl Service<LambdaEvent<serde_json::Value>> for EventBridgeHandler {
    type Response = ();
    type Error = ConsumeError;
    type Future = BoxFuture<(), ConsumeError>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<serde_json::Value>) -> Self::Future {
        // The invocation's context, if an `InvocationLayer` made one current.
        Box::pin(self.handle(event.payload, &Context::current()))
    }
}

/// Runs `consumer` as a Lambda function for EventBridge events, with the defaults of
/// [`EventBridgeHandler`] (global tracer provider, the event's `source` as destination).
pub async fn run_eventbridge(consumer: EventConsumer) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(EventBridgeHandler::new(consumer)).await
}

/// Lambda's error report for an event that was not handled: the variant as `errorType`
/// (`NotAnEvent`, `NoRoute`, `BadDetail`, `NoBody`, `HandlerError`), the message and its
/// causes as `errorMessage`.
impl From<ConsumeError> for Diagnostic {
    fn from(error: ConsumeError) -> Diagnostic {
        Diagnostic {
            error_type: consume_error_type(&error).to_owned(),
            error_message: error_text(&error),
        }
    }
}

fn consume_error_type(error: &ConsumeError) -> &'static str {
    match error {
        ConsumeError::NotAnEvent(_) => "NotAnEvent",
        ConsumeError::NoRoute { .. } => "NoRoute",
        ConsumeError::BadDetail { .. } => "BadDetail",
        ConsumeError::NoBody => "NoBody",
        ConsumeError::Handler(_) => "HandlerError",
    }
}

/// A handler's panic as the event's error.
fn panicked(panic: &(dyn std::any::Any + Send)) -> ConsumeError {
    let text = panic_text(panic);
    ConsumeError::Handler(format!("handler panicked: {text}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_from_arns() {
        assert_eq!(
            queue_name("arn:aws:sqs:us-east-2:123456789012:my-queue"),
            Some("my-queue")
        );
        assert_eq!(queue_name("orders.fifo"), Some("orders.fifo"));
        assert_eq!(queue_name("arn:aws:sqs:us-east-2:123456789012:"), None);
        assert_eq!(queue_name(""), None);
        assert!(is_fifo("arn:aws:sqs:us-east-2:123456789012:orders.fifo"));
        assert!(!is_fifo("arn:aws:sqs:us-east-2:123456789012:orders"));
    }

    #[test]
    fn attributes_without_a_value_are_dropped() {
        assert!(to_attribute_value(SqsMessageAttribute::default()).is_none());
        // No data type: taken from the value.
        let binary: SqsMessageAttribute =
            serde_json::from_str(r#"{"binaryValue": "AQI="}"#).expect("an attribute");
        let value = to_attribute_value(binary).expect("a binary attribute");
        assert_eq!(value.data_type(), "Binary");
        assert_eq!(value.binary_value().map(Blob::as_ref), Some(&[1u8, 2][..]));
    }
}
