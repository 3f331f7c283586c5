//! See a trace on your own machine, without an AWS account.
//!
//! `baton-trace` listens where an OpenTelemetry collector would (OTLP/HTTP, `127.0.0.1:4318`,
//! see [OTLP](#otlp)) and where the X-Ray daemon would (UDP, `127.0.0.1:2000` or
//! `AWS_XRAY_DAEMON_ADDRESS`), takes the spans that OTLP exporters send and the segment
//! documents that `baton-xray`'s exporter (or any X-Ray SDK) sends, and puts each trace back
//! together: segments and subsegments from every service, embedded or sent on their own, in
//! whatever order and by whichever way they arrive. It then shows the trace three ways:
//! - [`render_waterfall`]: an indented tree with one bar per segment on the trace's time
//!   axis, durations and error marks, as terminal text;
//! - [`render_service_map`]: who called whom through which queue, topic, bus or state
//!   machine (`checkout --SQS--> orders --> fulfilment`);
//! - [`render_html`] / [`write_html`]: one self-contained HTML page;
//! - and, with [`Collector::with_page`], a live web page of all traces held: see [The web
//!   page](#the-web-page).
//!
//! Like the daemon, it can also answer the SDKs' centralized sampling calls on TCP at the
//! same address, from a rules file: see [Sampling rules for
//! samplers](#sampling-rules-for-samplers).
//!
//! The `baton-trace` binary does all of this from the command line:
//! `baton-trace [--listen 127.0.0.1:2000] [--sampling-rules FILE] [--html DIR] [--quiet-ms
//! 1500]` prints each trace once it has been quiet for a moment, and `baton-trace serve
//! [--http 127.0.0.1:2080]` serves the web page instead. The library gives tests
//! and demos the same thing in-process: bind a [`Collector`], [`spawn`](Collector::spawn)
//! it, point an exporter at it, and read [`Trace`]s from the [`CollectorHandle`].
//!
//! # Example: a producer and a consumer service, seen as one trace
//!
//! ```
//! use std::collections::HashMap;
//! use std::time::Duration;
//! use opentelemetry::propagation::TextMapPropagator;
//! use opentelemetry::trace::{Span, SpanKind, TraceContextExt, Tracer, TracerProvider};
//! use opentelemetry::{Context, KeyValue};
//! use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
//! use baton_trace::{Collector, render_service_map, render_waterfall};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let mut collector = Collector::bind("127.0.0.1:0".parse().unwrap())?.spawn();
//!
//! // One tracer provider per service, each exporting to the collector like to a daemon.
//! let provider = |service: &'static str| {
//!     let exporter = baton_xray::XrayExporter::builder()
//!         .with_daemon_address(collector.local_addr().to_string())
//!         .build()
//!         .unwrap();
//!     SdkTracerProvider::builder()
//!         .with_id_generator(baton::XrayIdGenerator::default())
//!         .with_resource(Resource::builder_empty().with_service_name(service).build())
//!         .with_simple_exporter(exporter)
//!         .build()
//! };
//! let (checkout, fulfilment) = (provider("checkout"), provider("fulfilment"));
//!
//! // checkout sends a message, its trace header in the message's attributes...
//! let tracer = checkout.tracer("demo");
//! let request = tracer.span_builder("POST /checkout").with_kind(SpanKind::Server).start(&tracer);
//! let cx = Context::new().with_span(request);
//! let send = tracer
//!     .span_builder("send orders")
//!     .with_kind(SpanKind::Producer)
//!     .with_attributes([KeyValue::new("messaging.system", "aws_sqs")])
//!     .start_with_context(&tracer, &cx);
//! let send_cx = cx.with_span(send);
//! let mut attributes: HashMap<String, String> = HashMap::new();
//! baton::XrayPropagator::new().inject_context(&send_cx, &mut attributes);
//! send_cx.span().end();
//! cx.span().end();
//!
//! // ...and fulfilment continues the trace from it.
//! let tracer = fulfilment.tracer("demo");
//! let parent = baton::XrayPropagator::new().extract(&attributes);
//! tracer
//!     .span_builder("process orders")
//!     .with_kind(SpanKind::Consumer)
//!     .start_with_context(&tracer, &parent)
//!     .end();
//!
//! let trace_id = baton_trace::xray_trace_id(parent.span().span_context().trace_id());
//! let trace = collector
//!     .wait_for_nodes(&trace_id, 3, Duration::from_secs(5))
//!     .await
//!     .expect("all three parts arrive");
//! assert_eq!(render_service_map(&trace), "checkout --SQS--> orders --> fulfilment\n");
//! println!("{}", render_waterfall(&trace, 100));
//! collector.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # How parts become a trace
//!
//! - Every datagram must be the daemon header line `{"format":"json","version":1}`, a
//!   newline, and one segment document of at most 64 KiB. Anything else is counted in
//!   [`Stats::malformed`], reported as a `tracing` event (target `baton_trace`) and skipped.
//! - Parts are grouped by `trace_id` and hung under their parent by `id` / `parent_id`:
//!   embedded subsegments under the object that held them, independent subsegments and
//!   segments under the node their `parent_id` names, even in another service's segment
//!   (a consumer continuing a producer's trace).
//! - A part whose parent has not arrived is shown at the root as an *orphan*, and moves
//!   into place when the parent comes. A part repeating an id already held is ignored,
//!   except that a finished part replaces its `in_progress` version.
//! - A collector keeps at most [`DEFAULT_MAX_TRACES`] traces (forgetting the one updated
//!   longest ago) of at most [`DEFAULT_MAX_NODES_PER_TRACE`] nodes each, and at most
//!   [`DEFAULT_MAX_BYTES`] of datagrams in all; see [`Assembler`].
//!
//! # OTLP
//!
//! With [`Collector::with_otlp`] (the binary does it by default, on `127.0.0.1:4318`), the
//! collector also takes `POST /v1/traces` with an OTLP `ExportTraceServiceRequest`, in
//! protobuf or JSON, plain or gzip, as any OpenTelemetry SDK's OTLP/HTTP exporter or a
//! collector's `otlphttp` exporter sends it (`OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318`,
//! `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf` or `http/json`). gRPC is not served.
//!
//! Each resource's spans are converted the way X-Ray would show them, by the same code that
//! writes the daemon exporter's documents (`baton_xray::SegmentEncoder`): segments named after
//! the resource's `service.name`, with the `origin` its `cloud.platform` implies, and
//! everything else as the crate docs of `baton-xray` describe. A span's parent counts as
//! remote (the span starts a segment) when the span's flags say so, as exporters of OTLP 1.1
//! and later write; without those flags, a SERVER or CONSUMER span with a parent is taken as
//! continuing a remote trace. Spans without a valid trace id or span id are left out and
//! reported back in the response's `partial_success`. A malformed body is answered `400`
//! with an OTLP `Status` message saying why, a body over 32 MiB `413`, another content type
//! `415`.
//!
//! # The web page
//!
//! [`Collector::with_page`] serves, on a TCP address of its own, one page (HTML, script and
//! styles embedded in the binary; nothing is fetched from elsewhere) that shows:
//!
//! - the **trace list**, newest first (start time, root service, duration, status, spans),
//!   refreshed every two seconds and filtered by service, by status (`ok`, `error`,
//!   `fault`, `throttle`: the trace's worst, in that order of precedence fault, throttle,
//!   error), by a service-map node, and by a [`Filter`] expression such as
//!   `annotation.order_id = "42"`; an expression that is not understood is refused with
//!   what was expected where;
//! - the **waterfall** of the chosen trace, and for the chosen node a detail panel with its
//!   fields, annotations, AWS fields, metadata, exceptions and links (a link opens the
//!   linked trace);
//! - the **service map** of every trace held ([`ServiceGraph`]), drawn in SVG: services,
//!   queues, topics, buses, state machines and other resources as nodes, each with a ring
//!   showing its requests' shares of ok (green), error (4xx, yellow), fault (5xx, red) and
//!   throttle (429, purple), and edges labelled with their call count and average latency.
//!   Clicking a node filters the list to the traces that touched it.
//!
//! Its JSON endpoints, for scripts and tests (`GET` only; a refused request is `400` with
//! `{"error": "...", "column": N}`):
//!
//! | path | answer |
//! |---|---|
//! | `/api/traces?service=&status=&node=&q=&limit=` | `{"held", "matched", "limit", "services", "stats", "traces": [{"id", "root", "start", "duration_ms", "status", "spans", …}]}`; at most `limit` (default 200, at most 1000) |
//! | `/api/traces/{id}` | the trace's nodes in waterfall order, each with its details; `404` if not held |
//! | `/api/map` | `{"traces", "nodes": [{"id", "name", "kind", "layer", "row", "requests", "ok", "error", "fault", "throttle", "average_ms"}], "edges": [{"from", "to", "calls", "average_ms", …}]}` |
//! | `/trace/{id}.html` | the trace's static page, as [`render_html`] writes it |
//!
//! Memory stays bounded by the assembler's limits, the page included: what the page keeps
//! per trace (its summary: services, up to 64 annotations of up to 256 characters, up to 256
//! map nodes and edges) counts against the byte budget ([`Assembler::with_max_bytes`]) at
//! its estimated size in memory, is made when first listed, dropped when the trace changes
//! (made again when next listed, so a list of 10,000 traces reads only the traces that
//! changed) and forgotten with its trace. The page's other state is one map drawn for all
//! traces and what the requests being answered hold. [`Assembler::held_bytes`] says what
//! is counted and how it compares with the process's memory. On a loopback address the page
//! answers only requests for a loopback host name (`localhost`, `127.0.0.1`, `[::1]`), so
//! that another web site cannot read it by pointing a name of its own at 127.0.0.1.
//!
//! # Sampling rules for samplers
//!
//! [`Collector::with_sampling_rules`] makes the collector serve the daemon's two sampling
//! endpoints, `POST /GetSamplingRules` and `POST /SamplingTargets`, over HTTP/1.1 on TCP at
//! its own address, from rules read with `baton_sampling::SamplingRules` (either the X-Ray
//! API's format or an SDK rules file). A sampler with centralized rules pointed at
//! `http://{address}` then samples by those rules, and [`CollectorHandle::sampling_stats`]
//! shows what it reports for each rule. The binary does the same with
//! `--sampling-rules FILE`.
//!
//! ```
//! use std::time::Duration;
//! use baton_sampling::{RuleSource, SamplingRules, XraySampler};
//! use baton_trace::Collector;
//! use opentelemetry::KeyValue;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rules = SamplingRules::from_json(include_str!("../examples/sampling-rules.json"))?;
//! let collector = Collector::bind("127.0.0.1:0".parse()?)?
//!     .with_sampling_rules(rules)
//!     .spawn();
//!
//! let sampler = XraySampler::builder()
//!     .with_centralized_rules(format!("http://{}", collector.local_addr()))
//!     .build()?;
//! for _ in 0..500 {
//!     if sampler.source() == RuleSource::Centralized {
//!         break;
//!     }
//!     tokio::time::sleep(Duration::from_millis(10)).await;
//! }
//! let checkout = [
//!     KeyValue::new("http.request.method", "POST"),
//!     KeyValue::new("url.path", "/checkout"),
//! ];
//! assert_eq!(sampler.matching_rule(&checkout).as_deref(), Some("checkout"));
//! # Ok(())
//! # }
//! ```
//!
//! In detail:
//!
//! - `/GetSamplingRules` answers with every rule in the X-Ray API's `SamplingRuleRecords`
//!   shape, on one page.
//! - `/SamplingTargets` adds up each rule's reported `RequestCount`, `SampledCount` and
//!   `BorrowCount` (per `ClientID` too), and answers every reported rule with `FixedRate` =
//!   the rule's, `ReservoirQuota` = its share of the rule's `ReservoirSize`,
//!   `ReservoirQuotaTTL` = now + 60 s, `Interval` = 10 s, plus `LastRuleModification` (when
//!   the rules were loaded) and `UnprocessedStatistics` (reports for rules not served). As in
//!   X-Ray, the processes using a rule share its reservoir, so that together they take no more
//!   than it allows: here evenly, among the processes that reported on the rule in the last
//!   20 s (X-Ray also weighs each one's traffic). A process keeps the quota it was given until
//!   its next report, so for up to one interval after a new process appears the shares can
//!   add up to more than the reservoir.
//! - Other paths are `404`, other methods `405`, bodies that are not the request's JSON
//!   `400`, bodies over 1 MiB `413`; nothing a client sends stops the collector.
//!
//! An SDK rules file (`examples/sampling-rules.json` in this crate):
//!
//! ```json
#![doc = include_str!("../examples/sampling-rules.json")]
//! ```

