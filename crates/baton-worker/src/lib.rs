//! Consumer runners that keep one request one trace on the consuming side of AWS messaging.
//!
//! - [`SqsWorker`]: long-polls an SQS queue and runs a [`tower::Service`] handler for each
//!   message inside a process span that continues the producer's trace; at-least-once (delete
//!   after success only), bounded, with heartbeats, FIFO group order, retries of SQS failures
//!   and a graceful shutdown.
//! - [`EventConsumer`]: routes EventBridge events by `source` and `detail-type` to typed
//!   (serde) handlers; runs behind `SqsWorker` (a queue as the rule's target, the trace
//!   continued from `detail.traceHeader`) or, with the `lambda` feature, in AWS Lambda.
//! - `lambda` (feature `lambda`): Lambda adapters for SQS batches (partial failures) and events.
//!
//! ```no_run
//! use aws_sdk_sqs::types::Message;
//! use baton_worker::SqsWorker;
//!
//! # async fn run() -> Result<(), baton_worker::WorkerError> {
//! let config = aws_config::load_from_env().await;
//! let client = aws_sdk_sqs::Client::new(&config);
//! let handler = tower::service_fn(|message: Message| async move {
//!     // Runs inside `process orders`, a child of the producer's span.
//!     tracing::info!(body = message.body(), "got an order");
//!     Ok::<_, std::convert::Infallible>(())
//! });
//! SqsWorker::new(client, "https://sqs.eu-west-1.amazonaws.com/123456789012/orders", handler)
//!     .run_until_signal()
//!     .await?;
//! # Ok(()) }
//! ```

mod backoff;
mod consumer;
mod error;
#[cfg(feature = "lambda")]
pub mod lambda;
mod queue;
mod stats;
mod worker;

pub use consumer::{ConsumeError, Event, EventConsumer};
pub use error::WorkerError;
pub use stats::{StatsSnapshot, WorkerStats};
pub use tokio_util::sync::CancellationToken;
pub use worker::SqsWorker;
