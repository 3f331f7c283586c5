//! The harness for Baton's end-to-end tests against LocalStack.
//!
//! Every test in `integration/tests/` talks to a real LocalStack (see `localstack/up.sh`) at
//! [`endpoint()`]. This crate gives those tests what they all need:
//! - [`sdk_config`] and the client constructors [`sqs`], [`sns`], [`eventbridge`] and [`sfn`]:
//!   static test credentials, `us-east-1`, the LocalStack endpoint. The first call in a process
//!   checks that LocalStack answers and **panics** if it does not, so no test can pass without
//!   having talked to it.
//! - [`unique_name`]: resource names unique per test and per run, so tests run in parallel and
//!   never see each other's messages.
//! - [`TestQueue`]: an SQS queue (standard or FIFO) created for one test and deleted after it,
//!   also when the test body panics (see [`TestQueue::run`]).
//! - [`TestTracer`]: an OpenTelemetry tracer provider with X-Ray ids whose finished spans the
//!   test can read back.
//!
//! ```no_run
//! use baton_integration::{sqs, TestQueue};
//!
//! # async fn example() {
//! let client = sqs().await;
//! TestQueue::create(&client, "example")
//!     .await
//!     .run(|queue| async move {
//!         queue
//!             .client
//!             .send_message()
//!             .queue_url(&queue.url)
//!             .message_body("hello")
//!             .send()
//!             .await
//!             .expect("SendMessage");
//!     })
//!     .await;
//! # }
//! ```

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::panic;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider, SpanData};
use tokio::sync::OnceCell;

/// The environment variable that overrides the LocalStack endpoint.
pub const ENDPOINT_ENV: &str = "BATON_LOCALSTACK_ENDPOINT";

/// The endpoint used when [`ENDPOINT_ENV`] is unset or empty.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4566";

/// The region every test client uses.
pub const REGION: &str = "us-east-1";

/// How long the reachability check waits for LocalStack to connect and to answer.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// The longest name [`unique_name`] returns (SQS, SNS and EventBridge all accept 80 characters;
/// this leaves room for the `.fifo` suffix of FIFO queues and topics).
pub const MAX_UNIQUE_NAME_LEN: usize = 75;

/// The LocalStack endpoint: [`ENDPOINT_ENV`] if set, else [`DEFAULT_ENDPOINT`].
pub fn endpoint() -> String {
    match std::env::var(ENDPOINT_ENV) {
        Ok(value) if !value.trim().is_empty() => value.trim().trim_end_matches('/').to_string(),
        _ => DEFAULT_ENDPOINT.to_string(),
    }
}

/// The SDK configuration for LocalStack: static test credentials, [`REGION`], [`endpoint()`].
///
/// Nothing is read from the host's environment or AWS profile, so a developer's real
/// credentials can never be used by a test.
///
/// # Panics
///
/// If LocalStack does not answer at [`endpoint()`]. The check runs once per process; every later
/// call repeats its verdict.
pub async fn sdk_config() -> SdkConfig {
    let endpoint = endpoint();
    ensure_reachable(&endpoint).await;
    sdk_config_at(&endpoint).await
}

/// The SDK configuration of [`sdk_config`] for another endpoint (such as a second LocalStack
/// a test starts and stops itself), without the reachability check.
pub async fn sdk_config_at(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .empty_test_environment()
        .region(Region::new(REGION))
        .credentials_provider(Credentials::from_keys("test", "test", None))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// An SQS client for LocalStack (see [`sdk_config`]).
pub async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config().await)
}

/// An SNS client for LocalStack (see [`sdk_config`]).
pub async fn sns() -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(&sdk_config().await)
}

/// An EventBridge client for LocalStack (see [`sdk_config`]).
pub async fn eventbridge() -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(&sdk_config().await)
}

/// A Step Functions client for LocalStack (see [`sdk_config`]).
pub async fn sfn() -> aws_sdk_sfn::Client {
    aws_sdk_sfn::Client::new(&sdk_config().await)
}

