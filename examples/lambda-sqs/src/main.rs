//! A Lambda function traced by Baton: it handles SQS batches and publishes each order to an SNS
//! topic, and the order's trace goes on through the function to whatever reads the topic.
//!
//! **In Lambda** (`AWS_LAMBDA_RUNTIME_API` is set) it is the function:
//! - `baton_export::Setup` sets up OpenTelemetry from the `OTEL_*` variables (OTLP to the ADOT
//!   Lambda layer's collector or any other; the resource says `AWS::Lambda::Function`);
//! - `InvocationLayer` gives each invocation its `process {queue}` span, linked to every
//!   record's producer and under Lambda's segment, and flushes spans before the response;
//! - `SqsBatchHandler` runs each record in a `process {queue}` span that continues the
//!   record's producer trace, and reports failed records as partial batch failures;
//! - the SNS client carries Baton's interceptor: each Publish sends the record's trace on, with
//!   the `Lineage` of *this* invocation, which Lambda's recursive-loop detection counts.
//!
//! Deploy it with [cargo-lambda](https://www.cargo-lambda.info/):
//!
//! ```text
//! cargo lambda build --release -p lambda-sqs --arm64
//! cargo lambda deploy lambda-sqs --tracing active \
//!     --env-var TOPIC_ARN=arn:aws:sns:eu-west-1:123456789012:shipping \
//!     --env-var OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318
//! aws lambda create-event-source-mapping --function-name lambda-sqs \
//!     --event-source-arn arn:aws:sqs:eu-west-1:123456789012:orders \
//!     --function-response-types ReportBatchItemFailures
//! ```
//!
//! The role needs `sns:Publish` on the topic and the SQS permissions of an event source mapping
//! (`AWSLambdaSQSQueueExecutionRole`); the collector, its own export permissions (see the
//! README's "Export to X-Ray").
//!
//! **Here** (`cargo run -p lambda-sqs`, with LocalStack running: `bash localstack/up.sh`) it
//! plays everything around the function: it creates a topic and a `shipping` queue subscribed
//! to it in LocalStack, starts the local trace view (OTLP), makes a `checkout` span whose
//! trace header goes into an SQS record as Lambda's event source mapping would deliver it,
//! serves that event from a stand-in for the Lambda Runtime API, and starts itself as the
//! function against it. It then checks that the message on the `shipping` queue continues the
//! checkout's trace with the invocation's `Lineage`, and prints the trace. Exit status 1 if
//! not.

use std::convert::Infallible;
use std::error::Error;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use baton_worker::lambda::{InvocationLayer, SqsBatchHandler};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use tokio::sync::mpsc;
use tower::{ServiceBuilder, service_fn};

type BoxError = Box<dyn Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return match function().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("lambda-sqs: {error}");
                ExitCode::FAILURE
            }
        };
    }
    match local().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lambda-sqs: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The function, as Lambda runs it.
async fn function() -> Result<(), lambda_runtime::Error> {
    let telemetry = baton_export::Setup::new().install()?;
    let provider = telemetry.provider().clone();
    let topic = std::env::var("TOPIC_ARN").map_err(|_| "TOPIC_ARN is not set")?;
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&aws)
            .interceptor(baton_sns::SnsPropagation::new().interceptor())
            .build(),
    );
    let handler = service_fn(move |message: Message| {
        let (sns, topic) = (sns.clone(), topic.clone());
        async move {
            let order = message.body().unwrap_or_default();
            sns.publish()
                .topic_arn(topic)
                .message(serde_json::json!({ "shipping": order }).to_string())
                .send()
                .await?;
            Ok::<_, BoxError>(())
        }
    });
    let function = ServiceBuilder::new()
        .layer(InvocationLayer::new().with_flush(move || {
            let _ = provider.force_flush();
        }))
        .service(SqsBatchHandler::new(handler));
    let served = lambda_runtime::run_concurrent(function).await;
    drop(telemetry);
    served
}

/// Lambda's trace header for the invocation: its own segment, a new trace, and the `Lineage`
/// Lambda would have advanced for this invocation.
const LAMBDA_SEGMENT: &str = "Parent=5ab1f0c0d1e2f3a4;Sampled=1;Lineage=3a4b5c6d:1";

