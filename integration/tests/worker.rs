//! `SqsWorker` and `EventConsumer` against LocalStack: traces continued, at-least-once delivery,
//! redelivery after failures and panics, dead-letter queues, heartbeats, shutdown without loss,
//! FIFO order, and EventBridge events routed to typed handlers.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{Message, QueueAttributeName};
use baton::TracerHandle;
use baton_integration::{TestQueue, TestTracer, sdk_config, sqs, unique_name};
use baton_sqs::SqsPropagation;
use baton_worker::{CancellationToken, Event, EventConsumer, SqsWorker, StatsSnapshot};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, SpanContext, TraceContextExt, TraceId, Tracer};
use tower::service_fn;

/// Runs `worker` until `done()` holds (checked every 50 ms) or `limit` passes, then shuts it
/// down and returns its final counters.
async fn run_until<S>(
    worker: SqsWorker<S>,
    limit: Duration,
    done: impl Fn() -> bool,
) -> StatsSnapshot
where
    S: tower::Service<Message> + Clone + Send + 'static,
    S::Error: Into<tower::BoxError>,
    S::Future: Send,
{
    let token = CancellationToken::new();
    let run = tokio::spawn(worker.run(token.clone()));
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    token.cancel();
    run.await
        .expect("the worker task")
        .expect("the worker runs")
}

/// A worker tuned for tests: short polls, quick deletes.
fn worker<S>(queue: &TestQueue, handler: S) -> SqsWorker<S> {
    SqsWorker::new(queue.client.clone(), &queue.url, handler)
        .with_wait_time(Duration::from_secs(1))
        .with_delete_linger(Duration::from_millis(5))
        .with_error_backoff(Duration::from_millis(50), Duration::from_secs(1))
}

async fn set_queue_attribute(queue: &TestQueue, name: QueueAttributeName, value: &str) {
    queue
        .client
        .set_queue_attributes()
        .queue_url(&queue.url)
        .attributes(name, value)
        .send()
        .await
        .expect("SetQueueAttributes");
}

/// Every message on the queue now, by receiving with a zero visibility timeout until a
/// receive comes back empty twice.
async fn bodies_left(queue: &TestQueue) -> Vec<String> {
    let mut seen = HashMap::new();
    let mut empty = 0;
    while empty < 2 {
        let out = queue
            .client
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            empty += 1;
        }
        for m in messages {
            seen.insert(m.message_id.unwrap(), m.body.unwrap());
        }
    }
    seen.into_values().collect()
}

/// Calls per body, shared with a handler.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<HashMap<String, u32>>>);

impl Calls {
    fn add(&self, body: &str) -> u32 {
        let mut calls = self.0.lock().unwrap();
        let n = calls.entry(body.to_owned()).or_default();
        *n += 1;
        *n
    }
    fn get(&self, body: &str) -> u32 {
        self.0.lock().unwrap().get(body).copied().unwrap_or(0)
    }
}

