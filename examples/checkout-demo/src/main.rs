//! Baton's demo: one checkout, one trace, through five AWS hops in LocalStack.
//!
//! ```text
//! checkout ──SNS──▶ fulfilment (SqsWorker) ──EventBridge──▶ billing (EventConsumer)
//!          ──Step Functions──▶ SQS task ──▶ shipping (SqsWorker)
//! ```
//!
//! 1. A local trace view ([`baton_trace`]) receives OTLP/HTTP like an OpenTelemetry collector
//!    (and segment documents like the X-Ray daemon), serves X-Ray sampling rules, and serves
//!    its web page (trace list, waterfall, service map) on `http://127.0.0.1:2080/`, or on a
//!    free port if that one is taken.
//! 2. Four services run in this one process, each with its own tracer provider set up by
//!    [`baton_export::Setup`] and exporting OTLP/HTTP (protobuf) to that view, as a service on
//!    AWS exports to the ADOT collector or straight to X-Ray:
//!    - **checkout** handles `POST /checkout` and publishes `OrderPlaced` to an SNS topic with
//!      Baton's SNS interceptor (the `X-Amzn-Trace-Id` header becomes the subscribed queue's
//!      `AWSTraceHeader`);
//!    - **fulfilment** is an [`SqsWorker`] on the topic's queue; its handler puts an
//!      `OrderAccepted` event on an EventBridge bus through Baton's Tower layer (which sets
//!      `detail.traceHeader`), under a Tower retry. The first PutEvents is answered with a
//!      `ThrottlingException`, as a busy EventBridge would (LocalStack never throttles), so
//!      the trace holds one throttled call and the retry that went through;
//!    - **billing** is an [`SqsWorker`] running an [`EventConsumer`] on the queue the bus's rule
//!      targets; its typed handler fails the first delivery (the payment provider "times
//!      out"), the worker leaves the message on the queue, SQS delivers it again a second
//!      later, and the handler then starts a Step Functions execution (Baton sets
//!      `traceHeader` and copies it into the input);
//!    - the state machine's `sqs:sendMessage` task hands the header on as the message's
//!      `X-Amzn-Trace-Id` attribute, and **shipping**, one more [`SqsWorker`], finishes the order.
//! 3. The view assembles what the services exported; the demo prints the trace as a waterfall
//!    with the service map, writes it as HTML, and checks it: one trace id, every hop present
//!    (billing twice, EventBridge called twice), each consumer's parent the producer span of
//!    the hop before, and the map's health: billing with a fault share, the bus with a
//!    throttle share, everything else ok. It exits 1 if not.
//! 4. Each service writes its log lines through `tracing`, with Baton's
//!    [`TraceIdFormat`](baton::logs::TraceIdFormat) adding the trace id they belong to; the
//!    demo checks that all of them carry the trace the view shows, the way a log search finds
//!    a trace's lines.
//! 5. It ends with the page's address. Run in a terminal (stdout a terminal, `CI` unset), it
//!    keeps the page up until Ctrl-C; otherwise it exits, and the page with it.
//!
//! Every AWS resource gets a unique name and is deleted before the demo waits.
//!
//! ```text
//! bash examples/demo.sh          # starts LocalStack, then runs this
//! cargo run -p checkout-demo     # with LocalStack already running
//! ```
//!
//! `BATON_LOCALSTACK_ENDPOINT` overrides the endpoint (default `http://127.0.0.1:4566`);
//! `BATON_DEMO_HTML` the folder for the HTML waterfall (default `target/baton-demo`);
//! `BATON_DEMO_KEEP_VIEW=1` keeps the page up even without a terminal, `=0` never.

use std::error::Error;
use std::io::IsTerminal as _;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_eventbridge::error::{ErrorMetadata, ProvideErrorMetadata as _};
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsInput, PutEventsOutput};
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use aws_sdk_sfn::types::StateMachineType;
use aws_sdk_sqs::types::{Message, QueueAttributeName};
use baton::TracerHandle;
use baton_eventbridge::EventBridgePropagation;
use baton_eventbridge::service::{EventBridgeFuture, EventBridgeService};
use baton_sampling::{SamplingRules, XraySampler};
use baton_sfn::SfnPropagation;
use baton_sns::SnsPropagation;
use baton_trace::{CollectorHandle, MapNodeKind, ServiceGraph, Status};
use baton_worker::{CancellationToken, Event, EventConsumer, SqsWorker};
use opentelemetry::trace::{FutureExt as _, SpanKind, TraceContextExt, TraceId, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, ShouldSample};
use tokio::sync::Notify;
use tower::{Service as _, ServiceBuilder, ServiceExt as _, service_fn};

type BoxError = Box<dyn Error + Send + Sync>;

