//! One call sets up OpenTelemetry tracing the way a Rust service on AWS needs it, and sends
//! its spans where AWS now wants them.
//!
//! AWS put the X-Ray SDKs and daemon in maintenance (support ends 2027-02-25) and points to
//! OpenTelemetry: OTLP to a collector (the ADOT collector, the CloudWatch agent, any
//! OpenTelemetry Collector), or OTLP/HTTP straight to X-Ray's endpoint, signed with SigV4.
//! [`Setup`] builds and installs a tracer provider for either, or for the daemon:
//!
//! - X-Ray-valid trace ids ([`baton::XrayIdGenerator`]: X-Ray refuses ids whose first 32
//!   bits are not a recent time);
//! - the X-Ray sampler ([`baton_sampling::XraySampler`]): centralized rules from the
//!   collector or daemon (`AWS_XRAY_DAEMON_ADDRESS`, default `127.0.0.1:2000`) when it serves
//!   them, local rules otherwise, X-Ray's default (one trace a second, then 5 %) without any;
//!   an upstream `Sampled=1`/`Sampled=0` is followed. `OTEL_TRACES_SAMPLER` picks one of the
//!   standard samplers instead;
//! - the X-Ray + W3C propagator ([`baton_xray::xray_propagator`]);
//! - a batch span processor (`OTEL_BSP_*` honoured);
//! - the resource: `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, and what
//!   OpenTelemetry's AWS detectors find on EC2, ECS, EKS or Lambda (see
//!   [`Setup::with_aws_detection`]);
//! - one exporter ([`Exporter`]): OTLP to a collector (the default: HTTP/protobuf, HTTP/JSON or
//!   gRPC, from the standard `OTEL_EXPORTER_OTLP_*` variables), OTLP/HTTP to X-Ray signed with
//!   SigV4, or segment documents to the X-Ray daemon over UDP.
//!
//! It returns a [`Telemetry`] guard: dropping it (or [`Telemetry::shutdown`]) flushes the
//! spans still queued, so a process exits without losing its last spans. Exporting never
//! blocks or fails the application: spans that cannot be sent are dropped and counted
//! ([`ExportStats`]).
//!
//! # Example: OTLP to a collector
//!
//! ```no_run
//! use opentelemetry::trace::{Tracer, TracerProvider};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318) and
//!     // OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf, http/json, grpc) say where and how.
//!     let telemetry = baton_export::Setup::new()
//!         .with_service_name("checkout")
//!         .install()?;
//!     let tracer = opentelemetry::global::tracer("checkout");
//!     tracer.in_span("handle request", |_cx| { /* … */ });
//!     // Flushes what is queued; dropping `telemetry` does the same.
//!     telemetry.shutdown_async().await?;
//!     Ok(())
//! }
//! ```
//!
//! # Example: straight to X-Ray
//!
//! ```no_run
//! # #[cfg(feature = "xray-direct")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use baton_export::{Exporter, Setup};
//!
//! // The credentials and region your AWS SDK clients use. The role needs
//! // `xray:PutTraceSegments` … see "Permissions" below.
//! let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let telemetry = Setup::new()
//!     .with_service_name("checkout")
//!     .with_exporter(Exporter::xray(&aws))
//!     .install()?;
//! # drop(telemetry); Ok(()) }
//! ```
//!
//! # Which exporter, and what it needs
//!
//! | [`Exporter`] | sends to | needs |
//! |---|---|---|
//! | [`Exporter::otlp`] (default) | an OpenTelemetry collector: ADOT or the CloudWatch agent (which forward to X-Ray), or any other | the collector's OTLP receiver; the collector's own role needs `xray:PutTraceSegments` (or, with Transaction Search, `logs:PutLogEvents` to `aws/spans`) |
//! | [`Exporter::xray`] | `https://xray.{region}.amazonaws.com/v1/traces`, each request SigV4-signed (service `xray`) | CloudWatch Transaction Search enabled in the account; the process's role needs `xray:PutSpans` (and `xray:PutSpansForIndexing` for indexed spans) |
//! | [`Exporter::xray_daemon`] | the X-Ray daemon or an agent's `awsxray` receiver, over UDP (`AWS_XRAY_DAEMON_ADDRESS`) | the daemon; its role needs `xray:PutTraceSegments`; the daemon is in maintenance: prefer OTLP |
//!
//! # Environment variables
//!
//! | variable | read by | effect |
//! |---|---|---|
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | resource | the service name and resource attributes (code wins over them; they win over detection) |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` / `…_TRACES_ENDPOINT` | [`Exporter::otlp`] | where to send (`/v1/traces` is added to the first for HTTP) |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL` / `…_TRACES_PROTOCOL` | [`Exporter::otlp`] | `http/protobuf` (default), `http/json`, `grpc` |
//! | `OTEL_EXPORTER_OTLP_HEADERS` / `…_TRACES_HEADERS` | OTLP | extra request headers (`k=v,k2=v2`) |
//! | `OTEL_EXPORTER_OTLP_TIMEOUT` / `…_TRACES_TIMEOUT` | OTLP | how long one export may take, in milliseconds (default 10,000) |
//! | `OTEL_EXPORTER_OTLP_COMPRESSION` / `…_TRACES_COMPRESSION` | OTLP | `gzip` or `none` (default) |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | sampler | `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio`, or `xray` (the default) |
//! | `OTEL_TRACES_EXPORTER` | [`Setup::new`] | `otlp` (default) or `none` |
//! | `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | batch processor | as the SDK reads them |
//! | `AWS_XRAY_DAEMON_ADDRESS` | daemon exporter, centralized sampling | the daemon's UDP and TCP addresses |
//!
//! # Runtime
//!
//! The SDK's batch processor exports from a thread of its own; OTLP requests, credential
//! fetches and the sampler's polling run on a small tokio runtime the set-up starts for them
//! (one thread), so they never wait for the application's runtime, and the application's never
//! waits for them. Dropping the guard or [`Telemetry::shutdown`] blocks the calling thread until
//! the last spans are sent, at most the export timeout plus 5 s; in async code,
//! [`Telemetry::shutdown_async`] does the same without blocking a runtime thread.
//! [`Setup::with_runtime`] puts that work on a runtime of yours instead: then do not block that
//! runtime's threads on a flush or a shutdown (on a current-thread runtime, the export waits
//! for the very thread that waits for it, until the timeout).

