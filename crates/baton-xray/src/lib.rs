//! Get Baton's spans into AWS X-Ray.
//!
//! Two paths lead there, and this crate serves both:
//! - **The X-Ray daemon.** [`XrayExporter`] is an OpenTelemetry `SpanExporter` that turns
//!   spans into X-Ray segment documents and sends them over UDP to the daemon (or the
//!   CloudWatch agent, or the ADOT collector's `awsxray` receiver) at
//!   `AWS_XRAY_DAEMON_ADDRESS`, default `127.0.0.1:2000`. It never blocks the application:
//!   a datagram that cannot be sent is dropped and counted in [`XrayStats`].
//! - **OTLP to an ADOT collector**, which converts to X-Ray itself. Bring your own OTLP
//!   exporter (`opentelemetry-otlp`; not a dependency here) and let
//!   [`xray_provider_builder`] install the X-Ray ID generator and sampler around it.
//!
//! Either way, install [`baton::XrayIdGenerator`] (both helpers here do): X-Ray rejects trace
//! ids whose first 32 bits are not a recent time.
//!
//! # Example: spans to the daemon
//!
//! ```
//! use std::net::UdpSocket;
//! use opentelemetry::trace::{Span, Tracer, TracerProvider};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use baton_xray::XrayExporter;
//!
//! // A stand-in for the daemon.
//! let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
//! daemon.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
//!
//! let exporter = XrayExporter::builder()
//!     .with_daemon_address(daemon.local_addr().unwrap().to_string())
//!     .with_service_name("orders")
//!     .build()
//!     .unwrap();
//! let stats = exporter.stats();
//! let provider = SdkTracerProvider::builder()
//!     .with_id_generator(baton::XrayIdGenerator::default())
//!     .with_simple_exporter(exporter)
//!     .build();
//!
//! let mut span = provider.tracer("example").start("process order");
//! span.set_attribute(opentelemetry::KeyValue::new("aws.xray.annotation.order_id", "o-42"));
//! span.end();
//!
//! let mut buf = [0u8; 65536];
//! let len = daemon.recv(&mut buf).unwrap();
//! let datagram = std::str::from_utf8(&buf[..len]).unwrap();
//! let (header, document) = datagram.split_once('\n').unwrap();
//! assert_eq!(header, r#"{"format":"json","version":1}"#);
//! assert!(document.starts_with(r#"{"name":"orders","id":""#));
//! assert!(document.contains(r#""annotations":{"order_id":"o-42"}"#));
//! assert_eq!(stats.exported(), 1);
//! ```
//!
//! # How spans map to segment documents
//!
//! | span | becomes |
//! |---|---|
//! | SERVER, CONSUMER or INTERNAL span whose parent is absent or remote (a request or message from elsewhere) | a **segment**, named after the service (`with_service_name`, else the resource's `service.name`, else the span name); a remote parent becomes its `parent_id` |
//! | CLIENT / PRODUCER span whose parent is absent or remote (a script sending a message) | a segment for the caller (annotations, metadata, links, flags) holding one subsegment for the call (namespace, `aws`, `http`, `cause`, flags); the call keeps the span's id (the `Parent=` that went downstream, so the consumer hangs under the call) and the segment gets an id derived from it; otherwise the called service would not appear on the service map |
//! | any other span | a **subsegment** of its parent: embedded in the parent's document when the parent is in the same export batch and it fits, else sent alone as an independent subsegment (`"type":"subsegment"`, `parent_id`, `trace_id`) |
//! | CLIENT / PRODUCER subsegment of an AWS call (`rpc.system = aws-api`, or `messaging.system` starting with `aws_` or `aws.`) | `"namespace":"aws"`, named after the service (`SQS`, `SNS`, `EventBridge`, `SFN`, or `rpc.service`) |
//! | other CLIENT / PRODUCER subsegment | `"namespace":"remote"`, named after `peer.service` or `server.address`, else the span name |
//!
//! Fields:
//! - `trace_id` in X-Ray form (`1-{8 hex}-{24 hex}`), `id` 16 hex digits, `start_time` and
//!   `end_time` in epoch seconds with a microsecond fraction; `in_progress` is never written
//!   (exported spans have ended).
//! - `name`: sanitised to what X-Ray accepts (Unicode letters and digits, spaces, and
//!   `_ . : / % & # = + \ - @`; at most 200 characters). Where the name is not the span's own
//!   (segments, AWS and remote subsegments), the span name goes to metadata as
//!   `otel.span.name`.
//! - `error` (HTTP 4xx), `throttle` (HTTP 429, or an AWS throttling code in `error.type`),
//!   `fault` (HTTP 5xx, or an error status with no status code to say otherwise). An error
//!   status and `exception` events become `cause.exceptions` (message, `error.type`).
//! - `http`: method, URL, user agent and response status, from the HTTP semantic conventions
//!   (current and older names).
//! - `aws` (AWS calls and messages): `operation` (`rpc.method`, or `messaging.operation.name`
//!   when it is an API name such as `SendMessage`, and not on a batch entry's `create` span),
//!   `region` (`cloud.region`), `request_id` (`aws.request_id`), `queue_url`
//!   (`aws.sqs.queue.url`), `account_id` (`cloud.account.id`).
//! - `annotations`: the attributes named `aws.xray.annotation.{key}`. X-Ray allows keys of
//!   1–500 ASCII letters, digits and underscores, values that are strings (up to 1,000
//!   characters), numbers or booleans, and 50 annotations per trace; the exporter, which
//!   sees spans rather than whole traces, keeps at most 50 per span. An attribute that
//!   breaks a rule goes to metadata under its full name instead (with a `tracing` event at
//!   debug level); it never makes X-Ray reject the segment.
//! - `metadata`: every other attribute, under the `default` namespace (the one the X-Ray
//!   SDKs use when none is given), keyed by the attribute name, with its JSON value (arrays
//!   stay arrays; NaN and infinities become strings). Attributes also mapped to the fields
//!   above are kept here too, so nothing is lost.
//! - `links`: each valid span link as `{"trace_id": "1-…", "id": "…", "attributes": {…}}`,
//!   the shape the OpenTelemetry collector's X-Ray exporter writes (X-Ray's published
//!   segment document schema predates span links, so this follows that exporter rather
//!   than the schema). Written on segments and subsegments alike.
//!
//! - `origin` (segments only): the kind of AWS resource the service runs on, from the
//!   resource's `cloud.platform` ([`xray_origin`]), as OpenTelemetry's AWS resource detectors
//!   set it: `AWS::EC2::Instance`, `AWS::ECS::Container`, `AWS::Lambda::Function`, ….
//!
//! Not mapped: span events other than exceptions, resource attributes other than
//! `service.name` and `cloud.platform` (with `aws.ecs.launchtype`), and the span's status
//! description beyond 1,024 characters.
//!
//! # Datagrams
//!
//! Each datagram is `{"format":"json","version":1}` and a newline, then one document, and at
//! most 64,000 bytes in all (`with_max_datagram_size`). A segment whose subsegments do not
//! fit is split: whole subtrees that fit stay embedded, the others go as independent
//! subsegment documents (split again if need be). A single span too large for a datagram
//! on its own is sent with its details left out (counted in [`XrayStats::truncated`]).

