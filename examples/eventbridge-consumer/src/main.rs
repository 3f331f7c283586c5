//! Baton's EventBridge consumer end to end: an event put on a bus reaches a typed handler, behind
//! an SQS queue, in the trace of the code that put it.
//!
//! The program, against LocalStack:
//! 1. creates an SQS queue, an event bus, and a rule on the bus that sends every event of
//!    source `shop.orders` to the queue (all uniquely named);
//! 2. from a `checkout` span, puts one `OrderPlaced` event through an EventBridge client with
//!    Baton's interceptor: a PRODUCER `send {bus}` span, whose context goes into the event's
//!    `TraceHeader` and into `detail.traceHeader` (the only one EventBridge hands to an SQS
//!    target);
//! 3. runs [`SqsWorker`] over the queue with an [`EventConsumer`] that routes
//!    `shop.orders` / `OrderPlaced` to a handler taking the detail as a typed `OrderPlaced`.
//!    The worker reads `detail.traceHeader` from the message body and runs the handler in a
//!    `process {queue}` span under the producer; the handler opens a span of its own;
//! 4. checks that the handler's span is in the `checkout` trace, under the process span, under
//!    the send span, prints the chain, and removes everything it created.
//!
//! Spans go to an in-memory exporter with X-Ray ids ([`XrayIdGenerator`]). The program exits
//! with status 1 if LocalStack cannot be reached, the event is not handled within 30 s, or the
//! trace did not continue.
//!
//! ```text
//! bash localstack/up.sh
//! cargo run -p eventbridge-consumer
//! ```
//!
//! `BATON_LOCALSTACK_ENDPOINT` overrides the endpoint (default `http://127.0.0.1:4566`).

use std::error::Error;
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;
use baton::{TracerHandle, XrayIdGenerator};
use baton_eventbridge::EventBridgePropagation;
use baton_worker::{CancellationToken, Event, EventConsumer, SqsWorker};
use opentelemetry::Context;
use opentelemetry::trace::{
    FutureExt as _, Span as _, SpanContext, SpanId, TraceContextExt, Tracer as _,
    TracerProvider as _,
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider, SpanData};
use serde::Deserialize;

type BoxError = Box<dyn Error + Send + Sync>;

/// The event source the rule matches.
const SOURCE: &str = "shop.orders";

/// The event's detail type.
const DETAIL_TYPE: &str = "OrderPlaced";

/// How long the event may take to arrive and be handled.
const DEADLINE: Duration = Duration::from_secs(30);

/// The detail of an `OrderPlaced` event, as the handler reads it.
#[derive(Debug, Deserialize)]
struct OrderPlaced {
    order_id: String,
    total_cents: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("eventbridge-consumer: {error}");
            ExitCode::FAILURE
        }
    }
}

fn endpoint() -> String {
    std::env::var("BATON_LOCALSTACK_ENDPOINT")
        .ok()
        .map(|value| value.trim().trim_end_matches('/').to_owned())
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| "http://127.0.0.1:4566".to_owned())
}

/// Fails fast, with advice, when nothing listens at `endpoint`.
fn check_reachable(endpoint: &str) -> Result<(), BoxError> {
    let advice = || {
        format!("LocalStack is not reachable at {endpoint}: start it with `bash localstack/up.sh`")
    };
    let host_port = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let reachable = host_port
        .to_socket_addrs()
        .map_err(|_| advice())?
        .any(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok());
    if reachable {
        Ok(())
    } else {
        Err(advice().into())
    }
}

/// What the example creates, removed by [`Resources::delete`].
struct Resources {
    sqs: aws_sdk_sqs::Client,
    events: aws_sdk_eventbridge::Client,
    queue_name: String,
    queue_url: String,
    bus: String,
    rule: Option<String>,
}

