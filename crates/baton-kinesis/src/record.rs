//! A Kinesis record read back: the producer's context from the record's data, and the data as
//! the producer's application wrote it. Needs no AWS SDK.

use std::time::SystemTime;

use baton::{Delivery, LinkPolicy, MessagingSpan, MessagingSystem, TracerHandle, attr};
use opentelemetry::Context;

/// The field of a record's JSON data that carries the trace header, unless configured
/// otherwise (the name EventBridge's `detail.traceHeader` and Step Functions' input use too).
pub const DATA_TRACE_FIELD: &str = "traceHeader";

/// Kinesis as a messaging system: `messaging.system = aws_kinesis`. The semantic conventions
/// define no `messaging.system` value for Kinesis (their registry has `aws_sqs` and `aws.sns`;
/// for Kinesis only the RPC attribute `aws.kinesis.stream_name`); Baton uses the form of
/// `aws_sqs`, which its X-Ray exporter shows as the `Kinesis` service.
pub const KINESIS: MessagingSystem = MessagingSystem::Other("aws_kinesis");

/// `aws.kinesis.stream_name`: the stream a span's call or record concerns.
pub const STREAM_NAME_ATTRIBUTE: &str = "aws.kinesis.stream_name";

/// The largest record Baton lets a record grow to: data and partition key together, in bytes
/// (1 MiB, Kinesis' default record limit; a stream may be configured for more).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// The largest PutRecords request Baton lets a request grow to: every record's data and
/// partition key together, in bytes (5 MiB, within every stream's request limit).
pub const MAX_PUT_RECORDS_BYTES: usize = 5 * 1024 * 1024;

/// One Kinesis record as a consumer holds it, from wherever it came: GetRecords
/// (`baton_kinesis::KinesisPropagation::record` makes one of the SDK's record),
/// a Lambda Kinesis event (whose `data` arrives decoded), a library of one's own.
///
/// Kinesis records have no metadata: a producer's context travels inside the data, as a string
/// field of its top-level JSON object, when the producer put it there
/// (`KinesisPropagation::with_data_field`). Any other data — not JSON, not an object, an
/// aggregated KPL record — carries no context, and its process span starts a new trace.
///
/// ```
/// use baton::{LinkPolicy, TracerHandle};
/// use baton_kinesis::KinesisRecord;
/// use opentelemetry::trace::TraceContextExt;
///
/// let data = br#"{"traceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1","click":7}"#;
/// let record = KinesisRecord::new(data).with_sequence_number("4959…");
/// let producer = record.producer_context();
/// assert_eq!(producer.span().span_context().span_id().to_string(), "53995c3f42cd8ad8");
/// // What the application wrote, without the field:
/// assert_eq!(record.data_without_field().as_deref(), Some(&br#"{"click":7}"#[..]));
///
/// let cx = record.start_process_span(&TracerHandle::global(), LinkPolicy::Parent, "clicks");
/// // … handle the record with `cx` attached, then end the span …
/// cx.span().end();
/// ```
#[derive(Clone, Copy, Debug)]
pub struct KinesisRecord<'a> {
    data: &'a [u8],
    field: &'a str,
    sequence_number: Option<&'a str>,
    arrival: Option<SystemTime>,
    stream: Option<&'a str>,
}

impl<'a> KinesisRecord<'a> {
    /// A record with `data` (decoded: the bytes the producer put), read for
    /// [`DATA_TRACE_FIELD`].
    pub fn new(data: &'a [u8]) -> Self {
        KinesisRecord {
            data,
            field: DATA_TRACE_FIELD,
            sequence_number: None,
            arrival: None,
            stream: None,
        }
    }

    /// Reads the trace header from `field` of the data instead of [`DATA_TRACE_FIELD`].
    #[must_use]
    pub fn with_field(mut self, field: &'a str) -> Self {
        self.field = field;
        self
    }

    /// The record's sequence number (its `messaging.message.id`).
    #[must_use]
    pub fn with_sequence_number(mut self, sequence_number: &'a str) -> Self {
        self.sequence_number = Some(sequence_number);
        self
    }

    /// When the stream took the record (`ApproximateArrivalTimestamp`): its process span gets
    /// `baton.messaging.time_in_queue_ms`.
    #[must_use]
    pub fn with_arrival(mut self, arrival: SystemTime) -> Self {
        self.arrival = Some(arrival);
        self
    }

    /// The stream's name, recorded as `aws.kinesis.stream_name` on the process span.
    #[must_use]
    pub fn with_stream(mut self, stream: &'a str) -> Self {
        self.stream = Some(stream);
        self
    }

