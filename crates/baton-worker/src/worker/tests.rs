//! The worker against an in-memory queue that behaves like SQS where it matters here:
//! visibility timeouts, receipt handles, receive counts and FIFO group blocking.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use baton::TracerHandle;
use opentelemetry::Context;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::service_fn;

use super::{Runner, Settings};
use crate::queue::{CallFailed, Entry, EntryFailed, Queue, ReceiveNames};

#[derive(Debug)]
struct Stored {
    id: String,
    body: String,
    group: Option<String>,
    trace_header: Option<String>,
    invisible_until: Option<Instant>,
    handle: Option<String>,
    receives: u32,
    deleted: bool,
    /// When it was sent, in epoch milliseconds (`SentTimestamp`).
    sent_ms: String,
}

#[derive(Debug, Default)]
struct State {
    messages: Vec<Stored>,
    handles: u64,
    failing_receives: usize,
    receive_calls: usize,
    /// How long a receive takes to answer after it has taken (hidden) its messages.
    answer_delay: Duration,
    /// How long a visibility extension takes to land.
    extension_delay: Duration,
    /// Receives wait the whole wait time asked for, as SQS's long polls do (by default at
    /// most 50 ms, to keep tests quick).
    long_polls: bool,
}

#[derive(Debug, Clone)]
struct FakeQueue {
    state: Arc<Mutex<State>>,
    visibility: Duration,
}

impl FakeQueue {
    fn new(visibility: Duration) -> Self {
        FakeQueue {
            state: Arc::default(),
            visibility,
        }
    }

    fn send(&self, body: &str, group: Option<&str>, trace_header: Option<String>) {
        let mut state = self.state.lock().unwrap();
        let id = format!("m{}", state.messages.len());
        state.messages.push(Stored {
            id,
            body: body.to_owned(),
            group: group.map(str::to_owned),
            trace_header,
            invisible_until: None,
            handle: None,
            receives: 0,
            deleted: false,
            sent_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                .to_string(),
        });
    }

    fn deleted(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .messages
            .iter()
            .filter(|m| m.deleted)
            .count()
    }

    fn receives_of(&self, body: &str) -> u32 {
        let state = self.state.lock().unwrap();
        state
            .messages
            .iter()
            .find(|m| m.body == body)
            .unwrap()
            .receives
    }

    fn visible_now(&self, body: &str) -> bool {
        let state = self.state.lock().unwrap();
        let m = state.messages.iter().find(|m| m.body == body).unwrap();
        !m.deleted && m.invisible_until.is_none_or(|t| t <= Instant::now())
    }

    fn find<'a>(state: &'a mut State, handle: &str) -> Option<&'a mut Stored> {
        state
            .messages
            .iter_mut()
            .find(|m| !m.deleted && m.handle.as_deref() == Some(handle))
    }
}

