//! One propagation driver for every AWS service (features `smithy` and `tower`).
//!
//! A service crate describes its service once, as a [`TracedService`] (its settings type,
//! holding the shared [`Common`] settings) with a table of [`Operation`]s, one per traced SDK
//! operation input ([`TracedOperation`]: start the call's spans and write the context into the
//! input; end them with the output or error). From that description the driver gives both forms,
//! written once here:
//! - [`Interceptor`]: an AWS SDK interceptor (`Intercept`), for unchanged fluent call sites;
//! - [`PropagationLayer`] and [`Traced`]: the Tower layer and service, over the service crate's
//!   request and response types, with [`ResponseFuture`] ending the spans.
//!
//! Both forms run the same per-operation code, so what a send does cannot differ between them.
//! A third-party crate describes another service the same way, with no change here
//! ([`MessagingSystem::Other`](crate::MessagingSystem::Other) names its system).
//!
//! # Describing a service
//!
//! ```
//! use std::any::Any;
//!
//! use baton::CallError;
//! use baton::driver::{Common, Operation, Start, TracedOperation, TracedService};
//! use baton::{EntryOutcome, MessagingSystem, SendOutcome, SendSpans};
//! use opentelemetry::Context;
//!
//! // The SDK's input, output and error of one operation (normally from an `aws-sdk-*` crate).
//! #[derive(Debug)]
//! struct PutRecordInput { stream: String, data: String }
//! #[derive(Debug)]
//! struct PutRecordOutput { sequence_number: String }
//! #[derive(Debug)]
//! struct PutRecordError;
//! # impl std::fmt::Display for PutRecordError {
//! #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("failed") }
//! # }
//! # impl std::error::Error for PutRecordError {}
//! # impl aws_smithy_types::error::metadata::ProvideErrorMetadata for PutRecordError {
//! #     fn meta(&self) -> &aws_smithy_types::error::ErrorMetadata {
//! #         static META: std::sync::OnceLock<aws_smithy_types::error::ErrorMetadata> = std::sync::OnceLock::new();
//! #         META.get_or_init(|| aws_smithy_types::error::ErrorMetadata::builder().build())
//! #     }
//! # }
//!
//! /// The settings of the new service's propagation.
//! #[derive(Clone, Debug, Default)]
//! struct StreamPropagation { common: Common }
//!
//! impl TracedService for StreamPropagation {
//!     const INTERCEPTOR_NAME: &'static str = "StreamPropagation";
//!     type Call = SendSpans<()>;
//!     type Request = PutRecordInput;
//!     type Response = PutRecordOutput;
//!     type SdkError = PutRecordError;
//!     const OPERATIONS: &'static [Operation<Self>] = &[Operation::of::<PutRecordInput>()];
//!
//!     fn common(&self) -> &Common { &self.common }
//!     fn active_context(call: &Self::Call) -> Option<&Context> { Some(call.cx()) }
//!     fn request_input(request: &mut Self::Request) -> &mut dyn Any { request }
//!     fn response_output(response: &Self::Response) -> &dyn Any { response }
//! }
//!
//! impl TracedOperation<StreamPropagation> for PutRecordInput {
//!     type Output = PutRecordOutput;
//!     type Error = PutRecordError;
//!
//!     fn start(&mut self, service: &StreamPropagation, start: &Start<'_>) -> SendSpans<()> {
//!         let system = MessagingSystem::Other("aws_kinesis");
//!         let spans = service.common.send_spans(system, self.stream.clone(), "PutRecord", None, start, []);
//!         // … write `spans.cx()` into the record …
//!         spans
//!     }
//!
//!     fn finish(call: SendSpans<()>, result: Result<&PutRecordOutput, &CallError>) {
//!         let outcome = result.map(|o| SendOutcome::new(None).with_message_id(Some(&o.sequence_number)));
//!         call.finish(outcome, |()| EntryOutcome::Unreported);
//!     }
//! }
//!
//! // Both forms now exist: `Interceptor::new(settings)` for the SDK client's configuration,
//! // `PropagationLayer::new(settings)` for a Tower stack.
//! let interceptor = baton::driver::Interceptor::new(StreamPropagation::default());
//! # drop(interceptor);
//! ```

mod call_header;
mod common;
mod interceptor;
mod operation;
mod tower;

pub use call_header::{WithCallHeader, call_header_interceptor, with_call_header};
pub use common::{Common, DEFAULT_SIZE_LIMIT, MAX_SIZE_LIMIT, MIN_SIZE_LIMIT, OnProcess};
pub use interceptor::Interceptor;
pub use operation::{Call, Operation, Start, TracedOperation, TracedService, set_server};
pub use tower::{Probed, PropagationLayer, ResponseFuture, ServerProbe, Traced};

/// The HTTP request header that carries the X-Ray trace header (in its lower-case wire form).
pub const TRACE_HEADER: &str = "x-amzn-trace-id";

#[doc(no_inline)]
pub use opentelemetry::metrics::Meter;
#[doc(no_inline)]
pub use opentelemetry::trace::SpanRef;