impl Resources {
    /// Creates the queue, the bus and the rule; whatever was created is removed again if a
    /// later step fails.
    async fn create(config: &SdkConfig, suffix: &str) -> Result<Resources, BoxError> {
        let sqs = aws_sdk_sqs::Client::new(config);
        let events = aws_sdk_eventbridge::Client::new(config);
        let queue_name = format!("baton-eb-orders-{suffix}");
        let queue_url = sqs
            .create_queue()
            .queue_name(&queue_name)
            .send()
            .await
            .map_err(|e| format!("CreateQueue: {}", DisplayErrorContext(e)))?
            .queue_url
            .ok_or("CreateQueue returned no queue URL")?;
        let mut resources = Resources {
            sqs,
            events,
            queue_name,
            queue_url,
            bus: format!("baton-eb-bus-{suffix}"),
            rule: None,
        };
        if let Err(error) = resources.route(suffix).await {
            resources.delete().await;
            return Err(error);
        }
        Ok(resources)
    }

    /// The bus and a rule sending `SOURCE` events to the queue.
    async fn route(&mut self, suffix: &str) -> Result<(), BoxError> {
        let queue_arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| format!("GetQueueAttributes: {}", DisplayErrorContext(e)))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or("GetQueueAttributes returned no queue ARN")?;
        self.events
            .create_event_bus()
            .name(&self.bus)
            .send()
            .await
            .map_err(|e| format!("CreateEventBus: {}", DisplayErrorContext(e)))?;
        let rule = format!("baton-eb-rule-{suffix}");
        self.events
            .put_rule()
            .name(&rule)
            .event_bus_name(&self.bus)
            .event_pattern(format!(r#"{{"source":["{SOURCE}"]}}"#))
            .send()
            .await
            .map_err(|e| format!("PutRule: {}", DisplayErrorContext(e)))?;
        self.rule = Some(rule.clone());
        self.events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&self.bus)
            .targets(
                Target::builder()
                    .id("orders-queue")
                    .arn(queue_arn)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| format!("PutTargets: {}", DisplayErrorContext(e)))?;
        Ok(())
    }

    /// Removes everything, best effort: a failure is reported, never fatal.
    async fn delete(self) {
        if let Some(rule) = &self.rule {
            let _ = self
                .events
                .remove_targets()
                .rule(rule)
                .event_bus_name(&self.bus)
                .ids("orders-queue")
                .send()
                .await;
            let _ = self
                .events
                .delete_rule()
                .name(rule)
                .event_bus_name(&self.bus)
                .send()
                .await;
        }
        if let Err(e) = self.events.delete_event_bus().name(&self.bus).send().await {
            eprintln!("DeleteEventBus: {}", DisplayErrorContext(e));
        }
        if let Err(e) = self
            .sqs
            .delete_queue()
            .queue_url(&self.queue_url)
            .send()
            .await
        {
            eprintln!("DeleteQueue: {}", DisplayErrorContext(e));
        }
    }
}

async fn run() -> Result<(), BoxError> {
    let endpoint = endpoint();
    check_reachable(&endpoint)?;
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::from_keys("test", "test", None))
        .endpoint_url(&endpoint)
        .load()
        .await;
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_id_generator(XrayIdGenerator::default())
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("eventbridge-consumer-example");

    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let suffix = format!("{}-{nanos:x}", std::process::id());
    let resources = Resources::create(&config, &suffix).await?;
    println!("endpoint  {endpoint}");
    println!(
        "route     bus {} -> rule ({SOURCE}) -> queue {}",
        resources.bus, resources.queue_name
    );

    // Whatever happens in between, everything is removed.
    let outcome = put_and_consume(&config, &tracer, &resources).await;
    let queue_name = resources.queue_name.clone();
    let bus = resources.bus.clone();
    resources.delete().await;
    let checkout = outcome?;

    provider.force_flush()?;
    report(
        &checkout,
        &bus,
        &queue_name,
        &exporter.get_finished_spans()?,
    )
}

