//! Trace context into AWS Lambda invocations.
//!
//! **Invoke** gets a CLIENT span `Lambda.Invoke` whose context goes into the request twice: the
//! `X-Amzn-Trace-Id` header (Lambda continues it when the function traces, and its `Lineage`
//! keeps Lambda's recursive-loop detection working) and, for synchronous invocations (the only
//! ones Lambda hands it to), `X-Amzn-Trace-Id` in the `ClientContext`'s `custom` map (base64
//! JSON, which reaches the function's code whatever its tracing mode; a `ClientContext` the
//! caller set is merged into, and a trace of the caller's own there is kept and also sent as
//! the header; one that cannot take it is sent as given). On the function's side, `baton_worker::lambda::InvocationLayer` reads it
//! back: the invocation span continues the caller's trace.
//!
//! ```no_run
//! # async fn example(sdk_config: aws_config::SdkConfig) -> Result<(), aws_sdk_lambda::Error> {
//! use aws_sdk_lambda::primitives::Blob;
//! use baton_lambda::LambdaPropagation;
//! use opentelemetry::trace::FutureExt;
//!
//! let lambda = aws_sdk_lambda::Client::from_conf(
//!     aws_sdk_lambda::config::Builder::from(&sdk_config)
//!         .interceptor(LambdaPropagation::new().interceptor())
//!         .build(),
//! );
//! lambda
//!     .invoke()
//!     .function_name("fulfil")
//!     .payload(Blob::new(r#"{"order":42}"#))
//!     .send()
//!     .with_current_context()
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! InvokeWithResponseStream is not traced by this crate (its response is a stream the Tower
//! form cannot hand back as one value); `baton::TraceHeaderInterceptor` sets its request header.
//!
//! # Layout
//!
//! The interceptor and the Tower layer are Baton's one driver (`baton::driver`); this crate
//! holds only what is Lambda's own: `operations.rs`, the table (Invoke); `invoke.rs`, the
//! CLIENT span, the `ClientContext` merge and its limit; `config.rs`, the settings;
//! `service.rs`, the Lambda client as a Tower service.

mod config;
mod invoke;
mod operations;
pub mod service;

pub use config::LambdaPropagation;
pub use invoke::{CLIENT_CONTEXT_KEY, InvokeCall, MAX_CLIENT_CONTEXT_BYTES};
pub use service::{LambdaLayer, LambdaRequest, LambdaResponseFuture, LambdaService, TracedLambda};

/// Baton's Lambda propagation as an AWS SDK interceptor (the driver's
/// [`Interceptor`](baton::driver::Interceptor) with Lambda's settings).
///
/// ```
/// # async fn example() {
/// let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let config = aws_sdk_lambda::config::Builder::from(&sdk_config)
///     .interceptor(baton_lambda::LambdaInterceptor::default())
///     .build();
/// let client = aws_sdk_lambda::Client::from_conf(config);
/// # drop(client);
/// # }
/// ```
pub type LambdaInterceptor = baton::driver::Interceptor<LambdaPropagation>;
