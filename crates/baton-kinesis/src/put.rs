//! PutRecord and PutRecords, shared by the Tower layer and the SDK interceptor: the PRODUCER
//! span, and what goes into each record's data.

use aws_sdk_kinesis::operation::RequestId;
use aws_sdk_kinesis::operation::put_record::PutRecordOutput;
use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use baton::driver::Start;
use baton::json::{JsonFieldSkip, insert_string_field, probe_object};
use baton::{CallError, EntryOutcome, SendOutcome, SendSpans, aws_header_for_context};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};

use crate::config::KinesisPropagation;
use crate::record::{KINESIS, MAX_PUT_RECORDS_BYTES, STREAM_NAME_ATTRIBUTE};

/// The stream a call names, for span names: its `StreamName`, else the name in its
/// `StreamARN` (`arn:aws:kinesis:…:stream/clicks` → `clicks`), else `unknown`.
pub(crate) fn stream_name(name: Option<&str>, arn: Option<&str>) -> String {
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        return name.to_owned();
    }
    arn.and_then(|arn| arn.rsplit_once(":stream/"))
        .map(|(_, name)| name.split('/').next().unwrap_or(name))
        .filter(|name| !name.is_empty())
        .unwrap_or("unknown")
        .to_owned()
}

/// A PutRecord or PutRecords call in flight (opaque).
#[derive(Clone, Debug)]
pub struct PutCall {
    /// The send span and, for a PutRecords of several records with the data field on, each
    /// record's `create` span (keyed by the record's index).
    pub(crate) spans: SendSpans<usize>,
    /// How many records a PutRecords sends (`None`: a PutRecord).
    batch: Option<usize>,
}

/// What a record's data is, as far as the data field goes.
enum Data<'a> {
    /// Not a JSON object (or not JSON at all, or not UTF-8): sent as given.
    Untouchable(&'static str),
    /// An object with the field already: the caller's own trace, kept.
    HasField,
    /// An object without the field; `empty` if it has no members.
    Open { document: &'a str, empty: bool },
}

fn read_data<'a>(data: &'a [u8], field: &str) -> Data<'a> {
    let Ok(document) = std::str::from_utf8(data) else {
        return Data::Untouchable("the data is not UTF-8 text");
    };
    match probe_object(document, field) {
        Ok(object) if object.field.is_some() => Data::HasField,
        Ok(object) => Data::Open {
            document,
            empty: object.empty,
        },
        Err(JsonFieldSkip::NotAnObject) => Data::Untouchable("the data is not a JSON object"),
        Err(_) => Data::Untouchable("the data is not JSON"),
    }
}

impl PutCall {
    pub(crate) fn start(
        config: &KinesisPropagation,
        operation: &'static str,
        stream: String,
        batch: Option<usize>,
        start: &Start<'_>,
    ) -> Self {
        let name = KeyValue::new(STREAM_NAME_ATTRIBUTE, stream.clone());
        let spans = config
            .common
            .send_spans(KINESIS, stream, operation, batch, start, [name]);
        PutCall { spans, batch }
    }

    /// The caller's context with the send span active.
    pub(crate) fn cx(&self) -> &Context {
        self.spans.cx()
    }

    /// PutRecord: the send span's context into the data, if the data field is on.
    pub(crate) fn inject_record(
        &mut self,
        config: &KinesisPropagation,
        data: &mut Option<Blob>,
        partition_key: Option<&str>,
    ) {
        if !config.write_data_field {
            return;
        }
        let Some(blob) = data.as_mut() else {
            return;
        };
        let (document, empty) = match read_data(blob.as_ref(), &config.data_field) {
            Data::Open { document, empty } => (document, empty),
            other => return untouched(&other),
        };
        let lineage = config.common.lineage_in(self.spans.cx());
        // A PutRecord is its own request: only the record limit applies.
        let mut budget = usize::MAX;
        let traced = insert(
            config,
            self.spans.cx(),
            lineage.as_deref(),
            document,
            empty,
            partition_key,
            &mut budget,
        );
        if let Some(traced) = traced {
            *blob = Blob::new(traced.into_bytes());
        }
    }

    /// PutRecords: each record's context into its data, if the data field is on — the send
    /// span's for a lone record, a `create` span of its own (child of the send span) for each
    /// of several. A record whose data has the field already keeps it and gets no span.
    pub(crate) fn inject_records(
        &mut self,
        config: &KinesisPropagation,
        stream: &str,
        records: &mut [PutRecordsRequestEntry],
    ) {
        if !config.write_data_field {
            return;
        }
        let total: usize = records.iter().map(record_size).sum();
        let mut budget = MAX_PUT_RECORDS_BYTES.saturating_sub(total);
        let single = records.len() == 1;
        let lineage = config.common.lineage_in(self.spans.cx());
        for (index, record) in records.iter_mut().enumerate() {
            let key = record.partition_key.as_deref();
            let (document, empty) = match read_data(record.data.as_ref(), &config.data_field) {
                Data::Open { document, empty } => (document, empty),
                other => {
                    untouched(&other);
                    continue;
                }
            };
            // A record that can carry a context gets one: the send span's for a lone record,
            // a `create` span of its own otherwise (none for a record that cannot: nothing
            // would carry it).
            let cx = if single {
                self.spans.cx().clone()
            } else {
                let cx = self
                    .spans
                    .start_entry(config.common.tracer(), KINESIS, stream.to_owned());
                cx.span()
                    .set_attribute(KeyValue::new(STREAM_NAME_ATTRIBUTE, stream.to_owned()));
                cx
            };
            let traced = insert(
                config,
                &cx,
                lineage.as_deref(),
                document,
                empty,
                key,
                &mut budget,
            );
            if let Some(traced) = traced {
                record.data = Blob::new(traced.into_bytes());
            }
            if !single {
                self.spans.push_entry(index, cx);
            }
        }
    }

