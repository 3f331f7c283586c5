//! GetRecords, shared by the Tower layer and the interceptor: a CLIENT `receive` span linked to
//! each record's producer, made for calls inside a trace.

use std::time::SystemTime;

use aws_sdk_kinesis::operation::RequestId;
use aws_sdk_kinesis::operation::get_records::GetRecordsOutput;
use baton::driver::Start;
use baton::metrics::Measure;
use baton::{CallError, MessagingSpan, Operation, TracerHandle};
use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;

use crate::config::KinesisPropagation;
use crate::record::{KINESIS, KinesisRecord, STREAM_NAME_ATTRIBUTE};

/// A GetRecords call in flight.
#[derive(Clone, Debug)]
pub(crate) struct GetCall {
    tracer: TracerHandle,
    field: String,
    /// The caller's context, when it holds a span: only then is a `receive` span made. (A
    /// shard's polling loop calls GetRecords several times a second, mostly for nothing; a
    /// trace per call would bury the ones that matter.)
    parent: Option<Context>,
    stream: String,
    region: Option<String>,
    server: Option<(String, Option<u16>)>,
    started: SystemTime,
    measure: Option<Measure>,
}

impl GetCall {
    pub(crate) fn start(config: &KinesisPropagation, stream: String, start: &Start<'_>) -> Self {
        let in_trace = start.parent.span().span_context().is_valid();
        GetCall {
            tracer: config.common.tracer().clone(),
            field: config.data_field.clone(),
            parent: in_trace.then(|| start.parent.clone()),
            measure: config
                .common
                .measure(KINESIS, Operation::Receive, "GetRecords", &stream),
            stream,
            region: start.region.map(str::to_owned),
            server: None,
            started: SystemTime::now(),
        }
    }

    /// Keeps where the call went for the span and the metrics.
    pub(crate) fn set_server(&mut self, address: &str, port: Option<u16>) {
        self.server = Some((address.to_owned(), port));
        if let Some(measure) = &mut self.measure {
            measure.set_server(address, port);
        }
    }

    /// Records the call's metrics and, inside a trace, its `receive` span: started when the
    /// call was, linked to the producer of every record that carries one, in error if the
    /// call failed.
    pub(crate) fn finish(self, result: Result<&GetRecordsOutput, &CallError>) {
        if let Some(measure) = self.measure {
            match result {
                Ok(output) => measure.finish(None, output.records.len()),
                Err(error) => measure.finish(Some(error.error_type()), 0),
            }
        }
        let Some(parent) = self.parent else {
            return;
        };
        let mut span = MessagingSpan::receive(KINESIS, self.stream.clone())
            .operation_name("GetRecords")
            .attribute(STREAM_NAME_ATTRIBUTE, self.stream)
            .start_time(self.started);
        if let Some(region) = self.region {
            span = span.region(region);
        }
        if let Some((address, port)) = self.server {
            span = span.server(address, port);
        }
        if let Ok(output) = result {
            let field = self.field.as_str();
            span = span
                .batch_count(output.records.len())
                .links(output.records.iter().filter_map(|record| {
                    let producer = KinesisRecord::new(record.data.as_ref())
                        .with_field(field)
                        .producer_context();
                    let producer = producer.span().span_context().clone();
                    producer.is_valid().then_some(producer)
                }));
        }
        match result {
            Ok(output) => {
                if let Some(id) = output.request_id() {
                    span = span.attribute(baton::attr::AWS_REQUEST_ID, id.to_owned());
                }
                self.tracer.record(span, &parent);
            }
            Err(error) => self.tracer.record_failed(span, &parent, error),
        }
    }
}