/// Everything around the function, locally.
async fn local() -> Result<(), BoxError> {
    let endpoint = std::env::var("BATON_LOCALSTACK_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:4566".to_owned());
    let aws = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::from_keys("test", "test", None))
        .endpoint_url(&endpoint)
        .load()
        .await;
    let (sqs, sns) = (
        aws_sdk_sqs::Client::new(&aws),
        aws_sdk_sns::Client::new(&aws),
    );
    let suffix = format!(
        "{:x}-{}",
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_micros() & 0xff_ffff_ffff,
        std::process::id()
    );
    let topic = sns
        .create_topic()
        .name(format!("orders-{suffix}"))
        .send()
        .await
        .map_err(|e| {
            format!("cannot reach LocalStack at {endpoint} (start it: bash localstack/up.sh): {e}")
        })?
        .topic_arn
        .ok_or("no topic ARN")?;
    let queue = sqs
        .create_queue()
        .queue_name(format!("shipping-{suffix}"))
        .send()
        .await?
        .queue_url
        .ok_or("no queue URL")?;
    let outcome = around_the_function(&endpoint, &sqs, &sns, &topic, &queue).await;
    let _ = sqs.delete_queue().queue_url(&queue).send().await;
    let _ = sns.delete_topic().topic_arn(&topic).send().await;
    outcome
}

async fn around_the_function(
    endpoint: &str,
    sqs: &aws_sdk_sqs::Client,
    sns: &aws_sdk_sns::Client,
    topic: &str,
    queue: &str,
) -> Result<(), BoxError> {
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or("no queue ARN")?;
    sns.subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await?;

    // The local trace view, receiving OTLP as the function's collector would.
    let mut view = baton_trace::Collector::bind("127.0.0.1:0".parse()?)?
        .with_otlp("127.0.0.1:0".parse()?)?
        .spawn();
    let otlp = view
        .otlp_addr()
        .ok_or("the trace view does not receive OTLP")?;

    // A checkout service sends an order; its trace header is what SQS hands Lambda.
    let checkout = baton_export::Setup::new()
        .with_service_name("checkout")
        .with_aws_detection(false)
        .with_sampler(baton::XrayParentBased::new(
            opentelemetry_sdk::trace::Sampler::AlwaysOn,
        ))
        .with_exporter(
            baton_export::Exporter::otlp().with_endpoint(format!("http://{otlp}/v1/traces")),
        )
        .build()?;
    let tracer = checkout.tracer("lambda-sqs");
    let request = tracer
        .span_builder("POST /checkout")
        .with_kind(SpanKind::Server)
        .with_attributes([KeyValue::new("http.request.method", "POST")])
        .start(&tracer);
    let cx = Context::new().with_span(request);
    let mut carrier = std::collections::HashMap::new();
    baton::XrayPropagator::new().inject_context(&cx, &mut carrier);
    let producer_header = carrier.remove("x-amzn-trace-id").ok_or("no trace header")?;
    let checkout_trace = baton_trace::xray_trace_id(cx.span().span_context().trace_id());
    cx.span().end();
    checkout.shutdown_async().await?;
    println!("checkout  trace {checkout_trace}");

    // The event Lambda's event source mapping would deliver, served by a stand-in Runtime API.
    let event = serde_json::json!({"Records": [{
        "messageId": "0f1d2c3b-4a59-4687-9a1b-2c3d4e5f6a7b",
        "receiptHandle": "local",
        "body": "{\"order\":\"42\"}",
        "attributes": {"AWSTraceHeader": producer_header, "ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:orders",
        "awsRegion": "us-east-1"
    }]});
    let lambda_trace = format!("Root={};{LAMBDA_SEGMENT}", new_xray_trace_id()?);
    let (answers, mut answered) = mpsc::unbounded_channel();
    let api = runtime_api(event.to_string(), lambda_trace.clone(), answers).await?;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "lambda-sqs")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        // As on Lambda Managed Instances: lambda_runtime sets no `_X_AMZN_TRACE_ID` then, so
        // the `Lineage` checked below can only come from the invocation's context.
        .env("AWS_LAMBDA_MAX_CONCURRENCY", "2")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("TOPIC_ARN", topic)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
        .kill_on_drop(true)
        .spawn()?;
    println!("lambda    invoked with {lambda_trace}");
    let answer = tokio::time::timeout(Duration::from_secs(60), answered.recv())
        .await
        .map_err(|_| "the function did not answer within 60 s")?
        .ok_or("the Runtime API stopped")?;
    println!("lambda    answered {answer}");
    let _ = child.kill().await;
    let failures = serde_json::from_str::<serde_json::Value>(&answer)?["batchItemFailures"]
        .as_array()
        .map_or(0, Vec::len);
    if failures > 0 {
        return Err(format!("the function reported {failures} failed record(s)").into());
    }

    // What the function published reached the subscribed queue, in the checkout's trace.
    let message = receive_one(sqs, queue).await?;
    let header = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::AwsTraceHeader))
        .ok_or("the shipping message has no AWSTraceHeader")?;
    println!("shipping  AWSTraceHeader: {header}");
    let parsed = baton::TraceHeader::parse(header)?;
    if parsed.lineage() != Some("3a4b5c6d:1") {
        return Err(format!("the Lineage is not the invocation's: {header}").into());
    }
    if !header.contains(&format!("Root={checkout_trace}")) {
        return Err(format!("the message left the checkout trace: {header}").into());
    }

    let trace = view
        .wait_for(
            |t| t.id() == checkout_trace && t.services().contains(&"lambda-sqs"),
            Duration::from_secs(15),
        )
        .await
        .ok_or("the function's spans did not reach the trace view")?;
    println!();
    print!(
        "{}",
        baton_trace::render_waterfall_with(&trace, &baton_trace::WaterfallOptions::new(100))
    );
    println!(
        "\none trace: checkout -> SQS record -> lambda-sqs (process) -> SNS Publish -> shipping queue"
    );
    view.shutdown().await;
    Ok(())
}