/// The IAM role LocalStack is given for the state machine (it checks none).
const ROLE: &str = "arn:aws:iam::000000000000:role/baton-demo";
/// How long the order may take from checkout to shipping.
const ORDER_TIMEOUT: Duration = Duration::from_secs(60);
/// Where the trace view's page is served: `baton-trace serve`'s address, so a bookmark works
/// for both. A free port is taken if it is in use.
const PAGE_ADDR: &str = "127.0.0.1:2080";
/// The error code the first PutEvents is answered with: one the X-Ray exporter counts as a
/// throttle.
const THROTTLING: &str = "ThrottlingException";

#[tokio::main]
async fn main() -> ExitCode {
    let endpoint = endpoint();
    if let Err(error) = check_reachable(&endpoint) {
        eprintln!("checkout-demo: {error}");
        return ExitCode::FAILURE;
    }
    step(
        1,
        "starting the local trace view (it receives OTLP like a collector and serves a page)",
    );
    let mut view = match start_view() {
        Ok(view) => view,
        Err(error) => {
            eprintln!("\ncheckout-demo: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = run(&endpoint, &view).await;
    if let Err(error) = &outcome {
        eprintln!("\ncheckout-demo: {error}");
    }
    offer_page(&view).await;
    view.shutdown().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Binds the trace view: UDP and the sampling rules on a free port, the page on
/// [`PAGE_ADDR`] or, if that is taken, on a free port too.
fn start_view() -> Result<CollectorHandle, BoxError> {
    let rules_file = concat!(env!("CARGO_MANIFEST_DIR"), "/sampling-rules.json");
    let rules = SamplingRules::from_path(rules_file)?;
    // `with_page` gives the collector up when the port is taken, so bind a fresh one to retry.
    let bind = || -> Result<baton_trace::Collector, BoxError> {
        let collector = baton_trace::Collector::bind("127.0.0.1:0".parse()?)?
            .with_otlp("127.0.0.1:0".parse()?)?;
        Ok(collector.with_sampling_rules(rules.clone()))
    };
    let collector = match bind()?.with_page(PAGE_ADDR.parse()?) {
        Ok(collector) => collector,
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            println!("      {PAGE_ADDR} is in use; the page takes a free port instead");
            bind()?.with_page("127.0.0.1:0".parse()?)?
        }
        Err(error) => return Err(format!("cannot serve the page on {PAGE_ADDR}: {error}").into()),
    };
    let view = collector.spawn();
    let daemon = view.local_addr();
    let otlp = view
        .otlp_addr()
        .ok_or("the trace view does not receive OTLP")?;
    println!("      OTLP: http://{otlp}/v1/traces; sampling rules: http://{daemon} ({rules_file})");
    if let Some(page) = view.page_addr() {
        println!("      page: http://{page}/ (live while the demo runs)");
    }
    Ok(view)
}

/// Whether to keep the page up after the demo: someone at a terminal can open it, while CI
/// and pipes must not wait. `BATON_DEMO_KEEP_VIEW=1` or `=0` decides instead.
fn keep_page() -> bool {
    match std::env::var("BATON_DEMO_KEEP_VIEW")
        .as_deref()
        .map(str::trim)
    {
        Ok("1") => true,
        Ok("0") => false,
        _ => std::io::stdout().is_terminal() && std::env::var_os("CI").is_none(),
    }
}

/// Ends the demo with the page's address; keeps the page up until Ctrl-C if
/// [`keep_page`] says so.
async fn offer_page(view: &CollectorHandle) {
    let Some(page) = view.page_addr() else {
        return;
    };
    let url = format!("http://{page}/");
    println!();
    if !keep_page() {
        println!("the trace view's page was served at {url} while the demo ran; it stops now.");
        println!(
            "(In a terminal the demo keeps it open until Ctrl-C; BATON_DEMO_KEEP_VIEW=1 forces that.)"
        );
        return;
    }
    println!("══ the trace view is open: {url}");
    println!("══ open it in a browser: the trace list, the waterfall, and the service map whose");
    println!("══ health rings show billing's fault (red) and the bus's throttle (purple).");
    println!("══ Press Ctrl-C to stop it.");
    match tokio::signal::ctrl_c().await {
        Ok(()) => println!("\nstopping the trace view"),
        Err(error) => eprintln!("cannot wait for Ctrl-C ({error}); stopping the trace view"),
    }
}

/// The services' log lines: printed (indented like the rest of the demo's output) and kept,
/// so the demo can check the trace ids they carry.
#[derive(Clone, Default)]
struct LogLines(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        print!("      {}", String::from_utf8_lossy(buf));
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogLines {
    type Writer = LogLines;
    fn make_writer(&'a self) -> LogLines {
        self.clone()
    }
}

impl LogLines {
    /// Installs a subscriber that writes the `shop` target's events, with trace ids, here.
    fn install() -> Result<Self, BoxError> {
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::layer::SubscriberExt;

        let lines = LogLines::default();
        let format = tracing_subscriber::fmt::format()
            .without_time()
            .with_level(false)
            .with_target(false);
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(lines.clone())
            .event_format(baton::logs::TraceIdFormat::new(format))
            .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                m.target() == "shop"
            }));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))?;
        Ok(lines)
    }

    /// Checks that each service wrote its lines (billing two: its failed try and its
    /// retry), all carrying `trace` (X-Ray form).
    fn check(&self, trace: &str) -> Result<(), BoxError> {
        let text = String::from_utf8(self.0.lock().unwrap().clone())?;
        let mut problems = Vec::new();
        let expected = [
            ("checkout", 1),
            ("fulfilment", 1),
            ("billing", 2),
            ("shipping", 1),
        ];
        for (service, count) in expected {
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("{service}:")))
                .collect();
            if lines.len() != count {
                problems.push(format!(
                    "{service} wrote {} log lines, not {count}",
                    lines.len()
                ));
            }
            for line in lines {
                if !line.contains(&format!("xray_trace_id={trace} ")) {
                    problems.push(format!("{service}'s log line is not in {trace}: {line}"));
                }
            }
        }
        if !problems.is_empty() {
            return Err(format!("log lines:\n  - {}", problems.join("\n  - ")).into());
        }
        let total: usize = expected.iter().map(|(_, count)| count).sum();
        println!(
            "      {total} log lines (billing's two: the failed try and the retry), each with \
             xray_trace_id={trace}: a log search for it finds them all"
        );
        Ok(())
    }
}