    /// The record's data.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The data as text, when it could be JSON: UTF-8 that starts (after JSON whitespace)
    /// with `{`. Anything else is left without parsing it.
    fn json_object(&self) -> Option<&'a str> {
        let first = self
            .data
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))?;
        if *first != b'{' {
            return None;
        }
        std::str::from_utf8(self.data).ok()
    }

    /// The trace header in the data's field, if the data is a JSON object with that field as a
    /// string.
    pub fn trace_header(&self) -> Option<String> {
        let document = self.json_object()?;
        baton::json::probe_object(document, self.field)
            .ok()?
            .field
            .flatten()
    }

    /// The producer's context from the data's field; an empty context (a new trace) when
    /// there is none, and also when it is malformed (with a `tracing` event).
    pub fn producer_context(&self) -> Context {
        match self.trace_header() {
            Some(header) => baton::extract_header(&Context::new(), &header, "record data"),
            None => Context::new(),
        }
    }

    /// The data without the trace field — byte for byte what the producer's application put,
    /// when Baton added the field — or `None` when the data has no such field (then the data
    /// is already as it was sent). For consumers whose data goes on to places that must not
    /// see the field (a Firehose or S3 sink, a schema check).
    pub fn data_without_field(&self) -> Option<Vec<u8>> {
        let document = self.json_object()?;
        baton::json::remove_string_field(document, self.field).map(String::into_bytes)
    }

    /// Starts the record's processing span (`process {stream}`) with `tracer` under `policy`
    /// and returns the context with that span active. End the span when the record is handled.
    /// (The settings' `start_process_span` also records the body size when asked to.)
    pub fn start_process_span(
        &self,
        tracer: &TracerHandle,
        policy: LinkPolicy,
        stream: &str,
    ) -> Context {
        tracer.start_delivery(self, stream, policy)
    }
}

impl Delivery for KinesisRecord<'_> {
    fn system(&self) -> MessagingSystem {
        KINESIS
    }

    fn message_id(&self) -> Option<&str> {
        self.sequence_number
    }

    fn producer_context(&self) -> Context {
        KinesisRecord::producer_context(self)
    }

    fn body_size(&self) -> Option<usize> {
        Some(self.data.len())
    }

    /// `aws.kinesis.stream_name` and, with an arrival time, how long the record waited
    /// (`baton.messaging.time_in_queue_ms`).
    fn delivery_facts(&self, mut span: MessagingSpan) -> MessagingSpan {
        if let Some(stream) = self.stream {
            span = span.attribute(STREAM_NAME_ATTRIBUTE, stream.to_owned());
        }
        if let Some(arrival) = self.arrival {
            let waited = SystemTime::now()
                .duration_since(arrival)
                .unwrap_or_default()
                .as_millis();
            span = span.attribute(
                attr::BATON_TIME_IN_QUEUE_MS,
                i64::try_from(waited).unwrap_or(i64::MAX),
            );
        }
        span
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt;

    const HEADER: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    #[test]
    fn the_context_comes_from_a_json_object_only() {
        let traced = format!(r#" {{"traceHeader":"{HEADER}","n":1}}"#);
        let record = KinesisRecord::new(traced.as_bytes());
        assert_eq!(record.trace_header().as_deref(), Some(HEADER));
        assert!(record.producer_context().span().span_context().is_valid());

        let other_field = format!(r#"{{"trace":"{HEADER}"}}"#);
        let record = KinesisRecord::new(other_field.as_bytes()).with_field("trace");
        assert_eq!(record.trace_header().as_deref(), Some(HEADER));

        let aggregated: &[u8] = &[0xF3, 0x89, 0x9A, 0xC2, 0x0A, 0x01];
        for data in [
            b"plain text".as_slice(),
            aggregated,
            b"[1,2]",
            b"{\"traceHeader\":1}",
            b"{\"a\":",
            b"",
        ] {
            let record = KinesisRecord::new(data);
            assert!(
                !record.producer_context().span().span_context().is_valid(),
                "{data:?}"
            );
            assert_eq!(record.data_without_field(), None, "{data:?}");
        }
        // A malformed header gives no context, and is still Baton's field to take out.
        let record = KinesisRecord::new(br#"{"traceHeader":"garbage","n":1}"#);
        assert!(!record.producer_context().span().span_context().is_valid());
        assert_eq!(
            record.data_without_field().as_deref(),
            Some(&br#"{"n":1}"#[..])
        );
    }

    #[test]
    fn stripping_gives_back_what_was_put() {
        let original = r#"{ "click" : 7, "page": "/cart" }"#;
        let traced =
            baton::json::add_string_field(original, DATA_TRACE_FIELD, HEADER, 0, usize::MAX)
                .unwrap();
        let record = KinesisRecord::new(traced.as_bytes());
        assert_eq!(
            record.data_without_field().as_deref(),
            Some(original.as_bytes())
        );
    }
}
