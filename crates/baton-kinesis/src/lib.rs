//! Trace context through Amazon Kinesis Data Streams.
//!
//! **PutRecord** and **PutRecords** get a PRODUCER span `send {stream}`
//! (`messaging.system = aws_kinesis`, `aws.kinesis.stream_name`); with several records and the
//! data field on, each record whose data is a JSON object gets a `create` span of its own under
//! it. Kinesis records carry no metadata, so the trace can travel only inside the data: with
//! `KinesisPropagation::with_data_field`, each record whose data is a JSON object gets the
//! trace header as a string member (inserted first; every other byte stays as written). Data
//! that is not a JSON object, a record that would outgrow 1 MiB (or the request 5 MiB), and
//! data that has the field already are sent exactly as given, with a `tracing` event. Without
//! the option the data is never touched. (1 MiB and 5 MiB are Kinesis' default limits; streams
//! configured for larger records take them too, Baton just does not grow a record past 1 MiB.)
//!
//! A `receive` span links at most as many producers as the tracer provider keeps links per
//! span (OpenTelemetry's SDK: 128 by default); a GetRecords of more records drops the rest.
//!
//! On the **consumer** side, [`KinesisRecord`] reads the producer's context back from a
//! record's data (GetRecords, a Lambda Kinesis event, anything that holds the bytes), and can
//! give the data back without the field. GetRecords made inside a trace gets a CLIENT
//! `receive {stream}` span linked to each record's producer.
//!
//! ```no_run
//! # async fn example(sdk_config: aws_config::SdkConfig, iterator: String) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use aws_sdk_kinesis::primitives::Blob;
//! use baton_kinesis::KinesisPropagation;
//! use opentelemetry::trace::{FutureExt, TraceContextExt};
//!
//! let propagation = KinesisPropagation::new()
//!     .with_data_field("traceHeader")
//!     .with_strip_data_field(true);
//! let kinesis = aws_sdk_kinesis::Client::from_conf(
//!     aws_sdk_kinesis::config::Builder::from(&sdk_config)
//!         .interceptor(propagation.interceptor())
//!         .build(),
//! );
//! kinesis
//!     .put_record()
//!     .stream_name("clicks")
//!     .partition_key("user-7")
//!     .data(Blob::new(r#"{"page":"/cart"}"#))
//!     .send()
//!     .with_current_context()
//!     .await?;
//!
//! // In the consumer:
//! let output = kinesis.get_records().shard_iterator(iterator).send().await?;
//! for mut record in output.records {
//!     let cx = propagation.process(&mut record, "clicks");
//!     // … handle `record` (its data as the producer's application wrote it) in `cx` …
//!     cx.span().end();
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The Tower form is in the `service` module; Lambda functions fed by a stream use
//! `baton_worker::lambda::KinesisBatchHandler`.
//!
//! # Layout
//!
//! The interceptor and the Tower layer are Baton's one driver (`baton::driver`); this crate
//! holds only what is Kinesis' own: `operations.rs`, the table (PutRecord, PutRecords,
//! GetRecords); `put.rs`, the send span, the data field and the record and request limits;
//! `get.rs`, the receive span; `record.rs`, a record read back ([`KinesisRecord`]: context,
//! field taken out, process span); `config.rs`, the settings; `service.rs`, the Kinesis client
//! as a Tower service.
//!
//! # Features
//! - `sdk` (default): the send and GetRecords side, over `aws-sdk-kinesis`. Without it the
//!   crate is the record reader ([`KinesisRecord`]) alone and compiles no AWS SDK;
//!   `baton-worker`'s Lambda adapter uses it that way.

#[cfg(feature = "sdk")]
mod config;
#[cfg(feature = "sdk")]
mod get;
#[cfg(feature = "sdk")]
mod operations;
#[cfg(feature = "sdk")]
mod put;
mod record;
#[cfg(feature = "sdk")]
pub mod service;

#[cfg(feature = "sdk")]
pub use config::KinesisPropagation;
#[cfg(feature = "sdk")]
pub use operations::KinesisCall;
#[cfg(feature = "sdk")]
pub use put::PutCall;
pub use record::{
    DATA_TRACE_FIELD, KINESIS, KinesisRecord, MAX_PUT_RECORDS_BYTES, MAX_RECORD_BYTES,
    STREAM_NAME_ATTRIBUTE,
};
#[cfg(feature = "sdk")]
pub use service::{
    KinesisLayer, KinesisRequest, KinesisResponse, KinesisResponseFuture, KinesisService,
    TracedKinesis,
};

/// Baton's Kinesis propagation as an AWS SDK interceptor (the driver's
/// [`Interceptor`](baton::driver::Interceptor) with Kinesis' settings).
///
/// ```
/// # async fn example() {
/// let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let config = aws_sdk_kinesis::config::Builder::from(&sdk_config)
///     .interceptor(baton_kinesis::KinesisPropagation::new().with_data_field("traceHeader").interceptor())
///     .build();
/// let client = aws_sdk_kinesis::Client::from_conf(config);
/// # drop(client);
/// # }
/// ```
///
/// PutRecord and PutRecords then open a PRODUCER span (and write its context into JSON data,
/// with the data field on); GetRecords inside a trace records a `receive` span; other
/// operations are untouched.
#[cfg(feature = "sdk")]
pub type KinesisInterceptor = baton::driver::Interceptor<KinesisPropagation>;