/// A client whose sends carry the producer span's context (the Baton interceptor).
async fn producer_client(tracer: &TestTracer) -> aws_sdk_sqs::Client {
    let propagation = SqsPropagation::new().with_tracer(TracerHandle::new(tracer.tracer()));
    let config = aws_sdk_sqs::config::Builder::from(&sdk_config().await)
        .interceptor(propagation.interceptor())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

async fn in_span<F: Future>(
    tracer: &TestTracer,
    name: &str,
    f: impl FnOnce() -> F,
) -> (F::Output, SpanContext) {
    let span = tracer.tracer().start(name.to_owned());
    let cx = Context::new().with_span(span);
    let sc = cx.span().span_context().clone();
    let out = f().with_context(cx.clone()).await;
    cx.span().end();
    (out, sc)
}

#[tokio::test]
async fn each_message_is_handled_once_in_its_producer_s_trace() {
    let tracer = TestTracer::new();
    let producer = producer_client(&tracer).await;
    let queue = TestQueue::create(&sqs().await, "worker-trace").await;
    let url = queue.url.clone();

    let mut requests: HashMap<String, TraceId> = HashMap::new();
    for i in 0..20 {
        let body = format!("order {i}");
        let (sent, request) = in_span(&tracer, "request", || {
            producer
                .send_message()
                .queue_url(&url)
                .message_body(&body)
                .send()
        })
        .await;
        sent.expect("SendMessage");
        requests.insert(body, request.trace_id());
    }

    let calls = Calls::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler = {
        let (calls, seen) = (calls.clone(), seen.clone());
        service_fn(move |m: Message| {
            let body = m.body.unwrap_or_default();
            calls.add(&body);
            let current = Context::current().span().span_context().clone();
            seen.lock().unwrap().push((body, current));
            async { Ok::<_, std::convert::Infallible>(()) }
        })
    };
    let worker = worker(&queue, handler)
        .with_tracer(TracerHandle::new(tracer.tracer()))
        .with_concurrency(8);
    let stats = worker.stats();
    let final_stats = run_until(worker, Duration::from_secs(30), move || {
        stats.snapshot().deleted >= 20
    })
    .await;
    assert_eq!(final_stats.deleted, 20, "{final_stats:?}");
    assert_eq!(final_stats.received, 20, "{final_stats:?}");
    assert!(bodies_left(&queue).await.is_empty());

    let spans = tracer.finished_spans();
    let sends: HashMap<_, _> = spans
        .iter()
        .filter(|s| s.name.starts_with("send "))
        .map(|s| (s.span_context.span_id(), s.span_context.trace_id()))
        .collect();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 20);
    for (body, current) in seen.iter() {
        assert_eq!(calls.get(body), 1, "{body} handled more than once");
        let process = spans
            .iter()
            .find(|s| s.span_context.span_id() == current.span_id())
            .expect("the handler runs inside its process span");
        assert_eq!(process.name, format!("process {}", queue.name));
        assert_eq!(process.span_context.trace_id(), requests[body], "{body}");
        assert_eq!(
            sends.get(&process.parent_span_id),
            Some(&requests[body]),
            "{body}: the parent is the send span of its own request"
        );
    }
    queue.delete().await;
}

/// What one handler call saw of a message's attributes.
#[derive(Clone, Debug, Default)]
struct Seen {
    system: Vec<String>,
    message: Vec<String>,
}

type Recorder = tower::util::BoxCloneService<Message, (), std::convert::Infallible>;

