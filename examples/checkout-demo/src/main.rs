//! Baton's demo: one checkout, one trace, through five AWS hops in LocalStack.
//!
//! ```text
//! checkout ──SNS──▶ fulfilment (SqsWorker) ──EventBridge──▶ billing (EventConsumer)
//!          ──Step Functions──▶ SQS task ──▶ shipping (SqsWorker)
//! ```
//!
//! 1. A local trace view ([`baton_trace`]) listens like the X-Ray daemon on UDP.
//! 2. Four services run in this one process, each with its own tracer provider whose spans go
//!    through Baton's X-Ray daemon exporter ([`baton_xray::XrayExporter`]) to that view:
//!    - **checkout** handles `POST /checkout` and publishes `OrderPlaced` to an SNS topic with
//!      Baton's SNS interceptor (the `X-Amzn-Trace-Id` header becomes the subscribed queue's
//!      `AWSTraceHeader`);
//!    - **fulfilment** is an [`SqsWorker`] on the topic's queue; its handler puts an
//!      `OrderAccepted` event on an EventBridge bus (Baton sets `detail.traceHeader`);
//!    - **billing** is an [`SqsWorker`] running an [`EventConsumer`] on the queue the bus's rule
//!      targets; its typed handler starts a Step Functions execution (Baton sets `traceHeader`
//!      and copies it into the input);
//!    - the state machine's `sqs:sendMessage` task hands the header on as the message's
//!      `X-Amzn-Trace-Id` attribute, and **shipping**, one more [`SqsWorker`], finishes the order.
//! 3. The view assembles what the services exported; the demo prints the trace as a waterfall
//!    with the service map, writes it as HTML, and checks it: one trace id, every hop present,
//!    each consumer's parent the producer span of the hop before. It exits 1 if not.
//! 4. Each service writes one log line through `tracing`, with Baton's
//!    [`TraceIdFormat`](baton::logs::TraceIdFormat) adding the trace id it belongs to; the
//!    demo checks that all four carry the trace the view shows, the way a log search finds a
//!    trace's lines.
//!
//! Every AWS resource gets a unique name and is deleted at the end.
//!
//! ```text
//! bash examples/demo.sh          # starts LocalStack, then runs this
//! cargo run -p checkout-demo     # with LocalStack already running
//! ```
//!
//! `BATON_LOCALSTACK_ENDPOINT` overrides the endpoint (default `http://127.0.0.1:4566`);
//! `BATON_DEMO_HTML` the folder for the HTML waterfall (default `target/baton-demo`).

use std::error::Error;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use aws_sdk_sfn::types::StateMachineType;
use aws_sdk_sqs::types::{Message, QueueAttributeName};
use baton::{TracerHandle, XrayIdGenerator};
use baton_eventbridge::EventBridgePropagation;
use baton_sampling::{SamplingRules, XraySampler};
use baton_sfn::SfnPropagation;
use baton_sns::SnsPropagation;
use baton_worker::{CancellationToken, Event, EventConsumer, SqsWorker};
use baton_xray::XrayExporter;
use opentelemetry::trace::{
    FutureExt as _, SpanKind, TraceContextExt, TraceId, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, ShouldSample};
use tokio::sync::Notify;
use tower::service_fn;

type BoxError = Box<dyn Error + Send + Sync>;

