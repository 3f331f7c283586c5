//! PutEvents, shared by the Tower layer and the SDK interceptor: the PRODUCER span, and what
//! goes into each entry.

use aws_sdk_eventbridge::operation::RequestId;
use aws_sdk_eventbridge::operation::put_events::{PutEventsInput, PutEventsOutput};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use baton::json::{JsonFieldSkip, add_string_field};
use baton::{CallError, MessagingSpan, MessagingSystem, attr, aws_header_for_context};
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use crate::config::EventBridgePropagation;

/// The field Baton adds to an event's JSON `detail` (what AWS's own integrations use).
pub const DETAIL_TRACE_FIELD: &str = "traceHeader";

/// EventBridge's limit on a PutEvents request, counted as EventBridge counts entries (the
/// request must stay below it).
pub(crate) const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// An entry's size as EventBridge counts it: `Time` (14 bytes if set), `Source`, `DetailType`,
/// `Detail` and each of `Resources`, in UTF-8 bytes.
pub(crate) fn entry_size(entry: &PutEventsRequestEntry) -> usize {
    let text = |s: &Option<String>| s.as_deref().map_or(0, str::len);
    let time = if entry.time.is_some() { 14 } else { 0 };
    let resources: usize = entry.resources.iter().flatten().map(String::len).sum();
    time + text(&entry.source) + text(&entry.detail_type) + text(&entry.detail) + resources
}

/// The bus a call sends to, for the span name.
fn bus_name(input: &PutEventsInput) -> String {
    let bus = input
        .entries
        .iter()
        .flatten()
        .find_map(|e| e.event_bus_name.as_deref())
        .unwrap_or("default");
    // An ARN names the bus after its last `/`.
    bus.rsplit_once('/')
        .map_or(bus, |(_, name)| name)
        .to_owned()
}

/// A PutEvents call in flight (opaque).
#[derive(Clone, Debug)]
pub struct PutCall {
    /// The caller's context with the send span active.
    pub(crate) cx: Context,
    /// For calls of more than one entry: entry index → its `create` span's context.
    entries: Vec<(usize, Context)>,
}

impl PutCall {
    pub(crate) fn start(
        config: &EventBridgePropagation,
        input: &PutEventsInput,
        region: Option<&str>,
        parent: &Context,
    ) -> Self {
        let count = input.entries.as_ref().map_or(0, Vec::len);
        let mut span = MessagingSpan::send(MessagingSystem::EventBridge, bus_name(input))
            .operation_name("PutEvents");
        if count > 1 {
            span = span.batch_count(count);
        }
        if let Some(region) = region {
            span = span.region(region.to_owned());
        }
        let span = config.tracer.with(|tracer| span.start(tracer, parent));
        PutCall {
            cx: parent.with_span(span),
            entries: Vec::new(),
        }
    }

    /// Writes the context into every entry: the send span's for a single entry; a `create`
    /// span of its own, child of the send span, for each of several.
    pub(crate) fn inject(&mut self, config: &EventBridgePropagation, input: &mut PutEventsInput) {
        let bus = bus_name(input);
        let Some(entries) = input.entries.as_mut() else {
            return;
        };
        let lineage = baton::lambda_lineage(config.env);
        let single = entries.len() == 1;
        // EventBridge wants the whole request *under* 256 KiB.
        let total: usize = entries.iter().map(entry_size).sum();
        let mut budget = (MAX_ENTRY_BYTES - 1).saturating_sub(total);
        for (index, entry) in entries.iter_mut().enumerate() {
            if entry.trace_header.is_some() || detail_trace_header(entry).is_some() {
                // The caller's own trace: it goes in both places; no span of Baton's is its parent.
                inject_entry(config, &self.cx, lineage.as_deref(), entry, &mut budget);
                continue;
            }
            let cx = if single {
                self.cx.clone()
            } else {
                let span = config.tracer.with(|tracer| {
                    MessagingSpan::create(MessagingSystem::EventBridge, bus.clone())
                        .start(tracer, &self.cx)
                });
                let cx = self.cx.with_span(span);
                self.entries.push((index, cx.clone()));
                cx
            };
            inject_entry(config, &cx, lineage.as_deref(), entry, &mut budget);
        }
    }