mod client;
mod error;
mod resource;
#[cfg(feature = "xray-direct")]
mod sigv4;
mod stats;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfig, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, ShouldSample,
};
use tokio::runtime::Handle;

pub use error::SetupError;
pub use stats::ExportStats;

use client::{OtlpHttpClient, Sign};
use stats::Counted;

/// The default timeout of one OTLP export, as the OpenTelemetry specification sets it.
const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(10);
/// What a shutdown waits beyond the export timeout: the SDK's own default for the last batch.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(5);

/// The OTLP transport and encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// HTTP with protobuf bodies (`http/protobuf`): the specification's default, and what
    /// X-Ray's endpoint takes.
    HttpProtobuf,
    /// HTTP with JSON bodies (`http/json`).
    HttpJson,
    /// gRPC (`grpc`), with the `grpc` feature (on by default). Plain HTTP/2 only: for TLS,
    /// use `http/protobuf`.
    Grpc,
}

impl Protocol {
    /// The protocol named as `OTEL_EXPORTER_OTLP_PROTOCOL` names it.
    pub fn from_env_value(value: &str) -> Option<Protocol> {
        match value.trim() {
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            "http/json" => Some(Protocol::HttpJson),
            "grpc" => Some(Protocol::Grpc),
            _ => None,
        }
    }
}

/// Where spans go: see [the table in the crate docs](crate#which-exporter-and-what-it-needs).
#[derive(Clone)]
pub struct Exporter(Kind);

#[derive(Clone)]
enum Kind {
    Otlp {
        endpoint: Option<String>,
        protocol: Option<Protocol>,
        timeout: Option<Duration>,
    },
    #[cfg(feature = "xray-direct")]
    Xray {
        region: Option<String>,
        credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
        endpoint: Option<String>,
        timeout: Option<Duration>,
    },
    Daemon {
        address: Option<String>,
    },
    None,
}

impl fmt::Debug for Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Otlp {
                endpoint,
                protocol,
                timeout,
            } => f
                .debug_struct("Otlp")
                .field("endpoint", endpoint)
                .field("protocol", protocol)
                .field("timeout", timeout)
                .finish(),
            #[cfg(feature = "xray-direct")]
            Kind::Xray {
                region, endpoint, ..
            } => f
                .debug_struct("Xray")
                .field("region", region)
                .field("endpoint", endpoint)
                .finish_non_exhaustive(),
            Kind::Daemon { address } => f
                .debug_struct("XrayDaemon")
                .field("address", address)
                .finish(),
            Kind::None => f.write_str("None"),
        }
    }
}

