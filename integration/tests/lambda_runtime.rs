//! Baton's Lambda adapters inside the real `lambda_runtime` loop, fed events made of what
//! LocalStack really delivered: an SQS batch, and EventBridge events (through a rule's SQS
//! target).
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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use baton::{TraceHeader, TracerHandle};
use baton_integration::{
    ENDPOINT_ENV, TestQueue, TestTracer, endpoint, sdk_config, sqs, unique_name,
};
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

/// What the function posted back: the path (response or error) and the body.
type Posted = (String, String);

/// A stand-in for the Lambda Runtime API: hands out `events` in order (request ids `req-0`,
/// `req-1`, …), then keeps the next request for an event waiting; forwards what the function
/// posts back. Every invocation carries [`INVOCATION_TRACE`].
async fn runtime_api(events: Vec<String>, posted: mpsc::UnboundedSender<Posted>) -> String {
    let invocations = events
        .into_iter()
        .map(|event| (event, INVOCATION_TRACE.to_owned()))
        .collect();
    runtime_api_with(invocations, posted, Arc::new(|_, _| {})).await
}

/// One invocation the stand-in Runtime API hands out: the event, Lambda's trace header
/// (`Lambda-Runtime-Trace-Id`; none when Lambda does not trace the function), and the client
/// context (`Lambda-Runtime-Client-Context`: the JSON a direct Invoke's `ClientContext` holds).
struct Invocation {
    event: String,
    trace: Option<String>,
    client_context: Option<String>,
}

impl From<(String, String)> for Invocation {
    fn from((event, trace): (String, String)) -> Self {
        Invocation {
            event,
            trace: Some(trace),
            client_context: None,
        }
    }
}

/// Called with the index of each `/next` request (0 for the first) and how many answers the
/// function had posted by then, before the request is answered.
type OnNext = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// [`runtime_api`] with each invocation's own trace header (`(event, header)`) and a hook on
/// every `/next` request.
async fn runtime_api_with(
    invocations: Vec<impl Into<Invocation>>,
    posted: mpsc::UnboundedSender<Posted>,
    on_next: OnNext,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let invocations: Vec<Invocation> = invocations.into_iter().map(Into::into).collect();
    let events = Arc::new(Mutex::new(invocations.into_iter().enumerate()));
    let nexts = Arc::new(AtomicUsize::new(0));
    let posts = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (events, posted) = (events.clone(), posted.clone());
            let (nexts, posts, on_next) = (nexts.clone(), posts.clone(), on_next.clone());
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let (events, posted) = (events.clone(), posted.clone());
                let (nexts, posts, on_next) = (nexts.clone(), posts.clone(), on_next.clone());
                async move {
                    let path = request.uri().path().to_owned();
                    if path.ends_with("/runtime/invocation/next") {
                        on_next(
                            nexts.fetch_add(1, Ordering::SeqCst),
                            posts.load(Ordering::SeqCst),
                        );
                        let next = events.lock().unwrap().next();
                        let Some((index, invocation)) = next else {
                            // No more invocations: the function waits here until it is stopped.
                            std::future::pending::<()>().await;
                            unreachable!();
                        };
                        let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
                            + Duration::from_secs(60);
                        let mut response = Response::builder()
                            .header("lambda-runtime-aws-request-id", format!("req-{index}"))
                            .header(
                                "lambda-runtime-deadline-ms",
                                deadline.as_millis().to_string(),
                            )
                            .header(
                                "lambda-runtime-invoked-function-arn",
                                "arn:aws:lambda:us-east-1:000000000000:function:orders",
                            );
                        if let Some(trace) = invocation.trace {
                            response = response.header("lambda-runtime-trace-id", trace);
                        }
                        if let Some(client_context) = invocation.client_context {
                            response =
                                response.header("lambda-runtime-client-context", client_context);
                        }
                        let response = response
                            .body(Full::new(Bytes::from(invocation.event)))
                            .unwrap();
                        return Ok::<_, Infallible>(response);
                    }
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    posts.fetch_add(1, Ordering::SeqCst);
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

/// Starts `baton-lambda-fn` as Lambda starts a function, against the Runtime API at `api`.
fn start_function(api: &str, out_queue: &str, mode: &str) -> tokio::process::Child {
    start_function_with(api, out_queue, mode, &[])
}

/// [`start_function`] with more environment variables.
fn start_function_with(
    api: &str,
    out_queue: &str,
    mode: &str,
    vars: &[(&str, String)],
) -> tokio::process::Child {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_baton-lambda-fn"));
    for (name, value) in vars {
        command.env(name, value);
    }
    command
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("RUST_BACKTRACE", "0")
        .env("AWS_LAMBDA_FUNCTION_NAME", "orders")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("BATON_OUT_QUEUE_URL", out_queue)
        .env("BATON_LAMBDA_MODE", mode)
        .env(ENDPOINT_ENV, endpoint())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting baton-lambda-fn")
}

/// Receives from `queue` until `count` messages came, with their `AWSTraceHeader`.
async fn receive_all(
    client: &aws_sdk_sqs::Client,
    queue: &str,
    count: usize,
) -> Vec<aws_sdk_sqs::types::Message> {
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while messages.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {count} messages arrived",
            messages.len()
        );
        let received = client
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        messages.extend(received.messages().iter().cloned());
    }
    messages
}

