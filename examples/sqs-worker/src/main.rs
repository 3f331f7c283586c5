//! Baton's SQS worker end to end: several producers, one worker, and every message handled in
//! the trace of the request that sent it.
//!
//! The program, against LocalStack:
//! 1. creates a queue with a unique name;
//! 2. sends five orders, each from its own `checkout` span (five separate traces), through an
//!    SQS client with Baton's interceptor, which opens a PRODUCER `send {queue}` span per call
//!    and writes its context into the message's `AWSTraceHeader`;
//! 3. runs [`SqsWorker`] with a plain `tower::service_fn` handler until all five are handled,
//!    then cancels its shutdown token (the worker stops polling, finishes, deletes);
//! 4. checks, for every message, that its `process {queue}` span is a child of its own `send`
//!    span in its own trace, prints the result, and deletes the queue.
//!
//! Spans go to an in-memory exporter with X-Ray ids ([`XrayIdGenerator`]). The program exits
//! with status 1 if LocalStack cannot be reached, a message is not handled within 30 s, or a
//! trace did not continue.
//!
//! ```text
//! bash localstack/up.sh
//! cargo run -p sqs-worker
//! ```
//!
//! `BATON_LOCALSTACK_ENDPOINT` overrides the endpoint (default `http://127.0.0.1:4566`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::error::Error;
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::Message;
use baton::{TracerHandle, XrayIdGenerator};
use baton_sqs::SqsPropagation;
use baton_worker::{CancellationToken, SqsWorker};
use opentelemetry::trace::{
    FutureExt as _, SpanContext, SpanId, TraceContextExt, TraceId, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider, SpanData};

type BoxError = Box<dyn Error + Send + Sync>;

/// How many orders are sent and handled.
const ORDERS: usize = 5;

/// How long the worker may take to handle them all.
const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sqs-worker: {error}");
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

/// One order as the producer sent it.
struct Sent {
    message_id: String,
    checkout: SpanContext,
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
    let tracer = provider.tracer("sqs-worker-example");
    let handle = TracerHandle::new(tracer.clone());

    // Producer and worker share one client; Baton's interceptor is one line on its config.
    let sqs = Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&config)
            .interceptor(
                SqsPropagation::new()
                    .with_tracer(handle.clone())
                    .interceptor(),
            )
            .build(),
    );

    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let queue_name = format!("baton-sqs-worker-{}-{nanos:x}", std::process::id());
    let queue_url = sqs
        .create_queue()
        .queue_name(&queue_name)
        .send()
        .await
        .map_err(|e| format!("CreateQueue: {}", DisplayErrorContext(e)))?
        .queue_url
        .ok_or("CreateQueue returned no queue URL")?;
    println!("endpoint  {endpoint}");
    println!("queue     {queue_name}");

    // The queue goes away whatever happens in between.
    let outcome = send_and_work(&sqs, &tracer, handle, &queue_url).await;
    let deleted = sqs.delete_queue().queue_url(&queue_url).send().await;
    let sent = outcome?;
    deleted.map_err(|e| format!("DeleteQueue: {}", DisplayErrorContext(e)))?;

    provider.force_flush()?;
    report(&sent, &queue_name, &exporter.get_finished_spans()?)
}

async fn send_and_work(
    sqs: &Client,
    tracer: &SdkTracer,
    handle: TracerHandle,
    queue_url: &str,
) -> Result<Vec<Sent>, BoxError> {
    // Five requests, five traces: each order is sent from its own `checkout` span.
    let mut sent = Vec::with_capacity(ORDERS);
    for order in 1..=ORDERS {
        let checkout = Context::new().with_span(tracer.start(format!("checkout {order}")));
        let output = sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(format!(r#"{{"order":{order}}}"#))
            .send()
            .with_context(checkout.clone())
            .await
            .map_err(|e| format!("SendMessage: {}", DisplayErrorContext(e)))?;
        checkout.span().end();
        sent.push(Sent {
            message_id: output
                .message_id
                .ok_or("SendMessage returned no message id")?,
            checkout: checkout.span().span_context().clone(),
        });
    }

    // The handler: any tower service over the SDK's Message. The worker makes the message's
    // process span current while it runs; once all orders are in, it stops the worker.
    let shutdown = CancellationToken::new();
    let handled: Arc<Mutex<Vec<(String, TraceId)>>> = Arc::default();
    let handler = {
        let (handled, shutdown) = (handled.clone(), shutdown.clone());
        tower::service_fn(move |message: Message| {
            let (handled, shutdown) = (handled.clone(), shutdown.clone());
            async move {
                let trace_id = Context::current().span().span_context().trace_id();
                println!(
                    "handled   {} in trace {trace_id}",
                    message.body().unwrap_or_default()
                );
                let mut handled = handled.lock().unwrap_or_else(|e| e.into_inner());
                handled.push((message.message_id.unwrap_or_default(), trace_id));
                if handled.len() >= ORDERS {
                    shutdown.cancel();
                }
                Ok::<_, Infallible>(())
            }
        })
    };
    let worker = SqsWorker::new(sqs.clone(), queue_url, handler)
        .with_tracer(handle)
        .with_wait_time(Duration::from_secs(2))
        .with_concurrency(4);
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
        "worker    received {}, succeeded {}, deleted {}",
        stats.received, stats.succeeded, stats.deleted
    );
    let count = handled.lock().unwrap_or_else(|e| e.into_inner()).len();
    if count < ORDERS {
        return Err(
            format!("only {count} of {ORDERS} orders were handled within {DEADLINE:?}").into(),
        );
    }
    Ok(sent)
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// Checks that each message's process span continued its producer's trace.
fn report(sent: &[Sent], queue: &str, spans: &[SpanData]) -> Result<(), BoxError> {
    let process_name = format!("process {queue}");
    let send_name = format!("send {queue}");
    let process: HashMap<String, &SpanData> = spans
        .iter()
        .filter(|s| s.name == process_name)
        .filter_map(|s| Some((attribute(s, "messaging.message.id")?.to_string(), s)))
        .collect();
    println!();
    println!(
        "{:<38} {:<32}  {:<16}  {:<16}  continued",
        "message", "trace id", "send span", "process parent"
    );
    let mut broken = 0;
    for order in sent {
        let send = spans
            .iter()
            .find(|s| s.name == send_name && s.parent_span_id == order.checkout.span_id());
        let processed = process.get(&order.message_id);
        let (continued, send_id, parent) = match (send, processed) {
            (Some(send), Some(processed)) => (
                processed.span_context.trace_id() == order.checkout.trace_id()
                    && processed.parent_span_id == send.span_context.span_id(),
                send.span_context.span_id(),
                processed.parent_span_id,
            ),
            (send, _) => (
                false,
                send.map_or(SpanId::INVALID, |s| s.span_context.span_id()),
                SpanId::INVALID,
            ),
        };
        println!(
            "{:<38} {:<32}  {:<16}  {:<16}  {}",
            order.message_id,
            order.checkout.trace_id(),
            send_id,
            parent,
            if continued { "yes" } else { "NO" }
        );
        if !continued {
            broken += 1;
        }
    }
    println!();
    if broken > 0 {
        return Err(format!("{broken} of {} traces did not continue", sent.len()).into());
    }
    println!(
        "all {} messages were handled in their producers' traces",
        sent.len()
    );
    Ok(())
}