impl Exporter {
    /// OTLP to a collector, where and how the `OTEL_EXPORTER_OTLP_*` variables say
    /// (default: HTTP/protobuf to `http://localhost:4318/v1/traces`).
    pub fn otlp() -> Exporter {
        Exporter(Kind::Otlp {
            endpoint: None,
            protocol: None,
            timeout: None,
        })
    }

    /// OTLP/HTTP straight to X-Ray in the region of `config`, each request signed with SigV4
    /// using `config`'s credentials provider (the AWS SDK's default chain when `config` came
    /// from `aws_config::load_defaults`: environment, profile, web identity, ECS, IMDS).
    /// Credentials are kept until five minutes before they expire, then fetched again.
    ///
    /// Needs CloudWatch Transaction Search enabled in the account, and `xray:PutSpans` for
    /// the role. A region or credentials provider missing from `config` fails
    /// [`Setup::build`].
    #[cfg(feature = "xray-direct")]
    pub fn xray(config: &aws_types::SdkConfig) -> Exporter {
        Exporter(Kind::Xray {
            region: config.region().map(|r| r.as_ref().to_owned()),
            credentials: config.credentials_provider(),
            endpoint: None,
            timeout: None,
        })
    }

    /// OTLP/HTTP straight to X-Ray in `region`, signed with credentials from `credentials`.
    #[cfg(feature = "xray-direct")]
    pub fn xray_with(
        region: impl Into<String>,
        credentials: impl aws_credential_types::provider::ProvideCredentials + 'static,
    ) -> Exporter {
        Exporter(Kind::Xray {
            region: Some(region.into()),
            credentials: Some(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            ),
            endpoint: None,
            timeout: None,
        })
    }

    /// Segment documents over UDP to the X-Ray daemon at `AWS_XRAY_DAEMON_ADDRESS` (default
    /// `127.0.0.1:2000`): [`baton_xray::XrayExporter`]. The compatibility path.
    pub fn xray_daemon() -> Exporter {
        Exporter(Kind::Daemon { address: None })
    }

    /// No exporter: spans are sampled and propagated, never sent.
    pub fn none() -> Exporter {
        Exporter(Kind::None)
    }

    /// Sends to `endpoint` instead: for OTLP the full URL of the traces endpoint over HTTP
    /// (`http://collector:4318/v1/traces`, no path added) or the gRPC address
    /// (`http://collector:4317`); for X-Ray, an endpoint other than
    /// `https://xray.{region}.amazonaws.com/v1/traces`; for the daemon, its address
    /// (`host:port`). Nothing for [`none`](Self::none).
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Exporter {
        let endpoint = Some(endpoint.into());
        match &mut self.0 {
            Kind::Otlp { endpoint: e, .. } => *e = endpoint,
            #[cfg(feature = "xray-direct")]
            Kind::Xray { endpoint: e, .. } => *e = endpoint,
            Kind::Daemon { address } => *address = endpoint,
            Kind::None => {}
        }
        self
    }

    /// For OTLP and X-Ray: how long one export may take, retries included (default: from
    /// `OTEL_EXPORTER_OTLP_TIMEOUT`, else 10 s). A batch not accepted by then is dropped and
    /// counted in [`ExportStats::failed`].
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Exporter {
        match &mut self.0 {
            Kind::Otlp { timeout: t, .. } => *t = Some(timeout),
            #[cfg(feature = "xray-direct")]
            Kind::Xray { timeout: t, .. } => *t = Some(timeout),
            Kind::Daemon { .. } | Kind::None => {}
        }
        self
    }

    /// For [`otlp`](Self::otlp): this protocol, whatever `OTEL_EXPORTER_OTLP_PROTOCOL` says.
    #[must_use]
    pub fn with_protocol(mut self, protocol: Protocol) -> Exporter {
        if let Kind::Otlp { protocol: p, .. } = &mut self.0 {
            *p = Some(protocol);
        }
        self
    }

    /// Where the collector or daemon that receives the spans would serve sampling rules:
    /// `AWS_XRAY_DAEMON_ADDRESS` when set; else the daemon's own address, or port 2000 (the
    /// `awsproxy` extension's) on the collector's host when that is not this one; else
    /// `http://127.0.0.1:2000`. `None` when spans go straight to X-Ray or nowhere.
    fn sampling_endpoint(&self) -> Option<String> {
        self.sampling_endpoint_with(
            var(baton_xray::DAEMON_ADDRESS_ENV),
            var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT")),
        )
    }

