//! A service that wraps its AWS SDK clients with Baton once, where it builds them, and then
//! uses them as it always did.
//!
//! [`AwsClients::new`] is the whole integration:
//! - SNS, EventBridge and Step Functions get Baton's interceptor on their configuration, so
//!   every fluent call (`sns.publish()…send()`) carries the caller's trace;
//! - SQS is also offered as a Tower stack (timeout, concurrency limit, then Baton's propagation
//!   layer over `SqsService`), for code that wants tower middleware around its sends.
//!
//! The program then handles one "request" against LocalStack: it sends an order through the
//! SQS Tower stack and publishes a notice through SNS, both under the request's span; receives
//! the order; and checks that the consumer's process span continues the request's trace. It
//! prints the spans and exits 1 if the trace broke or LocalStack is not running.
//!
//! ```text
//! bash localstack/up.sh
//! cargo run -p wrap-clients
//! ```

use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_sqs::operation::send_message::SendMessageInput;
use baton::{TracerHandle, XrayIdGenerator};
use baton_eventbridge::EventBridgePropagation;
use baton_sfn::SfnPropagation;
use baton_sns::SnsPropagation;
use baton_sqs::{SqsPropagation, SqsRequest, SqsResponse, SqsService};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt as _, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tower::util::BoxCloneService;
use tower::{BoxError, ServiceBuilder, ServiceExt};

/// The service's AWS clients, each wrapped with Baton once.
#[derive(Clone)]
struct AwsClients {
    /// SQS as a Tower service: timeout → concurrency limit → Baton → the SDK.
    sqs: BoxCloneService<SqsRequest, SqsResponse, BoxError>,
    /// SQS as the plain SDK client (with the interceptor too), for everything else.
    sqs_client: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    #[allow(dead_code)] // wrapped the same way; this example does not call it
    events: aws_sdk_eventbridge::Client,
    #[allow(dead_code)]
    sfn: aws_sdk_sfn::Client,
}

impl AwsClients {
    fn new(config: &SdkConfig, tracer: TracerHandle) -> Self {
        let sqs_propagation = SqsPropagation::new().with_tracer(tracer.clone());
        let sqs_client = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(config)
                .interceptor(sqs_propagation.interceptor())
                .build(),
        );
        let sqs = ServiceBuilder::new()
            .timeout(Duration::from_secs(5))
            .concurrency_limit(64)
            .layer(sqs_propagation.layer())
            // The Tower form needs no interceptor: give it a client without one.
            .service(SqsService::new(aws_sdk_sqs::Client::new(config)));
        AwsClients {
            sqs: BoxCloneService::new(sqs),
            sqs_client,
            sns: aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(config)
                    .interceptor(
                        SnsPropagation::new()
                            .with_tracer(tracer.clone())
                            .interceptor(),
                    )
                    .build(),
            ),
            events: aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(config)
                    .interceptor(
                        EventBridgePropagation::new()
                            .with_tracer(tracer.clone())
                            .interceptor(),
                    )
                    .build(),
            ),
            sfn: aws_sdk_sfn::Client::from_conf(
                aws_sdk_sfn::config::Builder::from(config)
                    .interceptor(
                        SfnPropagation::new()
                            .with_tracer(tracer)
                            .with_input_field("traceHeader")
                            .interceptor(),
                    )
                    .build(),
            ),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wrap-clients: {error}");
            ExitCode::FAILURE
        }
    }
}

fn endpoint() -> String {
    std::env::var("BATON_LOCALSTACK_ENDPOINT")
        .ok()
        .map(|v| v.trim().trim_end_matches('/').to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "http://127.0.0.1:4566".to_string())
}

fn reachable(endpoint: &str) -> bool {
    let hostport = endpoint.split("://").nth(1).unwrap_or(endpoint);
    let hostport = hostport.split('/').next().unwrap_or_default();
    hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
}

async fn run() -> Result<(), BoxError> {
    let endpoint = endpoint();
    if !reachable(&endpoint) {
        return Err(format!(
            "LocalStack does not answer at {endpoint}; start it with `bash localstack/up.sh`"
        )
        .into());
    }
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::from_keys("test", "test", None))
        .endpoint_url(&endpoint)
        .load()
        .await;
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .with_id_generator(XrayIdGenerator::default())
        .build();
    let tracer = provider.tracer("wrap-clients");
    let clients = AwsClients::new(&config, TracerHandle::new(tracer.clone()));

    let suffix = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() & 0xffff_ffff;
    let url = clients
        .sqs_client
        .create_queue()
        .queue_name(format!("orders-{suffix:x}"))
        .send()
        .await?
        .queue_url
        .ok_or("no queue URL")?;
    let topic = clients
        .sns
        .create_topic()
        .name(format!("notices-{suffix:x}"))
        .send()
        .await?
        .topic_arn
        .ok_or("no topic ARN")?;

    let outcome = handle_request(&clients, &tracer, &url, &topic).await;
    let _ = clients
        .sqs_client
        .delete_queue()
        .queue_url(&url)
        .send()
        .await;
    let _ = clients.sns.delete_topic().topic_arn(&topic).send().await;
    let request_trace = outcome?;

    provider.force_flush()?;
    let spans = exporter.get_finished_spans()?;
    println!("{:<28} {:<9} {:<33} parent", "span", "kind", "trace id");
    for s in &spans {
        println!(
            "{:<28} {:<9} {:<33} {}",
            s.name,
            format!("{:?}", s.span_kind),
            s.span_context.trace_id(),
            s.parent_span_id
        );
    }
    let process = spans
        .iter()
        .find(|s| s.name.starts_with("process "))
        .ok_or("no process span")?;
    let send = spans
        .iter()
        .find(|s| s.name.starts_with("send orders-"))
        .ok_or("no SQS send span")?;
    if process.span_context.trace_id() != request_trace
        || process.parent_span_id != send.span_context.span_id()
    {
        return Err("the consumer did not continue the request's trace".into());
    }
    println!(
        "\none trace from the request through the Tower stack to the consumer: {request_trace}"
    );
    Ok(())
}

/// One request: an SQS send through the Tower stack and an SNS publish, then the consumer.
async fn handle_request(
    clients: &AwsClients,
    tracer: &opentelemetry_sdk::trace::SdkTracer,
    url: &str,
    topic: &str,
) -> Result<opentelemetry::trace::TraceId, BoxError> {
    let request = Context::new().with_span(tracer.start("POST /orders"));
    let trace = request.span().span_context().trace_id();
    async {
        let input = SendMessageInput::builder()
            .queue_url(url)
            .message_body(r#"{"order":42}"#)
            .build()?;
        // The Tower form takes the context current when `call` is made.
        clients.sqs.clone().oneshot(SqsRequest::from(input)).await?;
        clients
            .sns
            .publish()
            .topic_arn(topic)
            .message("order 42 received")
            .send()
            .await?;
        Ok::<_, BoxError>(())
    }
    .with_context(request.clone())
    .await?;
    request.span().end();

    // The consumer side, with the interceptor-wrapped client.
    let propagation = SqsPropagation::new().with_tracer(TracerHandle::new(tracer.clone()));
    let messages = clients
        .sqs_client
        .receive_message()
        .queue_url(url)
        .wait_time_seconds(5)
        .send()
        .await?
        .messages
        .unwrap_or_default();
    let message = messages.first().ok_or("the order never arrived")?;
    let cx = propagation.start_process_span(message, url.rsplit('/').next().unwrap_or(url));
    cx.span().end();
    Ok(trace)
}