/// Puts the event and runs the worker until it is handled; returns the producer's span.
async fn put_and_consume(
    config: &SdkConfig,
    tracer: &SdkTracer,
    resources: &Resources,
) -> Result<SpanContext, BoxError> {
    let handle = TracerHandle::new(tracer.clone());
    // One line on the SDK configuration: PutEvents calls of this client propagate.
    let events = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(config)
            .interceptor(
                EventBridgePropagation::new()
                    .with_tracer(handle.clone())
                    .interceptor(),
            )
            .build(),
    );

    let checkout = Context::new().with_span(tracer.start("checkout"));
    let output = events
        .put_events()
        .entries(
            PutEventsRequestEntry::builder()
                .event_bus_name(&resources.bus)
                .source(SOURCE)
                .detail_type(DETAIL_TYPE)
                .detail(r#"{"order_id":"A-1001","total_cents":4200}"#)
                .build(),
        )
        .send()
        .with_context(checkout.clone())
        .await
        .map_err(|e| format!("PutEvents: {}", DisplayErrorContext(e)))?;
    checkout.span().end();
    if output.failed_entry_count > 0 {
        return Err(format!("PutEvents refused the event: {:?}", output.entries()).into());
    }

    // The consumer: `shop.orders` / `OrderPlaced` to a typed handler, which opens a span of its
    // own under the current context (the worker's process span) and then stops the worker.
    let shutdown = CancellationToken::new();
    let handled: Arc<Mutex<Vec<String>>> = Arc::default();
    let consumer = {
        let (tracer, handled, shutdown) = (tracer.clone(), handled.clone(), shutdown.clone());
        EventConsumer::new().on(SOURCE, DETAIL_TYPE, move |event: Event<OrderPlaced>| {
            let (tracer, handled, shutdown) = (tracer.clone(), handled.clone(), shutdown.clone());
            async move {
                let mut span = tracer.start("fulfil order");
                let trace_id = span.span_context().trace_id();
                println!(
                    "handled   order {} ({} cents) in trace {trace_id}",
                    event.detail.order_id, event.detail.total_cents
                );
                span.end();
                handled
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(event.detail.order_id);
                shutdown.cancel();
                Ok::<_, std::convert::Infallible>(())
            }
        })
    };
    let worker = SqsWorker::new(resources.sqs.clone(), &resources.queue_url, consumer)
        .with_tracer(handle)
        .with_wait_time(Duration::from_secs(2));
    let deadline = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(DEADLINE).await;
            shutdown.cancel();
        })
    };
    let stats = worker.run(shutdown).await?;
    deadline.abort();
    println!(
        "worker    received {}, succeeded {}, failed {}, deleted {}",
        stats.received, stats.succeeded, stats.failed, stats.deleted
    );
    if handled.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
        return Err(format!("the event was not handled within {DEADLINE:?}").into());
    }
    Ok(checkout.span().span_context().clone())
}

/// Checks the chain checkout → send → process → fulfil order, all in one trace.
fn report(
    checkout: &SpanContext,
    bus: &str,
    queue: &str,
    spans: &[SpanData],
) -> Result<(), BoxError> {
    let find = |name: &str, parent: SpanId| {
        spans
            .iter()
            .find(|s| s.name == name && s.parent_span_id == parent)
            .ok_or_else(|| format!("no `{name}` span under {parent} in the checkout trace"))
    };
    println!();
    println!(
        "{:<9} {:<32}  {:<16}  {:<16}  span",
        "kind", "trace id", "span id", "parent id"
    );
    let row = |span: &SpanData| {
        println!(
            "{:<9} {:<32}  {:<16}  {:<16}  {}",
            format!("{:?}", span.span_kind),
            span.span_context.trace_id(),
            span.span_context.span_id(),
            span.parent_span_id,
            span.name
        );
    };
    if let Some(span) = spans
        .iter()
        .find(|s| s.span_context.span_id() == checkout.span_id())
    {
        row(span);
    }
    let mut parent = checkout.span_id();
    for name in [
        format!("send {bus}"),
        format!("process {queue}"),
        "fulfil order".to_owned(),
    ] {
        let span = find(&name, parent)?;
        row(span);
        if span.span_context.trace_id() != checkout.trace_id() {
            return Err(format!("`{name}` is not in the checkout trace").into());
        }
        parent = span.span_context.span_id();
    }
    println!();
    println!(
        "one trace: {} (checkout -> send -> process -> handler)",
        checkout.trace_id()
    );
    Ok(())
}
