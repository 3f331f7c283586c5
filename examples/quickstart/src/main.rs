//! Baton's quickstart: one trace from an SQS producer to its consumer, through LocalStack.
//!
//! The program plays both sides of a queue in a single process, with an SQS client that has
//! Baton's interceptor installed (one line on the SDK configuration) and plain fluent calls:
//! 1. under the application's `checkout` span it sends a message; Baton opens a PRODUCER span
//!    `send {queue}` and writes its context as an X-Ray trace header
//!    (`Root=…;Parent=…;Sampled=…`) into the message's `AWSTraceHeader` system attribute;
//! 2. it receives the message; Baton asks SQS for `AWSTraceHeader` (SQS returns it only on
//!    request) and records a `receive {queue}` span linked to the producer;
//! 3. it opens a `process {queue}` span that continues the producer's trace, so the whole
//!    request shows up in X-Ray as one trace.
//!
//! Spans go to an in-memory exporter and are printed at the end; ids come from
//! [`XrayIdGenerator`], so X-Ray would accept them. The queue gets a unique name and is deleted
//! before the program exits.
//!
//! Run it against LocalStack (`bash localstack/up.sh`, or `bash examples/demo.sh` for both steps):
//!
//! ```text
//! cargo run -p quickstart
//! ```
//!
//! `BATON_LOCALSTACK_ENDPOINT` overrides the endpoint (default `http://127.0.0.1:4566`). The
//! program exits with status 1 if LocalStack cannot be reached or the trace did not continue.

use std::error::Error;
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use baton::{AWS_TRACE_HEADER, TracerHandle, XrayIdGenerator};
use baton_sqs::SqsPropagation;
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, SpanId, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider, SpanData};

type BoxError = Box<dyn Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("quickstart: {error}");
            ExitCode::FAILURE
        }
    }
}

fn endpoint() -> String {
    std::env::var("BATON_LOCALSTACK_ENDPOINT")
        .ok()
        .map(|value| value.trim().trim_end_matches('/').to_string())
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| "http://127.0.0.1:4566".to_string())
}

/// A quick TCP connect, so a missing LocalStack gives advice rather than a retry storm.
fn check_reachable(endpoint: &str) -> Result<(), BoxError> {
    let advice = || {
        format!(
            "LocalStack is not reachable at {endpoint}: start it with `bash localstack/up.sh` \
             (or run the whole suite with the README's test command)"
        )
    };
    let authority = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let addrs = authority.to_socket_addrs().map_err(|_| advice())?;
    for addr in addrs {
        if TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok() {
            return Ok(());
        }
    }
    Err(advice().into())
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
    let tracer = provider.tracer("quickstart");

    // One line on the SDK configuration: every SQS call of this client propagates.
    let propagation = SqsPropagation::new().with_tracer(TracerHandle::new(tracer.clone()));
    let sqs = Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&config)
            .interceptor(propagation.interceptor())
            .build(),
    );

    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let queue_name = format!("baton-quickstart-{}-{nanos:x}", std::process::id());
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

    // Whatever happens in between, the queue is deleted.
    let outcome = send_and_process(&sqs, &propagation, &tracer, &queue_url, &queue_name).await;
    let deleted = sqs.delete_queue().queue_url(&queue_url).send().await;
    outcome?;
    deleted.map_err(|e| format!("DeleteQueue: {}", DisplayErrorContext(e)))?;

    provider.force_flush()?;
    report(&exporter.get_finished_spans()?)
}

async fn send_and_process(
    sqs: &Client,
    propagation: &SqsPropagation,
    tracer: &SdkTracer,
    queue_url: &str,
    queue_name: &str,
) -> Result<(), BoxError> {
    // The application's own span: the request that leads to the message.
    let checkout = Context::new().with_span(tracer.start("checkout"));

    // Producer: an unchanged fluent call. Baton's interceptor opens `send {queue}` under the
    // caller's span and writes its context into AWSTraceHeader.
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(r#"{"order":42}"#)
        .send()
        .with_context(checkout.clone())
        .await
        .map_err(|e| format!("SendMessage: {}", DisplayErrorContext(e)))?;
    checkout.span().end();

    // Consumer: Baton asks SQS for AWSTraceHeader (it is returned only on request) and records
    // a `receive` span linked to the producer.
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .wait_time_seconds(10)
        .send()
        .await
        .map_err(|e| format!("ReceiveMessage: {}", DisplayErrorContext(e)))?;
    let message = received
        .messages()
        .first()
        .ok_or("no message arrived within 10 s")?;
    let on_wire = message
        .attributes()
        .and_then(|attributes| attributes.get(&MessageSystemAttributeName::AwsTraceHeader))
        .ok_or("the message came back without AWSTraceHeader")?;
    println!("on wire   {AWS_TRACE_HEADER}: {on_wire}");

    // The processing span continues the producer's trace.
    let process = propagation.start_process_span(message, queue_name);
    // ... the message would be handled here, with `process` attached ...
    if let Some(receipt) = message.receipt_handle() {
        sqs.delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| format!("DeleteMessage: {}", DisplayErrorContext(e)))?;
    }
    process.span().end();
    Ok(())
}

/// Prints each span and checks that the consumer continued the producer's trace.
fn report(spans: &[SpanData]) -> Result<(), BoxError> {
    println!();
    let row = |cells: [&str; 5]| {
        let [operation, kind, trace, span, parent] = cells;
        println!("{operation:<10} {kind:<9} {trace:<32}  {span:<16}  {parent}");
    };
    row(["span", "kind", "trace id", "span id", "parent id"]);
    for span in spans {
        let parent = if span.parent_span_id == SpanId::INVALID {
            "-".to_string()
        } else {
            span.parent_span_id.to_string()
        };
        let operation = span.name.split_whitespace().next().unwrap_or_default();
        row([
            operation,
            &format!("{:?}", span.span_kind),
            &span.span_context.trace_id().to_string(),
            &span.span_context.span_id().to_string(),
            &parent,
        ]);
    }
    let find = |operation: &str| {
        spans
            .iter()
            .find(|s| s.name.starts_with(operation))
            .ok_or_else(|| format!("no {operation} span was recorded"))
    };
    let checkout = find("checkout")?;
    let send = find("send ")?;
    let process = find("process ")?;
    if send.parent_span_id != checkout.span_context.span_id() {
        return Err("the send span is not a child of the caller's span".into());
    }
    if process.span_context.trace_id() != send.span_context.trace_id()
        || process.parent_span_id != send.span_context.span_id()
    {
        return Err("the process span did not continue the producer's trace".into());
    }
    println!();
    println!("one trace: {}", send.span_context.trace_id());
    Ok(())
}