impl FakeQueue {
    /// A receive: takes up to `max` visible messages, waiting up to `wait` for the first.
    async fn take(
        &self,
        max: i32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<Message>, CallFailed> {
        let until = Instant::now() + wait;
        loop {
            let answer = {
                let mut state = self.state.lock().unwrap();
                state.receive_calls += 1;
                if state.failing_receives > 0 {
                    state.failing_receives -= 1;
                    return Err(CallFailed("connection refused".into(), None));
                }
                let now = Instant::now();
                let in_flight =
                    |m: &Stored| !m.deleted && m.invisible_until.is_some_and(|t| t > now);
                let blocked: Vec<Option<String>> = state
                    .messages
                    .iter()
                    .filter(|m| m.group.is_some() && in_flight(m))
                    .map(|m| m.group.clone())
                    .collect();
                let mut out = Vec::new();
                let mut taken_groups: Vec<Option<String>> = Vec::new();
                let visibility = visibility.unwrap_or(self.visibility);
                let mut handles = state.handles;
                for m in state.messages.iter_mut() {
                    if out.len() == max as usize {
                        break;
                    }
                    if m.deleted || in_flight(m) {
                        continue;
                    }
                    if m.group.is_some() && blocked.contains(&m.group) {
                        continue;
                    }
                    handles += 1;
                    m.handle = Some(format!("h{handles}"));
                    m.invisible_until = Some(now + visibility);
                    m.receives += 1;
                    taken_groups.push(m.group.clone());
                    let mut b = Message::builder()
                        .message_id(&m.id)
                        .body(&m.body)
                        .receipt_handle(m.handle.clone().unwrap())
                        .attributes(
                            MessageSystemAttributeName::ApproximateReceiveCount,
                            m.receives.to_string(),
                        )
                        .attributes(MessageSystemAttributeName::SentTimestamp, &m.sent_ms);
                    if let Some(g) = &m.group {
                        b = b.attributes(MessageSystemAttributeName::MessageGroupId, g);
                    }
                    if let Some(h) = &m.trace_header {
                        b = b.attributes(MessageSystemAttributeName::AwsTraceHeader, h);
                    }
                    out.push(b.build());
                }
                state.handles = handles;
                if !out.is_empty() || Instant::now() >= until {
                    Some((out, state.answer_delay))
                } else {
                    None
                }
            };
            if let Some((out, delay)) = answer {
                tokio::time::sleep(delay).await;
                return Ok(out);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Queue for FakeQueue {
    fn ask_for(&mut self, _names: ReceiveNames) {}

    async fn receive(
        &self,
        max: i32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<Message>, CallFailed> {
        if self.state.lock().unwrap().long_polls {
            // As SQS does, a long poll goes on taking messages after its caller went away
            // (it does not notice a closed connection): it runs on its own.
            let queue = self.clone();
            let poll = tokio::spawn(async move { queue.take(max, wait, visibility).await });
            return poll.await.expect("the poll task");
        }
        self.take(max, wait.min(Duration::from_millis(50)), visibility)
            .await
    }

    async fn delete(&self, entries: Vec<Entry>) -> Result<Vec<EntryFailed>, CallFailed> {
        let mut state = self.state.lock().unwrap();
        let mut failed = Vec::new();
        for e in entries {
            match FakeQueue::find(&mut state, &e.receipt_handle) {
                Some(m) => m.deleted = true,
                None => failed.push(EntryFailed {
                    id: e.id,
                    code: "ReceiptHandleIsInvalid".into(),
                    sender_fault: true,
                }),
            }
        }
        Ok(failed)
    }

    async fn change_visibility(
        &self,
        entries: Vec<Entry>,
        timeout: Duration,
    ) -> Result<Vec<EntryFailed>, CallFailed> {
        // An extension (to the queue's visibility timeout) may take a while to land, and
        // lands even if the caller stops waiting for it (the request is on its way).
        let slow = self.state.lock().unwrap().extension_delay;
        if timeout == self.visibility && !slow.is_zero() {
            let state = self.state.clone();
            let landed = tokio::spawn(async move {
                tokio::time::sleep(slow).await;
                let mut state = state.lock().unwrap();
                for e in entries {
                    if let Some(m) = FakeQueue::find(&mut state, &e.receipt_handle) {
                        m.invisible_until = Some(Instant::now() + timeout);
                    }
                }
            });
            let _ = landed.await;
            return Ok(Vec::new());
        }
        let mut state = self.state.lock().unwrap();
        for e in entries {
            if let Some(m) = FakeQueue::find(&mut state, &e.receipt_handle) {
                m.invisible_until = Some(Instant::now() + timeout);
            }
        }
        Ok(Vec::new())
    }

    async fn visibility_timeout(&self) -> Result<Duration, CallFailed> {
        Ok(self.visibility)
    }
}

fn tracer() -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .with_id_generator(baton::XrayIdGenerator::default())
        .build();
    (provider, exporter)
}

/// Runs `runner` until `done` says so (or 10 s pass), then shuts it down.
async fn run_until<S, Q>(runner: Runner<S, Q>, done: impl Fn() -> bool) -> crate::StatsSnapshot
where
    S: tower::Service<Message> + Clone + Send + 'static,
    S::Error: Into<tower::BoxError>,
    S::Future: Send,
    Q: Queue,
{
    let token = CancellationToken::new();
    let run = tokio::spawn(runner.run(token.clone()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    token.cancel();
    run.await.unwrap().unwrap()
}

fn fast<S, Q>(mut runner: Runner<S, Q>) -> Runner<S, Q> {
    runner.settings.wait_time = Duration::from_millis(50);
    runner.settings.error_backoff = (Duration::from_millis(5), Duration::from_millis(20));
    runner.settings.delete_linger = Duration::from_millis(2);
    runner
}

#[tokio::test]
async fn each_message_continues_its_producer_trace_and_is_deleted_once() {
    let (provider, exporter) = tracer();
    let tracer = provider.tracer("producer");
    let queue = FakeQueue::new(Duration::from_secs(30));
    let mut producers = HashMap::new();
    for i in 0..25 {
        let span = tracer.start("send");
        let cx = Context::new().with_span(span);
        let header = baton::header_for_context(&cx).unwrap();
        producers.insert(format!("body {i}"), cx.span().span_context().clone());
        queue.send(&format!("body {i}"), None, Some(header));
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler = {
        let seen = seen.clone();
        service_fn(move |m: Message| {
            let seen = seen.clone();
            async move {
                let current = Context::current().span().span_context().clone();
                seen.lock().unwrap().push((m.body.unwrap(), current));
                Ok::<_, std::io::Error>(())
            }
        })
    };
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/orders", handler));
    runner.settings.process = runner
        .settings
        .process
        .clone()
        .with_tracer(TracerHandle::new(provider.tracer("worker")))
        .with_body_size(true)
        .with_on_process(|span| {
            span.set_attribute(opentelemetry::KeyValue::new("shop.tenant", "acme"));
        });
    let q = queue.clone();
    let stats = run_until(runner, move || q.deleted() == 25).await;

    assert_eq!(queue.deleted(), 25);
    assert_eq!(
        (stats.received, stats.succeeded, stats.deleted),
        (25, 25, 25)
    );
    assert_eq!((stats.failed, stats.in_flight), (0, 0));
    provider.force_flush().unwrap();
    let spans: Vec<SpanData> = exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|s| s.name == "process orders")
        .collect();
    assert_eq!(spans.len(), 25);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 25);
    for (body, current) in seen.iter() {
        let producer = &producers[body];
        let span = spans
            .iter()
            .find(|s| s.span_context.span_id() == current.span_id())
            .expect("the process span is current in the handler");
        assert_eq!(span.span_kind, SpanKind::Consumer);
        assert_eq!(span.span_context.trace_id(), producer.trace_id());
        assert_eq!(span.parent_span_id, producer.span_id());
        assert!(
            span.attributes
                .iter()
                .any(|kv| kv.key.as_str() == "shop.tenant" && kv.value.as_str() == "acme"),
            "the on_process hook's attribute: {:?}",
            span.attributes
        );
        // Asked for (`with_body_size`): the conventions make it opt-in.
        assert!(
            span.attributes
                .iter()
                .any(|kv| kv.key.as_str() == "messaging.message.body.size"
                    && kv.value == opentelemetry::Value::I64(body.len() as i64)),
            "the body size: {:?}",
            span.attributes
        );
    }
}

/// A handler that fails the first call for "fails once", panics on the first for "panics
/// once", and succeeds otherwise, counting the calls per body in `calls`.
fn fails_and_panics_once(
    calls: Arc<Mutex<HashMap<String, u32>>>,
) -> impl tower::Service<
    Message,
    Response = (),
    Error = std::io::Error,
    Future = impl std::future::Future<Output = Result<(), std::io::Error>> + Send,
> + Clone
+ Send
+ 'static {
    service_fn(move |m: Message| {
        let body = m.body.unwrap();
        let n = {
            let mut calls = calls.lock().unwrap();
            let n = calls.entry(body.clone()).or_default();
            *n += 1;
            *n
        };
        async move {
            match (body.as_str(), n) {
                ("fails once", 1) => Err(std::io::Error::other("database down")),
                ("panics once", 1) => panic!("bug in the handler"),
                _ => Ok(()),
            }
        }
    })
}

#[tokio::test]
async fn failed_and_panicking_handlers_leave_the_message_for_redelivery() {
    let queue = FakeQueue::new(Duration::from_secs(1));
    queue.send("fails once", None, None);
    queue.send("panics once", None, None);
    queue.send("fine", None, None);
    let calls = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
    let handler = fails_and_panics_once(calls.clone());
    let runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    let q = queue.clone();
    let stats = run_until(runner, move || q.deleted() == 3).await;
    assert_eq!(queue.deleted(), 3);
    assert_eq!(stats.failed, 2);
    assert_eq!(stats.panicked, 1);
    assert_eq!(stats.succeeded, 3);
    assert_eq!(stats.deleted, 3);
    assert_eq!(queue.receives_of("fails once"), 2);
    assert_eq!(queue.receives_of("panics once"), 2);
    assert_eq!(queue.receives_of("fine"), 1);
    let calls = calls.lock().unwrap();
    assert_eq!(calls["fails once"], 2);
}

/// With a meter: each delivery counted once at its receive, each handling measured with its
/// outcome, each message's wait in the queue, and the receive and settle calls' durations.
#[tokio::test]
async fn with_a_meter_the_worker_records_the_messaging_metrics() {
    use baton::metrics::{
        CONSUMED_MESSAGES, OPERATION_DURATION, PROCESS_DURATION, SENT_MESSAGES, TIME_IN_QUEUE,
    };
    use baton_test_support::{Metrics, point};

    let metrics = Metrics::new();
    let queue = FakeQueue::new(Duration::from_secs(1));
    queue.send("fails once", None, None);
    queue.send("panics once", None, None);
    queue.send("fine", None, None);
    let calls = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
    let handler = fails_and_panics_once(calls.clone());
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    runner.settings.process = runner.settings.process.clone().with_meter(&metrics.meter());
    assert!(
        runner
            .settings
            .receive_names(false)
            .system
            .contains(&MessageSystemAttributeName::SentTimestamp),
        "a meter asks for SentTimestamp (time in queue)"
    );
    let q = queue.clone();
    let stats = run_until(runner, move || q.deleted() == 3).await;
    assert_eq!((stats.received, stats.deleted), (5, 3));

    let base = [
        ("messaging.destination.name", "jobs"),
        ("messaging.system", "aws_sqs"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = base.to_vec();
        all.extend_from_slice(extra);
        all
    };
    let points = metrics.points();
    let exact: Vec<_> = points
        .iter()
        .filter(|(name, _, _)| name != OPERATION_DURATION)
        .cloned()
        .collect();
    let mut expected = vec![
        point(
            CONSUMED_MESSAGES,
            &with(&[("messaging.operation.name", "ReceiveMessage")]),
            5,
        ),
        point(
            PROCESS_DURATION,
            &with(&[("messaging.operation.name", "process")]),
            3,
        ),
        point(
            PROCESS_DURATION,
            &with(&[
                ("messaging.operation.name", "process"),
                ("error.type", "handler_error"),
            ]),
            1,
        ),
        point(
            PROCESS_DURATION,
            &with(&[
                ("messaging.operation.name", "process"),
                ("error.type", "panic"),
            ]),
            1,
        ),
        point(TIME_IN_QUEUE, &base, 5),
    ];
    expected.sort();
    assert_eq!(exact, expected);
    assert!(!points.iter().any(|(name, _, _)| name == SENT_MESSAGES));
    // How many receives and delete batches there were depends on timing; that each kind was
    // measured with the right attributes does not.
    let durations: Vec<_> = points
        .iter()
        .filter(|(name, _, _)| name == OPERATION_DURATION)
        .map(|(_, attributes, count)| {
            assert!(*count >= 1);
            attributes.clone()
        })
        .collect();
    let receive = point(
        OPERATION_DURATION,
        &with(&[
            ("messaging.operation.name", "ReceiveMessage"),
            ("messaging.operation.type", "receive"),
        ]),
        0,
    )
    .1;
    let delete = point(
        OPERATION_DURATION,
        &with(&[
            ("messaging.operation.name", "DeleteMessageBatch"),
            ("messaging.operation.type", "settle"),
        ]),
        0,
    )
    .1;
    assert_eq!(durations, vec![delete, receive]);
}

#[tokio::test]
async fn failed_span_has_error_status() {
    let (provider, exporter) = tracer();
    let queue = FakeQueue::new(Duration::from_secs(30));
    queue.send("x", None, None);
    let handler = service_fn(|_m: Message| async { Err::<(), _>(std::io::Error::other("nope")) });
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    runner.settings.process = runner
        .settings
        .process
        .clone()
        .with_tracer(TracerHandle::new(provider.tracer("worker")));
    let start = Instant::now();
    let stats = run_until(runner, move || start.elapsed() > Duration::from_millis(300)).await;
    assert_eq!((stats.failed, stats.deleted), (1, 0));
    assert_eq!(queue.deleted(), 0);
    provider.force_flush().unwrap();
    let span = exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .find(|s| s.name == "process jobs")
        .unwrap();
    assert_eq!(
        span.status,
        opentelemetry::trace::Status::error("nope".to_string())
    );
}

#[tokio::test]
async fn shutdown_lets_running_handlers_finish_and_deletes_them() {
    let queue = FakeQueue::new(Duration::from_secs(30));
    for i in 0..8 {
        queue.send(&format!("m{i}"), None, None);
    }
    let started = Arc::new(AtomicUsize::new(0));
    let handler = {
        let started = started.clone();
        service_fn(move |_m: Message| {
            started.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<_, std::io::Error>(())
            }
        })
    };
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    runner.settings.concurrency = 4;
    runner.settings.batch_size = 4;
    let s = started.clone();
    // Stop as soon as the first four are running.
    let stats = run_until(runner, move || s.load(Ordering::SeqCst) >= 4).await;
    assert_eq!(stats.succeeded, 4, "{stats:?}");
    assert_eq!(stats.deleted, 4);
    assert_eq!(stats.abandoned, 0);
    assert_eq!(queue.deleted(), 4);
    // The other four were never received.
    assert_eq!(stats.received, 4);
}

#[tokio::test]
async fn shutdown_deadline_gives_unfinished_messages_back() {
    let queue = FakeQueue::new(Duration::from_secs(30));
    queue.send("quick", None, None);
    queue.send("stuck", None, None);
    let handler = service_fn(|m: Message| async move {
        if m.body() == Some("stuck") {
            std::future::pending::<()>().await;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    runner.settings.shutdown_timeout = Duration::from_millis(200);
    let q = queue.clone();
    let started = std::time::Instant::now();
    let stats = run_until(runner, move || q.deleted() == 1).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!((stats.succeeded, stats.deleted, stats.abandoned), (1, 1, 1));
    assert_eq!(stats.in_flight, 0);
    // Given back at once rather than after its 30 s visibility timeout.
    assert!(queue.visible_now("stuck"));
}

#[tokio::test]
async fn an_extension_in_flight_does_not_undo_a_failure_s_retry_delay() {
    // Visibility 2 s, extended at 1 s by a call that lands 200 ms later; the handler fails at
    // 1.05 s, while that call is on its way. The 300 ms retry delay must be what holds, not the
    // 2 s the extension sets when it lands (at 1.2 s, before the delay has run out).
    let queue = FakeQueue::new(Duration::from_secs(2));
    queue.state.lock().unwrap().extension_delay = Duration::from_millis(200);
    queue.send("x", None, None);
    let first = Arc::new(AtomicBool::new(true));
    let handler = service_fn(move |_m: Message| {
        let first = first.swap(false, Ordering::SeqCst);
        async move {
            if first {
                tokio::time::sleep(Duration::from_millis(1050)).await;
                return Err(std::io::Error::other("failed"));
            }
            Ok(())
        }
    });
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    runner.settings.heartbeat_fraction = 0.5;
    runner.settings.retry_backoff = Some((Duration::from_millis(300), Duration::from_millis(300)));
    let q = queue.clone();
    let started = Instant::now();
    let stats = run_until(runner, move || q.deleted() == 1).await;
    let took = started.elapsed();
    assert_eq!(queue.receives_of("x"), 2);
    assert_eq!(stats.failed, 1);
    assert!(
        took < Duration::from_millis(2500),
        "redelivered after {took:?}: the extension's 2 s held, not the retry delay"
    );
}

#[tokio::test]
async fn a_message_given_back_stays_visible_when_an_extension_was_on_its_way() {
    // Visibility 2 s, extended at 1 s by a call that lands 200 ms later; the shutdown
    // deadline falls at about 1.05 s, while that call is on its way. The give-back must come
    // after it, or the extension hides the message again for 2 s.
    let queue = FakeQueue::new(Duration::from_secs(2));
    queue.state.lock().unwrap().extension_delay = Duration::from_millis(200);
    queue.send("stuck", None, None);
    let handler = service_fn(|_m: Message| async {
        std::future::pending::<()>().await;
        Ok::<_, std::io::Error>(())
    });
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    runner.settings.heartbeat_fraction = 0.5;
    runner.settings.shutdown_timeout = Duration::from_millis(600);
    let token = CancellationToken::new();
    let run = tokio::spawn(runner.run(token.clone()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while queue.receives_of("stuck") == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(450)).await;
    token.cancel();
    let stats = run.await.unwrap().unwrap();
    assert_eq!(stats.abandoned, 1);
    // Well after the extension would have landed.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        queue.visible_now("stuck"),
        "hidden again by a late extension"
    );
}

#[tokio::test]
async fn the_shutdown_timeout_bounds_the_whole_shutdown() {
    // A handler that never ends, and a last ReceiveMessage that takes 3 s to answer: the
    // handler's deadline counts from the cancellation, not from the receive's answer.
    let queue = FakeQueue::new(Duration::from_secs(30));
    queue.send("stuck", None, None);
    let handler = service_fn(|_m: Message| async {
        std::future::pending::<()>().await;
        Ok::<_, std::io::Error>(())
    });
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    runner.settings.shutdown_timeout = Duration::from_millis(1000);
    runner.settings.pollers = 1;
    let token = CancellationToken::new();
    let run = tokio::spawn(runner.run(token.clone()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while queue.receives_of("stuck") == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The next receive (in flight when the token is cancelled) answers slowly.
    queue.state.lock().unwrap().answer_delay = Duration::from_secs(3);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let cancelled = Instant::now();
    token.cancel();
    let stats = run.await.unwrap().unwrap();
    let took = cancelled.elapsed();
    // The receive is waited for (never cut off) and answers at about 2.9 s; the handler is
    // given up at 1 s. Waiting for one and then the whole timeout for the other took 3.9 s.
    assert!(
        took < Duration::from_millis(3500),
        "shutdown took {took:?} with a 1 s timeout"
    );
    assert_eq!(stats.abandoned, 1);
    assert!(queue.visible_now("stuck"));
}

#[tokio::test]
async fn an_abandoned_message_s_span_says_it_was_abandoned() {
    let (provider, exporter) = tracer();
    let queue = FakeQueue::new(Duration::from_secs(30));
    queue.send("stuck", None, None);
    let handler = service_fn(|_m: Message| async {
        std::future::pending::<()>().await;
        Ok::<_, std::io::Error>(())
    });
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    runner.settings.process = runner
        .settings
        .process
        .clone()
        .with_tracer(TracerHandle::new(provider.tracer("worker")));
    runner.settings.shutdown_timeout = Duration::from_millis(100);
    let q = queue.clone();
    let stats = run_until(runner, move || q.receives_of("stuck") == 1).await;
    assert_eq!(stats.abandoned, 1);
    provider.force_flush().unwrap();
    let span = exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .find(|s| s.name == "process jobs")
        .expect("the process span ends");
    assert!(
        matches!(span.status, opentelemetry::trace::Status::Error { .. }),
        "{:?}",
        span.status
    );
    assert!(
        span.attributes
            .contains(&opentelemetry::KeyValue::new("error.type", "abandoned"))
    );
}

#[tokio::test]
async fn fifo_groups_keep_their_order_and_a_failure_holds_the_rest_of_its_group() {
    let queue = FakeQueue::new(Duration::from_secs(1));
    for i in 0..5 {
        queue.send(&format!("A{i}"), Some("A"), None);
        queue.send(&format!("B{i}"), Some("B"), None);
    }
    let order = Arc::new(Mutex::new(Vec::new()));
    let failed_once = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (order, failed_once) = (order.clone(), failed_once.clone());
        service_fn(move |m: Message| {
            let body = m.body.unwrap();
            let fail = body == "A2" && failed_once.fetch_add(1, Ordering::SeqCst) == 0;
            if !fail {
                order.lock().unwrap().push(body);
            }
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                if fail {
                    Err(std::io::Error::other("try again"))
                } else {
                    Ok(())
                }
            }
        })
    };
    let runner = fast(Runner::new(
        queue.clone(),
        "http://q/000/jobs.fifo",
        handler,
    ));
    let q = queue.clone();
    let stats = run_until(runner, move || q.deleted() == 10).await;
    assert_eq!(queue.deleted(), 10);
    assert_eq!(stats.failed, 1);
    let order = order.lock().unwrap();
    for group in ["A", "B"] {
        let seen: Vec<&String> = order.iter().filter(|b| b.starts_with(group)).collect();
        let expected: Vec<String> = (0..5).map(|i| format!("{group}{i}")).collect();
        assert_eq!(seen, expected.iter().collect::<Vec<_>>(), "{order:?}");
    }
}

#[tokio::test]
async fn receive_errors_are_retried_and_counted() {
    let queue = FakeQueue::new(Duration::from_secs(30));
    queue.state.lock().unwrap().failing_receives = 3;
    queue.send("x", None, None);
    let handler = service_fn(|_m: Message| async { Ok::<_, std::io::Error>(()) });
    let runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    let q = queue.clone();
    let stats = run_until(runner, move || q.deleted() == 1).await;
    assert_eq!(stats.receive_errors, 3);
    assert_eq!(stats.deleted, 1);
}

#[tokio::test]
async fn heartbeat_keeps_a_long_handler_s_message_invisible() {
    let queue = FakeQueue::new(Duration::from_secs(1));
    queue.send("slow", None, None);
    let handler = service_fn(|_m: Message| async {
        tokio::time::sleep(Duration::from_millis(2600)).await;
        Ok::<_, std::io::Error>(())
    });
    let runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    let q = queue.clone();
    let stats = run_until(runner, move || q.deleted() == 1).await;
    assert_eq!(queue.receives_of("slow"), 1, "delivered twice");
    assert!(stats.extended >= 4, "{stats:?}");
    assert_eq!(stats.deleted, 1);
}

#[tokio::test]
async fn a_queue_with_a_zero_visibility_timeout_still_hands_each_message_out_once() {
    // The queue is set to 0 s and the worker is told nothing: receiving with 0 s would hand
    // the message to the next receive (two pollers, 50 ms waits) while its handler runs.
    let queue = FakeQueue::new(Duration::ZERO);
    queue.send("slow", None, None);
    let handler = service_fn(|_m: Message| async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Ok::<_, std::io::Error>(())
    });
    let runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    let q = queue.clone();
    let stats = run_until(runner, move || q.deleted() == 1).await;
    assert_eq!(
        queue.receives_of("slow"),
        1,
        "handed out again while being handled"
    );
    assert_eq!((stats.received, stats.deleted), (1, 1), "{stats:?}");
}

#[tokio::test]
async fn concurrency_bounds_messages_held() {
    let queue = FakeQueue::new(Duration::from_secs(30));
    for i in 0..40 {
        queue.send(&format!("m{i}"), None, None);
    }
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let handler = {
        let (now, peak) = (now.clone(), peak.clone());
        service_fn(move |_m: Message| {
            let (now, peak) = (now.clone(), peak.clone());
            async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(())
            }
        })
    };
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    runner.settings.concurrency = 7;
    let q = queue.clone();
    run_until(runner, move || q.deleted() == 40).await;
    assert_eq!(queue.deleted(), 40);
    let peak = peak.load(Ordering::SeqCst);
    assert!((2..=7).contains(&peak), "peak {peak}");
}

#[tokio::test]
async fn invalid_settings_are_refused_with_the_setting_named() {
    let handler = service_fn(|_m: Message| async { Ok::<_, std::io::Error>(()) });
    for (set, name) in [
        (
            Box::new(|r: &mut super::Settings| r.batch_size = 11)
                as Box<dyn Fn(&mut super::Settings)>,
            "with_batch_size",
        ),
        (
            Box::new(|r: &mut super::Settings| r.batch_size = 0),
            "with_batch_size",
        ),
        (
            Box::new(|r: &mut super::Settings| r.wait_time = Duration::from_secs(21)),
            "with_wait_time",
        ),
        (
            Box::new(|r: &mut super::Settings| r.concurrency = 0),
            "with_concurrency",
        ),
        (
            Box::new(|r: &mut super::Settings| r.heartbeat_fraction = 1.0),
            "with_heartbeat_fraction",
        ),
        (
            Box::new(|r: &mut super::Settings| {
                r.error_backoff = (Duration::ZERO, Duration::from_secs(1));
            }),
            "with_error_backoff",
        ),
        (
            Box::new(|r: &mut super::Settings| {
                r.error_backoff = (Duration::from_secs(2), Duration::from_secs(1));
            }),
            "with_error_backoff",
        ),
    ] {
        let mut runner = Runner::new(FakeQueue::new(Duration::from_secs(1)), "q", handler);
        set(&mut runner.settings);
        let error = runner.run(CancellationToken::new()).await.unwrap_err();
        assert!(error.to_string().contains(name), "{error}");
    }
}

#[tokio::test]
async fn tracing_spans_made_in_the_handler_nest_under_the_process_span() {
    use tracing_subscriber::layer::SubscriberExt;

    let (provider, exporter) = tracer();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("app")));
    let _default = tracing::subscriber::set_default(subscriber);

    let queue = FakeQueue::new(Duration::from_secs(30));
    queue.send("x", None, None);
    let handler = service_fn(|_m: Message| async {
        let span = tracing::info_span!("charge card");
        let _entered = span.enter();
        Ok::<_, std::io::Error>(())
    });
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    runner.settings.process = runner
        .settings
        .process
        .clone()
        .with_tracer(TracerHandle::new(provider.tracer("worker")));
    let q = queue.clone();
    run_until(runner, move || q.deleted() == 1).await;

    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let process = spans.iter().find(|s| s.name == "process jobs").unwrap();
    let charge = spans.iter().find(|s| s.name == "charge card").unwrap();
    assert_eq!(
        charge.span_context.trace_id(),
        process.span_context.trace_id()
    );
    assert_eq!(charge.parent_span_id, process.span_context.span_id());
}

#[tokio::test]
async fn retry_backoff_sets_the_failed_message_s_visibility() {
    let queue = FakeQueue::new(Duration::from_secs(30));
    queue.send("flaky", None, None);
    let handler = service_fn(|_m: Message| async { Err::<(), _>(std::io::Error::other("later")) });
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    runner.settings.retry_backoff = Some((Duration::from_secs(2), Duration::from_secs(10)));
    let start = Instant::now();
    let stats = run_until(runner, move || start.elapsed() > Duration::from_millis(300)).await;
    assert_eq!((stats.failed, stats.deleted), (1, 0));
    let state = queue.state.lock().unwrap();
    let until = state.messages[0].invisible_until.unwrap();
    // First failure: base × 2^0 = 2 s from the failure, not the 30 s visibility timeout.
    let left = until.saturating_duration_since(Instant::now());
    assert!(
        left > Duration::from_millis(1200) && left <= Duration::from_secs(2),
        "{left:?}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_ends_the_shutdown_signal_future() {
    let signal = super::shutdown_signal().expect("the handler installs");
    // The handler is in place before the signal is sent, so the test process survives it.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(5), signal)
        .await
        .expect("SIGTERM was noticed");
}

#[tokio::test]
async fn shutdown_handles_what_a_receive_in_flight_returns() {
    let queue = FakeQueue::new(Duration::from_secs(30));
    queue.state.lock().unwrap().answer_delay = Duration::from_millis(400);
    for i in 0..3 {
        queue.send(&format!("m{i}"), None, None);
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let handler = {
        let calls = calls.clone();
        service_fn(move |_m: Message| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(()) }
        })
    };
    let runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    let start = Instant::now();
    // Shut down while the receive has taken the messages but not answered yet: it is waited
    // for, and its messages are handled and deleted, each received once.
    let stats = run_until(runner, move || start.elapsed() > Duration::from_millis(100)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!((stats.received, stats.deleted, stats.abandoned), (3, 3, 0));
    for i in 0..3 {
        assert_eq!(queue.receives_of(&format!("m{i}")), 1);
    }
    assert_eq!(queue.deleted(), 3);
}

#[tokio::test]
async fn a_shutdown_never_receives_a_message_twice() {
    // Two long polls open on an empty queue when the shutdown comes; a message arrives right
    // after. Whichever poll gets it, it is handled: given back instead, the other poll (still
    // open) would take it again and spend a second receive of it.
    let queue = FakeQueue::new(Duration::from_secs(30));
    queue.state.lock().unwrap().long_polls = true;
    let calls = Arc::new(AtomicUsize::new(0));
    let handler = {
        let calls = calls.clone();
        service_fn(move |_m: Message| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(()) }
        })
    };
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    runner.settings.wait_time = Duration::from_secs(1);
    runner.settings.pollers = 2;
    let token = CancellationToken::new();
    let run = tokio::spawn(runner.run(token.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    token.cancel();
    // The pollers have seen the cancellation before the message arrives.
    tokio::time::sleep(Duration::from_millis(30)).await;
    queue.send("late", None, None);
    let stats = run.await.unwrap().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!((stats.received, stats.deleted), (1, 1), "{stats:?}");
    assert_eq!(queue.receives_of("late"), 1);
}

#[tokio::test]
async fn long_polls_wait_at_most_half_the_shutdown_timeout() {
    // Asked for 20 s polls with a 2 s shutdown timeout, an idle worker polls for 1 s at a
    // time, so a poll open at the cancellation answers with half the timeout left.
    let queue = FakeQueue::new(Duration::from_secs(30));
    queue.state.lock().unwrap().long_polls = true;
    let handler = service_fn(|_m: Message| async { Ok::<_, std::io::Error>(()) });
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    runner.settings.wait_time = Duration::from_secs(20);
    runner.settings.shutdown_timeout = Duration::from_secs(2);
    let token = CancellationToken::new();
    let run = tokio::spawn(runner.run(token.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cancelled = Instant::now();
    token.cancel();
    run.await.unwrap().unwrap();
    let took = cancelled.elapsed();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
}

#[tokio::test]
async fn a_message_given_back_at_the_deadline_is_not_taken_by_an_open_poll() {
    // A handler that never ends, a 200 ms shutdown timeout, and another poller with a 1 s
    // long poll open at the deadline: the stuck message goes back only once that poll has
    // answered, so it is received once, not twice.
    let queue = FakeQueue::new(Duration::from_secs(30));
    queue.state.lock().unwrap().long_polls = true;
    queue.send("stuck", None, None);
    let handler = service_fn(|_m: Message| async {
        std::future::pending::<()>().await;
        Ok::<_, std::io::Error>(())
    });
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    runner.settings.wait_time = Duration::from_secs(1);
    runner.settings.shutdown_timeout = Duration::from_millis(200);
    runner.settings.batch_size = 1;
    runner.settings.pollers = 2;
    let q = queue.clone();
    let stats = run_until(runner, move || q.receives_of("stuck") == 1).await;
    assert_eq!(stats.abandoned, 1);
    // A poll cut off at the deadline would still be taking messages for a while.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(queue.receives_of("stuck"), 1);
    assert!(queue.visible_now("stuck"));
}

#[tokio::test]
async fn a_fifo_failure_delays_the_rest_of_its_group_by_the_retry_backoff() {
    let queue = FakeQueue::new(Duration::from_secs(30));
    for i in 0..3 {
        queue.send(&format!("A{i}"), Some("A"), None);
    }
    let handler = service_fn(|m: Message| async move {
        if m.body() == Some("A0") {
            Err(std::io::Error::other("not yet"))
        } else {
            Ok(())
        }
    });
    let mut runner = fast(Runner::new(
        queue.clone(),
        "http://q/000/jobs.fifo",
        handler,
    ));
    runner.settings.retry_backoff = Some((Duration::from_secs(2), Duration::from_secs(10)));
    let start = Instant::now();
    let stats = run_until(runner, move || start.elapsed() > Duration::from_millis(300)).await;
    assert_eq!((stats.failed, stats.succeeded, stats.in_flight), (1, 0, 0));
    let state = queue.state.lock().unwrap();
    for m in &state.messages {
        let left = m
            .invisible_until
            .unwrap()
            .saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_secs(2), "{}: {left:?}", m.body);
        assert!(!m.deleted);
    }
}

#[test]
fn receives_ask_only_for_the_carriers_and_what_the_worker_reads() {
    use MessageSystemAttributeName as N;
    let settings = Settings::default();
    let names = settings.receive_names(false);
    assert_eq!(
        names.system,
        [N::AwsTraceHeader, N::ApproximateReceiveCount]
    );
    assert_eq!(names.message, baton_sqs::TRACE_ATTRIBUTE_NAMES);
    // A FIFO queue's chains are built from the group id.
    assert_eq!(
        settings.receive_names(true).system,
        [
            N::AwsTraceHeader,
            N::ApproximateReceiveCount,
            N::MessageGroupId
        ]
    );
    let facts = Settings {
        delivery_facts: true,
        ..Settings::default()
    };
    assert_eq!(
        facts.receive_names(false).system,
        [
            N::AwsTraceHeader,
            N::ApproximateReceiveCount,
            N::MessageGroupId,
            N::SentTimestamp
        ]
    );
}

#[test]
fn the_user_can_ask_for_more_attributes_or_all() {
    use MessageSystemAttributeName as N;
    let more = Settings {
        system_attributes: vec![N::SenderId, N::AwsTraceHeader],
        message_attributes: vec!["tenant".into(), "traceparent".into()],
        ..Settings::default()
    };
    let names = more.receive_names(false);
    assert_eq!(
        names.system,
        [N::AwsTraceHeader, N::ApproximateReceiveCount, N::SenderId]
    );
    let mut message = baton_sqs::TRACE_ATTRIBUTE_NAMES.map(str::to_owned).to_vec();
    message.push("tenant".into());
    assert_eq!(names.message, message);

    let all = Settings {
        system_attributes: vec![N::All],
        message_attributes: vec![".*".into()],
        ..Settings::default()
    };
    let names = all.receive_names(true);
    assert_eq!(names.system, [N::All]);
    assert_eq!(names.message, ["All"]);
}

#[test]
fn the_message_attribute_carriers_can_be_left_out() {
    let lean = Settings {
        attribute_carriers: false,
        ..Settings::default()
    };
    assert!(lean.receive_names(false).message.is_empty());
    let asked = Settings {
        attribute_carriers: false,
        message_attributes: vec!["tenant".into()],
        ..Settings::default()
    };
    assert_eq!(asked.receive_names(false).message, ["tenant"]);
}

/// What [`drain_watching`] saw.
struct Watched {
    /// The highest concurrency limit.
    limit: u64,
    /// The mean of the limits seen every 10 ms while messages were left.
    mean_limit: f64,
    /// The most receive loops.
    pollers: u64,
    /// The stats after the last message was deleted and the settle time passed.
    last: crate::StatsSnapshot,
}

/// Drains `messages` with `handler`, watching the limit and the receive loops.
async fn drain_watching<S>(
    mut runner: Runner<S, FakeQueue>,
    queue: &FakeQueue,
    messages: usize,
    settle: Duration,
) -> Watched
where
    S: tower::Service<Message> + Clone + Send + 'static,
    S::Error: Into<tower::BoxError>,
    S::Future: Send,
{
    runner.settings.adapt_tick = Duration::from_millis(40);
    let stats = runner.stats.clone();
    let (limit, pollers) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let drained_at = Arc::new(Mutex::new(None::<Instant>));
    let limits = Arc::new(Mutex::new(Vec::new()));
    let q = queue.clone();
    let (l, p, d, all) = (
        limit.clone(),
        pollers.clone(),
        drained_at.clone(),
        limits.clone(),
    );
    let s = stats.clone();
    run_until(runner, move || {
        let now = s.snapshot();
        l.fetch_max(now.concurrency_limit as usize, Ordering::SeqCst);
        p.fetch_max(now.pollers as usize, Ordering::SeqCst);
        if q.deleted() < messages {
            all.lock().unwrap().push(now.concurrency_limit);
            return false;
        }
        let mut d = d.lock().unwrap();
        d.get_or_insert_with(Instant::now).elapsed() >= settle
    })
    .await;
    let last = stats.snapshot();
    assert_eq!(queue.deleted(), messages, "{last:?}");
    let limits = limits.lock().unwrap();
    Watched {
        limit: limit.load(Ordering::SeqCst) as u64,
        mean_limit: limits.iter().sum::<u64>() as f64 / limits.len().max(1) as f64,
        pollers: pollers.load(Ordering::SeqCst) as u64,
        last,
    }
}

fn sleeping_handler(
    took: Duration,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    downstream: Option<Arc<tokio::sync::Semaphore>>,
) -> impl tower::Service<Message, Response = (), Error = std::io::Error, Future: Send> + Clone + Send
{
    service_fn(move |_m: Message| {
        let (running, peak, downstream) = (running.clone(), peak.clone(), downstream.clone());
        async move {
            peak.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            // A saturated database: at most so many calls at once, the rest wait their turn.
            let _turn = match &downstream {
                Some(d) => Some(d.clone().acquire_owned().await.unwrap()),
                None => None,
            };
            tokio::time::sleep(took).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_grows_while_slow_handlers_hold_back_a_backlog() {
    let queue = FakeQueue::new(Duration::from_secs(30));
    for i in 0..3_000 {
        queue.send(&format!("m{i}"), None, None);
    }
    let (running, peak) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
    let handler = sleeping_handler(Duration::from_millis(20), running, peak.clone(), None);
    let runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    let watched = drain_watching(runner, &queue, 3_000, Duration::ZERO).await;
    // It starts at 20 and reaches the bound of 100.
    assert_eq!(watched.limit, 100, "highest limit");
    assert!(
        watched.mean_limit > 50.0,
        "mean limit {}",
        watched.mean_limit
    );
    let peak = peak.load(Ordering::SeqCst);
    assert!((60..=100).contains(&peak), "most handlers at once: {peak}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_stays_low_when_handlers_queue_for_a_saturated_downstream() {
    let queue = FakeQueue::new(Duration::from_secs(30));
    for i in 0..1_200 {
        queue.send(&format!("m{i}"), None, None);
    }
    let (running, peak) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
    let database = Arc::new(tokio::sync::Semaphore::new(8));
    let handler = sleeping_handler(Duration::from_millis(20), running, peak, Some(database));
    let runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    let watched = drain_watching(runner, &queue, 1_200, Duration::ZERO).await;
    // More messages at once would only wait longer for the database: the limit does not run
    // to the bound (100) and stay there as it does for the same handler without the queueing.
    // (It may probe upwards for a moment: the first latency it sees is already queued.)
    assert!(
        watched.mean_limit < 50.0,
        "mean limit {}",
        watched.mean_limit
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_loops_are_added_while_receives_are_full_and_stop_when_the_queue_is_empty() {
    let queue = FakeQueue::new(Duration::from_secs(30));
    queue.state.lock().unwrap().answer_delay = Duration::from_millis(5);
    for i in 0..3_000 {
        queue.send(&format!("m{i}"), None, None);
    }
    let (running, peak) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
    let handler = sleeping_handler(Duration::ZERO, running, peak, None);
    let runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    let watched = drain_watching(runner, &queue, 3_000, Duration::from_millis(600)).await;
    assert_eq!(watched.pollers, 4, "most receive loops");
    // Empty receives retire loops down to one.
    assert_eq!(watched.last.pollers, 1, "{:?}", watched.last);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_adaptation_the_bounds_hold_from_the_start() {
    let queue = FakeQueue::new(Duration::from_secs(30));
    queue.state.lock().unwrap().answer_delay = Duration::from_millis(5);
    for i in 0..600 {
        queue.send(&format!("m{i}"), None, None);
    }
    let (running, peak) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
    let handler = sleeping_handler(Duration::from_millis(20), running, peak.clone(), None);
    let mut runner = fast(Runner::new(queue.clone(), "http://q/000/jobs", handler));
    runner.settings.adaptive = false;
    runner.settings.concurrency = 30;
    runner.settings.pollers = 3;
    let watched = drain_watching(runner, &queue, 600, Duration::from_millis(300)).await;
    assert_eq!((watched.limit, watched.pollers), (30, 3));
    let last = watched.last;
    assert_eq!((last.concurrency_limit, last.pollers), (30, 3));
    assert!(peak.load(Ordering::SeqCst) <= 30);
}
