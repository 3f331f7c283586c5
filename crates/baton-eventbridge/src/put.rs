//! PutEvents, shared by the Tower layer and the SDK interceptor: the PRODUCER span, and what
//! goes into each entry.

use aws_sdk_eventbridge::operation::RequestId;
use aws_sdk_eventbridge::operation::put_events::{PutEventsInput, PutEventsOutput};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use baton::driver::Start;
use baton::json::{JsonFieldSkip, insert_string_field};
use baton::{
    CallError, EntryOutcome, MessagingSystem, SendOutcome, SendSpans, aws_header_for_context,
};
use opentelemetry::Context;

use crate::config::EventBridgePropagation;
use crate::envelope::DETAIL_TRACE_FIELD;

/// The longest `TraceHeader` EventBridge accepts on an entry (characters; the header is ASCII).
pub(crate) const MAX_TRACE_HEADER_LEN: usize = 500;

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
    /// The send span and, for calls of more than one entry, each entry's `create` span
    /// (keyed by the entry's index).
    pub(crate) spans: SendSpans<usize>,
    /// How many entries the call sends.
    count: usize,
    /// The call names a global endpoint (`EndpointId`): it goes to a host of its own.
    pub(crate) global_endpoint: bool,
}

impl PutCall {
    pub(crate) fn start(
        config: &EventBridgePropagation,
        input: &PutEventsInput,
        start: &Start<'_>,
    ) -> Self {
        let count = input.entries.as_ref().map_or(0, Vec::len);
        PutCall {
            // PutEvents is a batch call, whatever the number of entries.
            spans: config.common.send_spans(
                MessagingSystem::EventBridge,
                bus_name(input),
                "PutEvents",
                Some(count),
                start,
                [],
            ),
            count,
            global_endpoint: input.endpoint_id.is_some(),
        }
    }

    /// The caller's context with the send span active.
    pub(crate) fn cx(&self) -> &Context {
        self.spans.cx()
    }

    /// Writes the context into every entry: the send span's for a single entry; a `create`
    /// span of its own, child of the send span, for each of several.
    pub(crate) fn inject(&mut self, config: &EventBridgePropagation, input: &mut PutEventsInput) {
        // The bus names the `create` spans, which only a call of several entries has.
        let bus = (input.entries.as_ref().map_or(0, Vec::len) > 1).then(|| bus_name(input));
        let Some(entries) = input.entries.as_mut() else {
            return;
        };
        let lineage = config.common.lineage_in(self.spans.cx());
        // EventBridge wants the whole request *under* its limit.
        let total: usize = entries.iter().map(entry_size).sum();
        let mut budget = config
            .common
            .size_limit()
            .saturating_sub(1)
            .saturating_sub(total);
        for (index, entry) in entries.iter_mut().enumerate() {
            let caller = caller_trace(entry);
            if caller.0.is_some() {
                // The caller's own trace: it goes in both places; no span of Baton's is its parent.
                inject_entry(
                    config,
                    self.spans.cx(),
                    lineage.as_deref(),
                    entry,
                    &mut budget,
                    caller,
                );
                continue;
            }
            let cx = match &bus {
                None => self.spans.cx().clone(),
                Some(bus) => {
                    let cx = self.spans.start_entry(
                        config.common.tracer(),
                        MessagingSystem::EventBridge,
                        bus.clone(),
                    );
                    self.spans.push_entry(index, cx.clone());
                    cx
                }
            };
            inject_entry(config, &cx, lineage.as_deref(), entry, &mut budget, caller);
        }
    }

    /// Ends the spans: each entry's with its event id or error, the send span in error if any
    /// entry failed.
    /// Ends the spans: a lone event's send span with its event id or its error; for several,
    /// each entry's `create` span with its event id or error, and the send span in error if
    /// any entry failed.
    pub(crate) fn finish(self, result: Result<&PutEventsOutput, &CallError>) {
        let output = match result {
            Ok(output) => output,
            Err(error) => return self.spans.finish(Err(error), |_| EntryOutcome::Unreported),
        };
        let results = output.entries();
        let mut outcome = SendOutcome::new(output.request_id());
        if self.count == 1 {
            // The lone event is the send span's own message.
            if let Some(result) = results.first() {
                outcome = match result.error_code() {
                    Some(code) => outcome.with_refusal(code, result.error_message()),
                    None => outcome.with_message_id(result.event_id()),
                };
            }
        } else {
            let failed = usize::try_from(output.failed_entry_count).unwrap_or(0);
            outcome = outcome.with_failures(failed, self.count);
        }
        self.spans
            .finish(Ok(outcome), |index| match results.get(*index) {
                None => EntryOutcome::Unreported,
                Some(result) => match result.error_code() {
                    Some(code) => EntryOutcome::Failed {
                        code,
                        message: result.error_message(),
                    },
                    None => EntryOutcome::Sent(result.event_id()),
                },
            });
    }
}

