//! Baton's core: keep one request one trace across AWS asynchronous messaging.
//!
//! This crate knows no AWS service. It holds what every service crate shares:
//! - [`TraceHeader`]: the X-Ray trace header (`Root=…;Parent=…;Sampled=…`), parsed without
//!   allocating and field by field (only a missing, malformed or contradicted `Root` loses the
//!   trace; the rules are in [`TraceHeader::parse`]), with exact conversion to and from
//!   OpenTelemetry's [`SpanContext`];
//! - [`XrayIdGenerator`]: trace ids X-Ray accepts (epoch seconds in the first 32 bits);
//! - [`XrayPropagator`]: an OpenTelemetry propagator for `X-Amzn-Trace-Id` that keeps
//!   `Lineage` (in its documented forms only) and composes with the W3C one,
//!   [`W3cPropagator`] (OpenTelemetry's, keeping Baton's private sampling marker off the wire);
//! - [`XrayParentBased`]: a sampler that treats `Sampled=?` as "decide here";
//! - [`carrier`]: `Injector` / `Extractor` views of string maps, with limits;
//! - [`MessagingSpan`] and [`LinkPolicy`]: producer, receive and process spans with the
//!   messaging semantic conventions; [`SendSpans`]: the spans of one send call, batch
//!   entries included, and how they end;
//! - [`current_context`]: the caller's context, from `tracing` (feature `tracing`) or
//!   OpenTelemetry; [`TracerHandle`]: the tracer the middleware uses;
//! - [`metrics`]: the conventions' messaging metrics, through a meter the user passes;
//! - `logs` (feature `logs`): the trace id, in X-Ray and OpenTelemetry form, in every log line
//!   written inside a traced span, so a log search leads to the trace.
//!
//! # Example: hand a trace from producer to consumer through a message attribute
//!
//! ```
//! use baton::{extract_header, header_for_context, LinkPolicy, MessagingSpan, MessagingSystem};
//! use opentelemetry::trace::{Span, TraceContextExt, TracerProvider};
//! use opentelemetry::Context;
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//!
//! let provider = SdkTracerProvider::builder()
//!     .with_id_generator(baton::XrayIdGenerator::default())
//!     .build();
//! let tracer = provider.tracer("example");
//!
//! // Producer: a send span, whose context goes into the message.
//! let send = MessagingSpan::send(MessagingSystem::Sqs, "orders").start(&tracer, &Context::new());
//! let send_cx = Context::new().with_span(send);
//! let aws_trace_header = header_for_context(&send_cx).unwrap();
//!
//! // Consumer: the process span continues the producer's trace.
//! let producer_cx = extract_header(&Context::new(), &aws_trace_header, "AWSTraceHeader");
//! let process = MessagingSpan::process(MessagingSystem::Sqs, "orders")
//!     .start_process(&tracer, &producer_cx, LinkPolicy::Parent);
//! assert_eq!(
//!     process.span_context().trace_id(),
//!     send_cx.span().span_context().trace_id()
//! );
//! ```
//!
//! [`SpanContext`]: opentelemetry::trace::SpanContext

#[cfg(feature = "smithy")]
mod any_client;
pub mod carrier;
mod consts;
mod context;
mod delivery;
#[cfg(feature = "tower")]
pub mod driver;
mod header;
mod ids;
#[cfg(feature = "json")]
pub mod json;
#[cfg(feature = "logs")]
pub mod logs;
pub mod metrics;
mod outcome;
mod propagator;
mod sampling;
#[cfg(feature = "smithy")]
pub mod sdk;
mod send;
mod span;
mod tracer;

#[cfg(feature = "smithy")]
pub use any_client::TraceHeaderInterceptor;
pub use consts::{
    AWS_TRACE_HEADER, MAX_HEADER_LEN, MAX_LINEAGE_LEN, SEMCONV_VERSION, TRACEPARENT, TRACESTATE,
    XRAY_HEADER, attr,
};
pub use context::current_context;
pub use delivery::{Delivery, parse_rfc3339, time_in_queue_ms};
pub use header::{
    Dropped, HeaderError, HeaderFormat, PassOn, Sampled, TraceHeader, format_header, is_deferred,
    sampled_of, without_deferred_marker,
};
pub use ids::{XrayIdGenerator, trace_id_epoch_seconds};
pub use outcome::CallError;
pub use propagator::{
    LambdaInvocationTrace, PassOnFields, W3cPropagator, XrayPropagator, aws_header_for_context,
    context_from_header, extract_header, header_for_context, invocation_lineage, lambda_lineage,
    process_env, remote_span_context,
};
pub use sampling::XrayParentBased;
pub use send::{BatchResponse, EntryOutcome, OnSend, SendOutcome, SendSpans};
pub use span::{LinkPolicy, MessagingSpan, MessagingSystem, Operation};
pub use tracer::{INSTRUMENTATION_SCOPE, TracerHandle};