/// Drains one message with a worker set up by `configure` and returns the attribute names its
/// handler saw.
async fn attributes_seen(
    configure: impl FnOnce(SqsWorker<Recorder>) -> SqsWorker<Recorder>,
) -> Seen {
    let tracer = TestTracer::new();
    let producer = producer_client(&tracer).await;
    let queue = TestQueue::create(&sqs().await, "worker-names").await;
    let string = |v: &str| {
        aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .unwrap()
    };
    let (sent, _) = in_span(&tracer, "request", || {
        producer
            .send_message()
            .queue_url(&queue.url)
            .message_body("order")
            .message_attributes("tenant", string("acme"))
            .message_attributes("order.kind", string("book"))
            .message_attributes("unrelated", string("x"))
            // A W3C carrier as OpenTelemetry JS writes it, beside the AWSTraceHeader.
            .message_attributes(
                "traceparent",
                string("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            )
            .send()
    })
    .await;
    sent.expect("SendMessage");

    let seen = Arc::new(Mutex::new(None));
    let record = seen.clone();
    let handler = Recorder::new(service_fn(move |m: Message| {
        let mut system: Vec<String> = m
            .attributes
            .unwrap_or_default()
            .keys()
            .map(|k| k.as_str().to_owned())
            .collect();
        let mut message: Vec<String> = m
            .message_attributes
            .unwrap_or_default()
            .into_keys()
            .collect();
        system.sort();
        message.sort();
        *record.lock().unwrap() = Some(Seen { system, message });
        std::future::ready(Ok(()))
    }));
    let worker = configure(worker(&queue, handler));
    let stats = worker.stats();
    run_until(worker, Duration::from_secs(20), move || {
        stats.snapshot().deleted >= 1
    })
    .await;
    queue.delete().await;
    let seen = seen.lock().unwrap().clone();
    seen.expect("the handler saw the message")
}

#[tokio::test]
async fn receives_ask_for_the_carriers_and_only_what_the_user_adds() {
    // By default: the trace carriers and the receive count, nothing the handler did not ask for.
    let plain = attributes_seen(|w| w).await;
    assert_eq!(plain.system, ["AWSTraceHeader", "ApproximateReceiveCount"]);
    assert_eq!(plain.message, ["traceparent"], "only the carrier");

    // Without the message attribute carriers: no message attribute at all, unless named.
    let lean = attributes_seen(|w| w.with_message_attribute_carriers(false)).await;
    assert_eq!(lean.system, ["AWSTraceHeader", "ApproximateReceiveCount"]);
    assert!(lean.message.is_empty(), "{lean:?}");
    let lean_named = attributes_seen(|w| {
        w.with_message_attribute_carriers(false)
            .with_message_attribute_names(["tenant"])
    })
    .await;
    assert_eq!(lean_named.message, ["tenant"]);

    let more = attributes_seen(|w| {
        w.with_message_attribute_names(["tenant", "order.*"])
            .with_system_attribute_names([
                aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp,
            ])
    })
    .await;
    assert_eq!(
        more.system,
        ["AWSTraceHeader", "ApproximateReceiveCount", "SentTimestamp"]
    );
    assert_eq!(more.message, ["order.kind", "tenant", "traceparent"]);

    let all = attributes_seen(|w| {
        w.with_message_attribute_names(["All"])
            .with_system_attribute_names([aws_sdk_sqs::types::MessageSystemAttributeName::All])
    })
    .await;
    assert_eq!(
        all.message,
        ["order.kind", "tenant", "traceparent", "unrelated"]
    );
    assert!(all.system.len() > 3, "{all:?}");
}

/// A TCP relay to LocalStack that counts the connections made through it.
async fn counting_relay() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let upstream = baton_integration::endpoint()
        .trim_start_matches("http://")
        .to_owned();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (format!("http://{address}"), accepted)
}

#[tokio::test]
async fn the_worker_keeps_its_connections_to_localstack_open() {
    // LocalStack closes every connection whose request does not ask for keep-alive; the
    // worker asks, so a drain of 200 messages (40 calls and more) needs a handful.
    let queue = TestQueue::create(&sqs().await, "worker-keepalive").await;
    for batch in 0..20 {
        let entries = (0..10)
            .map(|i| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(format!("m{batch}-{i}"))
                    .build()
                    .unwrap()
            })
            .collect();
        queue
            .client
            .send_message_batch()
            .queue_url(&queue.url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("SendMessageBatch");
    }
    let (relay, accepted) = counting_relay().await;
    let client = aws_sdk_sqs::Client::new(&baton_integration::sdk_config_at(&relay).await);
    let handler = service_fn(|_m: Message| async { Ok::<_, std::convert::Infallible>(()) });
    let worker = SqsWorker::new(client, &queue.url, handler)
        .with_wait_time(Duration::from_secs(1))
        .with_batch_size(10);
    let stats = worker.stats();
    let end = run_until(worker, Duration::from_secs(30), move || {
        stats.snapshot().deleted >= 200
    })
    .await;
    assert_eq!(end.deleted, 200, "{end:?}");
    let connections = accepted.load(std::sync::atomic::Ordering::SeqCst);
    // At most one per receive loop, one for the deletes and one for GetQueueAttributes, and
    // a few spare for calls that overlapped.
    assert!(connections <= 10, "{connections} connections for {end:?}");
    queue.delete().await;
}

#[tokio::test]
async fn failed_and_panicking_handlers_get_their_message_again() {
    let queue = TestQueue::create(&sqs().await, "worker-retry").await;
    set_queue_attribute(&queue, QueueAttributeName::VisibilityTimeout, "1").await;
    for body in ["fails once", "panics once", "fine"] {
        queue
            .client
            .send_message()
            .queue_url(&queue.url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let calls = Calls::default();
    let handler = {
        let calls = calls.clone();
        service_fn(move |m: Message| {
            let body = m.body.unwrap_or_default();
            let n = calls.add(&body);
            async move {
                match (body.as_str(), n) {
                    ("fails once", 1) => Err(std::io::Error::other("database unavailable")),
                    ("panics once", 1) => panic!("a bug the first time"),
                    _ => Ok(()),
                }
            }
        })
    };
    let worker = worker(&queue, handler);
    let stats = worker.stats();
    let final_stats = run_until(worker, Duration::from_secs(30), move || {
        stats.snapshot().deleted >= 3
    })
    .await;
    assert_eq!(final_stats.deleted, 3, "{final_stats:?}");
    assert_eq!((final_stats.failed, final_stats.panicked), (2, 1));
    assert_eq!(calls.get("fails once"), 2);
    assert_eq!(calls.get("panics once"), 2);
    assert_eq!(calls.get("fine"), 1);
    assert!(bodies_left(&queue).await.is_empty());
    queue.delete().await;
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dead_letter_queue_and_the_worker_goes_on() {
    let client = sqs().await;
    let dlq = TestQueue::create(&client, "worker-dlq").await;
    let queue = TestQueue::create(&client, "worker-poison").await;
    let dlq_arn = dlq.arn().await;
    set_queue_attribute(&queue, QueueAttributeName::VisibilityTimeout, "1").await;
    set_queue_attribute(
        &queue,
        QueueAttributeName::RedrivePolicy,
        &format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}"#),
    )
    .await;
    for body in ["poison", "a", "b", "c"] {
        client
            .send_message()
            .queue_url(&queue.url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let calls = Calls::default();
    let handler = {
        let calls = calls.clone();
        service_fn(move |m: Message| {
            let body = m.body.unwrap_or_default();
            calls.add(&body);
            async move {
                if body == "poison" {
                    Err(std::io::Error::other("cannot parse"))
                } else {
                    Ok(())
                }
            }
        })
    };
    let worker = worker(&queue, handler);
    let stats = worker.stats();
    let in_dlq = Arc::new(Mutex::new(Vec::new()));
    // Watch the DLQ while the worker runs.
    let watcher = {
        let (dlq, in_dlq) = (dlq.clone(), in_dlq.clone());
        tokio::spawn(async move {
            for _ in 0..40 {
                let out = dlq
                    .client
                    .receive_message()
                    .queue_url(&dlq.url)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .unwrap();
                let bodies: Vec<String> = out
                    .messages
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|m| m.body)
                    .collect();
                if !bodies.is_empty() {
                    in_dlq.lock().unwrap().extend(bodies);
                    return;
                }
            }
        })
    };
    let watch = in_dlq.clone();
    let final_stats = run_until(worker, Duration::from_secs(40), move || {
        stats.snapshot().deleted >= 3 && !watch.lock().unwrap().is_empty()
    })
    .await;
    watcher.await.unwrap();
    assert_eq!(*in_dlq.lock().unwrap(), ["poison"]);
    assert_eq!(final_stats.deleted, 3, "{final_stats:?}");
    assert_eq!(calls.get("poison"), 2, "handled maxReceiveCount times");
    for body in ["a", "b", "c"] {
        assert_eq!(calls.get(body), 1);
    }
    queue.delete().await;
    dlq.delete().await;
}

#[tokio::test]
async fn a_handler_slower_than_the_visibility_timeout_is_not_delivered_twice() {
    let queue = TestQueue::create(&sqs().await, "worker-slow").await;
    set_queue_attribute(&queue, QueueAttributeName::VisibilityTimeout, "2").await;
    queue
        .client
        .send_message()
        .queue_url(&queue.url)
        .message_body("slow")
        .send()
        .await
        .unwrap();
    let calls = Calls::default();
    let handler = {
        let calls = calls.clone();
        service_fn(move |m: Message| {
            calls.add(m.body().unwrap_or_default());
            async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<_, std::convert::Infallible>(())
            }
        })
    };
    // Heartbeats every 0.6 s keep a margin of 1.4 s for a busy LocalStack to apply each one.
    let tracer = TestTracer::new();
    let worker = worker(&queue, handler)
        .with_heartbeat_fraction(0.3)
        .with_tracer(TracerHandle::new(tracer.tracer()));
    let stats = worker.stats();
    let final_stats = run_until(worker, Duration::from_secs(30), move || {
        stats.snapshot().deleted >= 1
    })
    .await;
    assert_eq!(
        calls.get("slow"),
        1,
        "delivered again while its handler ran"
    );
    assert!(final_stats.extended >= 3, "{final_stats:?}");
    assert_eq!(final_stats.deleted, 1);
    assert!(bodies_left(&queue).await.is_empty());
    // Each extension is a settle span linked to the message's process span.
    let spans = tracer.finished_spans();
    let process = spans
        .iter()
        .find(|s| s.name == format!("process {}", queue.name))
        .expect("the process span");
    let extensions: Vec<_> = spans
        .iter()
        .filter(|s| {
            s.name == format!("settle {}", queue.name)
                && attribute(s, "messaging.operation.name").as_deref()
                    == Some("ChangeMessageVisibilityBatch")
        })
        .collect();
    // One per extension made (an extension cut short when the handler ended has a span, but
    // is not counted).
    assert!(
        extensions.len() as u64 >= final_stats.extended,
        "{} settle spans for {final_stats:?}",
        extensions.len()
    );
    for extension in extensions {
        assert_eq!(extension.links.len(), 1);
        assert_eq!(extension.links[0].span_context, process.span_context);
    }
    queue.delete().await;
}

fn attribute(span: &opentelemetry_sdk::trace::SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[tokio::test]
async fn the_worker_s_batched_deletes_are_settle_spans_linked_to_their_messages() {
    let tracer = TestTracer::new();
    let producer = producer_client(&tracer).await;
    let queue = TestQueue::create(&sqs().await, "worker-settle").await;
    for i in 0..25 {
        let (sent, _) = in_span(&tracer, "request", || {
            producer
                .send_message()
                .queue_url(&queue.url)
                .message_body(format!("order {i}"))
                .send()
        })
        .await;
        sent.expect("SendMessage");
    }
    let handler = service_fn(|_m: Message| async { Ok::<_, std::convert::Infallible>(()) });
    let worker_on = worker(&queue, handler).with_tracer(TracerHandle::new(tracer.tracer()));
    let stats = worker_on.stats();
    let end = run_until(worker_on, Duration::from_secs(30), move || {
        stats.snapshot().deleted >= 25
    })
    .await;
    assert_eq!(end.deleted, 25, "{end:?}");

    let spans = tracer.finished_spans();
    let process: HashSet<SpanContext> = spans
        .iter()
        .filter(|s| s.name == format!("process {}", queue.name))
        .map(|s| s.span_context.clone())
        .collect();
    assert_eq!(process.len(), 25);
    let deletes: Vec<_> = spans
        .iter()
        .filter(|s| s.name == format!("settle {}", queue.name))
        .collect();
    assert!(!deletes.is_empty());
    let mut linked = HashSet::new();
    for delete in &deletes {
        assert_eq!(delete.span_kind, opentelemetry::trace::SpanKind::Client);
        // In the trace of the first message it settles (no trace of its own), linked to all.
        let parent = delete
            .links
            .iter()
            .find(|l| l.span_context.span_id() == delete.parent_span_id)
            .expect("the parent is one of the linked process spans");
        assert_eq!(
            parent.span_context.trace_id(),
            delete.span_context.trace_id()
        );
        assert_eq!(
            attribute(delete, "messaging.operation.type").as_deref(),
            Some("settle")
        );
        assert_eq!(
            attribute(delete, "messaging.operation.name").as_deref(),
            Some("DeleteMessageBatch")
        );
        assert_eq!(
            attribute(delete, "messaging.system").as_deref(),
            Some("aws_sqs")
        );
        assert_eq!(
            attribute(delete, "messaging.batch.message_count"),
            Some(delete.links.len().to_string()),
            "{delete:#?}"
        );
        assert_eq!(
            attribute(delete, "aws.sqs.queue.url").as_deref(),
            Some(queue.url.as_str())
        );
        assert_eq!(delete.status, opentelemetry::trace::Status::Unset);
        for link in delete.links.iter() {
            assert!(linked.insert(link.span_context.clone()), "linked twice");
        }
    }
    // Every message's delete links to its process span, once.
    assert_eq!(linked, process);

    // Turned off, the worker makes none.
    let tracer = TestTracer::new();
    for i in 0..5 {
        queue
            .client
            .send_message()
            .queue_url(&queue.url)
            .message_body(format!("later {i}"))
            .message_system_attributes(
                aws_sdk_sqs::types::MessageSystemAttributeNameForSends::AwsTraceHeader,
                aws_sdk_sqs::types::MessageSystemAttributeValue::builder()
                    .data_type("String")
                    .string_value("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let worker = worker(&queue, handler)
        .with_tracer(TracerHandle::new(tracer.tracer()))
        .with_settle_spans(false);
    let stats = worker.stats();
    run_until(worker, Duration::from_secs(30), move || {
        stats.snapshot().deleted >= 5
    })
    .await;
    let spans = tracer.finished_spans();
    assert_eq!(
        spans
            .iter()
            .filter(|s| s.name.starts_with("process "))
            .count(),
        5
    );
    assert!(
        !spans.iter().any(|s| s.name.starts_with("settle ")),
        "{spans:#?}"
    );
    queue.delete().await;
}

#[tokio::test]
async fn shutdown_with_messages_in_flight_loses_none() {
    let queue = TestQueue::create(&sqs().await, "worker-shutdown").await;
    let all: HashSet<String> = (0..30).map(|i| format!("m{i}")).collect();
    for body in &all {
        queue
            .client
            .send_message()
            .queue_url(&queue.url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let handled = Arc::new(Mutex::new(HashSet::new()));
    let handler = {
        let handled = handled.clone();
        service_fn(move |m: Message| {
            let body = m.body.unwrap_or_default();
            let handled = handled.clone();
            async move {
                // Some handlers never finish: shutdown must give their messages back.
                if body == "m3" || body == "m17" {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                handled.lock().unwrap().insert(body);
                Ok::<_, std::convert::Infallible>(())
            }
        })
    };
    let worker = worker(&queue, handler)
        .with_concurrency(6)
        .with_batch_size(3)
        .with_shutdown_timeout(Duration::from_secs(1));
    let h = handled.clone();
    let final_stats = run_until(worker, Duration::from_secs(30), move || {
        h.lock().unwrap().len() >= 8
    })
    .await;
    let handled = handled.lock().unwrap().clone();
    assert_eq!(final_stats.succeeded as usize, handled.len());
    assert_eq!(
        final_stats.deleted as usize,
        handled.len(),
        "{final_stats:?}"
    );
    assert_eq!(final_stats.in_flight, 0, "{final_stats:?}");
    let left: HashSet<String> = bodies_left(&queue).await.into_iter().collect();
    assert!(
        handled.is_disjoint(&left),
        "a handled message is still on the queue"
    );
    let accounted: HashSet<String> = handled.union(&left).cloned().collect();
    assert_eq!(accounted, all, "lost: {:?}", all.difference(&accounted));
    queue.delete().await;
}

#[tokio::test]
async fn fifo_groups_are_handled_in_order_and_in_parallel() {
    let queue = TestQueue::create_fifo(&sqs().await, "worker-fifo").await;
    for i in 0..6 {
        for group in ["A", "B", "C"] {
            queue
                .client
                .send_message()
                .queue_url(&queue.url)
                .message_group_id(group)
                .message_body(format!("{group}{i}"))
                .send()
                .await
                .unwrap();
        }
    }
    let order = Arc::new(Mutex::new(Vec::new()));
    let handler = {
        let order = order.clone();
        service_fn(move |m: Message| {
            let order = order.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                order.lock().unwrap().push(m.body.unwrap_or_default());
                Ok::<_, std::convert::Infallible>(())
            }
        })
    };
    let worker = worker(&queue, handler);
    let stats = worker.stats();
    let final_stats = run_until(worker, Duration::from_secs(30), move || {
        stats.snapshot().deleted >= 18
    })
    .await;
    assert_eq!(final_stats.deleted, 18, "{final_stats:?}");
    let order = order.lock().unwrap().clone();
    for group in ["A", "B", "C"] {
        let got: Vec<&str> = order
            .iter()
            .filter(|b| b.starts_with(group))
            .map(String::as_str)
            .collect();
        let want: Vec<String> = (0..6).map(|i| format!("{group}{i}")).collect();
        assert_eq!(got, want, "group {group}: {order:?}");
    }
    queue.delete().await;
}

#[derive(serde::Deserialize)]
struct OrderPlaced {
    order_id: String,
}

#[derive(serde::Deserialize)]
struct OrderCancelled {
    order_id: String,
    reason: String,
}

#[tokio::test]
async fn eventbridge_events_reach_their_typed_handlers_in_the_producer_s_trace() {
    use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};

    let tracer = TestTracer::new();
    let queue = TestQueue::create(&sqs().await, "worker-events").await;
    let events = {
        let propagation = baton_eventbridge::EventBridgePropagation::new()
            .with_tracer(TracerHandle::new(tracer.tracer()));
        let config = aws_sdk_eventbridge::config::Builder::from(&sdk_config().await)
            .interceptor(propagation.interceptor())
            .build();
        aws_sdk_eventbridge::Client::from_conf(config)
    };
    let bus = unique_name("bus");
    let rule = unique_name("rule");
    events.create_event_bus().name(&bus).send().await.unwrap();
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(r#"{"source":["shop.orders"]}"#)
        .send()
        .await
        .unwrap();
    let arn = queue
        .client
        .get_queue_attributes()
        .queue_url(&queue.url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .unwrap();
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(Target::builder().id("queue").arn(arn).build().unwrap())
        .send()
        .await
        .unwrap();

    let mut requests = HashMap::new();
    for (detail_type, detail) in [
        ("OrderPlaced", r#"{"order_id":"o-1"}"#),
        (
            "OrderCancelled",
            r#"{"order_id":"o-2","reason":"changed mind"}"#,
        ),
    ] {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&bus)
            .source("shop.orders")
            .detail_type(detail_type)
            .detail(detail)
            .build();
        let (out, request) = in_span(&tracer, "request", || {
            events.put_events().entries(entry).send()
        })
        .await;
        assert_eq!(out.expect("PutEvents").failed_entry_count, 0);
        requests.insert(detail_type, request.trace_id());
    }

    let seen = Arc::new(Mutex::new(Vec::new()));
    let (placed, cancelled) = (seen.clone(), seen.clone());
    let consumer = EventConsumer::new()
        .on(
            "shop.orders",
            "OrderPlaced",
            move |e: Event<OrderPlaced>| {
                let trace = Context::current().span().span_context().trace_id();
                placed
                    .lock()
                    .unwrap()
                    .push(("OrderPlaced", e.detail.order_id, trace));
                async { Ok::<_, std::convert::Infallible>(()) }
            },
        )
        .on(
            "shop.orders",
            "OrderCancelled",
            move |e: Event<OrderCancelled>| {
                let trace = Context::current().span().span_context().trace_id();
                assert_eq!(e.detail.reason, "changed mind");
                cancelled
                    .lock()
                    .unwrap()
                    .push(("OrderCancelled", e.detail.order_id, trace));
                async { Ok::<_, std::convert::Infallible>(()) }
            },
        );
    let worker = worker(&queue, consumer).with_tracer(TracerHandle::new(tracer.tracer()));
    let stats = worker.stats();
    let final_stats = run_until(worker, Duration::from_secs(30), move || {
        stats.snapshot().deleted >= 2
    })
    .await;
    assert_eq!(
        (final_stats.deleted, final_stats.failed),
        (2, 0),
        "{final_stats:?}"
    );
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_by_key(|s| s.0);
    assert_eq!(seen.len(), 2);
    assert_eq!((seen[0].0, seen[0].1.as_str()), ("OrderCancelled", "o-2"));
    assert_eq!((seen[1].0, seen[1].1.as_str()), ("OrderPlaced", "o-1"));
    for (detail_type, _, trace) in &seen {
        assert_eq!(
            *trace, requests[detail_type],
            "{detail_type} left its producer's trace"
        );
    }

    let _ = events
        .remove_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .ids("queue")
        .send()
        .await;
    let _ = events
        .delete_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .send()
        .await;
    let _ = events.delete_event_bus().name(&bus).send().await;
    queue.delete().await;
}

/// A handler that counts its calls per body and succeeds.
fn counting(
    calls: &Calls,
) -> impl tower::Service<
    Message,
    Response = (),
    Error = std::io::Error,
    Future = std::future::Ready<Result<(), std::io::Error>>,
> + Clone
+ Send
+ 'static {
    let calls = calls.clone();
    service_fn(move |m: Message| {
        calls.add(m.body().unwrap_or_default());
        std::future::ready(Ok(()))
    })
}

/// Several workers share a queue with a redrive policy; one after another is stopped
/// gracefully while a producer keeps sending. A shutdown must not receive a message more
/// often than handling it needs: SQS counts every receive against `maxReceiveCount`, so a
/// message given back at shutdown and received again by the same worker's other poller
/// reaches the dead-letter queue without ever being handled. Twenty stops in all, at
/// `maxReceiveCount` 1 and 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_sends_nothing_to_the_dead_letter_queue() {
    let client = sqs().await;
    for max_receives in [1, 2] {
        let dlq = TestQueue::create(&client, "shutdown-dlq").await;
        let queue = TestQueue::create(&client, "shutdown-redrive").await;
        set_queue_attribute(
            &queue,
            QueueAttributeName::RedrivePolicy,
            &format!(
                r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"{max_receives}"}}"#,
                dlq.arn().await
            ),
        )
        .await;
        let calls = Calls::default();
        // The worker that stays.
        let staying_token = CancellationToken::new();
        let staying = tokio::spawn(
            worker(&queue, counting(&calls))
                .with_pollers(2)
                .run(staying_token.clone()),
        );
        // A producer sending all along, a message every 5 ms or so.
        let sending = CancellationToken::new();
        let producer = {
            let (queue, sending) = (queue.clone(), sending.clone());
            tokio::spawn(async move {
                let mut sent = Vec::new();
                while !sending.is_cancelled() {
                    let body = format!("m{}", sent.len());
                    queue
                        .client
                        .send_message()
                        .queue_url(&queue.url)
                        .message_body(&body)
                        .send()
                        .await
                        .expect("SendMessage");
                    sent.push(body);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                sent
            })
        };
        let mut stopped = Vec::new();
        for round in 0..10u64 {
            let token = CancellationToken::new();
            let leaving = tokio::spawn(
                worker(&queue, counting(&calls))
                    .with_pollers(3)
                    .run(token.clone()),
            );
            // Stop it at a different point of its polling each round.
            tokio::time::sleep(Duration::from_millis(150 + 37 * round)).await;
            token.cancel();
            let stats = tokio::time::timeout(Duration::from_secs(10), leaving)
                .await
                .expect("a shutdown ends within its deadline")
                .expect("the worker task")
                .expect("the worker runs");
            stopped.push(stats);
        }
        sending.cancel();
        let sent = producer.await.expect("the producer");
        // The staying worker handles what is left.
        let deadline = Instant::now() + Duration::from_secs(30);
        while sent.iter().any(|b| calls.get(b) == 0) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        staying_token.cancel();
        staying.await.unwrap().unwrap();

        let by_leaving: u64 = stopped.iter().map(|s| s.succeeded).sum();
        assert!(
            by_leaving > 0,
            "the stopped workers handled nothing, so the test shows nothing: {stopped:?}"
        );
        let dead = bodies_left(&dlq).await;
        assert!(
            dead.is_empty(),
            "maxReceiveCount {max_receives}: {} of {} messages reached the DLQ unhandled: {dead:?}",
            dead.len(),
            sent.len()
        );
        let unhandled: Vec<_> = sent.iter().filter(|b| calls.get(b) == 0).collect();
        assert!(unhandled.is_empty(), "never handled: {unhandled:?}");
        let twice: Vec<_> = sent.iter().filter(|b| calls.get(b) > 1).collect();
        assert!(twice.is_empty(), "handled more than once: {twice:?}");
        assert!(bodies_left(&queue).await.is_empty());
        queue.delete().await;
        dlq.delete().await;
    }
}

/// An idle worker stops as soon as its open long poll ends, and that poll is not cut off: a
/// message sent right after the shutdown is still there, never received.
#[tokio::test]
async fn an_idle_worker_stops_within_its_wait_time_and_leaves_no_poll_open() {
    let client = sqs().await;
    let queue = TestQueue::create(&client, "shutdown-idle").await;
    let calls = Calls::default();
    let mut took = Vec::new();
    for _ in 0..3 {
        let token = CancellationToken::new();
        let run = tokio::spawn(
            worker(&queue, counting(&calls))
                .with_pollers(2)
                .run(token.clone()),
        );
        // Long polls (1 s) open on the empty queue.
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let cancelled = Instant::now();
        token.cancel();
        let stats = run.await.unwrap().unwrap();
        took.push(cancelled.elapsed());
        assert_eq!(stats.received, 0);
    }
    eprintln!("idle shutdown with a 1 s wait time took {took:?}");
    for t in &took {
        assert!(*t < Duration::from_millis(2500), "took {took:?}");
    }
    client
        .send_message()
        .queue_url(&queue.url)
        .message_body("after")
        .send()
        .await
        .unwrap();
    let out = client
        .receive_message()
        .queue_url(&queue.url)
        .message_system_attribute_names(
            aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
        )
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let messages = out.messages.unwrap_or_default();
    assert_eq!(messages.len(), 1, "a poll left open took the message");
    assert_eq!(
        messages[0]
            .attributes
            .as_ref()
            .and_then(
                |a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            )
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(calls.get("after"), 0);
    queue.delete().await;
}