    /// [`sampling_endpoint`](Self::sampling_endpoint) with the environment given.
    fn sampling_endpoint_with(
        &self,
        daemon_env: Option<String>,
        otlp_env: Option<String>,
    ) -> Option<String> {
        let local = || Some(baton_sampling::DEFAULT_ENDPOINT.to_owned());
        match &self.0 {
            #[cfg(feature = "xray-direct")]
            Kind::Xray { .. } => None,
            Kind::None => None,
            _ if daemon_env.is_some() => daemon_env.as_deref().map(tcp_url),
            Kind::Daemon {
                address: Some(address),
            } => Some(tcp_url(address)),
            Kind::Daemon { address: None } => local(),
            Kind::Otlp { endpoint, .. } => {
                let host = endpoint
                    .clone()
                    .or(otlp_env)
                    .and_then(|e| e.parse::<http::Uri>().ok())
                    .and_then(|uri| uri.host().map(str::to_owned));
                match host {
                    Some(host) if !is_this_host(&host) => Some(format!("http://{host}:2000")),
                    _ => local(),
                }
            }
        }
    }
}

/// The sampler to use.
enum SamplerChoice {
    /// The X-Ray sampler (the default), parent-based.
    Xray,
    /// Given in code.
    Custom(Box<dyn ShouldSample>),
}

/// Builds (and installs) the tracer provider: see [the crate docs](crate).
#[must_use = "a set-up does nothing until built or installed"]
pub struct Setup {
    service_name: Option<String>,
    attributes: Vec<KeyValue>,
    exporter: Option<Exporter>,
    detect: bool,
    sampler: SamplerChoice,
    local_rules: Option<baton_sampling::SamplingRules>,
    centralized: Option<Option<String>>,
    batch: Option<BatchConfig>,
    runtime: Option<Handle>,
}

impl fmt::Debug for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setup")
            .field("service_name", &self.service_name)
            .field("exporter", &self.exporter)
            .field("detect", &self.detect)
            .finish_non_exhaustive()
    }
}

impl Default for Setup {
    fn default() -> Self {
        Setup::new()
    }
}

impl Setup {
    /// The defaults: OTLP as the `OTEL_*` variables say (or no exporter with
    /// `OTEL_TRACES_EXPORTER=none`), AWS resource detection on, the X-Ray sampler with
    /// centralized rules from the local collector or daemon.
    pub fn new() -> Setup {
        Setup {
            service_name: None,
            attributes: Vec::new(),
            exporter: None,
            detect: true,
            sampler: SamplerChoice::Xray,
            local_rules: None,
            centralized: None,
            batch: None,
            runtime: None,
        }
    }

    /// Names the service (`service.name`), over `OTEL_SERVICE_NAME` and detection.
    pub fn with_service_name(mut self, name: impl Into<String>) -> Setup {
        self.service_name = Some(name.into());
        self
    }

    /// Adds resource attributes (`deployment.environment.name`, …), over the environment's and
    /// detection's.
    pub fn with_resource_attributes(
        mut self,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) -> Setup {
        self.attributes.extend(attributes);
        self
    }

    /// Sends spans with `exporter` instead of OTLP as the environment says.
    pub fn with_exporter(mut self, exporter: Exporter) -> Setup {
        self.exporter = Some(exporter);
        self
    }

    /// Whether to detect the AWS platform (default on, with the `aws-detectors` feature).
    ///
    /// The platform is told from signs that cost nothing to read: `AWS_LAMBDA_FUNCTION_NAME`
    /// (Lambda), `ECS_CONTAINER_METADATA_URI_V4` (ECS), a Kubernetes service account on EC2
    /// hardware (EKS), EC2 hardware as Linux shows it (EC2). Only that platform's
    /// `opentelemetry-aws` detector runs, so a process elsewhere never waits on the instance
    /// metadata service; on ECS, EKS and EC2 detection makes a few local HTTP calls (at most a
    /// second each) once, when the set-up is built. It sets `cloud.provider`, `cloud.platform`
    /// (which the X-Ray exporters turn into the segment's `origin`, such as
    /// `AWS::ECS::Fargate`), `cloud.region`, `cloud.account.id` and the platform's own
    /// attributes (`aws.ecs.*`, `k8s.*`, `host.*`, `faas.*`). A Lambda function without a
    /// service name given anywhere is named after the function.
    pub fn with_aws_detection(mut self, detect: bool) -> Setup {
        self.detect = detect;
        self
    }