/// The `AWSTraceHeader` of a received message.
fn trace_header(message: &aws_sdk_sqs::types::Message) -> TraceHeader<'_> {
    let header = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::AwsTraceHeader))
        .unwrap_or_else(|| panic!("{:?} has no AWSTraceHeader", message.body()));
    TraceHeader::parse(header).unwrap()
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
    let messages = receive_all(&client, &input.url, 4).await;
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
    let api = runtime_api(vec![event.to_string()], posted).await;
    let mut function = start_function(&api, &output.url, "sqs");
    let (path, body) = tokio::time::timeout(Duration::from_secs(60), answers.recv())
        .await
        .expect("the function answers within 60 s")
        .expect("an answer");
    function.kill().await.unwrap();

    // The partial batch response: exactly the failed and the panicked records.
    assert_eq!(path, "/2018-06-01/runtime/invocation/req-0/response");
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
    let sent_on = receive_all(&client, &output.url, 2).await;
    assert_eq!(sent_on.len(), 2);
    for message in &sent_on {
        let body = message.body().unwrap();
        let origin = body.strip_prefix("from ").unwrap();
        let header = trace_header(message);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_runtime_runs_eventbridge_events_in_their_producers_traces() {
    use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};

    let client = sqs().await;
    let target = TestQueue::create(&client, "lambda-events").await;
    let output = TestQueue::create(&client, "lambda-events-out").await;
    let tracer = TestTracer::new();
    let events = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&sdk_config().await)
            .interceptor(
                baton_eventbridge::EventBridgePropagation::new()
                    .with_tracer(TracerHandle::new(tracer.tracer()))
                    .interceptor(),
            )
            .build(),
    );
    // A bus whose rule hands every `shop.orders` event to a queue: the event JSON Lambda
    // would be invoked with is the body of what arrives there.
    let bus = unique_name("lambda-bus");
    let rule = unique_name("lambda-rule");
    events.create_event_bus().name(&bus).send().await.unwrap();
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(r#"{"source":["shop.orders"]}"#)
        .send()
        .await
        .unwrap();
    let arn = client
        .get_queue_attributes()
        .queue_url(&target.url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap();
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(Target::builder().id("queue").arn(arn).build().unwrap())
        .send()
        .await
        .unwrap();

    let mut producer_traces = HashMap::new();
    for detail_type in ["OrderPlaced", "Broken", "Unknown"] {
        let cx = Context::new().with_span(tracer.tracer().start(format!("produce {detail_type}")));
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&bus)
            .source("shop.orders")
            .detail_type(detail_type)
            .detail(r#"{"order_id":"o-1"}"#)
            .build();
        let output = events
            .put_events()
            .entries(entry)
            .send()
            .with_context(cx.clone())
            .await
            .unwrap();
        assert_eq!(output.failed_entry_count, 0);
        producer_traces.insert(detail_type, cx.span().span_context().trace_id());
    }
    let delivered = receive_all(&client, &target.url, 3).await;
    let event_of = |detail_type: &str| {
        delivered
            .iter()
            .map(|m| m.body().unwrap().to_owned())
            .find(|body| serde_json::from_str::<Value>(body).unwrap()["detail-type"] == detail_type)
            .unwrap()
    };
    let invocations = vec![
        event_of("OrderPlaced"),
        event_of("Broken"),
        event_of("Unknown"),
    ];

    let (posted, mut answers) = mpsc::unbounded_channel();
    let api = runtime_api(invocations, posted).await;
    let mut function = start_function(&api, &output.url, "eventbridge");
    let mut answered = Vec::new();
    for _ in 0..3 {
        let answer = tokio::time::timeout(Duration::from_secs(60), answers.recv())
            .await
            .expect("the function answers within 60 s")
            .expect("an answer");
        answered.push(answer);
    }
    function.kill().await.unwrap();

    // The routed event succeeded; the failing one and the unrouted one went to Lambda as
    // errors of their own kinds.
    assert_eq!(
        answered[0].0,
        "/2018-06-01/runtime/invocation/req-0/response"
    );
    let errors: Vec<(String, String)> = answered[1..]
        .iter()
        .map(|(path, body)| {
            let body: Value = serde_json::from_str(body).unwrap();
            (path.clone(), body["errorType"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        errors,
        [
            (
                "/2018-06-01/runtime/invocation/req-1/error".to_owned(),
                "HandlerError".to_owned()
            ),
            (
                "/2018-06-01/runtime/invocation/req-2/error".to_owned(),
                "NoRoute".to_owned()
            ),
        ]
    );

    // What the handler sent on continues the OrderPlaced producer's trace, with the
    // invocation's Lineage.
    let sent_on = receive_all(&client, &output.url, 1).await;
    assert_eq!(sent_on[0].body(), Some("from o-1"));
    let header = trace_header(&sent_on[0]);
    assert_eq!(header.trace_id(), producer_traces["OrderPlaced"]);
    assert_eq!(header.lineage(), Some("1:a87bd80c:1"));
    target.delete().await;
    output.delete().await;
}

/// Lambda's segment for two invocations, each with its own `Lineage`.
const LAMBDA_A: &str = "Root=1-6910b3d0-aaaaaaaaaaaaaaaaaaaaaaaa;Parent=aaaaaaaaaaaaaaa1;Sampled=1;Lineage=1:aaaaaaaa:1";
const LAMBDA_B: &str = "Root=1-6910b3d1-bbbbbbbbbbbbbbbbbbbbbbbb;Parent=bbbbbbbbbbbbbbb1;Sampled=1;Lineage=2:bbbbbbbb:3";

/// The producer of every hand-made record below.
const PRODUCER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

/// An SQS event of one record with `body`, from `PRODUCER`.
fn one_record_event(id: &str, body: &str) -> String {
    json!({"Records": [{
        "messageId": id,
        "receiptHandle": format!("handle-{id}"),
        "body": body,
        "attributes": {"AWSTraceHeader": PRODUCER, "ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:orders",
        "awsRegion": "us-east-1",
    }]})
    .to_string()
}

/// What a stand-in OTLP/HTTP receiver got: each span with its resource's attributes.
type Exported = Arc<
    Mutex<
        Vec<(
            HashMap<String, String>,
            opentelemetry_proto::tonic::trace::v1::Span,
        )>,
    >,
>;

/// A stand-in for an OTLP/HTTP collector on 127.0.0.1 (protobuf): keeps every span it gets.
/// Returns its traces URL.
async fn otlp_receiver(exported: Exported) -> String {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use prost::Message as _;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let exported = exported.clone();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let exported = exported.clone();
                async move {
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    let request = ExportTraceServiceRequest::decode(body).unwrap();
                    for resource_spans in request.resource_spans {
                        let resource: HashMap<String, String> = resource_spans
                            .resource
                            .map(|r| r.attributes)
                            .unwrap_or_default()
                            .into_iter()
                            .filter_map(|kv| match kv.value?.value? {
                                Any::StringValue(s) => Some((kv.key, s)),
                                _ => None,
                            })
                            .collect();
                        for scope in resource_spans.scope_spans {
                            for span in scope.spans {
                                exported.lock().unwrap().push((resource.clone(), span));
                            }
                        }
                    }
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

/// An attribute of an exported span, as text.
fn attr(span: &opentelemetry_proto::tonic::trace::v1::Span, key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Any::StringValue(s) => Some(s.clone()),
            Any::IntValue(i) => Some(i.to_string()),
            Any::BoolValue(b) => Some(b.to_string()),
            other => Some(format!("{other:?}")),
        })
}

/// Trace id and span id of an X-Ray header, as OTLP carries them.
fn otlp_ids(header: &str) -> (Vec<u8>, Vec<u8>) {
    let parsed = TraceHeader::parse(header).unwrap();
    let cx = baton::extract_header(&Context::new(), header, "test");
    let span = cx.span();
    let sc = span.span_context();
    assert_eq!(sc.trace_id(), parsed.trace_id());
    (
        sc.trace_id().to_bytes().to_vec(),
        sc.span_id().to_bytes().to_vec(),
    )
}

/// In the real loop: each invocation's spans reach the exporter (OTLP) before the function asks
/// the Runtime API for the next invocation, when Lambda may freeze it; and they are exactly the
/// conventions' spans: the invocation (= batch) span under Lambda's segment, linked to the
/// record's producer, cold start only the first time; the record's span in its producer's
/// trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_invocation_s_spans_are_exported_before_the_next_is_asked_for() {
    let client = sqs().await;
    let output = TestQueue::create(&client, "lambda-out").await;
    let exported: Exported = Arc::default();
    let otlp = otlp_receiver(exported.clone()).await;

    // At each `/next`, which invocations the receiver already holds.
    let snapshots: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let on_next: OnNext = {
        let (exported, snapshots) = (exported.clone(), snapshots.clone());
        Arc::new(move |_, _| {
            let mut ids: Vec<String> = exported
                .lock()
                .unwrap()
                .iter()
                .filter_map(|(_, span)| attr(span, "faas.invocation_id"))
                .collect();
            ids.sort();
            snapshots.lock().unwrap().push(ids);
        })
    };
    let (posted, mut answers) = mpsc::unbounded_channel();
    let api = runtime_api_with(
        vec![
            (one_record_event("m0", "first"), LAMBDA_A.to_owned()),
            (one_record_event("m1", "second"), LAMBDA_B.to_owned()),
        ],
        posted,
        on_next,
    )
    .await;
    let mut function =
        start_function_with(&api, &output.url, "sqs", &[("BATON_LAMBDA_OTLP", otlp)]);
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(60), answers.recv())
            .await
            .expect("the function answers within 60 s")
            .expect("an answer");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while snapshots.lock().unwrap().len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no third /next");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    function.kill().await.unwrap();

    let snapshots = snapshots.lock().unwrap().clone();
    assert_eq!(
        snapshots[..3],
        [
            vec![],
            vec!["req-0".to_owned()],
            vec!["req-0".to_owned(), "req-1".to_owned()]
        ]
    );

    let exported = exported.lock().unwrap().clone();
    let (producer_trace, producer_span) = otlp_ids(PRODUCER);
    for (request, lambda, cold) in [("req-0", LAMBDA_A, "true"), ("req-1", LAMBDA_B, "false")] {
        let (resource, invocation) = exported
            .iter()
            .find(|(_, s)| attr(s, "faas.invocation_id").as_deref() == Some(request))
            .unwrap();
        assert_eq!(resource["service.name"], "orders");
        assert_eq!(resource["cloud.platform"], "aws_lambda");
        assert_eq!(invocation.name, "process orders");
        assert_eq!(invocation.kind, 5, "CONSUMER");
        let (lambda_trace, lambda_span) = otlp_ids(lambda);
        assert_eq!(invocation.trace_id, lambda_trace, "under Lambda's segment");
        assert_eq!(invocation.parent_span_id, lambda_span);
        assert_eq!(invocation.links.len(), 1);
        assert_eq!(invocation.links[0].trace_id, producer_trace);
        assert_eq!(invocation.links[0].span_id, producer_span);
        for (key, value) in [
            ("faas.trigger", "pubsub"),
            ("faas.coldstart", cold),
            ("faas.name", "orders"),
            ("messaging.system", "aws_sqs"),
            ("messaging.operation.type", "process"),
            ("messaging.destination.name", "orders"),
            ("cloud.account.id", "000000000000"),
            (
                "cloud.resource_id",
                "arn:aws:lambda:us-east-1:000000000000:function:orders",
            ),
        ] {
            assert_eq!(
                attr(invocation, key).as_deref(),
                Some(value),
                "{request} {key}"
            );
        }
        // One message: no batch size (the conventions leave it off single messages).
        assert_eq!(attr(invocation, "messaging.batch.message_count"), None);
        // The record's span: in its producer's trace, inside the invocation in time.
        let record_id = if request == "req-0" { "m0" } else { "m1" };
        let (_, record) = exported
            .iter()
            .find(|(_, s)| attr(s, "messaging.message.id").as_deref() == Some(record_id))
            .unwrap();
        assert_eq!(record.name, "process orders");
        assert_eq!(record.kind, 5, "CONSUMER");
        assert_eq!(record.trace_id, producer_trace);
        assert_eq!(record.parent_span_id, producer_span);
        assert!(record.start_time_unix_nano >= invocation.start_time_unix_nano);
        assert!(record.end_time_unix_nano <= invocation.end_time_unix_nano);
    }
    output.delete().await;
}

/// In the real loop with two invocations at once in one process (`AWS_LAMBDA_MAX_CONCURRENCY`,
/// as on Lambda Managed Instances, where `_X_AMZN_TRACE_ID` is not set): each message the
/// function sends carries its own invocation's `Lineage`, none the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_in_one_process_pass_on_their_own_lineage() {
    let client = sqs().await;
    let output = TestQueue::create(&client, "lambda-out").await;
    // How many answers were posted when each `/next` came: the second invocation must have
    // been asked for before the first was answered, or they did not overlap.
    let posted_at_next: Arc<Mutex<Vec<usize>>> = Arc::default();
    let on_next: OnNext = {
        let posted_at_next = posted_at_next.clone();
        Arc::new(move |_, posts| posted_at_next.lock().unwrap().push(posts))
    };
    let (posted, mut answers) = mpsc::unbounded_channel();
    let api = runtime_api_with(
        vec![
            (one_record_event("m0", "slow-a"), LAMBDA_A.to_owned()),
            (one_record_event("m1", "slow-b"), LAMBDA_B.to_owned()),
        ],
        posted,
        on_next,
    )
    .await;
    let mut function = start_function_with(
        &api,
        &output.url,
        "sqs",
        &[("AWS_LAMBDA_MAX_CONCURRENCY", "2".to_owned())],
    );
    for _ in 0..2 {
        let (path, body) = tokio::time::timeout(Duration::from_secs(60), answers.recv())
            .await
            .expect("the function answers within 60 s")
            .expect("an answer");
        assert!(path.ends_with("/response"), "{path}: {body}");
    }
    function.kill().await.unwrap();
    let posted_at_next = posted_at_next.lock().unwrap().clone();
    assert_eq!(posted_at_next[..2], [0, 0], "both invocations ran at once");

    let sent_on = receive_all(&client, &output.url, 2).await;
    let producer = TraceHeader::parse(PRODUCER).unwrap().trace_id();
    for message in &sent_on {
        let header = trace_header(message);
        let expected = match message.body().unwrap() {
            "from slow-a" => "1:aaaaaaaa:1",
            "from slow-b" => "2:bbbbbbbb:3",
            other => panic!("unexpected {other}"),
        };
        assert_eq!(header.lineage(), Some(expected), "{:?}", message.body());
        assert_eq!(
            header.trace_id(),
            producer,
            "the record's own producer trace"
        );
    }
    output.delete().await;
}

/// In the real loop with a collector that accepts connections and never answers: the
/// response still goes back within the flush timeout (2 s by default), not the exporter's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_delays_the_response_by_the_flush_timeout_at_most() {
    let client = sqs().await;
    let output = TestQueue::create(&client, "lambda-out").await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = format!("http://{}/v1/traces", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let asked: Arc<Mutex<Vec<std::time::Instant>>> = Arc::default();
    let on_next: OnNext = {
        let asked = asked.clone();
        Arc::new(move |_, _| asked.lock().unwrap().push(std::time::Instant::now()))
    };
    let (posted, mut answers) = mpsc::unbounded_channel();
    let api = runtime_api_with(
        vec![(one_record_event("m0", "quick"), LAMBDA_A.to_owned())],
        posted,
        on_next,
    )
    .await;
    let mut function =
        start_function_with(&api, &output.url, "sqs", &[("BATON_LAMBDA_OTLP", otlp)]);
    let (path, _) = tokio::time::timeout(Duration::from_secs(60), answers.recv())
        .await
        .expect("the function answers within 60 s")
        .expect("an answer");
    let answered = std::time::Instant::now();
    function.kill().await.unwrap();
    assert!(path.ends_with("/response"), "{path}");
    let took = answered - asked.lock().unwrap()[0];
    // The handler's one SendMessage to LocalStack, then at most the 2 s flush timeout.
    assert!(took < Duration::from_millis(3500), "{took:?}");
    assert!(
        took >= Duration::from_secs(2),
        "the flush was waited for: {took:?}"
    );
    assert_eq!(receive_all(&client, &output.url, 1).await.len(), 1);
    output.delete().await;
}

/// A direct Invoke through `baton-lambda`, handed to the function the way Lambda hands it: the
/// request's payload as the event and its `ClientContext`, decoded, as
/// `Lambda-Runtime-Client-Context`, with no `Lambda-Runtime-Trace-Id` (a function Lambda does
/// not trace). The Invoke request is the SDK's own, captured on its way out (Lambda itself does
/// not run here: LocalStack's Lambda needs Docker); the function runs in the real
/// `lambda_runtime` loop, which parses the client context. What the function sends on is in the
/// caller's trace, under the invoke span.
#[tokio::test]
async fn a_direct_invoke_reaches_the_function_through_its_client_context() {
    use aws_sdk_lambda::primitives::Blob;
    use baton_test_support::{Reply, Request, Stub};

    let client = sqs().await;
    let output = TestQueue::create(&client, "lambda-out").await;
    let tracer = TestTracer::new();
    let stub = Stub::new(|_: &Request<'_>| Reply::ok("{}"));
    let lambda = aws_sdk_lambda::Client::from_conf(
        baton_test_support::sdk_config!(aws_sdk_lambda, stub)
            .interceptor(
                baton_lambda::LambdaPropagation::new()
                    .with_tracer(TracerHandle::new(tracer.tracer()))
                    .interceptor(),
            )
            .build(),
    );
    let checkout = Context::new().with_span(tracer.tracer().start("checkout"));
    lambda
        .invoke()
        .function_name("orders")
        .payload(Blob::new(r#"{"order":42}"#))
        .send()
        .with_context(checkout.clone())
        .await
        .expect("Invoke");
    checkout.span().end();
    let invoke = tracer.span("Lambda.Invoke");
    let request = stub.request(0);
    let encoded = request
        .header("x-amz-client-context")
        .expect("the ClientContext header");
    let client_context =
        String::from_utf8(aws_smithy_types::base64::decode(encoded).unwrap()).unwrap();

    let (posted, mut answers) = mpsc::unbounded_channel();
    let api = runtime_api_with(
        vec![Invocation {
            event: request.body().to_owned(),
            trace: None,
            client_context: Some(client_context),
        }],
        posted,
        Arc::new(|_, _| {}),
    )
    .await;
    let mut function = start_function(&api, &output.url, "invoke");
    let (path, body) = tokio::time::timeout(Duration::from_secs(60), answers.recv())
        .await
        .expect("the function answers within 60 s")
        .expect("an answer");
    function.kill().await.unwrap();
    assert!(path.ends_with("/response"), "{path}: {body}");

    let messages = receive_all(&client, &output.url, 1).await;
    assert_eq!(messages[0].body(), Some("from 42"));
    let sent = trace_header(&messages[0]);
    // In the caller's trace: the invocation span continued the client context (without it,
    // the function would have started a trace of its own).
    assert_eq!(
        sent.trace_id(),
        invoke.span_context.trace_id(),
        "the caller's trace"
    );
    output.delete().await;
}
