//! Trace context into AWS Step Functions executions.
//!
//! StartExecution and StartSyncExecution get a PRODUCER span `send {state machine}` whose
//! context goes into the request's `traceHeader` — where Step Functions and X-Ray read it —
//! and, when configured ([`SfnPropagation::with_input_field`]), into the execution input, so
//! that states can hand it on to what they call. A `traceHeader` the caller set is kept; an
//! input Baton cannot extend is sent as given.
//!
//! ```no_run
//! # async fn example(sdk_config: aws_config::SdkConfig) -> Result<(), aws_sdk_sfn::Error> {
//! use baton_sfn::SfnPropagation;
//! use opentelemetry::trace::FutureExt;
//!
//! let propagation = SfnPropagation::new().with_input_field("traceHeader");
//! let sfn = aws_sdk_sfn::Client::from_conf(
//!     aws_sdk_sfn::config::Builder::from(&sdk_config)
//!         .interceptor(propagation.interceptor())
//!         .build(),
//! );
//! sfn.start_execution()
//!     .state_machine_arn("arn:aws:states:eu-west-1:123456789012:stateMachine:orders")
//!     .input(r#"{"order":42}"#)
//!     .send()
//!     .with_current_context()
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! StartSyncExecution is sent by the SDK to a `sync-` prefixed host; that is the SDK's
//! behaviour and Baton leaves it alone (LocalStack users: see `integration/` for a test-only
//! way around it).

//!
//! # Layout
//!
//! The interceptor and the Tower layer are Baton's one driver ([`baton::driver`]); this crate
//! holds only what is Step Functions' own: `operations.rs`, the table (StartExecution,
//! StartSyncExecution) and the request header; `start.rs`, the send span, `traceHeader`, the
//! input field and their limits; `config.rs`, the settings; `service.rs`, the Step Functions
//! client as a Tower service.

mod config;
mod operations;
pub mod service;
mod start;

pub use config::SfnPropagation;
pub use service::{SfnLayer, SfnRequest, SfnResponse, SfnResponseFuture, SfnService, TracedSfn};
pub use start::StartCall;

/// Baton's Step Functions propagation as an AWS SDK interceptor (the driver's
/// [`Interceptor`](baton::driver::Interceptor) with Step Functions' settings).
///
/// ```
/// # async fn example() {
/// let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let config = aws_sdk_sfn::config::Builder::from(&sdk_config)
///     .interceptor(baton_sfn::SfnInterceptor::default())
///     .build();
/// let client = aws_sdk_sfn::Client::from_conf(config);
/// # drop(client);
/// # }
/// ```
///
/// StartExecution and StartSyncExecution then open a PRODUCER span whose context goes into
/// `traceHeader` (and the `X-Amzn-Trace-Id` request header, set just before signing, so the
/// two agree inside Lambda too).
pub type SfnInterceptor = baton::driver::Interceptor<SfnPropagation>;
