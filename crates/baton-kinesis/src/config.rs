//! What the Kinesis middleware does, shared by the Tower layer and the SDK interceptor.

use aws_sdk_kinesis::types::Record;
use baton::driver::{Common, Probed};
use opentelemetry::Context;

use crate::record::{DATA_TRACE_FIELD, KinesisRecord, MAX_RECORD_BYTES};
use crate::{KinesisInterceptor, KinesisLayer, KinesisService, TracedKinesis};

/// Settings of Baton's Kinesis propagation; build the Tower [`layer`](Self::layer), the SDK
/// [`interceptor`](Self::interceptor) or the whole Tower [`service`](Self::service) from it.
///
/// Defaults: PutRecord and PutRecords get a PRODUCER span `send {stream}` and the data is sent
/// exactly as given — Kinesis records have no metadata, so the trace travels only where the
/// user allows it: [`with_data_field`](Self::with_data_field) puts it into each record's JSON
/// data. GetRecords made inside a trace gets a CLIENT `receive {stream}` span linked to every
/// record's producer; [`start_process_span`](Self::start_process_span) continues a record's
/// trace, and [`process`](Self::process) also takes the field out of the data first when
/// [`with_strip_data_field`](Self::with_strip_data_field) is on.
#[derive(Clone, Debug)]
pub struct KinesisPropagation {
    pub(crate) common: Common,
    pub(crate) data_field: String,
    pub(crate) write_data_field: bool,
    pub(crate) strip_data_field: bool,
}

impl Default for KinesisPropagation {
    fn default() -> Self {
        KinesisPropagation {
            common: Common::default().with_size_limit(MAX_RECORD_BYTES),
            data_field: DATA_TRACE_FIELD.to_owned(),
            write_data_field: false,
            strip_data_field: false,
        }
    }
}

impl KinesisPropagation {
    /// The defaults (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    baton::common_builders!(
        common,
        "the largest record the stream takes, data and partition key together (Kinesis' limit, \
         and Baton's default for this crate, is 1 MiB). Baton adds the data field only while \
         the record stays within it, and a PutRecords request within Kinesis' 5 MiB"
    );

    /// Puts the producer's trace header into each record's data, as the string member `field`
    /// of its top-level JSON object (inserted first; every other byte stays as written), and
    /// reads it back from there on the consumer side (which reads [`DATA_TRACE_FIELD`] unless
    /// told otherwise). Off by default: Kinesis has nowhere else to carry it, and a record's
    /// consumers (Firehose, analytics, other teams) see the data as sent.
    ///
    /// Data that is not a JSON object — any other text, binary, an aggregated KPL record — is
    /// sent untouched, with a `tracing` event; so is a record that would outgrow the size
    /// limit, and a record whose data has the field already (the caller's own trace is kept).
    pub fn with_data_field(mut self, field: impl Into<String>) -> Self {
        self.data_field = field.into();
        self.write_data_field = true;
        self
    }

    /// Whether [`process`](Self::process) takes the data field out of a record before handing
    /// it on (default: no), so the handler — and what it forwards, to a Firehose or S3 sink
    /// say — sees the data byte for byte as the producer's application wrote it.
    pub fn with_strip_data_field(mut self, strip: bool) -> Self {
        self.strip_data_field = strip;
        self
    }

    /// The Tower form in one call: `client` as a [`KinesisService`] wrapped in this
    /// propagation, with `cloud.region` taken from the client's configuration and
    /// `server.address` from where its calls go (see [`baton::driver::ServerProbe`]).
    pub fn service(
        &self,
        client: aws_sdk_kinesis::Client,
    ) -> TracedKinesis<Probed<KinesisService>> {
        let mut settings = self.clone();
        let service = baton::tower_service!(
            aws_sdk_kinesis,
            client,
            settings.common,
            KinesisService::new
        );
        TracedKinesis::new(service, settings)
    }

    /// The SDK interceptor with these settings.
    pub fn interceptor(&self) -> KinesisInterceptor {
        KinesisInterceptor::new(self.clone())
    }

    /// The Tower layer with these settings.
    pub fn layer(&self) -> KinesisLayer {
        KinesisLayer::new(self.clone())
    }

    /// The record as Baton's consumer side reads it (see [`KinesisRecord`]).
    pub fn record<'a>(&'a self, record: &'a Record, stream: &'a str) -> KinesisRecord<'a> {
        let mut read = KinesisRecord::new(record.data.as_ref())
            .with_field(&self.data_field)
            .with_sequence_number(&record.sequence_number)
            .with_stream(stream);
        if let Some(arrival) = record
            .approximate_arrival_timestamp
            .and_then(|at| std::time::SystemTime::try_from(at).ok())
        {
            read = read.with_arrival(arrival);
        }
        read
    }

    /// Starts the processing span of a record read from `stream` (GetRecords) under the
    /// configured link policy, continuing the producer's trace from the record's data, and
    /// returns the context with that span active. End the span when the record is handled.
    pub fn start_process_span(&self, record: &Record, stream: &str) -> Context {
        self.common
            .start_delivery(&self.record(record, stream), stream)
    }

    /// [`start_process_span`](Self::start_process_span), then, with
    /// [`with_strip_data_field`](Self::with_strip_data_field), the data field taken out of
    /// `record` (see [`KinesisRecord::data_without_field`]).
    ///
    /// ```no_run
    /// # async fn example(kinesis: aws_sdk_kinesis::Client, iterator: String) -> Result<(), aws_sdk_kinesis::Error> {
    /// use baton_kinesis::KinesisPropagation;
    /// use opentelemetry::trace::TraceContextExt;
    ///
    /// let propagation = KinesisPropagation::new().with_strip_data_field(true);
    /// let output = kinesis.get_records().shard_iterator(iterator).send().await?;
    /// for mut record in output.records {
    ///     let cx = propagation.process(&mut record, "clicks");
    ///     // … handle `record` (its data now without the trace field) with `cx` attached …
    ///     cx.span().end();
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn process(&self, record: &mut Record, stream: &str) -> Context {
        let read = self.record(record, stream);
        let cx = self.common.start_delivery(&read, stream);
        if self.strip_data_field
            && let Some(data) = read.data_without_field()
        {
            record.data = aws_sdk_kinesis::primitives::Blob::new(data);
        }
        cx
    }
}