/// A Step Functions configuration builder for LocalStack whose StartSyncExecution reaches it.
///
/// The SDK sends StartSyncExecution to a `sync-` prefixed host, even with a custom endpoint
/// (`sync-127.0.0.1`), and has no switch to turn that off. [`StripSyncPrefix`], a test-only
/// interceptor, puts the host back just before the request leaves. Baton itself never does
/// this: against AWS the prefix is right.
pub async fn sfn_config() -> aws_sdk_sfn::config::Builder {
    aws_sdk_sfn::config::Builder::from(&sdk_config().await).interceptor(StripSyncPrefix)
}

/// Removes the `sync-` host prefix the SDK adds to StartSyncExecution (see [`sfn_config`]).
#[derive(Debug)]
pub struct StripSyncPrefix;

impl aws_sdk_sfn::config::Intercept for StripSyncPrefix {
    fn name(&self) -> &'static str {
        "StripSyncPrefix"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_sfn::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &aws_sdk_sfn::config::RuntimeComponents,
        _cfg: &mut aws_sdk_sfn::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let request = context.request_mut();
        let uri = request.uri().to_string();
        if let Some(fixed) = uri
            .strip_prefix("http://sync-")
            .map(|rest| format!("http://{rest}"))
            .or_else(|| {
                uri.strip_prefix("https://sync-")
                    .map(|rest| format!("https://{rest}"))
            })
        {
            request.set_uri(fixed)?;
        }
        Ok(())
    }
}

/// The verdict of the reachability check, kept for the life of the process. Only the verdict is
/// shared: clients are built afresh for each test, because every `#[tokio::test]` has its own
/// runtime and a connection pool must not outlive the runtime that made it.
static REACHABLE: OnceCell<Result<(), String>> = OnceCell::const_new();

async fn ensure_reachable(endpoint: &str) {
    let verdict = REACHABLE
        .get_or_init(|| async {
            let target = endpoint.to_string();
            tokio::task::spawn_blocking(move || probe(&target))
                .await
                .unwrap_or_else(|e| Err(format!("the check itself failed: {e}")))
        })
        .await;
    if let Err(reason) = verdict {
        panic!(
            "LocalStack is not reachable at {endpoint}: start it with `bash localstack/up.sh` \
             (or run the whole suite with the README's test command) [{reason}]"
        );
    }
}

/// Connects to the endpoint and, for plain HTTP, asks `/_localstack/health` for a 200.
/// Blocking, with short timeouts; run off the async threads.
fn probe(endpoint: &str) -> Result<(), String> {
    let (https, rest) = if let Some(rest) = endpoint.strip_prefix("http://") {
        (false, rest)
    } else if let Some(rest) = endpoint.strip_prefix("https://") {
        (true, rest)
    } else {
        return Err(format!(
            "{ENDPOINT_ENV} must start with http:// or https://"
        ));
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:{}", if https { 443 } else { 80 })
    };
    let addrs: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {with_port}: {e}"))?
        .collect();
    let mut last_error = format!("{with_port} resolves to no address");
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, HEALTH_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = format!("connect to {addr}: {e}"),
        }
    }
    let mut stream = stream.ok_or(last_error)?;
    if https {
        // No TLS client here: a successful connect is the whole check.
        return Ok(());
    }
    stream
        .set_read_timeout(Some(HEALTH_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(HEALTH_TIMEOUT)))
        .map_err(|e| format!("socket set-up: {e}"))?;
    let request = format!(
        "GET /_localstack/health HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending the health request: {e}"))?;
    // The status line is all we need; it arrives in the first few bytes.
    let mut head = [0u8; 64];
    let mut filled = 0;
    while filled < head.len() && !head[..filled].contains(&b'\n') {
        match stream.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(format!("reading the health response: {e}")),
        }
    }
    let status_line = String::from_utf8_lossy(&head[..filled]);
    let status_line = status_line.lines().next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1);
    if status_line.starts_with("HTTP/") && status == Some("200") {
        Ok(())
    } else {
        Err(format!(
            "/_localstack/health answered {status_line:?}, not 200: is this LocalStack?"
        ))
    }
}