    /// Uses `sampler` instead of the X-Ray sampler (and of `OTEL_TRACES_SAMPLER`), as given:
    /// wrap it in [`baton::XrayParentBased`] to follow upstream decisions.
    pub fn with_sampler(mut self, sampler: impl ShouldSample + 'static) -> Setup {
        self.sampler = SamplerChoice::Custom(Box::new(sampler));
        self
    }

    /// The X-Ray sampler's local rules: used until centralized rules arrive, when they go
    /// stale, or always without a collector or daemon (default: X-Ray's default rule).
    pub fn with_sampling_rules(mut self, rules: baton_sampling::SamplingRules) -> Setup {
        self.local_rules = Some(rules);
        self
    }

    /// Where the X-Ray sampler fetches centralized rules (`http://host:port` of the daemon or
    /// of a collector with the `awsproxy` extension), or `None` for local rules only. Default:
    /// the TCP address in `AWS_XRAY_DAEMON_ADDRESS`; else, exporting to the daemon, its
    /// address; exporting to a collector on another host, port 2000 there; else
    /// `http://127.0.0.1:2000`. None when exporting straight to X-Ray, or in Lambda (where the
    /// Lambda service samples). The first failed fetch is logged at `info`; until rules
    /// arrive, the local rules decide.
    pub fn with_centralized_sampling(mut self, endpoint: Option<impl Into<String>>) -> Setup {
        self.centralized = Some(endpoint.map(Into::into));
        self
    }

    /// The batch processor's settings (default: the SDK's, from `OTEL_BSP_*`).
    pub fn with_batch_config(mut self, config: BatchConfig) -> Setup {
        self.batch = Some(config);
        self
    }

    /// Runs OTLP requests, credential fetches and the sampler's polling on `runtime` instead of
    /// a runtime of the set-up's own (see [Runtime](crate#runtime) for what that asks of you).
    pub fn with_runtime(mut self, runtime: Handle) -> Setup {
        self.runtime = Some(runtime);
        self
    }