/// What Baton learned from one parse of an entry's detail.
enum Detail {
    /// No detail, or not a JSON object (or not JSON at all): it is sent as given.
    Untouchable(Option<JsonFieldSkip>),
    /// An object with the caller's own `traceHeader` (well formed, or `None` if not).
    HasField(Option<String>),
    /// An object without one; `empty` if it has no members.
    Open { empty: bool },
}

fn read_detail(entry: &PutEventsRequestEntry) -> Detail {
    let Some(detail) = entry.detail.as_deref() else {
        return Detail::Untouchable(None);
    };
    // One pass that checks the detail and finds the field, building no JSON value tree.
    match baton::json::probe_object(detail, DETAIL_TRACE_FIELD) {
        Err(reason) => Detail::Untouchable(Some(reason)),
        Ok(object) => match object.field {
            Some(field) => Detail::HasField(field.filter(|h| baton::TraceHeader::parse(h).is_ok())),
            None => Detail::Open {
                empty: object.empty,
            },
        },
    }
}

/// Whether the caller put a trace of their own on the entry (then no span of Baton's is its
/// parent), and what Baton read of the detail to know it.
fn caller_trace(entry: &PutEventsRequestEntry) -> (Option<String>, Detail) {
    let detail = read_detail(entry);
    let theirs = entry.trace_header.clone().or(match &detail {
        Detail::HasField(Some(header)) => fit_trace_header(header),
        _ => None,
    });
    (theirs, detail)
}

/// A header from the caller's detail made fit for the entry's `TraceHeader`, which EventBridge
/// refuses (failing the whole call) over [`MAX_TRACE_HEADER_LEN`] characters: a longer one
/// keeps its trace (`Root`, `Parent`, `Sampled`, `Lineage`) and loses `Self` and its unknown
/// fields. (A `TraceHeader` the caller set on the entry is theirs and sent as they set it.)
fn fit_trace_header(header: &str) -> Option<String> {
    if header.len() <= MAX_TRACE_HEADER_LEN {
        return Some(header.to_owned());
    }
    match baton::TraceHeader::parse(header) {
        Ok(parsed) => {
            tracing::debug!(
                target: "baton::eventbridge",
                len = header.len(),
                "the detail's traceHeader is too long for the entry's TraceHeader; \
                 its unknown fields are left out there"
            );
            let fit = parsed.trace_only().to_string();
            (fit.len() <= MAX_TRACE_HEADER_LEN).then_some(fit)
        }
        // Only a well-formed header is taken from the detail; were this one not, the entry
        // would carry the send span's instead.
        Err(_) => None,
    }
}

/// Writes a trace header into one entry: `TraceHeader` and, when configured and possible,
/// `traceHeader` in the JSON detail — one trace per event: `theirs` (the caller's own, from
/// either place) if set, else the span of `cx`. `budget` is what the request may still grow
/// by; what is added is taken from it. The entry is otherwise sent as given.
fn inject_entry(
    config: &EventBridgePropagation,
    cx: &Context,
    lineage: Option<&str>,
    entry: &mut PutEventsRequestEntry,
    budget: &mut usize,
    (theirs, detail): (Option<String>, Detail),
) {
    let Some(header) = theirs.or_else(|| aws_header_for_context(cx, lineage)) else {
        return;
    };
    if config.detail_field {
        match detail {
            Detail::Open { empty } => {
                let document = entry.detail.as_deref().unwrap_or_default();
                match insert_string_field(
                    document,
                    empty,
                    DETAIL_TRACE_FIELD,
                    &header,
                    0,
                    document.len() + *budget,
                ) {
                    Ok(new) => {
                        *budget -= new.len() - document.len();
                        entry.detail = Some(new);
                    }
                    Err(reason) => skipped(&reason),
                }
            }
            Detail::Untouchable(Some(reason)) => skipped(&reason),
            Detail::Untouchable(None) | Detail::HasField(_) => tracing::debug!(
                target: "baton::eventbridge",
                "detail left as given (no detail, or the caller's own traceHeader)"
            ),
        }
    }
    if entry.trace_header.is_none() {
        entry.trace_header = Some(header);
    }
}

fn skipped(reason: &JsonFieldSkip) {
    tracing::warn!(
        target: "baton::eventbridge",
        %reason,
        "trace context not added to the event detail; the event is sent exactly as given"
    );
}