mod address;
mod document;
mod encoder;
mod error;
mod exporter;
mod json;

pub use address::{DAEMON_ADDRESS_ENV, DEFAULT_DAEMON_ADDRESS};
pub use document::{ANNOTATION_PREFIX, METADATA_NAMESPACE};
pub use encoder::{SegmentEncoder, xray_origin};
pub use error::BuildError;
pub use exporter::{DEFAULT_MAX_DATAGRAM_SIZE, XrayExporter, XrayExporterBuilder, XrayStats};

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanExporter, TracerProviderBuilder};

/// A tracer provider builder for spans bound for X-Ray through any exporter: X-Ray trace
/// ids ([`baton::XrayIdGenerator`]), the X-Ray-aware parent-based sampler
/// ([`baton::XrayParentBased`], sampling every root), and `exporter` behind a batch
/// processor. Change the sampler with `with_sampler`; add a resource with `with_resource`.
///
/// For OTLP to an ADOT collector, pass the OTLP exporter you built (the collector's
/// `awsxray` exporter does the conversion):
///
/// ```no_run
/// // Cargo.toml: opentelemetry-otlp = { version = "0.33", features = ["grpc-tonic"] }
/// use opentelemetry::global;
/// use opentelemetry_otlp::{SpanExporter, WithExportConfig};
///
/// // A multi-threaded Tokio runtime: the gRPC channel runs on it, while the batch processor
/// // exports from a thread of its own (and `force_flush`/`shutdown` block: call them from
/// // `spawn_blocking` or outside the runtime).
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let otlp = SpanExporter::builder()
///         .with_tonic()
///         .with_endpoint("http://localhost:4317") // the collector's OTLP receiver
///         .build()?;
///     let provider = baton_xray::xray_provider_builder(otlp).build();
///     global::set_tracer_provider(provider.clone());
///     global::set_text_map_propagator(baton_xray::xray_propagator());
///     // … the application …
///     tokio::task::spawn_blocking(move || provider.shutdown()).await??;
///     Ok(())
/// }
/// ```
///
/// `tests/otlp.rs` runs this path against an OTLP receiver on 127.0.0.1 and checks what
/// arrives: X-Ray-valid trace ids, parents, kinds, the service name, and the ids the propagator
/// sends on.
///
/// The same with the daemon exporter (runnable):
///
/// ```
/// let exporter = baton_xray::XrayExporter::builder()
///     .with_daemon_address("127.0.0.1:2000")
///     .build()
///     .unwrap();
/// let provider = baton_xray::xray_provider_builder(exporter).build();
/// # provider.shutdown().unwrap();
/// ```
pub fn xray_provider_builder<E: SpanExporter + 'static>(exporter: E) -> TracerProviderBuilder {
    SdkTracerProvider::builder()
        .with_id_generator(baton::XrayIdGenerator::default())
        .with_sampler(baton::XrayParentBased::new(Sampler::AlwaysOn))
        .with_batch_exporter(exporter)
}

/// A propagator that reads and writes both W3C `traceparent` and the X-Ray
/// `X-Amzn-Trace-Id` header ([`baton::XrayPropagator`]); where both arrive, the X-Ray header
/// wins. Install it with `opentelemetry::global::set_text_map_propagator`.
pub fn xray_propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(baton::W3cPropagator::new()),
        Box::new(baton::XrayPropagator::new()),
    ])
}