fn step(n: u32, text: &str) {
    println!("[{n}/6] {text}");
}

fn endpoint() -> String {
    std::env::var("BATON_LOCALSTACK_ENDPOINT")
        .ok()
        .map(|v| v.trim().trim_end_matches('/').to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "http://127.0.0.1:4566".to_string())
}

fn check_reachable(endpoint: &str) -> Result<(), BoxError> {
    let hostport = endpoint
        .split("://")
        .nth(1)
        .unwrap_or(endpoint)
        .split('/')
        .next()
        .unwrap_or_default();
    let reachable = hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    if reachable {
        Ok(())
    } else {
        Err(format!(
            "LocalStack does not answer at {endpoint}; start it with `bash localstack/up.sh` \
             (or run the whole demo with `bash examples/demo.sh`)"
        )
        .into())
    }
}

async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::from_keys("test", "test", None))
        .endpoint_url(endpoint)
        .load()
        .await
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}-{:x}-{}",
        nanos & 0xffff_ffff_ffff,
        std::process::id()
    )
}

/// One of the demo's services: its own tracer provider, exporting OTLP to the trace view.
struct Service {
    telemetry: baton_export::Telemetry,
}

impl Service {
    /// A service whose sampler follows the upstream decision (the consumers here).
    fn new(name: &'static str, otlp: SocketAddr) -> Result<Service, BoxError> {
        Self::with_sampler(name, otlp, baton::XrayParentBased::new(Sampler::AlwaysOn))
    }

    fn with_sampler(
        name: &'static str,
        otlp: SocketAddr,
        sampler: impl ShouldSample + 'static,
    ) -> Result<Service, BoxError> {
        // What a service on AWS writes with `Setup::new().install()` and the OTEL_* variables;
        // here four services share one process, so each builds its own provider.
        let telemetry = baton_export::Setup::new()
            .with_service_name(name)
            .with_aws_detection(false)
            .with_sampler(sampler)
            .with_exporter(
                baton_export::Exporter::otlp().with_endpoint(format!("http://{otlp}/v1/traces")),
            )
            .build()?;
        Ok(Service { telemetry })
    }

    fn tracer(&self) -> TracerHandle {
        TracerHandle::new(self.telemetry.tracer("baton-demo"))
    }
}

/// What the demo creates in LocalStack, deleted by [`Resources::delete`].
#[derive(Default)]
struct Resources {
    queues: Vec<String>,
    topic: Option<String>,
    bus: Option<(String, String)>,
    state_machine: Option<String>,
}

struct Clients {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    events: aws_sdk_eventbridge::Client,
    sfn: aws_sdk_sfn::Client,
}

impl Resources {
    async fn queue(
        &mut self,
        sqs: &aws_sdk_sqs::Client,
        name: &str,
    ) -> Result<(String, String), BoxError> {
        let url = sqs
            .create_queue()
            .queue_name(unique(name))
            .send()
            .await?
            .queue_url
            .ok_or("CreateQueue returned no URL")?;
        self.queues.push(url.clone());
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or("GetQueueAttributes returned no ARN")?;
        Ok((url, arn))
    }

    async fn delete(self, c: &Clients) {
        if let Some(arn) = self.state_machine {
            let _ = c
                .sfn
                .delete_state_machine()
                .state_machine_arn(arn)
                .send()
                .await;
        }
        if let Some((bus, rule)) = self.bus {
            let _ = c
                .events
                .remove_targets()
                .rule(&rule)
                .event_bus_name(&bus)
                .ids("billing")
                .send()
                .await;
            let _ = c
                .events
                .delete_rule()
                .name(&rule)
                .event_bus_name(&bus)
                .send()
                .await;
            let _ = c.events.delete_event_bus().name(&bus).send().await;
        }
        if let Some(topic) = self.topic {
            let _ = c.sns.delete_topic().topic_arn(topic).send().await;
        }
        for url in self.queues {
            let _ = c.sqs.delete_queue().queue_url(url).send().await;
        }
    }
}