    /// Ends the spans: each entry's with its event id or error, the send span in error if any
    /// entry failed.
    pub(crate) fn finish(self, result: Result<&PutEventsOutput, &CallError>) {
        let span = self.cx.span();
        match result {
            Ok(output) => {
                let results = output.entries();
                for (index, cx) in &self.entries {
                    let entry_span = cx.span();
                    record_entry(&entry_span, results.get(*index));
                    entry_span.end();
                }
                if self.entries.is_empty()
                    && let Some(id) = results.first().and_then(|r| r.event_id())
                {
                    span.set_attribute(KeyValue::new(attr::MESSAGING_MESSAGE_ID, id.to_owned()));
                }
                if let Some(id) = output.request_id() {
                    span.set_attribute(KeyValue::new(attr::AWS_REQUEST_ID, id.to_owned()));
                }
                if output.failed_entry_count > 0 {
                    span.set_status(Status::error(format!(
                        "{} of {} entries failed",
                        output.failed_entry_count,
                        results.len()
                    )));
                }
            }
            Err(error) => {
                for (_, cx) in &self.entries {
                    let entry_span = cx.span();
                    error.record(&entry_span);
                    entry_span.end();
                }
                error.record(&span);
            }
        }
        span.end();
    }
}

fn record_entry(
    span: &opentelemetry::trace::SpanRef<'_>,
    result: Option<&aws_sdk_eventbridge::types::PutEventsResultEntry>,
) {
    let Some(result) = result else { return };
    if let Some(id) = result.event_id() {
        span.set_attribute(KeyValue::new(attr::MESSAGING_MESSAGE_ID, id.to_owned()));
    }
    if let Some(code) = result.error_code() {
        CallError::new(result.error_message().unwrap_or(code))
            .with_code(code)
            .record(span);
    }
}

/// Writes `cx` into one entry: `TraceHeader` and, when configured and possible, `traceHeader`
/// in the JSON detail — one trace per event: if the caller set either, theirs goes in both
/// places. `budget` is what the request may still grow by; what is added is taken from it.
/// The entry is otherwise sent as given.
pub(crate) fn inject_entry(
    config: &EventBridgePropagation,
    cx: &Context,
    lineage: Option<&str>,
    entry: &mut PutEventsRequestEntry,
    budget: &mut usize,
) {
    let Some(ours) = aws_header_for_context(cx, lineage) else {
        return;
    };
    let header = entry
        .trace_header
        .clone()
        .or_else(|| detail_trace_header(entry))
        .unwrap_or(ours);
    if config.detail_field {
        match add_to_detail(entry, &header, budget) {
            Ok(()) => {}
            Err(None) | Err(Some(JsonFieldSkip::AlreadySet)) => {
                tracing::debug!(
                    target: "baton::eventbridge",
                    "detail left as given (no detail, or the caller's own traceHeader)"
                );
            }
            Err(Some(reason)) => tracing::warn!(
                target: "baton::eventbridge",
                %reason,
                "trace context not added to the event detail; the event is sent exactly as given"
            ),
        }
    }
    if entry.trace_header.is_none() {
        entry.trace_header = Some(header);
    }
}

/// The caller's own `detail.traceHeader`, if the detail is an object holding a well-formed one.
fn detail_trace_header(entry: &PutEventsRequestEntry) -> Option<String> {
    let detail: serde_json::Value = serde_json::from_str(entry.detail.as_deref()?).ok()?;
    let header = detail.get(DETAIL_TRACE_FIELD)?.as_str()?;
    baton::TraceHeader::parse(header).ok()?;
    Some(header.to_owned())
}

/// Adds `"traceHeader": header` to a JSON object detail, leaving every other byte as the
/// caller wrote it, if the request can grow by that much (`budget`).
fn add_to_detail(
    entry: &mut PutEventsRequestEntry,
    header: &str,
    budget: &mut usize,
) -> Result<(), Option<JsonFieldSkip>> {
    let detail = entry.detail.as_deref().ok_or(None)?;
    let new = add_string_field(
        detail,
        DETAIL_TRACE_FIELD,
        header,
        0,
        detail.len() + *budget,
    )
    .map_err(Some)?;
    *budget -= new.len() - detail.len();
    entry.detail = Some(new);
    Ok(())
}

impl baton::sdk::InFlight for PutCall {
    fn fail(self, error: &CallError) {
        self.finish(Err(error));
    }
}