/// A name unique to this call in this process and to this run: `{prefix}-{pid}-{counter}-{time}`.
///
/// Characters outside `[A-Za-z0-9_-]` in `prefix` become `-`, and `prefix` is shortened so the
/// result is at most [`MAX_UNIQUE_NAME_LEN`] characters: valid as an SQS queue, SNS topic,
/// EventBridge bus or rule and Step Functions state machine name, with room for `.fifo`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let suffix = format!("-{}-{count}-{nanos:x}", std::process::id());
    let room = MAX_UNIQUE_NAME_LEN.saturating_sub(suffix.len());
    let mut name: String = prefix
        .chars()
        .take(room)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        name.push_str("baton");
    }
    name.push_str(&suffix);
    name
}

/// An SQS queue made for one test.
///
/// Delete it with [`delete`](Self::delete), or let [`run`](Self::run) delete it after the test
/// body, whether the body returns or panics. A queue left behind by a killed test run is
/// harmless: its name is unique, and LocalStack forgets it when stopped.
#[derive(Clone, Debug)]
pub struct TestQueue {
    /// The client the queue was created with.
    pub client: aws_sdk_sqs::Client,
    /// The queue URL, as CreateQueue returned it.
    pub url: String,
    /// The queue name (ends in `.fifo` for a FIFO queue).
    pub name: String,
}

impl TestQueue {
    /// Creates a standard queue named [`unique_name(prefix)`](unique_name).
    ///
    /// # Panics
    ///
    /// If CreateQueue fails.
    pub async fn create(client: &aws_sdk_sqs::Client, prefix: &str) -> TestQueue {
        Self::create_named(client, unique_name(prefix), false).await
    }

    /// Creates a FIFO queue named [`unique_name(prefix)`](unique_name) + `.fifo`, with
    /// content-based deduplication turned on (so sends need only a message group id).
    ///
    /// # Panics
    ///
    /// If CreateQueue fails.
    pub async fn create_fifo(client: &aws_sdk_sqs::Client, prefix: &str) -> TestQueue {
        Self::create_named(client, format!("{}.fifo", unique_name(prefix)), true).await
    }

    async fn create_named(client: &aws_sdk_sqs::Client, name: String, fifo: bool) -> TestQueue {
        let mut request = client.create_queue().queue_name(&name);
        if fifo {
            request = request
                .attributes(QueueAttributeName::FifoQueue, "true")
                .attributes(QueueAttributeName::ContentBasedDeduplication, "true");
        }
        let output = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateQueue {name}: {}", DisplayErrorContext(e)));
        let url = output
            .queue_url()
            .unwrap_or_else(|| panic!("CreateQueue {name} returned no queue URL"))
            .to_string();
        TestQueue {
            client: client.clone(),
            url,
            name,
        }
    }

    /// The queue's ARN (for redrive policies, subscriptions and rule targets).
    ///
    /// # Panics
    ///
    /// If GetQueueAttributes fails or returns no ARN.
    pub async fn arn(&self) -> String {
        self.client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "GetQueueAttributes {}: {}",
                    self.name,
                    DisplayErrorContext(e)
                )
            })
            .attributes
            .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .unwrap_or_else(|| panic!("GetQueueAttributes {} returned no QueueArn", self.name))
    }

    /// Deletes the queue.
    ///
    /// # Panics
    ///
    /// If DeleteQueue fails.
    pub async fn delete(self) {
        self.client
            .delete_queue()
            .queue_url(&self.url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DeleteQueue {}: {}", self.name, DisplayErrorContext(e)));
    }

    /// Runs `body` with this queue, then deletes the queue, also if `body` panicked (the panic
    /// is then passed on, so the test still fails with its own message).
    ///
    /// `body` runs as its own task, which is how its panic is caught; it must therefore be
    /// `Send + 'static` (move what it needs into it).
    pub async fn run<F, Fut, T>(self, body: F) -> T
    where
        F: FnOnce(TestQueue) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let outcome = tokio::spawn(body(self.clone())).await;
        self.delete().await;
        match outcome {
            Ok(value) => value,
            Err(error) if error.is_panic() => panic::resume_unwind(error.into_panic()),
            Err(error) => panic!("the test body did not finish: {error}"),
        }
    }
}

