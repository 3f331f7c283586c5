//! Test helpers shared by Baton's service crates (`baton-sqs`, `baton-sns`,
//! `baton-eventbridge`, `baton-sfn`). Dev-only: it is never published.
//!
//! Each service crate's tests check the exact request its SDK client sends and the spans Baton
//! records. What they all need is here, written once:
//!
//! - [`Stub`]: an HTTP client for any `aws-sdk-*` client. It records every request (its
//!   `x-amzn-trace-id` and `x-amz-target` headers and its body) and answers with what a
//!   [`Responder`] computes from that request. It can also fail the first few requests or never
//!   answer at all.
//! - [`sdk_config!`]: an SDK config builder pointed at a stub (test credentials, region
//!   [`REGION`], endpoint [`ENDPOINT`]).
//! - [`Spans`]: a tracer provider with X-Ray ids and an in-memory exporter, with helpers to
//!   read the finished spans; [`header_of`] spells the X-Ray header that names a span.
//!
//! What stays in each service crate is how its service answers: a small [`Responder`] with the
//! canned bodies of its operations.
//!
//! # Layout
//! - `stub.rs`: [`Stub`], [`Request`], [`Reply`], [`Responder`].
//! - `config.rs`: [`sdk_config!`], [`REGION`], [`ENDPOINT`].
//! - `spans.rs`: [`Spans`], [`header_of`].
//! - `metrics.rs`: [`Metrics`] (a meter whose data points a test reads exactly), [`point`].
//! - `timing.rs`: [`LoopTimer`] (wall and on-CPU time of a benchmark loop).
//!
//! # Example
//!
//! ```ignore
//! use baton_test_support::{Reply, Request, Spans, Stub, sdk_config};
//!
//! let stub = Stub::new(|request: &Request<'_>| match request.operation() {
//!     "SendMessage" => Reply::ok(r#"{"MessageId":"m-1"}"#),
//!     _ => Reply::ok("{}"),
//! });
//! let client = aws_sdk_sqs::Client::from_conf(sdk_config!(aws_sdk_sqs, stub).build());
//! let spans = Spans::new();
//! // … send through `client` with a tracer from `spans.handle()`, then:
//! assert_eq!(stub.requests()[0].operation(), "SendMessage");
//! let send = spans.one("send orders");
//! ```
//!
//! (The example is not compiled here: this crate depends on no `aws-sdk-*` crate. The service
//! crates' tests use it that way.)

mod config;
mod log_lines;
mod metrics;
mod spans;
mod stub;
mod timing;

pub use config::{ENDPOINT, REGION};
pub use log_lines::LogLines;
pub use metrics::{HistogramPoint, Metrics, Point, point};
pub use spans::{Shape, Spans, call_in, header_of, pairs, shape};
pub use stub::{Reply, Request, Responder, Stub, TARGET_HEADER, TRACE_HEADER};
pub use timing::{LoopTimer, thread_cpu_ns};

/// The names of the top-level fields in a value's pretty `Debug` output (`{:#?}`), in order: how
/// the service crates check that an SDK input type has no field their Tower clients would drop
/// when they rebuild it field by field (an SDK update that adds one makes the check fail).
///
/// ```
/// #[derive(Debug)]
/// struct Input { queue_url: Option<String>, body: Option<String> }
///
/// let debug = format!("{:#?}", Input { queue_url: Some("q".into()), body: None });
/// assert_eq!(baton_test_support::debug_fields(&debug), ["queue_url", "body"]);
/// ```
pub fn debug_fields(debug: &str) -> Vec<&str> {
    debug
        .lines()
        .filter_map(|line| line.strip_prefix("    "))
        .filter(|line| !line.starts_with(' '))
        .filter_map(|line| line.split_once(':').map(|(name, _)| name))
        .collect()
}
