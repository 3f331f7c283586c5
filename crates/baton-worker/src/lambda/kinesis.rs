//! Kinesis events: each record handled, in order, in its own process span continuing its
//! producer; the first failure checkpoints the batch there.

use std::task::{Context as TaskContext, Poll};
use std::time::SystemTime;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use baton::driver::Common;
use baton_kinesis::{DATA_TRACE_FIELD, KINESIS, KinesisRecord};
use lambda_runtime::LambdaEvent;
use opentelemetry::Context;
use tower::{BoxError, Service};

use super::{BoxFuture, process_record};

/// The destination name of a process span whose record names no stream.
const UNKNOWN_STREAM: &str = "unknown";

/// The stream name in a Kinesis ARN (`arn:aws:kinesis:{region}:{account}:stream/{name}`).
pub(crate) fn stream_name(arn: Option<&str>) -> Option<&str> {
    let (_, rest) = arn?.rsplit_once(":stream/")?;
    rest.split('/').next().filter(|name| !name.is_empty())
}

/// The record reader Baton's consumer side uses, for a Lambda Kinesis record.
pub(crate) fn read<'a>(record: &'a KinesisEventRecord, field: &'a str) -> KinesisRecord<'a> {
    let mut read = KinesisRecord::new(&record.kinesis.data.0)
        .with_field(field)
        .with_sequence_number(&record.kinesis.sequence_number)
        .with_arrival(SystemTime::from(
            record.kinesis.approximate_arrival_timestamp.0,
        ));
    if let Some(stream) = stream_name(record.event_source_arn.as_deref()) {
        read = read.with_stream(stream);
    }
    read
}

/// A Lambda handler for Kinesis stream events (an event source mapping on a stream) that calls
/// a `tower::Service<KinesisEventRecord>` per record and answers with a partial batch response.
///
/// Each record is handled inside a `process {stream}` CONSUMER span that continues its
/// producer's trace, read from the record's JSON data where Baton's Kinesis middleware puts it
/// (`KinesisPropagation::with_data_field`; field `traceHeader` unless
/// [`with_data_field`](Self::with_data_field) names another), or links to it under
/// [`LinkPolicy::Link`](baton::LinkPolicy::Link), as a child of the span current when the handler is called (an
/// [`InvocationLayer`](super::InvocationLayer)'s invocation span). A record without one starts
/// a new trace. With [`with_strip_data_field`](Self::with_strip_data_field) the handler gets
/// the record's data without the field, byte for byte as the producer's application wrote it.
///
/// **Event source mapping.** Failures reach Lambda only when the mapping has
/// `ReportBatchItemFailures` in its `FunctionResponseTypes`. Without it Lambda ignores the
/// response: the invocation succeeded, the whole batch is checkpointed, and the failed record
/// and every record after it are never handled again.
///
/// **Order and failures.** A shard's records are ordered, so they are handled one after
/// another. The first failure (an `Err` or a panic of the handler) stops the batch: its
/// sequence number is the response's one batch item failure, and the records after it are not
/// handled; Lambda checkpoints the records before it and retries from it.
///
/// ```no_run
/// use aws_lambda_events::event::kinesis::KinesisEventRecord;
/// use baton_worker::lambda::{InvocationLayer, KinesisBatchHandler};
///
/// # async fn main_() -> Result<(), lambda_runtime::Error> {
/// let handler = tower::service_fn(|record: KinesisEventRecord| async move {
///     println!("{} bytes", record.kinesis.data.0.len());
///     Ok::<_, std::io::Error>(())
/// });
/// let function = tower::ServiceBuilder::new()
///     .layer(InvocationLayer::new())
///     .service(KinesisBatchHandler::new(handler).with_strip_data_field(true));
/// lambda_runtime::run(function).await
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a handler does nothing until Lambda invokes it"]
pub struct KinesisBatchHandler<S> {
    inner: S,
    process: Common,
    field: String,
    strip: bool,
}

impl<S> KinesisBatchHandler<S> {
    /// An adapter calling `handler` for each record.
    pub fn new(handler: S) -> Self {
        KinesisBatchHandler {
            inner: handler,
            process: Common::default(),
            field: DATA_TRACE_FIELD.to_owned(),
            strip: false,
        }
    }

    process_builders!(process, "record");

    /// Reads the trace header from `field` of the records' JSON data (the producer's
    /// `with_data_field`); default `traceHeader`. The invocation span of
    /// [`InvocationLayer`](super::InvocationLayer) reads `traceHeader` only: with another
    /// field it has no links.
    pub fn with_data_field(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }

    /// Whether to take the trace field out of each record's data before the handler sees it
    /// (default: no).
    pub fn with_strip_data_field(mut self, strip: bool) -> Self {
        self.strip = strip;
        self
    }

    /// The wrapped handler.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped handler, taking the adapter apart.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Service<LambdaEvent<KinesisEvent>> for KinesisBatchHandler<S>
where
    S: Service<KinesisEventRecord> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    type Response = KinesisEventResponse;
    type Error = BoxError;
    type Future = BoxFuture<KinesisEventResponse, BoxError>;

    /// Always ready: the handler's own readiness is awaited per record.
    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<KinesisEvent>) -> Self::Future {
        let this = self.clone();
        // The invocation's context, if an `InvocationLayer` made one current.
        let enclosing = Context::current();
        Box::pin(async move {
            let KinesisBatchHandler {
                inner: mut service,
                process,
                field,
                strip,
            } = this;
            let mut response = KinesisEventResponse::default();
            for mut record in event.payload.records {
                let stream = stream_name(record.event_source_arn.as_deref())
                    .unwrap_or(UNKNOWN_STREAM)
                    .to_owned();
                let (cx, stripped) = {
                    let read = read(&record, &field);
                    let cx = process.start_delivery_within(&read, &stream, &enclosing);
                    (cx, strip.then(|| read.data_without_field()).flatten())
                };
                if let Some(data) = stripped {
                    record.kinesis.data.0 = data;
                }
                let measure = process.measure_process(KINESIS, &stream);
                let sequence_number = record.kinesis.sequence_number.clone();
                let log = |error: &str| {
                    tracing::warn!(
                        target: "baton_worker",
                        stream = %stream,
                        sequence_number = %sequence_number,
                        %error,
                        "handler failed; the batch is checkpointed before this record"
                    );
                };
                if process_record(&mut service, record, &cx, measure, log)
                    .await
                    .is_err()
                {
                    response.add_failure(sequence_number);
                    break;
                }
            }
            Ok(response)
        })
    }
}