    /// Builds the tracer provider without installing it anywhere.
    pub fn build(self) -> Result<Telemetry, SetupError> {
        let (runtime, owned_runtime) = match self.runtime.clone() {
            Some(handle) => (handle, None),
            None => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("baton-export")
                    .enable_all()
                    .build()
                    .map_err(SetupError::Runtime)?;
                (runtime.handle().clone(), Some(runtime))
            }
        };
        let exporter = match self.exporter.clone() {
            Some(exporter) => exporter,
            None => match var("OTEL_TRACES_EXPORTER").as_deref() {
                None | Some("otlp") => Exporter::otlp(),
                Some("none") => Exporter::none(),
                Some(other) => {
                    return Err(SetupError::Invalid(format!(
                        "OTEL_TRACES_EXPORTER={other:?} is not supported: use otlp or none \
                         (or choose an exporter in code)"
                    )));
                }
            },
        };
        let resource = resource::build(self.detect, &self.attributes, self.service_name.as_deref());
        let sampler = self.sampler(&exporter, &resource, &runtime)?;
        let stats = ExportStats::default();
        let mut provider = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_id_generator(baton::XrayIdGenerator::default())
            .with_sampler(sampler);
        let batch = self.batch;
        // How long one export may take: shutting down waits that long and a margin.
        let mut export_timeout = Duration::ZERO;
        macro_rules! batched {
            ($exporter:expr, $target:expr) => {{
                let counted = Counted {
                    inner: $exporter,
                    stats: stats.clone(),
                    target: $target,
                };
                let processor = BatchSpanProcessor::builder(counted);
                let processor = match batch {
                    Some(config) => processor.with_batch_config(config),
                    None => processor,
                };
                provider.with_span_processor(processor.build())
            }};
        }
        match exporter.0 {
            Kind::Otlp {
                endpoint,
                protocol,
                timeout,
            } => {
                let protocol = match protocol {
                    Some(protocol) => protocol,
                    None => otlp_protocol_from_env()?,
                };
                let target = endpoint
                    .clone()
                    .unwrap_or_else(|| "OTLP (from the environment)".into());
                let timeout = match timeout {
                    Some(timeout) => timeout,
                    None => otlp_timeout()?,
                };
                export_timeout = timeout;
                let otlp = otlp_exporter(protocol, endpoint, Some(timeout), &runtime, None)?;
                provider = batched!(otlp, target);
            }
            #[cfg(feature = "xray-direct")]
            Kind::Xray {
                region,
                credentials,
                endpoint,
                timeout,
            } => {
                let region = region.ok_or_else(|| {
                    SetupError::Invalid(
                        "exporting to X-Ray needs a region: set AWS_REGION, or give the SdkConfig one"
                            .into(),
                    )
                })?;
                let credentials = credentials.ok_or_else(|| {
                    SetupError::Invalid(
                        "exporting to X-Ray needs credentials: the SdkConfig has no credentials provider"
                            .into(),
                    )
                })?;
                let endpoint = endpoint.unwrap_or_else(|| xray_endpoint(&region));
                let timeout = match timeout {
                    Some(timeout) => timeout,
                    None => otlp_timeout()?,
                };
                export_timeout = timeout;
                let target = endpoint.clone();
                let signer: Arc<dyn Sign> = Arc::new(sigv4::SigV4::new(region, credentials));
                let otlp = otlp_exporter(
                    Protocol::HttpProtobuf,
                    Some(endpoint),
                    Some(timeout),
                    &runtime,
                    Some(signer),
                )?;
                provider = batched!(otlp, target);
            }
            Kind::Daemon { address } => {
                let mut builder = baton_xray::XrayExporter::builder();
                if let Some(address) = address {
                    builder = builder.with_daemon_address(address);
                }
                let daemon = builder.build()?;
                let target = format!("X-Ray daemon at udp {}", daemon.daemon_address());
                provider = batched!(daemon, target);
            }
            Kind::None => {}
        }
        Ok(Telemetry {
            provider: provider.build(),
            stats,
            runtime: owned_runtime,
            runtime_handle: runtime,
            shutdown_timeout: export_timeout + SHUTDOWN_MARGIN,
            shut_down: false,
        })
    }

    /// Builds the tracer provider and installs it as OpenTelemetry's global provider, with
    /// the X-Ray + W3C propagator as the global propagator.
    pub fn install(self) -> Result<Telemetry, SetupError> {
        let telemetry = self.build()?;
        opentelemetry::global::set_tracer_provider(telemetry.provider.clone());
        opentelemetry::global::set_text_map_propagator(baton_xray::xray_propagator());
        Ok(telemetry)
    }

    fn sampler(
        &self,
        exporter: &Exporter,
        resource: &Resource,
        runtime: &Handle,
    ) -> Result<Box<dyn ShouldSample>, SetupError> {
        if let SamplerChoice::Custom(sampler) = &self.sampler {
            return Ok(sampler.box_clone());
        }
        if let Some(sampler) = sampler_from_env()? {
            return Ok(Box::new(sampler));
        }
        let mut builder = baton_sampling::XraySampler::builder()
            .with_resource(resource)
            .with_runtime(runtime.clone());
        if let Some(rules) = &self.local_rules {
            builder = builder.with_local_rules(rules.clone());
        }
        let centralized = match &self.centralized {
            Some(endpoint) => endpoint.clone(),
            // In Lambda the trace is sampled upstream (the Lambda service's segment); the X-Ray
            // SDKs poll no rules there either.
            None if var("AWS_LAMBDA_FUNCTION_NAME").is_some() => None,
            None => exporter.sampling_endpoint(),
        };
        if let Some(endpoint) = centralized {
            builder = builder.with_centralized_rules(endpoint);
        }
        Ok(Box::new(builder.build()?.parent_based()))
    }
}

/// The OTLP protocol `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL`
/// names, HTTP/protobuf by default.
fn otlp_protocol_from_env() -> Result<Protocol, SetupError> {
    for name in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Some(value) = var(name) {
            return Protocol::from_env_value(&value).ok_or_else(|| {
                SetupError::Invalid(format!(
                    "{name}={value:?} is not an OTLP protocol: use http/protobuf, http/json or grpc"
                ))
            });
        }
    }
    Ok(Protocol::HttpProtobuf)
}

/// The OTLP exporter for `protocol`, sending with Baton's client over HTTP.
fn otlp_exporter(
    protocol: Protocol,
    endpoint: Option<String>,
    timeout: Option<Duration>,
    runtime: &Handle,
    signer: Option<Arc<dyn Sign>>,
) -> Result<opentelemetry_otlp::SpanExporter, SetupError> {
    let timeout = match timeout {
        Some(timeout) => timeout,
        None => otlp_timeout()?,
    };
    let http_protocol = match protocol {
        Protocol::HttpProtobuf => opentelemetry_otlp::Protocol::HttpBinary,
        Protocol::HttpJson => opentelemetry_otlp::Protocol::HttpJson,
        Protocol::Grpc => return grpc_exporter(endpoint, timeout, runtime),
    };
    let client = OtlpHttpClient::new(runtime.clone(), timeout, signer)?;
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(http_protocol)
        .with_timeout(timeout);
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    Ok(builder.build()?)
}