/// A new X-Ray trace id (`1-{epoch hex}-{24 hex}`), as Lambda starts for its segment.
fn new_xray_trace_id() -> Result<String, BoxError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let random = now.as_nanos() ^ u128::from(std::process::id()) << 64;
    Ok(format!(
        "1-{:08x}-{:024x}",
        now.as_secs(),
        random & ((1u128 << 96) - 1)
    ))
}

/// Receives one message from `queue`, with its system attributes.
async fn receive_one(sqs: &aws_sdk_sqs::Client, queue: &str) -> Result<Message, BoxError> {
    for _ in 0..20 {
        let received = sqs
            .receive_message()
            .queue_url(queue)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
            .send()
            .await?;
        if let Some(message) = received.messages.and_then(|m| m.into_iter().next()) {
            return Ok(message);
        }
    }
    Err("nothing arrived on the shipping queue within 20 s".into())
}

/// A stand-in for the Lambda Runtime API on 127.0.0.1: the first `/next` gets `event` (request
/// id `local-1`, trace header `trace`); later ones wait. Answers the function posts are sent to
/// `answers`. Returns the `host:port` to put in `AWS_LAMBDA_RUNTIME_API`.
async fn runtime_api(
    event: String,
    trace: String,
    answers: mpsc::UnboundedSender<String>,
) -> Result<String, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let event = Arc::new(Mutex::new(Some(event)));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (event, trace, answers) = (event.clone(), trace.clone(), answers.clone());
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let (event, trace, answers) = (event.clone(), trace.clone(), answers.clone());
                async move {
                    if request.uri().path().ends_with("/invocation/next") {
                        let Some(event) = event.lock().unwrap_or_else(|p| p.into_inner()).take()
                        else {
                            std::future::pending::<()>().await;
                            unreachable!("pending never ends");
                        };
                        let deadline = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .unwrap_or_default()
                            + Duration::from_secs(30);
                        let response = Response::builder()
                            .header("lambda-runtime-aws-request-id", "local-1")
                            .header(
                                "lambda-runtime-deadline-ms",
                                deadline.as_millis().to_string(),
                            )
                            .header(
                                "lambda-runtime-invoked-function-arn",
                                "arn:aws:lambda:us-east-1:000000000000:function:lambda-sqs",
                            )
                            .header("lambda-runtime-trace-id", trace)
                            .body(Full::new(Bytes::from(event)));
                        return Ok::<_, Infallible>(response.unwrap_or_default());
                    }
                    let body = request
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let _ = answers.send(String::from_utf8_lossy(&body).into_owned());
                    let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
                    *response.status_mut() = hyper::StatusCode::ACCEPTED;
                    Ok(response)
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(address)
}