mod accept;
mod assembler;
mod collector;
mod document;
mod html;
mod map;
mod otlp;
mod page;
mod render;
mod sampling;
mod trace;

pub use assembler::{
    Assembler, DEFAULT_MAX_BYTES, DEFAULT_MAX_NODES_PER_TRACE, DEFAULT_MAX_TRACES, Stats,
};
pub use collector::{Collector, CollectorHandle};
pub use document::{DAEMON_HEADER, MAX_DATAGRAM_BYTES, Malformed};
pub use html::{render_html, write_html};
pub use map::{Edge, service_map};
pub use page::{
    Filter, FilterError, Health, MAX_FILTER_CHARS, MapEdge, MapNode, MapNodeKind, ServiceGraph,
    Status,
};
pub use render::{
    MAX_WIDTH, MIN_WIDTH, WaterfallOptions, render_service_map, render_waterfall,
    render_waterfall_with,
};
pub use sampling::{ClientCounts, RuleCounts};
pub use trace::{Link, Node, NodeKind, Trace};

/// An OpenTelemetry trace id's 32 hex digits in X-Ray form, `1-{8 hex}-{24 hex}`, as
/// [`Trace::id`] gives it. Takes anything that prints as 32 hex digits (such as
/// `opentelemetry::trace::TraceId`); other text is returned unchanged.
pub fn xray_trace_id(id: impl std::fmt::Display) -> String {
    let hex = id.to_string();
    if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("1-{}-{}", &hex[..8], &hex[8..])
    } else {
        hex
    }
}