#[cfg(feature = "grpc")]
fn grpc_exporter(
    endpoint: Option<String>,
    timeout: Duration,
    runtime: &Handle,
) -> Result<opentelemetry_otlp::SpanExporter, SetupError> {
    // The channel is made on the runtime it will run on.
    let _entered = runtime.enter();
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_timeout(timeout);
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    Ok(builder.build()?)
}

#[cfg(not(feature = "grpc"))]
fn grpc_exporter(
    _endpoint: Option<String>,
    _timeout: Duration,
    _runtime: &Handle,
) -> Result<opentelemetry_otlp::SpanExporter, SetupError> {
    Err(SetupError::Invalid(
        "OTLP over gRPC needs baton-export's `grpc` feature; use http/protobuf".into(),
    ))
}

/// The per-export timeout from `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` or
/// `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds).
fn otlp_timeout() -> Result<Duration, SetupError> {
    for name in [
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ] {
        if let Some(value) = var(name) {
            return value
                .trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| {
                    SetupError::Invalid(format!("{name}={value:?} is not a number of milliseconds"))
                });
        }
    }
    Ok(DEFAULT_OTLP_TIMEOUT)
}

/// A sampler named by `OTEL_TRACES_SAMPLER`, or `None` for the X-Ray sampler.
fn sampler_from_env() -> Result<Option<Sampler>, SetupError> {
    let Some(name) = var("OTEL_TRACES_SAMPLER") else {
        return Ok(None);
    };
    let ratio = || -> Result<f64, SetupError> {
        match var("OTEL_TRACES_SAMPLER_ARG") {
            None => Ok(1.0),
            Some(arg) => match arg.trim().parse::<f64>() {
                Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
                _ => Err(SetupError::Invalid(format!(
                    "OTEL_TRACES_SAMPLER_ARG={arg:?} is not a ratio between 0 and 1"
                ))),
            },
        }
    };
    let parent = |root: Sampler| Sampler::ParentBased(Box::new(root));
    Ok(Some(match name.trim() {
        "xray" => return Ok(None),
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(ratio()?),
        "parentbased_always_on" => parent(Sampler::AlwaysOn),
        "parentbased_always_off" => parent(Sampler::AlwaysOff),
        "parentbased_traceidratio" => parent(Sampler::TraceIdRatioBased(ratio()?)),
        other => {
            return Err(SetupError::Invalid(format!(
                "OTEL_TRACES_SAMPLER={other:?} is not supported: use xray, always_on, always_off, \
                 traceidratio or their parentbased_ forms"
            )));
        }
    }))
}

/// The TCP address in a daemon address (`host:port`, or `tcp:host:port udp:host:port` in
/// either order) as a URL.
fn tcp_url(value: &str) -> String {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let tcp = match parts.as_slice() {
        [one] => Some(one.strip_prefix("tcp:").unwrap_or(one)),
        several => several.iter().find_map(|p| p.strip_prefix("tcp:")),
    };
    match tcp {
        Some(address) => format!("http://{address}"),
        None => baton_sampling::DEFAULT_ENDPOINT.to_owned(),
    }
}

/// Whether `host` names this machine.
fn is_this_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

/// X-Ray's OTLP endpoint in `region` (`amazonaws.com.cn` in the China regions).
#[cfg(any(feature = "xray-direct", test))]
fn xray_endpoint(region: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://xray.{region}.{domain}/v1/traces")
}

/// An environment variable, unset when empty.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The installed tracing: the tracer provider, what its exporter has done, and the flush on
/// the way out. Dropping it shuts the provider down (flushing what is queued, at most 5 s).
/// Dropping it shuts the provider down as [`shutdown`](Self::shutdown) does.
#[must_use = "dropping the guard shuts tracing down"]
pub struct Telemetry {
    provider: SdkTracerProvider,
    stats: ExportStats,
    /// The runtime the set-up started, when none was current.
    runtime: Option<tokio::runtime::Runtime>,
    runtime_handle: Handle,
    /// How long a shutdown waits for the last export.
    shutdown_timeout: Duration,
    shut_down: bool,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("stats", &self.stats)
            .field("own_runtime", &self.runtime.is_some())
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// The tracer provider (also the global one after [`Setup::install`]).
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// A tracer of this provider.
    pub fn tracer(&self, name: &'static str) -> SdkTracer {
        use opentelemetry::trace::TracerProvider as _;
        self.provider.tracer(name)
    }

