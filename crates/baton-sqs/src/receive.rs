//! The receive side of a ReceiveMessage call, shared by the Tower layer and the interceptor:
//! ask for the trace carriers, and record a CLIENT `receive` span linked to each producer.

use std::time::SystemTime;

use aws_sdk_sqs::operation::RequestId;
use aws_sdk_sqs::operation::receive_message::{ReceiveMessageInput, ReceiveMessageOutput};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use baton::driver::Start;
use baton::metrics::Measure;
use baton::{CallError, MessagingSpan, MessagingSystem, Operation, TracerHandle, attr};
use opentelemetry::Context;

use crate::config::SqsPropagation;
use crate::extract::{TRACE_ATTRIBUTE_NAMES, producer_span_context};
use crate::send::queue_name;

/// A ReceiveMessage call in flight.
#[derive(Clone, Debug)]
pub(crate) struct ReceiveCall {
    tracer: TracerHandle,
    envelopes: bool,
    parent: Context,
    queue: String,
    queue_url: Option<String>,
    region: Option<String>,
    /// Where the call went (`server.address`, `server.port`), once known.
    server: Option<(String, Option<u16>)>,
    started: SystemTime,
    measure: Option<Measure>,
}

impl ReceiveCall {
    pub(crate) fn start(
        config: &SqsPropagation,
        queue_url: Option<&str>,
        start: &Start<'_>,
    ) -> Self {
        let queue = queue_name(queue_url);
        ReceiveCall {
            tracer: config.common.tracer().clone(),
            envelopes: config.envelopes,
            parent: start.parent.clone(),
            measure: config.common.measure(
                MessagingSystem::Sqs,
                Operation::Receive,
                "ReceiveMessage",
                &queue,
            ),
            queue,
            queue_url: queue_url.map(str::to_owned),
            region: start.region.map(str::to_owned),
            server: None,
            started: SystemTime::now(),
        }
    }

    /// Keeps where the call went for the span.
    pub(crate) fn set_server(&mut self, address: &str, port: Option<u16>) {
        self.server = Some((address.to_owned(), port));
        if let Some(measure) = &mut self.measure {
            measure.set_server(address, port);
        }
    }

    /// Makes the call return the trace carriers (the message attribute ones only if
    /// `attributes`), keeping everything the caller asked for. (SQS returns no attribute that
    /// was not requested.)
    #[allow(deprecated)] // `attribute_names` is deprecated, but callers still use it
    pub(crate) fn request_carriers(input: &mut ReceiveMessageInput, facts: bool, attributes: bool) {
        // SQS reads `MessageSystemAttributeNames` *instead of* the older `AttributeNames` when
        // both are present: carry the caller's older names over, or adding ours would make
        // SQS drop what they asked for.
        if let (None, Some(legacy)) = (
            &input.message_system_attribute_names,
            &input.attribute_names,
        ) {
            input.message_system_attribute_names = Some(
                legacy
                    .iter()
                    .map(|name| MessageSystemAttributeName::from(name.as_str()))
                    .collect(),
            );
        }
        let system = input
            .message_system_attribute_names
            .get_or_insert_with(Vec::new);
        if !system.contains(&MessageSystemAttributeName::All) {
            // What the process spans' delivery facts are read from, when asked for.
            let facts_wanted: &[MessageSystemAttributeName] = if facts {
                &[
                    MessageSystemAttributeName::SentTimestamp,
                    MessageSystemAttributeName::ApproximateReceiveCount,
                    MessageSystemAttributeName::MessageGroupId,
                ]
            } else {
                &[]
            };
            for name in
                std::iter::once(&MessageSystemAttributeName::AwsTraceHeader).chain(facts_wanted)
            {
                if !system.contains(name) {
                    system.push(name.clone());
                }
            }
        }
        if !attributes {
            return;
        }
        let names = input.message_attribute_names.get_or_insert_with(Vec::new);
        if !names.iter().any(|n| n == "All" || n == ".*") {
            names.reserve(TRACE_ATTRIBUTE_NAMES.len());
            let asked = names.len();
            for wanted in TRACE_ATTRIBUTE_NAMES {
                if !names[..asked].iter().any(|n| n == wanted) {
                    names.push(wanted.to_owned());
                }
            }
        }
    }

    /// Records the `receive` span: started when the call was, linked to the producer of every
    /// message received, in error if the call failed.
    pub(crate) fn finish(self, result: Result<&ReceiveMessageOutput, &CallError>) {
        if let Some(measure) = self.measure {
            match result {
                Ok(output) => measure.finish(None, output.messages().len()),
                Err(error) => measure.finish(Some(error.error_type()), 0),
            }
        }
        let mut span = MessagingSpan::receive(MessagingSystem::Sqs, self.queue)
            .operation_name("ReceiveMessage")
            .start_time(self.started);
        if let Some(region) = self.region {
            span = span.region(region);
        }
        if let Some((address, port)) = self.server {
            span = span.server(address, port);
        }
        if let Some(url) = self.queue_url {
            span = span.attribute(attr::AWS_SQS_QUEUE_URL, url);
        }
        match result {
            Ok(output) => {
                let messages = output.messages();
                span = span.batch_count(messages.len()).links(
                    messages
                        .iter()
                        .filter_map(|m| producer_span_context(m, self.envelopes)),
                );
                if let Some(id) = output.request_id() {
                    span = span.attribute(attr::AWS_REQUEST_ID, id.to_owned());
                }
                // Everything is known: started and ended at once, into no `Context`.
                self.tracer.record(span, &self.parent);
            }
            Err(error) => self.tracer.record_failed(span, &self.parent, error),
        }
    }
}
