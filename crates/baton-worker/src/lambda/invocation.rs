//! The invocation span around a Lambda handler, and the flush before Lambda freezes the process.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::sns::SnsEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use baton::{LambdaInvocationTrace, TracerHandle};
use baton_eventbridge::EventEnvelope;
use futures_util::FutureExt as _;
use lambda_runtime::LambdaEvent;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{Link, SpanContext, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use serde::Deserialize;
use tower::{Layer, Service};

use super::{queue_name, to_message};

/// How long the flush after an invocation may take unless told otherwise.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// What is kept back from the function's deadline: a flush never runs into it.
const DEADLINE_MARGIN: Duration = Duration::from_millis(200);

/// What the invocation span does with the trace header Lambda hands each invocation
/// (`Lambda-Runtime-Trace-Id`: the Lambda service's own segment when active tracing is on).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LambdaTrace {
    /// The invocation span is a child of Lambda's segment: the `xray-lambda` behaviour of the
    /// semantic conventions, right when spans go to X-Ray (directly or through a collector),
    /// where the function's spans then hang under the Lambda service's node. The default. A
    /// segment Lambda did not sample (`Sampled=0`: active tracing off, or sampled out) is only
    /// linked, so that it does not make the function's spans unsampled too.
    #[default]
    Parent,
    /// The invocation span starts its own trace and links to Lambda's segment: the plain
    /// OpenTelemetry behaviour, for backends other than X-Ray (which never receive Lambda's
    /// segment, so a child of it would look orphaned).
    Link,
    /// Lambda's trace header is not used for the span (its `Lineage` still is).
    Ignore,
}

/// A Tower layer for `lambda_runtime` handlers (`Service<LambdaEvent<E>>`) that runs each
/// invocation inside an **invocation span** and **flushes** spans before the response goes
/// back, since Lambda may freeze the process right after it.
///
/// The span follows the semantic conventions for AWS Lambda (`faas`): for an SQS batch it is
/// the CONSUMER `process {queue}` span of the batch (`process multiple_sources` when records
/// come from several queues: the messaging conventions' `{operation} {destination}`, as the
/// Lambda page's own examples name it), linked to every record's producer, with `faas.trigger` =
/// `pubsub`, `messaging.system` = `aws_sqs`, `messaging.operation.type` = `process` and
/// `messaging.batch.message_count`; for an SNS event, the same with `aws.sns` and the topic,
/// linked to each record's `X-Amzn-Trace-Id` (or `traceparent`) message attribute; for an
/// EventBridge event, the CONSUMER `process {source}`
/// span linked to `detail.traceHeader` (`faas.trigger` = `timer` for a scheduled event); for any
/// other JSON event, a SERVER span named after the function (`faas.trigger` = `other`); see
/// [`InvocationEvent`] for typed events of your own. Every invocation span has
/// `faas.invocation_id` (the request id), `faas.coldstart` (true for the first invocation this
/// layer saw), `faas.name` and `cloud.provider` = `aws`; `faas.version` when Lambda gives one;
/// `aws.lambda.invoked_arn`, `cloud.resource_id` (the function's ARN with the version that
/// runs, not the alias), `cloud.account.id` and `cloud.region` when the invoked ARN is there. A
/// handler error or panic sets its status and `error.type` (the panic goes on to
/// `lambda_runtime` after the flush). What Lambda's trace header does to it is
/// [`LambdaTrace`]. For a function called directly (Invoke), the caller's context in the
/// `ClientContext`'s `custom` map (`X-Amzn-Trace-Id`, as `baton-lambda` writes it, or
/// `traceparent`) is the SERVER span's parent when Lambda's segment is not (tracing off, or
/// [`LambdaTrace::Link`] / [`Ignore`](LambdaTrace::Ignore)), and a link when Lambda's segment
/// is in another trace; when Lambda continued the caller's header, its segment is already the
/// caller's child and the span stays under it.
///
/// The span is current while the handler runs, so Baton's per-record process spans (from
/// [`SqsBatchHandler`](super::SqsBatchHandler), [`EventBridgeHandler`](super::EventBridgeHandler))
/// nest under it when their link policy is `Link`. The context also carries the invocation's
/// trace header ([`LambdaInvocationTrace`]), where Baton's interceptors take the `Lineage`
/// they pass on: it comes from *this* invocation, not from `_X_AMZN_TRACE_ID`, which is wrong
/// when one process runs invocations concurrently.
///
/// After the handler, the span ends, then the flush function runs (on a blocking thread),
/// bounded by [`with_flush_timeout`](Self::with_flush_timeout) and by the function's deadline
/// less 200 ms, so a collector that does not answer delays the response by at most that.
///
/// ```no_run
/// use aws_sdk_sqs::types::Message;
/// use baton_worker::lambda::{InvocationLayer, SqsBatchHandler};
/// use opentelemetry_sdk::trace::SdkTracerProvider;
///
/// # async fn main_(provider: SdkTracerProvider) -> Result<(), lambda_runtime::Error> {
/// let handler = tower::service_fn(|message: Message| async move {
///     println!("{}", message.body().unwrap_or_default());
///     Ok::<_, std::io::Error>(())
/// });
/// let flushing = provider.clone();
/// let function = tower::ServiceBuilder::new()
///     .layer(InvocationLayer::new().with_flush(move || {
///         let _ = flushing.force_flush();
///     }))
///     .service(SqsBatchHandler::new(handler));
/// lambda_runtime::run(function).await
/// # }
/// ```
#[derive(Clone)]
#[must_use = "a layer does nothing until it wraps a handler"]
pub struct InvocationLayer {
    tracer: TracerHandle,
    flush: Option<Arc<dyn Fn() + Send + Sync>>,
    flush_timeout: Duration,
    lambda_trace: LambdaTrace,
    /// Whether the next invocation is the first: shared by the services this layer makes.
    cold: Arc<AtomicBool>,
}

