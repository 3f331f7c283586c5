//! CPU cost per message of `SqsWorker` against an in-process stub of SQS (so the emulator's
//! speed hides nothing), side by side in one run with a plain receive/handle/delete loop on the
//! same stub.
//!
//! ```text
//! cargo bench -p baton-integration --bench worker_overhead
//! ```
//!
//! The stub answers ReceiveMessage with ten messages (each with an `AWSTraceHeader`),
//! DeleteMessageBatch with success and GetQueueAttributes with a visibility timeout. Both sides
//! run on a single-threaded Tokio runtime, so wall time is CPU time of one core. Rounds
//! alternate the order of the two sides; the figure is the median of the rounds.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use baton::TracerHandle;
use baton_worker::{CancellationToken, SqsWorker};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower::service_fn;

#[derive(Clone, Debug)]
struct SqsStub {
    receive: &'static str,
}

static RECEIVES: AtomicU64 = AtomicU64::new(0);
static DELETES: AtomicU64 = AtomicU64::new(0);

impl HttpConnector for SqsStub {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        match target {
            "AmazonSQS.ReceiveMessage" => RECEIVES.fetch_add(1, Ordering::Relaxed),
            "AmazonSQS.DeleteMessageBatch" => DELETES.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        let body = match target {
            "AmazonSQS.ReceiveMessage" => self.receive,
            "AmazonSQS.DeleteMessageBatch" => r#"{"Successful":[],"Failed":[]}"#,
            "AmazonSQS.ChangeMessageVisibilityBatch" => r#"{"Successful":[],"Failed":[]}"#,
            "AmazonSQS.GetQueueAttributes" => r#"{"Attributes":{"VisibilityTimeout":"30"}}"#,
            _ => "{}",
        };
        let mut response =
            HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::from(body));
        response.headers_mut().insert("x-amzn-requestid", "req-1");
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for SqsStub {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// Ten messages; with `sent`, each also with the `SentTimestamp` a worker asks for when it has
/// delivery facts or a meter (so those modes pay for reading it, as they would from SQS).
fn receive_body(sent: bool) -> &'static str {
    let extra = if sent {
        r#","SentTimestamp":"1764000000000""#
    } else {
        ""
    };
    let messages: Vec<String> = (0..10)
        .map(|i| {
            format!(
                r#"{{"MessageId":"m-{i}","ReceiptHandle":"handle-{i}","MD5OfBody":"x","Body":"order {i}","Attributes":{{"AWSTraceHeader":"Root=1-5759e988-bd862e3fe1be46a99427279{i};Parent=53995c3f42cd8ad8;Sampled=1","ApproximateReceiveCount":"1"{extra}}}}}"#
            )
        })
        .collect();
    Box::leak(format!(r#"{{"Messages":[{}]}}"#, messages.join(",")).into_boxed_str())
}

fn client() -> Client {
    client_with(false)
}

fn client_with(sent: bool) -> Client {
    let stub = SqsStub {
        receive: receive_body(sent),
    };
    let config = aws_sdk_sqs::config::Builder::from(&support::sdk_config())
        .http_client(stub)
        .build();
    Client::from_conf(config)
}

const URL: &str = "http://stub.invalid/000000000000/orders";

async fn plain(client: &Client, total: u64) -> Duration {
    let start = Instant::now();
    let mut done = 0;
    while done < total {
        let out = client
            .receive_message()
            .queue_url(URL)
            .max_number_of_messages(10)
            .wait_time_seconds(20)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        let mut entries = Vec::with_capacity(10);
        for (i, m) in messages.iter().enumerate() {
            std::hint::black_box(m.body());
            entries.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone().unwrap())
                    .build()
                    .unwrap(),
            );
        }
        done += entries.len() as u64;
        client
            .delete_message_batch()
            .queue_url(URL)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
    }
    start.elapsed()
}

/// What a worker run turns on beside its tracer.
#[derive(Clone, Copy, Default)]
struct Options {
    facts: bool,
    meter: bool,
}

async fn worker(client: &Client, total: u64, tracer: TracerHandle) -> Duration {
    worker_with(client, total, tracer, Options::default()).await
}

async fn worker_with(
    client: &Client,
    total: u64,
    tracer: TracerHandle,
    options: Options,
) -> Duration {
    // The handler itself stops the worker after the last message, so nothing polls for the
    // end on the one thread being measured.
    let token = CancellationToken::new();
    let handled = Arc::new(AtomicU64::new(0));
    let handler = {
        let (token, handled) = (token.clone(), handled.clone());
        service_fn(move |m: Message| {
            std::hint::black_box(m.body());
            if handled.fetch_add(1, Ordering::Relaxed) + 1 == total {
                token.cancel();
            }
            async { Ok::<_, std::convert::Infallible>(()) }
        })
    };
    let mut worker = SqsWorker::new(client.clone(), URL, handler)
        .with_tracer(tracer)
        .with_delete_linger(Duration::from_millis(1))
        .with_delivery_facts(options.facts);
    let meters = options.meter.then(|| {
        // Aggregated in memory, as an SDK meter provider does between exports.
        let exporter = opentelemetry_sdk::metrics::InMemoryMetricExporter::default();
        opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_reader(opentelemetry_sdk::metrics::PeriodicReader::builder(exporter).build())
            .build()
    });
    if let Some(provider) = &meters {
        use opentelemetry::metrics::MeterProvider as _;
        worker = worker.with_meter(&provider.meter("bench"));
    }
    if std::env::var_os("BATON_WORKER_BENCH_FIXED").is_some() {
        // The defaults before the worker adapted (issue 22): to tell what adapting costs.
        worker = worker
            .with_concurrency(20)
            .with_pollers(2)
            .with_adaptive(false);
    }
    let start = Instant::now();
    worker.run(token).await.unwrap();
    start.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(support::Discard)
        .with_id_generator(baton::XrayIdGenerator::default())
        .build();
    let traced = TracerHandle::new(provider.tracer("bench"));
    let untraced = TracerHandle::new(opentelemetry::trace::noop::NoopTracer::new());
    const TOTAL: u64 = 20_000;
    const ROUNDS: usize = 7;
    // Instruction counts: one side, N messages, no warm-up, for `instructions.sh`.
    if let Ok(mode) = std::env::var("BATON_WORKER_BENCH_MODE") {
        let n: u64 = std::env::var("BATON_WORKER_BENCH_N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1_000);
        runtime.block_on(async {
            let client = client();
            let sent = client_with(true);
            match mode.as_str() {
                "plain" => plain(&client, n).await,
                "noop" => worker(&client, n, untraced.clone()).await,
                // The options, each on its own and together, with spans recorded.
                "facts" => {
                    let facts = Options {
                        facts: true,
                        ..Options::default()
                    };
                    worker_with(&sent, n, traced.clone(), facts).await
                }
                "meter" => {
                    let meter = Options {
                        meter: true,
                        ..Options::default()
                    };
                    worker_with(&sent, n, traced.clone(), meter).await
                }
                "both" => {
                    let both = Options {
                        facts: true,
                        meter: true,
                    };
                    worker_with(&sent, n, traced.clone(), both).await
                }
                _ => worker(&client, n, traced.clone()).await,
            };
        });
        return;
    }
    runtime.block_on(async {
        let client = client();
        // Warm up.
        plain(&client, 2_000).await;
        worker(&client, 2_000, traced.clone()).await;
        let (r0, d0) = (
            RECEIVES.load(Ordering::Relaxed),
            DELETES.load(Ordering::Relaxed),
        );
        worker(&client, TOTAL, traced.clone()).await;
        let (r1, d1) = (
            RECEIVES.load(Ordering::Relaxed),
            DELETES.load(Ordering::Relaxed),
        );
        let calls_per_message = |n: u64| n as f64 / TOTAL as f64;
        println!(
            "worker calls per message: ReceiveMessage {:.3}, DeleteMessageBatch {:.3}",
            calls_per_message(r1 - r0),
            calls_per_message(d1 - d0)
        );
        let (mut p, mut w, mut u) = (vec![], vec![], vec![]);
        for round in 0..ROUNDS {
            let per = |d: Duration| d.as_secs_f64() * 1e6 / TOTAL as f64;
            if round % 2 == 0 {
                p.push(per(plain(&client, TOTAL).await));
                w.push(per(worker(&client, TOTAL, traced.clone()).await));
                u.push(per(worker(&client, TOTAL, untraced.clone()).await));
            } else {
                u.push(per(worker(&client, TOTAL, untraced.clone()).await));
                w.push(per(worker(&client, TOTAL, traced.clone()).await));
                p.push(per(plain(&client, TOTAL).await));
            }
        }
        let (p, w, u) = (median(p), median(w), median(u));
        println!("per message, median of {ROUNDS} rounds of {TOTAL} messages, one core:");
        println!("  plain loop (receive 10, handle, delete 10)  {p:>6.2} µs");
        println!(
            "  SqsWorker, no-op tracer                      {u:>6.2} µs  (+{:.2} µs)",
            u - p
        );
        println!(
            "  SqsWorker, spans recorded                    {w:>6.2} µs  (+{:.2} µs)",
            w - p
        );
    });
}