/// An OpenTelemetry tracer provider for tests: X-Ray ids ([`baton::XrayIdGenerator`]), and every
/// ended span kept in memory (simple processor, so a span is there as soon as it ends).
///
/// Keep the `TestTracer` alive until the spans are read: dropping the provider shuts the
/// exporter down, which forgets its spans.
#[derive(Debug)]
pub struct TestTracer {
    provider: SdkTracerProvider,
    exporter: InMemorySpanExporter,
}

impl Default for TestTracer {
    fn default() -> Self {
        Self::new()
    }
}

impl TestTracer {
    /// A new provider with an empty in-memory exporter.
    pub fn new() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_id_generator(baton::XrayIdGenerator::default())
            .with_simple_exporter(exporter.clone())
            .build();
        TestTracer { provider, exporter }
    }

    /// The tracer provider.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// A tracer named `baton-integration`.
    pub fn tracer(&self) -> SdkTracer {
        self.provider.tracer("baton-integration")
    }

    /// Every span ended so far, in the order they ended.
    ///
    /// # Panics
    ///
    /// If the provider cannot be flushed or the exporter read.
    pub fn finished_spans(&self) -> Vec<SpanData> {
        self.provider
            .force_flush()
            .expect("flushing the test tracer");
        self.exporter
            .get_finished_spans()
            .expect("reading the in-memory exporter")
    }

    /// The one ended span called `name`.
    ///
    /// # Panics
    ///
    /// If there is no such span, or more than one.
    pub fn span(&self, name: &str) -> SpanData {
        let spans = self.finished_spans();
        let mut matching = spans.iter().filter(|s| s.name == name);
        match (matching.next(), matching.next()) {
            (Some(span), None) => span.clone(),
            (None, _) => panic!(
                "no finished span named {name:?}; finished: {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            ),
            (Some(_), Some(_)) => panic!("more than one finished span named {name:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_are_valid_and_distinct() {
        let long = "x".repeat(200);
        for prefix in ["sqs-trace", "with space/and.dots", "", long.as_str()] {
            let a = unique_name(prefix);
            let b = unique_name(prefix);
            assert_ne!(a, b);
            for name in [&a, &b] {
                assert!(name.len() <= MAX_UNIQUE_NAME_LEN, "{name} is too long");
                assert!(
                    name.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                    "{name} has a character SQS rejects"
                );
            }
        }
    }

    async fn queue_exists(client: &aws_sdk_sqs::Client, name: &str) -> bool {
        client.get_queue_url().queue_name(name).send().await.is_ok()
    }

    #[tokio::test]
    async fn run_deletes_the_queue_when_the_body_panics() {
        let client = sqs().await;
        let queue = TestQueue::create(&client, "harness-panic").await;
        let name = queue.name.clone();
        assert!(queue_exists(&client, &name).await);
        let outcome = tokio::spawn(queue.run(|_queue| async { panic!("the body fails") })).await;
        let payload = outcome.expect_err("run passes the panic on").into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"the body fails"));
        assert!(
            !queue_exists(&client, &name).await,
            "{name} was left behind"
        );
    }

    #[tokio::test]
    async fn fifo_queues_accept_grouped_sends_without_a_deduplication_id() {
        let client = sqs().await;
        let queue = TestQueue::create_fifo(&client, "harness-fifo").await;
        assert!(queue.name.ends_with(".fifo") && queue.name.len() <= 80);
        let value = queue
            .run(|queue| async move {
                queue
                    .client
                    .send_message()
                    .queue_url(&queue.url)
                    .message_group_id("g")
                    .message_body("first")
                    .send()
                    .await
                    .map_err(|e| DisplayErrorContext(e).to_string())
                    .map(|_| 7)
            })
            .await;
        assert_eq!(value, Ok(7));
    }

    #[test]
    fn probe_reports_a_closed_port() {
        // Port 9 (discard) is closed on test machines; the probe must say so, not hang.
        let error = probe("http://127.0.0.1:9").unwrap_err();
        assert!(error.contains("127.0.0.1:9"), "{error}");
    }
}
