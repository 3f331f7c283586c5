//! Baton's Lambda SQS adapter inside the real `lambda_runtime` loop, fed a batch made of
//! messages LocalStack really delivered.
//!
//! Producers send three messages through Baton's interceptor, each under its own span. The test
//! receives them from LocalStack with their attributes and shapes them into the SQS event
//! Lambda's event source mapping would hand a function. It then serves that event from a
//! stand-in for the Lambda Runtime API on 127.0.0.1, to the `baton-lambda-fn` binary started as
//! Lambda starts a function: a process with `AWS_LAMBDA_RUNTIME_API` set.
//!
//! The function's handler sends one message on per record, through Baton's interceptor, to a
//! second queue. Checked:
//! - the partial batch response posted back names exactly the failed and the panicked records;
//! - each message sent on continues its own record's producer trace and carries the `Lineage`
//!   of the invocation's trace header.

use std::collections::HashMap;
use std::convert::Infallible;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use baton::{TraceHeader, TracerHandle};
use baton_integration::{ENDPOINT_ENV, TestQueue, TestTracer, endpoint, sdk_config, sqs};
use baton_sqs::SqsPropagation;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The invocation's trace header, as the Runtime API sends it (`Lambda-Runtime-Trace-Id`).
const INVOCATION_TRACE: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c:1";
const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

/// What the function posted back: the path (response or error) and the body.
type Posted = (String, String);

/// A stand-in for the Lambda Runtime API: hands out `event` once, then keeps the next
/// request for an event waiting; forwards what the function posts back.
async fn runtime_api(event: String, posted: mpsc::UnboundedSender<Posted>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let event = Arc::new(Mutex::new(Some(event)));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (event, posted) = (event.clone(), posted.clone());
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let (event, posted) = (event.clone(), posted.clone());
                async move {
                    let path = request.uri().path().to_owned();
                    if path.ends_with("/runtime/invocation/next") {
                        let Some(event) = event.lock().unwrap().take() else {
                            // One invocation only: the function waits here until it is stopped.
                            std::future::pending::<()>().await;
                            unreachable!();
                        };
                        let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
                            + Duration::from_secs(60);
                        let response = Response::builder()
                            .header("lambda-runtime-aws-request-id", REQUEST_ID)
                            .header(
                                "lambda-runtime-deadline-ms",
                                deadline.as_millis().to_string(),
                            )
                            .header(
                                "lambda-runtime-invoked-function-arn",
                                "arn:aws:lambda:us-east-1:000000000000:function:orders",
                            )
                            .header("lambda-runtime-trace-id", INVOCATION_TRACE)
                            .body(Full::new(Bytes::from(event)))
                            .unwrap();
                        return Ok::<_, Infallible>(response);
                    }
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    let _ = posted.send((path, String::from_utf8_lossy(&body).into_owned()));
                    Ok(Response::builder()
                        .status(202)
                        .body(Full::new(Bytes::from_static(b"{\"status\":\"OK\"}")))
                        .unwrap())
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

/// One received message as a record of Lambda's SQS event.
fn record(message: &aws_sdk_sqs::types::Message, queue_arn: &str) -> Value {
    let attributes: serde_json::Map<String, Value> = message
        .attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| (name.as_str().to_owned(), json!(value)))
        .collect();
    let message_attributes: serde_json::Map<String, Value> = message
        .message_attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            (
                name.clone(),
                json!({"stringValue": value.string_value(), "stringListValues": [],
                       "binaryListValues": [], "dataType": value.data_type()}),
            )
        })
        .collect();
    json!({
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.md5_of_body(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_runtime_reports_failures_and_each_record_continues_its_producer() {
    let client = sqs().await;
    let input = TestQueue::create(&client, "lambda-in").await;
    let output = TestQueue::create(&client, "lambda-out").await;
    let arn = client
        .get_queue_attributes()
        .queue_url(&input.url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap();

    // Three producers, each under a span of its own.
    let tracer = TestTracer::new();
    let producer = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk_config().await)
            .interceptor(
                SqsPropagation::new()
                    .with_tracer(TracerHandle::new(tracer.tracer()))
                    .interceptor(),
            )
            .build(),
    );
    let mut producer_traces = HashMap::new();
    for body in ["ok-1", "fail", "ok-2", "panic"] {
        let cx = Context::new().with_span(tracer.tracer().start(format!("produce {body}")));
        producer
            .send_message()
            .queue_url(&input.url)
            .message_body(body)
            .send()
            .with_context(cx.clone())
            .await
            .unwrap();
        producer_traces.insert(body.to_owned(), cx.span().span_context().trace_id());
    }

    // What LocalStack delivers, as Lambda's event source mapping would pass it on.
    let mut messages = Vec::new();
    while messages.len() < 4 {
        let received = client
            .receive_message()
            .queue_url(&input.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        messages.extend(received.messages().iter().cloned());
    }
    let event = json!({"Records": messages.iter().map(|m| record(m, &arn)).collect::<Vec<_>>()});
    let id_of = |body: &str| {
        messages
            .iter()
            .find(|m| m.body() == Some(body))
            .and_then(|m| m.message_id())
            .unwrap()
            .to_owned()
    };

    let (posted, mut answers) = mpsc::unbounded_channel();
    let api = runtime_api(event.to_string(), posted).await;
    let mut function = tokio::process::Command::new(env!("CARGO_BIN_EXE_baton-lambda-fn"))
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("RUST_BACKTRACE", "0")
        .env("AWS_LAMBDA_FUNCTION_NAME", "orders")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("BATON_OUT_QUEUE_URL", &output.url)
        .env(ENDPOINT_ENV, endpoint())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting baton-lambda-fn");
    let (path, body) = tokio::time::timeout(Duration::from_secs(60), answers.recv())
        .await
        .expect("the function answers within 60 s")
        .expect("an answer");
    function.kill().await.unwrap();

    // The partial batch response: exactly the failed and the panicked records.
    assert_eq!(
        path,
        format!("/2018-06-01/runtime/invocation/{REQUEST_ID}/response")
    );
    let answer: Value = serde_json::from_str(&body).unwrap();
    let mut failed: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    failed.sort_unstable();
    let mut expected = vec![id_of("fail"), id_of("panic")];
    expected.sort_unstable();
    assert_eq!(failed, expected);

    // What the function sent on: each in its own record's producer trace, with the Lineage of
    // the invocation.
    let mut sent_on = Vec::new();
    while sent_on.len() < 2 {
        let received = client
            .receive_message()
            .queue_url(&output.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
            .send()
            .await
            .unwrap();
        sent_on.extend(received.messages().iter().cloned());
    }
    assert_eq!(sent_on.len(), 2);
    for message in &sent_on {
        let body = message.body().unwrap();
        let origin = body.strip_prefix("from ").unwrap();
        let header = message
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::AwsTraceHeader))
            .unwrap_or_else(|| panic!("{body} has no AWSTraceHeader"));
        let header = TraceHeader::parse(header).unwrap();
        assert_eq!(
            header.trace_id(),
            producer_traces[origin],
            "{body} left in another trace"
        );
        assert_eq!(header.lineage(), Some("1:a87bd80c:1"), "{body}");
    }
    input.delete().await;
    output.delete().await;
}