    /// What the exporter has done so far.
    pub fn stats(&self) -> ExportStats {
        self.stats.clone()
    }

    /// Exports every span ended so far, waiting at most 5 s (the SDK's bound). Blocks the
    /// calling thread; in async code use [`force_flush_async`](Self::force_flush_async).
    pub fn force_flush(&self) -> OTelSdkResult {
        self.provider.force_flush()
    }

    /// [`force_flush`](Self::force_flush) on a blocking thread, so that no runtime thread waits.
    pub async fn force_flush_async(&self) -> OTelSdkResult {
        let provider = self.provider.clone();
        self.blocking(move || provider.force_flush()).await
    }

    /// Flushes and shuts the provider down, waiting at most the export timeout plus 5 s.
    /// Blocks the calling thread; in async code use [`shutdown_async`](Self::shutdown_async).
    pub fn shutdown(mut self) -> OTelSdkResult {
        self.shut_down = true;
        self.provider.shutdown_with_timeout(self.shutdown_timeout)
    }

    /// [`shutdown`](Self::shutdown) on a blocking thread, so that no runtime thread waits.
    pub async fn shutdown_async(mut self) -> OTelSdkResult {
        self.shut_down = true;
        let provider = self.provider.clone();
        let timeout = self.shutdown_timeout;
        self.blocking(move || provider.shutdown_with_timeout(timeout))
            .await
    }

    async fn blocking(
        &self,
        work: impl FnOnce() -> OTelSdkResult + Send + 'static,
    ) -> OTelSdkResult {
        match self.runtime_handle.spawn_blocking(work).await {
            Ok(result) => result,
            Err(error) => Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure(
                format!("the flush task failed: {error}"),
            )),
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if !self.shut_down
            && let Err(error) = self.provider.shutdown_with_timeout(self.shutdown_timeout)
        {
            tracing::debug!(target: "baton_export", %error, "tracer provider shutdown");
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_rules_are_asked_of_whoever_receives_the_spans() {
        let none = |e: &Exporter| e.sampling_endpoint_with(None, None);
        let local = Some("http://127.0.0.1:2000".to_owned());
        assert_eq!(none(&Exporter::otlp()), local);
        assert_eq!(
            none(&Exporter::otlp().with_endpoint("http://localhost:4318/v1/traces")),
            local
        );
        assert_eq!(
            none(&Exporter::otlp().with_endpoint("http://[::1]:4318/v1/traces")),
            local
        );
        assert_eq!(
            none(&Exporter::otlp().with_endpoint("http://10.0.3.7:4318/v1/traces")),
            Some("http://10.0.3.7:2000".to_owned())
        );
        assert_eq!(
            Exporter::otlp().sampling_endpoint_with(None, Some("http://collector:4317".into())),
            Some("http://collector:2000".to_owned())
        );
        assert_eq!(
            none(&Exporter::xray_daemon().with_endpoint("10.0.0.5:2000")),
            Some("http://10.0.0.5:2000".to_owned())
        );
        assert_eq!(
            none(&Exporter::xray_daemon().with_endpoint("udp:10.0.0.5:2000 tcp:10.0.0.6:3000")),
            Some("http://10.0.0.6:3000".to_owned())
        );
        assert_eq!(none(&Exporter::xray_daemon()), local);
        // AWS_XRAY_DAEMON_ADDRESS wins wherever the spans go, but nowhere and X-Ray.
        let daemon = Some("tcp:172.17.0.1:2000 udp:172.17.0.1:2000".to_owned());
        assert_eq!(
            Exporter::otlp().sampling_endpoint_with(daemon.clone(), None),
            Some("http://172.17.0.1:2000".to_owned())
        );
        assert_eq!(Exporter::none().sampling_endpoint_with(daemon, None), None);
    }

    #[test]
    fn china_regions_have_their_own_domain() {
        assert_eq!(
            xray_endpoint("eu-west-1"),
            "https://xray.eu-west-1.amazonaws.com/v1/traces"
        );
        assert_eq!(
            xray_endpoint("cn-north-1"),
            "https://xray.cn-north-1.amazonaws.com.cn/v1/traces"
        );
    }
}