impl std::fmt::Debug for InvocationLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvocationLayer")
            .field("tracer", &self.tracer)
            .field("flush", &self.flush.is_some())
            .field("flush_timeout", &self.flush_timeout)
            .field("lambda_trace", &self.lambda_trace)
            .finish()
    }
}

impl Default for InvocationLayer {
    fn default() -> Self {
        InvocationLayer::new()
    }
}

impl InvocationLayer {
    /// Invocation spans from the global tracer provider, Lambda's segment as their parent, no
    /// flush (add one: without it, spans wait in the batch processor while Lambda freezes
    /// the process).
    pub fn new() -> Self {
        InvocationLayer {
            tracer: TracerHandle::global(),
            flush: None,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            lambda_trace: LambdaTrace::Parent,
            cold: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Starts the invocation spans with `tracer`.
    pub fn with_tracer(mut self, tracer: TracerHandle) -> Self {
        self.tracer = tracer;
        self
    }

    /// Calls `flush` after each invocation, before its response is returned: typically
    /// `provider.force_flush()`, or `telemetry.force_flush()` of `baton-export`.
    pub fn with_flush(mut self, flush: impl Fn() + Send + Sync + 'static) -> Self {
        self.flush = Some(Arc::new(flush));
        self
    }

    /// The longest the flush may delay a response (default 2 s; never past the function's
    /// deadline less 200 ms). A flush still running then goes on in the background.
    pub fn with_flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// What to do with Lambda's trace header (default [`LambdaTrace::Parent`]).
    pub fn with_lambda_trace(mut self, lambda_trace: LambdaTrace) -> Self {
        self.lambda_trace = lambda_trace;
        self
    }
}

impl<S> Layer<S> for InvocationLayer {
    type Service = Invocation<S>;

    fn layer(&self, inner: S) -> Invocation<S> {
        Invocation {
            inner,
            layer: self.clone(),
        }
    }
}

/// A handler wrapped by [`InvocationLayer`].
#[derive(Clone, Debug)]
pub struct Invocation<S> {
    inner: S,
    layer: InvocationLayer,
}

impl<S> Invocation<S> {
    /// The wrapped handler.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped handler, taking the service apart.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// How an event's invocation span looks: implemented for the events Baton knows
/// ([`SqsEvent`], [`SnsEvent`], EventBridge events as `serde_json::Value`); any other JSON
/// (`LambdaEvent<serde_json::Value>`) gets the SERVER span named after the function. Implement
/// it for your own event types; for a type of another crate (an `aws_lambda_events` API
/// Gateway request, say), wrap it in a `#[serde(transparent)]` newtype of yours:
///
/// ```
/// use aws_lambda_events::event::sqs::SqsEvent as Foreign;
/// use baton_worker::lambda::{InvocationEvent, InvocationSpan};
///
/// #[derive(serde::Deserialize)]
/// #[serde(transparent)]
/// struct MyEvent(Foreign);
///
/// impl InvocationEvent for MyEvent {
///     fn invocation_span(&self, function: &str) -> InvocationSpan {
///         InvocationSpan::server(format!("{function} request"), "http")
///     }
/// }
/// ```
pub trait InvocationEvent {
    /// The span's name, kind, trigger, attributes and links for this event; `function` is the
    /// function's name.
    fn invocation_span(&self, function: &str) -> InvocationSpan;
}

/// What [`InvocationEvent::invocation_span`] says of an event.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct InvocationSpan {
    /// The span name.
    pub name: String,
    /// The span kind.
    pub kind: SpanKind,
    /// `faas.trigger`: `pubsub`, `http`, `datasource`, `timer` or `other`.
    pub trigger: &'static str,
    /// Further attributes.
    pub attributes: Vec<KeyValue>,
    /// Producers to link to.
    pub links: Vec<SpanContext>,
}

impl InvocationSpan {
    /// A SERVER span named `name` with `faas.trigger` = `trigger`, no attributes, no links.
    pub fn server(name: impl Into<String>, trigger: &'static str) -> Self {
        InvocationSpan {
            name: name.into(),
            kind: SpanKind::Server,
            trigger,
            attributes: Vec::new(),
            links: Vec::new(),
        }
    }
}

/// The CONSUMER span of a batch in `system` whose records came from `destinations` (one per
/// record): `process {destination}`, or `process multiple_sources` when they differ; with the
/// batch's size when it holds more than one message (the conventions leave it off single
/// messages).
fn batch_span<'a>(
    system: &'static str,
    destinations: impl ExactSizeIterator<Item = Option<&'a str>>,
    links: Vec<SpanContext>,
) -> InvocationSpan {
    let count = destinations.len();
    let mut destinations = destinations;
    let first = destinations.next().flatten();
    let single = destinations.all(|d| d == first);
    let mut attributes = vec![
        KeyValue::new("messaging.system", system),
        KeyValue::new("messaging.operation.type", "process"),
        KeyValue::new("messaging.operation.name", "process"),
    ];
    if count > 1 {
        attributes.push(KeyValue::new("messaging.batch.message_count", count as i64));
    }
    let name = match (single, first) {
        (true, Some(destination)) => {
            attributes.push(KeyValue::new(
                "messaging.destination.name",
                destination.to_owned(),
            ));
            format!("process {destination}")
        }
        _ => "process multiple_sources".to_owned(),
    };
    InvocationSpan {
        name,
        kind: SpanKind::Consumer,
        trigger: "pubsub",
        attributes,
        links,
    }
}

/// The valid span context of `producer`, if it has one.
fn producer_span(producer: &Context) -> Option<SpanContext> {
    let span = producer.span();
    let context = span.span_context();
    context.is_valid().then(|| context.clone())
}

impl InvocationEvent for SqsEvent {
    fn invocation_span(&self, _function: &str) -> InvocationSpan {
        let links = self
            .records
            .iter()
            .filter_map(|record| {
                producer_span(&baton_sqs::producer_context(&to_message(record.clone())))
            })
            .collect();
        let queues = self
            .records
            .iter()
            .map(|r| r.event_source_arn.as_deref().and_then(queue_name));
        batch_span("aws_sqs", queues, links)
    }
}

impl InvocationEvent for KinesisEvent {
    /// `process {stream}` (or `process multiple_sources`), linked to the producer in each
    /// record's JSON data (field `traceHeader`, where Baton's Kinesis middleware puts it).
    fn invocation_span(&self, _function: &str) -> InvocationSpan {
        let links = self
            .records
            .iter()
            .filter_map(|record| {
                producer_span(
                    &super::kinesis::read(record, baton_kinesis::DATA_TRACE_FIELD)
                        .producer_context(),
                )
            })
            .collect();
        let streams = self
            .records
            .iter()
            .map(|r| super::kinesis::stream_name(r.event_source_arn.as_deref()));
        batch_span(baton_kinesis::KINESIS.as_str(), streams, links)
    }
}

impl InvocationEvent for SnsEvent {
    /// `process {topic}` (or `process multiple_sources`), linked to the producer in each
    /// record's `traceparent` or `X-Amzn-Trace-Id` message attribute (where OpenTelemetry SDKs
    /// and Baton's SNS interceptor put it).
    fn invocation_span(&self, _function: &str) -> InvocationSpan {
        // Read as `SnsHandler` reads each notification (`traceparent`, then `X-Amzn-Trace-Id`).
        let links = self
            .records
            .iter()
            .filter_map(|record| {
                producer_span(&super::sns::notification(&record.sns).producer_context())
            })
            .collect();
        let topics = self
            .records
            .iter()
            .map(|r| r.sns.topic_arn.rsplit(':').next().filter(|t| !t.is_empty()));
        batch_span("aws.sns", topics, links)
    }
}

impl InvocationEvent for serde_json::Value {
    fn invocation_span(&self, function: &str) -> InvocationSpan {
        let looks_like_event = self.get("detail-type").is_some() && self.get("source").is_some();
        if !looks_like_event {
            return InvocationSpan::server(function, "other");
        }
        let envelope = EventEnvelope::deserialize(self).unwrap_or_default();
        let source = envelope
            .source
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".to_owned());
        let links = producer_span(&envelope.producer_context())
            .into_iter()
            .collect();
        // A schedule (EventBridge Scheduler or a scheduled rule) is a timer, not a message.
        let scheduled = self.get("detail-type").and_then(|d| d.as_str()) == Some("Scheduled Event");
        InvocationSpan {
            name: format!("process {source}"),
            kind: SpanKind::Consumer,
            trigger: if scheduled { "timer" } else { "pubsub" },
            attributes: vec![
                KeyValue::new("messaging.system", "aws_eventbridge"),
                KeyValue::new("messaging.operation.type", "process"),
                KeyValue::new("messaging.operation.name", "process"),
                KeyValue::new("messaging.destination.name", source),
            ],
            links,
        }
    }
}

impl<S, E> Service<LambdaEvent<E>> for Invocation<S>
where
    S: Service<LambdaEvent<E>>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: std::fmt::Display + Send + 'static,
    E: InvocationEvent,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<E>) -> Self::Future {
        let layer = &self.layer;
        let context = &event.context;
        let described = event
            .payload
            .invocation_span(&context.env_config.function_name);
        let cold = layer.cold.swap(false, Ordering::Relaxed);

        // Lambda's trace header: a parent, a link, or nothing; and the invocation's own
        // `Lineage` source either way.
        let lambda_header = context.xray_trace_id.as_deref().filter(|h| !h.is_empty());
        let mut base = Context::new();
        let mut links: Vec<Link> = described
            .links
            .into_iter()
            .map(Link::with_context)
            .collect();
        if let Some(header) = lambda_header {
            let lambda = baton::extract_header(&Context::new(), header, "Lambda-Runtime-Trace-Id");
            let lambda_span = lambda.span().span_context().clone();
            match layer.lambda_trace {
                // A segment Lambda did not sample (active tracing off, or sampled out) would
                // make every span under it unsampled: then a link is all it gets.
                LambdaTrace::Parent if lambda_span.is_valid() && lambda_span.is_sampled() => {
                    base = lambda;
                }
                LambdaTrace::Parent | LambdaTrace::Link if lambda_span.is_valid() => {
                    links.push(Link::with_context(lambda_span));
                }
                _ => {}
            }
            base = base.with_value(LambdaInvocationTrace::new(header));
        }
        // The caller of a direct Invoke, from the `ClientContext` (`baton-lambda` writes
        // `X-Amzn-Trace-Id` there; OpenTelemetry SDKs, `traceparent`): the parent when nothing
        // else is, a link when Lambda's segment is in another trace. Messaging events have
        // their producers instead.
        if described.kind == SpanKind::Server
            && let Some(client) = &context.client_context
            && let Some((caller, _)) = baton::carrier::extract_from_attributes(&client.custom)
        {
            let caller = caller.span().span_context().clone();
            let parent = base.span().span_context().clone();
            if !parent.is_valid() {
                base = base.with_remote_span_context(caller);
            } else if parent.trace_id() != caller.trace_id() {
                links.push(Link::with_context(caller));
            }
        }

        let arn = context.invoked_function_arn.as_str();
        let mut attributes = described.attributes;
        attributes.extend([
            KeyValue::new("faas.trigger", described.trigger),
            KeyValue::new("faas.invocation_id", context.request_id.clone()),
            KeyValue::new("faas.coldstart", cold),
            KeyValue::new("faas.name", context.env_config.function_name.clone()),
            KeyValue::new("cloud.provider", "aws"),
        ]);
        if !context.env_config.version.is_empty() {
            attributes.push(KeyValue::new(
                "faas.version",
                context.env_config.version.clone(),
            ));
        }
        // `lambda_runtime` puts a placeholder sentence there when the header is missing.
        if arn.starts_with("arn:") {
            attributes.push(KeyValue::new("aws.lambda.invoked_arn", arn.to_owned()));
            // arn:aws:lambda:{region}:{account}:function:{name}[:{alias or version}]
            let parts: Vec<&str> = arn.split(':').collect();
            if parts.len() >= 7 {
                // The function's ARN with the version that runs, not the alias invoked (the
                // same instance serves every alias of that version).
                let version = context.env_config.version.as_str();
                let resource = match version {
                    "" | "$LATEST" => parts[..7].join(":"),
                    version => format!("{}:{version}", parts[..7].join(":")),
                };
                attributes.push(KeyValue::new("cloud.resource_id", resource));
                attributes.push(KeyValue::new("cloud.account.id", parts[4].to_owned()));
                attributes.push(KeyValue::new("cloud.region", parts[3].to_owned()));
            }
        }
        let span = layer.tracer.with(|tracer| {
            tracer
                .span_builder(described.name)
                .with_kind(described.kind)
                .with_attributes(attributes)
                .with_links(links)
                .start_with_context(tracer, &base)
        });
        let cx = base.with_span(span);

        let deadline = event_deadline(context.deadline);
        let flush_timeout = layer.flush_timeout;
        let flush = layer.flush.clone();
        let future = {
            let _current = cx.clone().attach();
            self.inner.call(event)
        };
        Box::pin(async move {
            // A panic is caught here (and raised again below) so that the span still says so
            // and the flush still runs before `lambda_runtime` reports the error.
            let outcome = AssertUnwindSafe(future.with_context(cx.clone()))
                .catch_unwind()
                .await;
            let span = cx.span();
            match &outcome {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    span.set_attribute(KeyValue::new("error.type", "handler_error"));
                    span.set_status(Status::error(error.to_string()));
                }
                Err(_) => {
                    span.set_attribute(KeyValue::new("error.type", "panic"));
                    span.set_status(Status::error("the handler panicked"));
                }
            }
            span.end();
            if let Some(flush) = flush {
                flush_within(flush, flush_budget(flush_timeout, deadline)).await;
            }
            match outcome {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

/// When the function must have answered, from the Runtime API's deadline in epoch ms.
fn event_deadline(deadline_ms: u64) -> Option<SystemTime> {
    (deadline_ms > 0).then(|| UNIX_EPOCH + Duration::from_millis(deadline_ms))
}

/// The flush's time: `timeout`, but never past `deadline` less the margin.
fn flush_budget(timeout: Duration, deadline: Option<SystemTime>) -> Duration {
    match deadline {
        Some(deadline) => {
            let left = deadline
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
                .saturating_sub(DEADLINE_MARGIN);
            timeout.min(left)
        }
        None => timeout,
    }
}

/// Runs `flush` on a blocking thread and waits for it at most `budget`.
async fn flush_within(flush: Arc<dyn Fn() + Send + Sync>, budget: Duration) {
    let task = tokio::task::spawn_blocking(move || flush());
    match tokio::time::timeout(budget, task).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(
            target: "baton_worker",
            %error,
            "the span flush after the invocation failed"
        ),
        Err(_) => tracing::warn!(
            target: "baton_worker",
            budget_ms = budget.as_millis() as u64,
            "the span flush did not finish in time; the response goes back without waiting \
             (spans may be lost if Lambda freezes the process)"
        ),
    }
}