#[derive(serde::Deserialize)]
struct OrderAccepted {
    order_id: String,
}

async fn run(endpoint: &str, view: &CollectorHandle) -> Result<(), BoxError> {
    let daemon = view.local_addr();
    let otlp = view
        .otlp_addr()
        .ok_or("the trace view does not receive OTLP")?;
    // Checkout decides whether a trace is recorded, by the rules the view serves (X-Ray's
    // centralized sampling); the other services follow its decision.
    let sampler = XraySampler::builder()
        .with_service_name("checkout")
        .with_centralized_rules(format!("http://{daemon}"))
        .with_targets_interval(Duration::from_secs(1))
        .build()?;
    let checkout_request = [
        KeyValue::new("http.request.method", "POST"),
        KeyValue::new("url.path", "/checkout"),
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    while sampler.matching_rule(&checkout_request).as_deref() != Some("checkout") {
        if Instant::now() > deadline {
            return Err("the sampler did not get the rules the trace view serves".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("      checkout samples POST /checkout by the served rule `checkout`");
    let checkout = Service::with_sampler("checkout", otlp, sampler.parent_based())?;
    let fulfilment = Service::new("fulfilment", otlp)?;
    let billing = Service::new("billing", otlp)?;
    let shipping = Service::new("shipping", otlp)?;

    let config = sdk_config(endpoint).await;
    let plain = Clients {
        sqs: aws_sdk_sqs::Client::new(&config),
        sns: aws_sdk_sns::Client::new(&config),
        events: aws_sdk_eventbridge::Client::new(&config),
        sfn: aws_sdk_sfn::Client::new(&config),
    };
    let mut resources = Resources::default();
    let outcome = flow(
        &config,
        &plain,
        &mut resources,
        view,
        [&checkout, &fulfilment, &billing, &shipping],
    )
    .await;
    step(6, "cleaning up");
    resources.delete(&plain).await;
    outcome
}

async fn flow(
    config: &SdkConfig,
    plain: &Clients,
    resources: &mut Resources,
    view: &CollectorHandle,
    [checkout, fulfilment, billing, shipping]: [&Service; 4],
) -> Result<(), BoxError> {
    let logs = LogLines::install()?;
    step(
        2,
        "creating the topic, queues, bus, rule and state machine in LocalStack",
    );
    let (fulfilment_url, fulfilment_arn) = resources.queue(&plain.sqs, "fulfilment").await?;
    let (billing_url, billing_arn) = resources.queue(&plain.sqs, "billing").await?;
    let (shipping_url, _) = resources.queue(&plain.sqs, "shipping").await?;
    let topic = plain
        .sns
        .create_topic()
        .name(unique("orders"))
        .send()
        .await?
        .topic_arn
        .ok_or("CreateTopic returned no ARN")?;
    resources.topic = Some(topic.clone());
    plain
        .sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&fulfilment_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await?;
    let bus = unique("shop");
    let rule = unique("accepted");
    plain.events.create_event_bus().name(&bus).send().await?;
    resources.bus = Some((bus.clone(), rule.clone()));
    plain
        .events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(r#"{"source":["shop.fulfilment"],"detail-type":["OrderAccepted"]}"#)
        .send()
        .await?;
    plain
        .events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(Target::builder().id("billing").arn(&billing_arn).build()?)
        .send()
        .await?;
    let definition = serde_json::json!({
        "StartAt": "Ship",
        "States": { "Ship": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage",
            "Parameters": {
                "QueueUrl": shipping_url,
                "MessageBody.$": "$.order_id",
                "MessageAttributes": { "X-Amzn-Trace-Id": {
                    "DataType": "String", "StringValue.$": "$.traceHeader"
                }}
            },
            "End": true
        }}
    });
    let state_machine = plain
        .sfn
        .create_state_machine()
        .name(unique("ship-order"))
        .definition(definition.to_string())
        .role_arn(ROLE)
        .r#type(StateMachineType::Standard)
        .send()
        .await?
        .state_machine_arn;
    resources.state_machine = Some(state_machine.clone());

    step(
        3,
        "starting three workers: fulfilment, billing (EventConsumer), shipping",
    );
    // Each service's clients carry its own tracer in Baton's interceptor, or (fulfilment's
    // EventBridge) in Baton's Tower layer.
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(config)
            .interceptor(
                SnsPropagation::new()
                    .with_tracer(checkout.tracer())
                    .interceptor(),
            )
            .build(),
    );
    // The retry sits above Baton's layer, so each attempt is a call with a span of its own:
    // the throttled one stays in the trace beside the one that went through.
    let events = ServiceBuilder::new()
        .retry(RetryThrottled { retries_left: 2 })
        .layer(
            EventBridgePropagation::new()
                .with_tracer(fulfilment.tracer())
                .layer(),
        )
        .service(ThrottleFirstCall::new(EventBridgeService::new(
            plain.events.clone(),
        )));
    let sfn = aws_sdk_sfn::Client::from_conf(
        aws_sdk_sfn::config::Builder::from(config)
            .interceptor(
                SfnPropagation::new()
                    .with_tracer(billing.tracer())
                    .with_input_field("traceHeader")
                    .interceptor(),
            )
            .build(),
    );
    let shutdown = CancellationToken::new();
    let shipped = Arc::new(Notify::new());

    let fulfil = {
        let (events, bus) = (events.clone(), bus.clone());
        service_fn(move |message: Message| {
            let (mut events, bus) = (events.clone(), bus.clone());
            async move {
                let order: serde_json::Value =
                    serde_json::from_str(message.body().unwrap_or("{}"))?;
                tracing::info!(target: "shop", "fulfilment: accepted order {}", order["order_id"]);
                let entry = PutEventsRequestEntry::builder()
                    .event_bus_name(&bus)
                    .source("shop.fulfilment")
                    .detail_type("OrderAccepted")
                    .detail(serde_json::json!({ "order_id": order["order_id"] }).to_string())
                    .build();
                let input = PutEventsInput::builder().entries(entry).build()?;
                let out = events.ready().await?.call(input).await?;
                if out.failed_entry_count > 0 {
                    return Err::<(), BoxError>("PutEvents refused the event".into());
                }
                Ok(())
            }
        })
    };
    let bill = {
        let sfn = sfn.clone();
        // The payment provider fails billing's first try; SQS delivers the event again.
        let provider_failed = Arc::new(AtomicBool::new(false));
        EventConsumer::new().on(
            "shop.fulfilment",
            "OrderAccepted",
            move |event: Event<OrderAccepted>| {
                let (sfn, arn) = (sfn.clone(), state_machine.clone());
                let fail = !provider_failed.swap(true, Ordering::SeqCst);
                async move {
                    let order = &event.detail.order_id;
                    if fail {
                        tracing::info!(
                            target: "shop",
                            "billing: the payment provider timed out on order {order}; SQS will deliver it again"
                        );
                        return Err::<_, BoxError>("the payment provider timed out".into());
                    }
                    tracing::info!(target: "shop", "billing: charged order {order}");
                    sfn.start_execution()
                        .state_machine_arn(arn)
                        .input(serde_json::json!({ "order_id": order }).to_string())
                        .send()
                        .await?;
                    Ok::<_, BoxError>(())
                }
            },
        )
    };
    let ship = {
        let shipped = shipped.clone();
        service_fn(move |message: Message| {
            tracing::info!(
                target: "shop",
                "shipping: shipped order {}",
                message.body().unwrap_or_default()
            );
            shipped.notify_one();
            async { Ok::<_, std::convert::Infallible>(()) }
        })
    };
    let workers = [
        tokio::spawn(demo_worker(plain, &fulfilment_url, fulfil, fulfilment).run(shutdown.clone())),
        // A failed delivery comes back after 1 s rather than the queue's 30 s.
        tokio::spawn(
            demo_worker(plain, &billing_url, bill, billing)
                .with_retry_backoff(Duration::from_secs(1), Duration::from_secs(1))
                .run(shutdown.clone()),
        ),
        tokio::spawn(demo_worker(plain, &shipping_url, ship, shipping).run(shutdown.clone())),
    ];

    step(4, "checkout: POST /checkout publishes OrderPlaced");
    let started = Instant::now();
    let request = checkout
        .telemetry
        .tracer("baton-demo")
        .span_builder("POST /checkout")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("url.path", "/checkout"),
        ])
        .start(&checkout.telemetry.tracer("baton-demo"));
    let cx = Context::new().with_span(request);
    let trace_id = cx.span().span_context().trace_id();
    {
        let _in_request = cx.clone().attach();
        tracing::info!(target: "shop", "checkout: placed order 42");
    }
    sns.publish()
        .topic_arn(&topic)
        .message(r#"{"order_id":"42"}"#)
        .send()
        .with_context(cx.clone())
        .await?;
    cx.span().end();
    println!("      trace {}", xray_id(trace_id));

    let arrived = tokio::time::timeout(ORDER_TIMEOUT, shipped.notified()).await;
    shutdown.cancel();
    for worker in workers {
        worker.await??;
    }
    if arrived.is_err() {
        return Err(format!("the order was not shipped within {ORDER_TIMEOUT:?}").into());
    }
    println!(
        "      order shipped {:.1} s after checkout",
        started.elapsed().as_secs_f64()
    );
    // Send what the batch processors hold (they would within 5 s anyway), off the runtime's
    // threads since flushing blocks.
    for service in [checkout, fulfilment, billing, shipping] {
        let provider = service.telemetry.provider().clone();
        tokio::task::spawn_blocking(move || provider.force_flush()).await??;
    }

    step(5, "the trace, as the local trace view assembled it");
    show_and_check(view, trace_id).await?;
    check_health(view)?;
    logs.check(&xray_id(trace_id))?;
    sampling_counts(view).await
}

/// Waits for the checkout sampler's first report to the view and prints the per-rule counts.
async fn sampling_counts(view: &CollectorHandle) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let counts = view.sampling_stats();
        let checkout = counts.iter().find(|c| c.rule == "checkout");
        if let Some(rule) = checkout.filter(|c| c.requests >= 1) {
            println!("\nsampling, as reported to the trace view:");
            for c in &counts {
                println!(
                    "  rule {:<14} {} requests, {} sampled, {} borrowed",
                    c.rule, c.requests, c.sampled, c.borrowed
                );
            }
            if rule.sampled == 0 {
                return Err("the checkout rule sampled nothing".into());
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("the checkout sampler never reported its counts to the trace view".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// EventBridge for the fulfilment service: the real client, except that the first PutEvents
/// of the run is answered as a busy EventBridge answers one, with a `ThrottlingException`,
/// without reaching LocalStack (which never throttles).
#[derive(Clone, Debug)]
struct ThrottleFirstCall {
    inner: EventBridgeService,
    throttled: Arc<AtomicBool>,
}

impl ThrottleFirstCall {
    fn new(inner: EventBridgeService) -> Self {
        ThrottleFirstCall {
            inner,
            throttled: Arc::default(),
        }
    }
}

impl tower::Service<PutEventsInput> for ThrottleFirstCall {
    type Response = PutEventsOutput;
    type Error = aws_sdk_eventbridge::Error;
    type Future = EventBridgeFuture;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, input: PutEventsInput) -> Self::Future {
        if self.throttled.swap(true, Ordering::SeqCst) {
            return self.inner.call(input);
        }
        // What the SDK makes of EventBridge's throttling answer to PutEvents: an error the
        // operation does not model, known by its code.
        let meta = ErrorMetadata::builder()
            .code(THROTTLING)
            .message("Rate exceeded")
            .build();
        let error = aws_sdk_eventbridge::Error::from(PutEventsError::generic(meta));
        Box::pin(std::future::ready(Err(error)))
    }
}

/// Tries a throttled call again after a short pause, a few times at most; keeps any other
/// outcome.
#[derive(Clone, Debug)]
struct RetryThrottled {
    retries_left: u32,
}

impl tower::retry::Policy<PutEventsInput, PutEventsOutput, aws_sdk_eventbridge::Error>
    for RetryThrottled
{
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _input: &mut PutEventsInput,
        result: &mut Result<PutEventsOutput, aws_sdk_eventbridge::Error>,
    ) -> Option<Self::Future> {
        match result {
            Err(error) if error.code() == Some(THROTTLING) && self.retries_left > 0 => {
                self.retries_left -= 1;
                Some(tokio::time::sleep(Duration::from_millis(100)))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, input: &PutEventsInput) -> Option<PutEventsInput> {
        Some(input.clone())
    }
}

fn demo_worker<S>(plain: &Clients, url: &str, handler: S, service: &Service) -> SqsWorker<S> {
    SqsWorker::new(plain.sqs.clone(), url, handler)
        .with_tracer(service.tracer())
        .with_wait_time(Duration::from_secs(1))
        .with_shutdown_timeout(Duration::from_secs(10))
}

/// X-Ray's form of a trace id: `1-{8 hex}-{24 hex}`.
fn xray_id(id: TraceId) -> String {
    let hex = id.to_string();
    format!("1-{}-{}", &hex[..8], &hex[8..])
}

/// The trace's parts: five segments (checkout, fulfilment, billing's failed delivery and its
/// redelivery, shipping) and four calls (SNS, EventBridge's throttled attempt and its retry,
/// SFN).
const TRACE_NODES: usize = 13;

/// Prints the trace the view assembled and checks every hop of it.
async fn show_and_check(view: &CollectorHandle, trace_id: TraceId) -> Result<(), BoxError> {
    use baton_trace::{Node, NodeKind};

    let id = baton_trace::xray_trace_id(trace_id);
    let trace = match view
        .wait_for_nodes(&id, TRACE_NODES, Duration::from_secs(10))
        .await
    {
        Some(trace) => trace,
        None => view
            .trace(&id)
            .ok_or_else(|| format!("the trace view received nothing of trace {id}"))?,
    };
    println!();
    print!("{}", baton_trace::render_waterfall(&trace, 110));
    println!();
    println!("service map:");
    print!("{}", baton_trace::render_service_map(&trace));
    let dir = std::env::var("BATON_DEMO_HTML").unwrap_or_else(|_| "target/baton-demo".into());
    std::fs::create_dir_all(&dir)?;
    let path = std::path::Path::new(&dir).join(format!("{id}.html"));
    baton_trace::write_html(&trace, &path)?;
    println!("\n      waterfall as HTML: {}", path.display());

    // Each service's segments, and each service's calls of one AWS service, by start time.
    fn by_start(mut found: Vec<&Node>) -> Vec<&Node> {
        found.sort_by(|a, b| a.start.total_cmp(&b.start));
        found
    }
    let segments = |service: &str| {
        by_start(
            trace
                .nodes()
                .iter()
                .filter(|n| n.kind == NodeKind::Segment && n.name == service)
                .collect(),
        )
    };
    let calls = |service: &str, call: &str| {
        by_start(
            trace
                .nodes()
                .iter()
                .filter(|n| {
                    n.kind == NodeKind::Subsegment
                        && n.namespace.as_deref() == Some("aws")
                        && n.name == call
                        && n.service.as_deref() == Some(service)
                })
                .collect(),
        )
    };
    let (checkout, fulfilment, billing, shipping) = (
        segments("checkout"),
        segments("fulfilment"),
        segments("billing"),
        segments("shipping"),
    );
    let (sns, events, sfn) = (
        calls("checkout", "SNS"),
        calls("fulfilment", "EventBridge"),
        calls("billing", "SFN"),
    );
    // The workers' settle calls: each delete, and billing's retry delay after its failure.
    let (fulfilment_sqs, billing_sqs, shipping_sqs) = (
        calls("fulfilment", "SQS"),
        calls("billing", "SQS"),
        calls("shipping", "SQS"),
    );

    let mut problems = Vec::new();
    if trace.len() != TRACE_NODES {
        problems.push(format!("{} parts, not {TRACE_NODES}", trace.len()));
    }
    #[rustfmt::skip]
    let counts = [
        ("checkout segments",                 checkout.len(),   1),
        ("fulfilment segments",               fulfilment.len(), 1),
        ("billing segments (a failed delivery and its redelivery)", billing.len(), 2),
        ("shipping segments",                 shipping.len(),   1),
        ("SNS calls from checkout",           sns.len(),        1),
        ("EventBridge calls from fulfilment (a throttled attempt and its retry)", events.len(), 2),
        ("SFN calls from billing",            sfn.len(),        1),
        ("SQS settle calls from fulfilment (its delete)", fulfilment_sqs.len(), 1),
        ("SQS settle calls from billing (a retry delay, a delete)", billing_sqs.len(), 2),
        ("SQS settle calls from shipping (its delete)", shipping_sqs.len(), 1),
    ];
    for (what, found, expected) in counts {
        if found != expected {
            problems.push(format!("{found} {what}, not {expected}"));
        }
    }
    if !problems.is_empty() {
        return Err(format!("the trace is not whole:\n  - {}", problems.join("\n  - ")).into());
    }
    let (checkout, fulfilment, shipping, sns, sfn) =
        (checkout[0], fulfilment[0], shipping[0], sns[0], sfn[0]);
    let (throttled, retried) = (events[0], events[1]);
    let (failed, redelivered) = (billing[0], billing[1]);

    if checkout.parent_id.is_some() {
        problems.push("the checkout segment is not the trace's root".to_string());
    }
    // Both deliveries to billing continue the attempt that reached EventBridge; the
    // throttled one never left the process, so nothing continues it.
    #[rustfmt::skip]
    let parents = [
        (fulfilment,  sns,         "fulfilment under checkout's SNS call"),
        (throttled,   fulfilment,  "the throttled PutEvents in fulfilment's segment"),
        (retried,     fulfilment,  "the retried PutEvents in fulfilment's segment"),
        (failed,      retried,     "billing's failed delivery under the PutEvents that went through"),
        (redelivered, retried,     "billing's redelivery under the PutEvents that went through"),
        (sfn,         redelivered, "the SFN call in billing's redelivery"),
        (shipping,    sfn,         "shipping under billing's SFN call"),
        (fulfilment_sqs[0], fulfilment, "fulfilment's delete in its segment"),
        (shipping_sqs[0],   shipping,   "shipping's delete in its segment"),
    ];
    for (child, parent, what) in parents {
        match trace.parent(child) {
            Some(p) if p.id == parent.id => {}
            Some(p) => problems.push(format!(
                "expected {what}, found its parent is {} ({:?}) of {:?}",
                p.name, p.kind, p.service
            )),
            None => problems.push(format!("expected {what}, found no parent")),
        }
    }
    // Exactly two parts went wrong, each the way X-Ray tells it (a throttle is an error too).
    for node in trace.nodes() {
        let expected = if node.id == throttled.id {
            Status::Throttle
        } else if node.id == failed.id {
            Status::Fault
        } else {
            Status::Ok
        };
        if Status::of(node) != expected || (expected == Status::Throttle && !node.error) {
            problems.push(format!(
                "{} of {:?} is not {expected} (error {}, throttle {}, fault {})",
                node.name, node.service, node.error, node.throttle, node.fault
            ));
        }
    }
    if !throttled.exceptions.iter().any(|e| e.contains(THROTTLING)) {
        problems.push(format!(
            "the throttled PutEvents does not name {THROTTLING}: {:?}",
            throttled.exceptions
        ));
    }
    let orphans: Vec<&str> = trace.orphans().map(|n| n.name.as_str()).collect();
    if !orphans.is_empty() {
        problems.push(format!("parts without their parent: {orphans:?}"));
    }
    if !problems.is_empty() {
        return Err(format!("the trace is not whole:\n  - {}", problems.join("\n  - ")).into());
    }
    println!(
        "\none trace, {id}: checkout → SNS → fulfilment → EventBridge (throttled, retried) → \
         billing (failed, redelivered) → Step Functions → shipping"
    );
    Ok(())
}

/// Checks the service map of every trace the view holds, as its page draws it: billing's
/// ring has a fault share, the bus's a throttle share, everything else is all ok, and the
/// edges count every call and delivery.
fn check_health(view: &CollectorHandle) -> Result<(), BoxError> {
    let graph = ServiceGraph::from_traces(&view.traces());
    // A service by its name, a resource by its kind (their names are unique per run).
    let label = |id: &str| match graph.node(id) {
        Some(node) if node.kind == MapNodeKind::Service => node.name.clone(),
        Some(node) => node.kind.to_string(),
        None => id.to_string(),
    };
    let outcomes = |health: &baton_trace::Health| {
        Status::ALL
            .into_iter()
            .filter(|s| health.count(*s) > 0)
            .map(|s| format!("{} {s}", health.count(s)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("\nthe page's service map, requests by outcome (the health rings):");
    let mut nodes = Vec::new();
    for node in graph.nodes() {
        println!(
            "  {:<13} {:<32} {}",
            node.kind.as_str(),
            node.name,
            outcomes(&node.health)
        );
        nodes.push(format!("{}: {}", label(&node.id), outcomes(&node.health)));
    }
    let mut edges = Vec::new();
    for edge in graph.edges() {
        edges.push(format!(
            "{} → {}: {}",
            label(&edge.from),
            label(&edge.to),
            outcomes(&edge.health)
        ));
    }

    let mut problems = Vec::new();
    if graph.traces() != 1 {
        problems.push(format!("the view holds {} traces, not 1", graph.traces()));
    }
    match graph.node("service:billing") {
        Some(billing) if billing.health.share(Status::Fault) > 0.0 => {}
        Some(billing) => problems.push(format!("billing has no fault: {:?}", billing.health)),
        None => problems.push("the map has no billing node".to_string()),
    }
    if !graph
        .nodes()
        .iter()
        .any(|n| n.health.share(Status::Throttle) > 0.0)
    {
        problems.push("no node of the map has a throttle".to_string());
    }
    #[rustfmt::skip]
    let expected_nodes = [
        "checkout: 1 ok", "fulfilment: 1 ok", "billing: 1 ok, 1 fault", "shipping: 1 ok",
        "topic: 1 ok", "bus: 1 ok, 1 throttle", "state-machine: 1 ok",
        "queue: 1 ok", "queue: 2 ok", "queue: 1 ok",
    ];
    #[rustfmt::skip]
    let expected_edges = [
        "checkout → topic: 1 ok",
        "topic → fulfilment: 1 ok",
        "fulfilment → bus: 1 ok, 1 throttle",
        "bus → billing: 1 ok, 1 fault",
        "billing → state-machine: 1 ok",
        "state-machine → shipping: 1 ok",
        // The workers' settle calls (deletes; billing's retry delay) on their queues.
        "fulfilment → queue: 1 ok",
        "billing → queue: 2 ok",
        "shipping → queue: 1 ok",
    ];
    for (what, mut found, expected) in [
        ("nodes", nodes, &expected_nodes[..]),
        ("edges", edges, &expected_edges[..]),
    ] {
        let mut expected: Vec<&str> = expected.to_vec();
        found.sort();
        expected.sort();
        if found != expected {
            problems.push(format!("its {what} are {found:?}, not {expected:?}"));
        }
    }
    if !problems.is_empty() {
        return Err(format!("the service map is off:\n  - {}", problems.join("\n  - ")).into());
    }
    println!(
        "      billing's ring: {:.0} % fault; the bus's: {:.0} % throttle; the rest all ok",
        graph
            .node("service:billing")
            .map_or(0.0, |n| n.health.share(Status::Fault) * 100.0),
        graph
            .nodes()
            .iter()
            .find(|n| n.kind == MapNodeKind::Bus)
            .map_or(0.0, |n| n.health.share(Status::Throttle) * 100.0),
    );
    Ok(())
}