/// The IAM role LocalStack is given for the state machine (it checks none).
const ROLE: &str = "arn:aws:iam::000000000000:role/baton-demo";
/// How long the order may take from checkout to shipping.
const ORDER_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\ncheckout-demo: {error}");
            ExitCode::FAILURE
        }
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

    /// Checks that each service wrote one line, carrying `trace` (X-Ray form).
    fn check(&self, trace: &str) -> Result<(), BoxError> {
        let text = String::from_utf8(self.0.lock().unwrap().clone())?;
        let mut problems = Vec::new();
        for service in ["checkout", "fulfilment", "billing", "shipping"] {
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("{service}:")))
                .collect();
            match lines.as_slice() {
                [line] if line.contains(&format!("xray_trace_id={trace} ")) => {}
                [line] => problems.push(format!("{service}'s log line is not in {trace}: {line}")),
                _ => problems.push(format!("{service} wrote {} log lines, not 1", lines.len())),
            }
        }
        if !problems.is_empty() {
            return Err(format!("log lines:\n  - {}", problems.join("\n  - ")).into());
        }
        println!(
            "      4 log lines, one per service, each with xray_trace_id={trace}: a log search \
             for it finds them all"
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

/// One of the demo's services: its own tracer provider, exporting to the trace view.
struct Service {
    provider: SdkTracerProvider,
}

impl Service {
    /// A service whose sampler follows the upstream decision (the consumers here).
    fn new(name: &'static str, daemon: SocketAddr) -> Result<Service, BoxError> {
        Self::with_sampler(name, daemon, baton::XrayParentBased::new(Sampler::AlwaysOn))
    }

    fn with_sampler(
        name: &'static str,
        daemon: SocketAddr,
        sampler: impl ShouldSample + 'static,
    ) -> Result<Service, BoxError> {
        let exporter = XrayExporter::builder()
            .with_daemon_address(daemon.to_string())
            .with_service_name(name)
            .build()?;
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter)
            .with_id_generator(XrayIdGenerator::default())
            .with_sampler(sampler)
            .with_resource(Resource::builder().with_service_name(name).build())
            .build();
        Ok(Service { provider })
    }

    fn tracer(&self) -> TracerHandle {
        TracerHandle::new(self.provider.tracer("baton-demo"))
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

async fn run() -> Result<(), BoxError> {
    let endpoint = endpoint();
    check_reachable(&endpoint)?;

    step(
        1,
        "starting the local trace view (it listens like the X-Ray daemon)",
    );
    let rules_file = concat!(env!("CARGO_MANIFEST_DIR"), "/sampling-rules.json");
    let collector = baton_trace::Collector::bind("127.0.0.1:0".parse()?)?
        .with_sampling_rules(SamplingRules::from_path(rules_file)?);
    let daemon = collector.local_addr();
    let mut view = collector.spawn();
    println!("      segments: udp://{daemon}; sampling rules: http://{daemon} ({rules_file})");

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
    let checkout = Service::with_sampler("checkout", daemon, sampler.parent_based())?;
    let fulfilment = Service::new("fulfilment", daemon)?;
    let billing = Service::new("billing", daemon)?;
    let shipping = Service::new("shipping", daemon)?;

    let config = sdk_config(&endpoint).await;
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
        &view,
        [&checkout, &fulfilment, &billing, &shipping],
    )
    .await;
    step(6, "cleaning up");
    resources.delete(&plain).await;
    view.shutdown().await;
    outcome
}

async fn flow(
    config: &SdkConfig,
    plain: &Clients,
    resources: &mut Resources,
    view: &baton_trace::CollectorHandle,
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
    // Each service's clients carry its own tracer in Baton's interceptor.
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(config)
            .interceptor(
                SnsPropagation::new()
                    .with_tracer(checkout.tracer())
                    .interceptor(),
            )
            .build(),
    );
    let events = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(config)
            .interceptor(
                EventBridgePropagation::new()
                    .with_tracer(fulfilment.tracer())
                    .interceptor(),
            )
            .build(),
    );
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
            let (events, bus) = (events.clone(), bus.clone());
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
                let out = events.put_events().entries(entry).send().await?;
                if out.failed_entry_count > 0 {
                    return Err::<(), BoxError>("PutEvents refused the event".into());
                }
                Ok(())
            }
        })
    };
    let bill = {
        let sfn = sfn.clone();
        EventConsumer::new().on(
            "shop.fulfilment",
            "OrderAccepted",
            move |event: Event<OrderAccepted>| {
                let (sfn, arn) = (sfn.clone(), state_machine.clone());
                async move {
                    tracing::info!(target: "shop", "billing: charged order {}", event.detail.order_id);
                    sfn.start_execution()
                        .state_machine_arn(arn)
                        .input(serde_json::json!({ "order_id": event.detail.order_id }).to_string())
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
        tokio::spawn(demo_worker(plain, &billing_url, bill, billing).run(shutdown.clone())),
        tokio::spawn(demo_worker(plain, &shipping_url, ship, shipping).run(shutdown.clone())),
    ];

    step(4, "checkout: POST /checkout publishes OrderPlaced");
    let started = Instant::now();
    let request = checkout
        .provider
        .tracer("baton-demo")
        .span_builder("POST /checkout")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("url.path", "/checkout"),
        ])
        .start(&checkout.provider.tracer("baton-demo"));
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
    for service in [checkout, fulfilment, billing, shipping] {
        service.provider.force_flush()?;
    }

    step(5, "the trace, as the local trace view assembled it");
    show_and_check(view, trace_id).await?;
    logs.check(&xray_id(trace_id))?;
    sampling_counts(view).await
}

/// Waits for the checkout sampler's first report to the view and prints the per-rule counts.
async fn sampling_counts(view: &baton_trace::CollectorHandle) -> Result<(), BoxError> {
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

/// Prints the trace the view assembled and checks every hop of it.
async fn show_and_check(
    view: &baton_trace::CollectorHandle,
    trace_id: TraceId,
) -> Result<(), BoxError> {
    use baton_trace::NodeKind;

    let id = baton_trace::xray_trace_id(trace_id);
    // 4 segments (checkout, fulfilment, billing, shipping) and 3 calls (SNS, EventBridge, SFN).
    let trace = match view.wait_for_nodes(&id, 7, Duration::from_secs(10)).await {
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

    let mut problems = Vec::new();
    let segment = |name: &str| {
        trace
            .nodes()
            .iter()
            .find(|n| n.kind == NodeKind::Segment && n.name == name)
    };
    match segment("checkout") {
        Some(root) if root.parent_id.is_none() => {}
        Some(_) => problems.push("the checkout segment is not the trace's root".to_string()),
        None => problems.push("no checkout segment".to_string()),
    }
    for (service, upstream, call) in [
        ("fulfilment", "checkout", "SNS"),
        ("billing", "fulfilment", "EventBridge"),
        ("shipping", "billing", "SFN"),
    ] {
        let Some(consumer) = segment(service) else {
            problems.push(format!("no {service} segment"));
            continue;
        };
        match trace.parent(consumer) {
            Some(p)
                if p.kind == NodeKind::Subsegment
                    && p.namespace.as_deref() == Some("aws")
                    && p.name == call
                    && p.service.as_deref() == Some(upstream) => {}
            Some(p) => problems.push(format!(
                "{service}'s parent is {} ({:?}) of {:?}, not {upstream}'s {call} call",
                p.name, p.kind, p.service
            )),
            None => problems.push(format!("{service} has no parent in the trace")),
        }
    }
    let orphans: Vec<&str> = trace.orphans().map(|n| n.name.as_str()).collect();
    if !orphans.is_empty() {
        problems.push(format!("parts without their parent: {orphans:?}"));
    }
    if !problems.is_empty() {
        return Err(format!("the trace is not whole:\n  - {}", problems.join("\n  - ")).into());
    }
    println!(
        "\none trace, {id}: checkout → SNS → fulfilment → EventBridge → billing → Step Functions → shipping"
    );
    Ok(())
}