    /// Ends a PutRecord's span with the record's sequence number, or the error.
    pub(crate) fn finish_record(self, result: Result<&PutRecordOutput, &CallError>) {
        let outcome = result.map(|output| {
            SendOutcome::new(output.request_id()).with_message_id(Some(&output.sequence_number))
        });
        self.spans.finish(outcome, |_| EntryOutcome::Unreported);
    }

    /// Ends a PutRecords' spans: a lone record's send span with its sequence number or its
    /// error; for several, each record's `create` span with its sequence number or error, and
    /// the send span in error if any record was refused.
    pub(crate) fn finish_records(self, result: Result<&PutRecordsOutput, &CallError>) {
        let output = match result {
            Ok(output) => output,
            Err(error) => return self.spans.finish(Err(error), |_| EntryOutcome::Unreported),
        };
        let results = &output.records;
        let count = self.batch.unwrap_or(1);
        let mut outcome = SendOutcome::new(output.request_id());
        if count == 1 {
            // The lone record is the send span's own message.
            if let Some(result) = results.first() {
                outcome = match result.error_code.as_deref() {
                    Some(code) => outcome.with_refusal(code, result.error_message.as_deref()),
                    None => outcome.with_message_id(result.sequence_number.as_deref()),
                };
            }
        } else {
            let failed = output
                .failed_record_count
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or_else(|| results.iter().filter(|r| r.error_code.is_some()).count());
            // Records without a `create` span (the data field off) are counted under this.
            let first_code = results.iter().find_map(|r| r.error_code.as_deref());
            outcome = outcome
                .with_failures(failed, count)
                .with_error_code(first_code);
        }
        self.spans
            .finish(Ok(outcome), |index| match results.get(*index) {
                None => EntryOutcome::Unreported,
                Some(result) => match result.error_code.as_deref() {
                    Some(code) => EntryOutcome::Failed {
                        code,
                        message: result.error_message.as_deref(),
                    },
                    None => EntryOutcome::Sent(result.sequence_number.as_deref()),
                },
            });
    }
}

/// A record's size as Kinesis counts it: data and partition key.
fn record_size(record: &PutRecordsRequestEntry) -> usize {
    record.data.as_ref().len() + record.partition_key.as_deref().map_or(0, str::len)
}

/// `document` (a record's data, a JSON object without the field; `empty` if it has no
/// members) with the trace header of `cx` as the data field, when the record stays within the
/// size limit and the request within `budget` more bytes (what is added is taken from it);
/// `None` (with a `tracing` event) otherwise.
fn insert(
    config: &KinesisPropagation,
    cx: &Context,
    lineage: Option<&str>,
    document: &str,
    empty: bool,
    partition_key: Option<&str>,
    budget: &mut usize,
) -> Option<String> {
    let header = aws_header_for_context(cx, lineage)?;
    let key = partition_key.map_or(0, str::len);
    let max = config
        .common
        .size_limit()
        .min(document.len().saturating_add(key).saturating_add(*budget));
    match insert_string_field(document, empty, &config.data_field, &header, key, max) {
        Ok(traced) => {
            *budget = budget.saturating_sub(traced.len() - document.len());
            Some(traced)
        }
        Err(reason) => {
            tracing::warn!(
                target: "baton::kinesis",
                %reason,
                "trace context not added to the record; its data is sent exactly as given"
            );
            None
        }
    }
}

/// Says why a record's data is sent as given: the caller's own trace is in it (kept), or it is
/// not a JSON object (binary records are common on Kinesis: a `debug` event, not a warning).
fn untouched(data: &Data<'_>) {
    match data {
        Data::HasField => tracing::debug!(
            target: "baton::kinesis",
            "the record's data has the trace field already; the caller's trace is kept"
        ),
        Data::Untouchable(reason) => tracing::debug!(
            target: "baton::kinesis",
            reason,
            "trace context not added to the record; its data is sent exactly as given"
        ),
        Data::Open { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::stream_name;

    #[test]
    fn the_stream_a_call_names() {
        let arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/clicks";
        assert_eq!(stream_name(Some("orders"), Some(arn)), "orders");
        assert_eq!(stream_name(None, Some(arn)), "clicks");
        assert_eq!(
            stream_name(None, Some(&format!("{arn}/consumer/app:1"))),
            "clicks"
        );
        assert_eq!(stream_name(Some(""), None), "unknown");
        assert_eq!(stream_name(None, Some("arn:aws:kinesis:x")), "unknown");
    }
}
