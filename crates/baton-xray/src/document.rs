//! Spans to X-Ray segment documents, and documents to daemon datagrams.
//!
//! Each span becomes one JSON object (its *body*, written once). A batch is then arranged as
//! X-Ray expects: a segment holds the subsegments of the spans below it (as far as they are in
//! the same batch), and whatever does not fit in one datagram, or whose parent is not in the
//! batch, is sent as an independent subsegment (`type`, `parent_id`, `trace_id`).

use std::borrow::Cow;
use std::collections::HashMap;

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;

use crate::json;

/// The line every daemon datagram starts with.
pub(crate) const DAEMON_HEADER: &str = "{\"format\":\"json\",\"version\":1}\n";

/// The attribute prefix that turns an attribute into an X-Ray annotation.
pub const ANNOTATION_PREFIX: &str = "aws.xray.annotation.";

/// The metadata namespace that attributes go under.
pub const METADATA_NAMESPACE: &str = "default";

/// X-Ray's limits, as its documentation states them.
pub(crate) const MAX_NAME_CHARS: usize = 200;
pub(crate) const MAX_ANNOTATION_KEY_CHARS: usize = 500;
pub(crate) const MAX_ANNOTATION_VALUE_CHARS: usize = 1000;
pub(crate) const MAX_ANNOTATIONS: usize = 50;
/// The longest error message kept in `cause` (Baton's own bound, to keep documents small).
const MAX_MESSAGE_CHARS: usize = 1024;

/// Room kept free in a datagram for what is added around a body: the daemon header,
/// `trace_id`, `parent_id`, `type`, and the closing brace.
const EXTRAS_ROOM: usize = 160;
const SUBSEGMENTS_OPEN: &str = ",\"subsegments\":[";

/// What conversion needs to know besides the span.
#[derive(Clone, Debug, Default)]
pub(crate) struct Settings {
    /// The name of every segment (the service), when known.
    pub(crate) service_name: Option<String>,
    /// The segments' `origin` (the kind of AWS resource the service runs on), when known.
    pub(crate) origin: Option<&'static str>,
    /// The largest datagram, header included.
    pub(crate) max_datagram: usize,
}

/// One span, converted.
struct Entry {
    /// The JSON object without its closing brace and without `trace_id`, `parent_id`, `type`.
    body: String,
    trace_id: TraceId,
    span_id: SpanId,
    parent_id: SpanId,
    segment: bool,
    /// Whether this entry is a span of its own (not the call subsegment of a root call), and
    /// so counts in the statistics.
    counted: bool,
}

/// What a batch's conversion produced besides the datagrams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Spans written with their details left out, because alone they did not fit a datagram.
    pub(crate) truncated: u64,
}

/// Converts `spans` and hands each datagram (header + document) to `sink` with the number of
/// spans it carries.
pub(crate) fn encode(
    spans: &[SpanData],
    settings: &Settings,
    mut sink: impl FnMut(&str, usize),
) -> Tally {
    let mut tally = Tally::default();
    let body_limit = settings.max_datagram.saturating_sub(EXTRAS_ROOM);
    let mut entries: Vec<Entry> = Vec::with_capacity(spans.len());
    let mut push = |span: &SpanData, role: Role, entries: &mut Vec<Entry>| {
        let mut body = String::with_capacity(512);
        write_body(&mut body, span, role, settings, false);
        if body.len() > body_limit {
            body.clear();
            write_body(&mut body, span, role, settings, true);
            tally.truncated += u64::from(!matches!(role, Role::RootCall(_)));
        }
        let (span_id, parent_id) = match role {
            // The call carries the span's own id: that is the `Parent=` the message took
            // downstream, so the consumer's segment hangs under the call on the map.
            Role::RootCall(segment) => (span.span_context.span_id(), segment),
            Role::CallerSegment(id) => (id, span.parent_span_id),
            _ => (span.span_context.span_id(), span.parent_span_id),
        };
        entries.push(Entry {
            body,
            trace_id: span.span_context.trace_id(),
            span_id,
            parent_id,
            segment: matches!(role, Role::Segment | Role::CallerSegment(_)),
            counted: !matches!(role, Role::RootCall(_)),
        });
    };
    for span in spans {
        if !is_segment(span) {
            push(span, Role::Subsegment, &mut entries);
        } else if calls_out(span) {
            // A call that starts a trace (a script sending a message, say): X-Ray needs a
            // segment for the caller and a subsegment for the call, or the called service
            // never shows on the map. The call keeps the span's id (what went downstream);
            // the caller's segment gets one derived from it.
            let caller = call_id(span);
            push(span, Role::CallerSegment(caller), &mut entries);
            push(span, Role::RootCall(caller), &mut entries);
        } else {
            push(span, Role::Segment, &mut entries);
        }
    }
    arrange(&entries, settings.max_datagram, &mut sink);
    tally
}

/// What a span becomes in a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// The segment of a span whose parent is remote or absent.
    Segment,
    /// A subsegment of the span's local parent.
    Subsegment,
    /// The segment of a CLIENT or PRODUCER span that starts a trace: the caller's side
    /// (service name, annotations, metadata, links), with this id (derived from the span's);
    /// the call itself is a `RootCall`.
    CallerSegment(SpanId),
    /// The call of a CLIENT or PRODUCER span that starts a trace, as a subsegment (with the
    /// span's own id) of the `CallerSegment` with this id.
    RootCall(SpanId),
}

/// The id of the subsegment that stands for a root call: the span's id with its bits
/// mixed, never zero and never the span's own id.
fn call_id(span: &SpanData) -> SpanId {
    let id = u64::from_be_bytes(span.span_context.span_id().to_bytes());
    let mixed = id ^ 0x5bd1_e995_9e37_79b9;
    SpanId::from_bytes(if mixed == 0 { 1u64 } else { mixed }.to_be_bytes())
}

fn calls_out(span: &SpanData) -> bool {
    matches!(span.span_kind, SpanKind::Client | SpanKind::Producer)
}

/// A span is a segment when it starts the work of this service for a request: its parent is
/// remote (another service, or a message's producer) or absent. Every other span is a
/// subsegment of the span it runs under.
fn is_segment(span: &SpanData) -> bool {
    span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote
}

/// Arranges converted spans into documents that each fit `max_datagram`, and sends them.
fn arrange(entries: &[Entry], max_datagram: usize, sink: &mut impl FnMut(&str, usize)) {
    let n = entries.len();
    let index: HashMap<SpanId, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.span_id, i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut parent_of: Vec<Option<usize>> = vec![None; n];
    let mut roots = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let parent = (!entry.segment)
            .then(|| index.get(&entry.parent_id).copied())
            .flatten()
            .filter(|&p| p != i && entries[p].trace_id == entry.trace_id);
        parent_of[i] = parent;
        match parent {
            Some(p) => children[p].push(i),
            None => roots.push(i),
        }
    }
    // Spans that no root reaches can only be a cycle (span ids used twice, in hand-made
    // data): cut each such cycle open so that every span is still sent exactly once.
    let mut reached = vec![false; n];
    let mut stack = roots.clone();
    let mark = |stack: &mut Vec<usize>, reached: &mut [bool], children: &[Vec<usize>]| {
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut reached[i], true) {
                stack.extend_from_slice(&children[i]);
            }
        }
    };
    mark(&mut stack, &mut reached, &children);
    for i in 0..n {
        if !reached[i] {
            if let Some(p) = parent_of[i] {
                children[p].retain(|&k| k != i);
            }
            roots.push(i);
            stack.push(i);
            mark(&mut stack, &mut reached, &children);
        }
    }

    let mut doc = String::with_capacity(max_datagram.min(64 * 1024));
    let mut cut = Vec::new();
    let mut work: Vec<usize> = roots;
    work.reverse();
    while let Some(i) = work.pop() {
        let entry = &entries[i];
        doc.clear();
        doc.push_str(DAEMON_HEADER);
        doc.push_str(&entry.body);
        json::next_key(&mut doc, "trace_id");
        json::trace_id(&mut doc, entry.trace_id);
        if entry.parent_id != SpanId::INVALID {
            json::next_key(&mut doc, "parent_id");
            json::span_id(&mut doc, entry.parent_id);
        }
        if !entry.segment {
            doc.push_str(",\"type\":\"subsegment\"");
        }
        let mut fill = Fill {
            doc: &mut doc,
            entries,
            children: &children,
            limit: max_datagram,
            cut: &mut cut,
            spans: usize::from(entry.counted),
        };
        fill.children_of(i, 1, 1);
        let spans = fill.spans;
        doc.push('}');
        sink(&doc, spans);
        // What did not fit goes next, in its original order, each as an independent
        // subsegment document.
        work.extend(cut.drain(..).rev());
    }
}

/// How deep subsegments are embedded in one document. Deeper ones are sent as independent
/// subsegments, so that no JSON parser with a nesting limit (serde_json's is 128 levels; each
/// subsegment level takes two) ever refuses a document.
const MAX_EMBED_DEPTH: usize = 32;

/// Fills one document with embedded subsegments, depth first, while they fit.
struct Fill<'a> {
    doc: &'a mut String,
    entries: &'a [Entry],
    children: &'a [Vec<usize>],
    limit: usize,
    /// The spans left out (with their descendants), to be sent on their own.
    cut: &'a mut Vec<usize>,
    /// The spans written so far.
    spans: usize,
}

impl Fill<'_> {
    /// Writes the children of span `i` (whose body is written and open) at `depth`;
    /// `reserve` is the number of bytes still to be written after them to close the
    /// document (so the document never outgrows the limit).
    fn children_of(&mut self, i: usize, depth: usize, reserve: usize) {
        let children = &self.children[i];
        if children.is_empty() {
            return;
        }
        if depth > MAX_EMBED_DEPTH {
            self.cut.extend_from_slice(children);
            return;
        }
        let mut opened = false;
        for &k in children {
            let body = &self.entries[k].body;
            let lead = if opened { 1 } else { SUBSEGMENTS_OPEN.len() };
            // lead + body + '}' of k + ']' of this list + what closes the rest.
            if self.doc.len() + lead + body.len() + 2 + reserve > self.limit {
                self.cut.push(k);
                continue;
            }
            if opened {
                self.doc.push(',');
            } else {
                self.doc.push_str(SUBSEGMENTS_OPEN);
                opened = true;
            }
            self.doc.push_str(body);
            self.spans += usize::from(self.entries[k].counted);
            self.children_of(k, depth + 1, reserve + 2);
            self.doc.push('}');
        }
        if opened {
            self.doc.push(']');
        }
    }
}

/// The attributes conversion looks at, found in one pass.
#[derive(Default)]
struct Known<'a> {
    rpc_system: Option<&'a str>,
    rpc_service: Option<&'a str>,
    rpc_method: Option<&'a str>,
    messaging_system: Option<&'a str>,
    messaging_operation: Option<&'a str>,
    /// `messaging.operation.type` is `create`: one message of a batch call, not a call.
    messaging_create: bool,
    region: Option<&'a str>,
    request_id: Option<&'a str>,
    queue_url: Option<&'a str>,
    account_id: Option<&'a str>,
    http_method: Option<&'a str>,
    http_url: Option<&'a str>,
    http_status: Option<i64>,
    user_agent: Option<&'a str>,
    peer_service: Option<&'a str>,
    server_address: Option<&'a str>,
    error_type: Option<&'a str>,
}

fn str_of(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}

impl<'a> Known<'a> {
    fn read(attributes: &'a [KeyValue]) -> Self {
        let mut known = Known::default();
        for kv in attributes {
            let v = &kv.value;
            match kv.key.as_str() {
                "rpc.system" => known.rpc_system = str_of(v),
                "rpc.service" => known.rpc_service = str_of(v),
                "rpc.method" => known.rpc_method = str_of(v),
                "messaging.system" => known.messaging_system = str_of(v),
                "messaging.operation.type" => {
                    known.messaging_create = str_of(v) == Some("create");
                }
                // A service's API name (`SendMessage`) is X-Ray's `aws.operation`; a generic
                // operation name (`process`, `create`) is not.
                "messaging.operation.name" => {
                    known.messaging_operation =
                        str_of(v).filter(|name| name.starts_with(|c: char| c.is_ascii_uppercase()));
                }
                "cloud.region" => known.region = str_of(v),
                "aws.request_id" => known.request_id = str_of(v),
                "aws.sqs.queue.url" | "aws.queue_url" => known.queue_url = str_of(v),
                "cloud.account.id" => known.account_id = str_of(v),
                "http.request.method" | "http.method" => known.http_method = str_of(v),
                "url.full" | "http.url" => known.http_url = str_of(v),
                "http.response.status_code" | "http.status_code" => {
                    known.http_status = match v {
                        Value::I64(code) => Some(*code),
                        Value::String(s) => s.as_str().parse().ok(),
                        _ => None,
                    }
                }
                "user_agent.original" | "http.user_agent" => known.user_agent = str_of(v),
                "peer.service" => known.peer_service = str_of(v),
                "server.address" => known.server_address = str_of(v),
                "error.type" => known.error_type = str_of(v),
                _ => {}
            }
        }
        known
    }

    /// Whether the span is a call to (or a message from) an AWS service.
    fn aws(&self) -> bool {
        self.rpc_system == Some("aws-api")
            || self
                .messaging_system
                .is_some_and(|s| aws_system(s).is_some())
    }

    /// The AWS service's name as X-Ray shows it.
    fn aws_service(&self) -> Option<Cow<'a, str>> {
        if self.rpc_system == Some("aws-api")
            && let Some(service) = self.rpc_service
        {
            return Some(Cow::Borrowed(service));
        }
        let system = aws_system(self.messaging_system?)?;
        Some(match system {
            "sqs" => Cow::Borrowed("SQS"),
            "sns" => Cow::Borrowed("SNS"),
            "eventbridge" => Cow::Borrowed("EventBridge"),
            "stepfunctions" => Cow::Borrowed("SFN"),
            "kinesis" => Cow::Borrowed("Kinesis"),
            other => Cow::Owned(other.to_ascii_uppercase()),
        })
    }
}

/// The service part of an AWS `messaging.system` value: `aws_sqs` (Baton's and the conventions'
/// older form) and `aws.sns` (the conventions' form since v1.37) alike.
fn aws_system(system: &str) -> Option<&str> {
    system
        .strip_prefix("aws_")
        .or_else(|| system.strip_prefix("aws."))
        .filter(|service| !service.is_empty())
}

/// AWS error codes that mean the caller was throttled.
fn is_throttling_code(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "ProvisionedThroughputExceededException"
            | "TransactionInProgressException"
            | "RequestLimitExceeded"
            | "BandwidthLimitExceeded"
            | "LimitExceededException"
            | "SlowDown"
            | "PriorRequestNotComplete"
            | "EC2ThrottledException"
    )
}

/// Writes the body of `span` in `role`. `minimal` leaves out everything but the identity, the
/// times and the outcome (for a span too large for a datagram).
fn write_body(out: &mut String, span: &SpanData, role: Role, settings: &Settings, minimal: bool) {
    let known = Known::read(&span.attributes);
    let aws = known.aws();
    let outgoing = calls_out(span);
    let segment = matches!(role, Role::Segment | Role::CallerSegment(_));
    let id = match role {
        Role::CallerSegment(id) => id,
        _ => span.span_context.span_id(),
    };

    // The name: the service for a segment, the AWS service or remote peer for a call.
    let name: Cow<'_, str> = if segment {
        match &settings.service_name {
            Some(service) => Cow::Borrowed(service.as_str()),
            None => Cow::Borrowed(&*span.name),
        }
    } else if outgoing && aws {
        known.aws_service().unwrap_or(Cow::Borrowed(&*span.name))
    } else if outgoing {
        Cow::Borrowed(
            known
                .peer_service
                .or(known.server_address)
                .unwrap_or(&*span.name),
        )
    } else {
        Cow::Borrowed(&*span.name)
    };
    let renamed = name != span.name;

    out.push('{');
    json::key(out, "name");
    json::string(out, &sanitize_name(&name));
    json::next_key(out, "id");
    json::span_id(out, id);
    json::next_key(out, "start_time");
    json::epoch_seconds(out, span.start_time);
    json::next_key(out, "end_time");
    json::epoch_seconds(out, span.end_time.max(span.start_time));
    if segment && let Some(origin) = settings.origin {
        json::next_key(out, "origin");
        json::string(out, origin);
    }
    if !segment && outgoing {
        out.push_str(if aws {
            ",\"namespace\":\"aws\""
        } else {
            ",\"namespace\":\"remote\""
        });
    }

    // error (4xx), throttle (429 or a throttling code), fault (5xx, or an error status with
    // no status code to say whose fault it was).
    let (mut error, mut throttle, mut fault) = (false, false, false);
    if let Some(code) = known.http_status {
        match code {
            429 => (error, throttle) = (true, true),
            400..=499 => error = true,
            500..=599 => fault = true,
            _ => {}
        }
    }
    if let Status::Error { .. } = span.status {
        if known.error_type.is_some_and(is_throttling_code) {
            (error, throttle) = (true, true);
        } else if !error && !fault {
            fault = true;
        }
    }
    if error {
        out.push_str(",\"error\":true");
    }
    if throttle {
        out.push_str(",\"throttle\":true");
    }
    if fault {
        out.push_str(",\"fault\":true");
    }

    if minimal {
        out.push_str(",\"metadata\":{\"baton\":{\"truncated\":true}}");
        return;
    }

    // The call's details go with the call; what describes the work, with the segment.
    if !matches!(role, Role::CallerSegment(_)) {
        write_cause(out, span, &known);
        write_http(out, &known);
        if aws {
            write_aws(out, &known);
        }
    }
    if !matches!(role, Role::RootCall(_)) {
        write_annotations_and_metadata(out, span, renamed.then_some(&*span.name));
        write_links(out, span);
    }
}

fn write_cause(out: &mut String, span: &SpanData, known: &Known<'_>) {
    let status_message = match &span.status {
        Status::Error { description } => Some(&**description),
        _ => None,
    };
    let exceptions = span.events.iter().filter(|e| e.name == "exception");
    if status_message.is_none() && exceptions.clone().next().is_none() {
        return;
    }
    let base = u64::from_be_bytes(span.span_context.span_id().to_bytes());
    let mut n: u64 = 0;
    let mut exception = |out: &mut String, message: Option<&str>, kind: Option<&str>| {
        n += 1;
        if n > 1 {
            out.push(',');
        }
        out.push('{');
        json::key(out, "id");
        // Distinct within the span, and 16 hex digits as X-Ray wants.
        let id = base.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        json::span_id(out, SpanId::from_bytes(id.to_be_bytes()));
        if let Some(message) = message {
            json::next_key(out, "message");
            json::string(out, truncate_chars(message, MAX_MESSAGE_CHARS));
        }
        if let Some(kind) = kind {
            json::next_key(out, "type");
            json::string(out, truncate_chars(kind, MAX_MESSAGE_CHARS));
        }
        out.push('}');
    };
    out.push_str(",\"cause\":{\"exceptions\":[");
    for event in exceptions {
        let mut message = None;
        let mut kind = None;
        for kv in &event.attributes {
            match kv.key.as_str() {
                "exception.message" => message = str_of(&kv.value),
                "exception.type" => kind = str_of(&kv.value),
                _ => {}
            }
        }
        exception(out, message, kind);
    }
    if let Some(message) = status_message {
        let message = (!message.is_empty()).then_some(message);
        exception(out, message, known.error_type);
    }
    out.push_str("]}");
}

fn write_http(out: &mut String, known: &Known<'_>) {
    let request = known.http_method.is_some() || known.http_url.is_some();
    if !request && known.http_status.is_none() && known.user_agent.is_none() {
        return;
    }
    out.push_str(",\"http\":{");
    let mut first = true;
    if request || known.user_agent.is_some() {
        out.push_str("\"request\":{");
        let mut sep = "";
        for (key, value) in [
            ("method", known.http_method),
            ("url", known.http_url),
            ("user_agent", known.user_agent),
        ] {
            if let Some(value) = value {
                out.push_str(sep);
                json::key(out, key);
                json::string(out, value);
                sep = ",";
            }
        }
        out.push('}');
        first = false;
    }
    if let Some(status) = known.http_status {
        if !first {
            out.push(',');
        }
        out.push_str("\"response\":{\"status\":");
        json::int(out, status);
        out.push('}');
    }
    out.push('}');
}

fn write_aws(out: &mut String, known: &Known<'_>) {
    let fields = [
        (
            "operation",
            // A batch entry's span is not a call of its own: one SendMessageBatch of ten
            // entries is one operation, not eleven.
            known.rpc_method.or(known
                .messaging_operation
                .filter(|_| !known.messaging_create)),
        ),
        ("region", known.region),
        ("request_id", known.request_id),
        ("queue_url", known.queue_url),
        ("account_id", known.account_id),
    ];
    if fields.iter().all(|(_, v)| v.is_none()) {
        return;
    }
    out.push_str(",\"aws\":{");
    let mut sep = "";
    for (key, value) in fields {
        if let Some(value) = value {
            out.push_str(sep);
            json::key(out, key);
            json::string(out, value);
            sep = ",";
        }
    }
    out.push('}');
}

/// Why an `aws.xray.annotation.*` attribute could not be an annotation.
fn annotation_problem(key: &str, value: &Value, taken: usize) -> Option<&'static str> {
    if key.is_empty()
        || key.len() > MAX_ANNOTATION_KEY_CHARS
        || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Some("key must be 1 to 500 ASCII letters, digits or underscores");
    }
    match value {
        Value::Bool(_) | Value::I64(_) => {}
        Value::F64(f) if f.is_finite() => {}
        Value::F64(_) => return Some("value must be a finite number"),
        Value::String(s) if s.as_str().chars().nth(MAX_ANNOTATION_VALUE_CHARS).is_none() => {}
        Value::String(_) => return Some("value longer than 1000 characters"),
        _ => return Some("value must be a string, number or boolean"),
    }
    if taken >= MAX_ANNOTATIONS {
        return Some("more than 50 annotations on one span");
    }
    None
}

fn write_annotations_and_metadata(out: &mut String, span: &SpanData, span_name: Option<&str>) {
    let mut annotations = 0;
    let mut rejected = false;
    for kv in &span.attributes {
        let Some(key) = kv.key.as_str().strip_prefix(ANNOTATION_PREFIX) else {
            continue;
        };
        if let Some(problem) = annotation_problem(key, &kv.value, annotations) {
            tracing::debug!(
                target: "baton_xray",
                attribute = kv.key.as_str(),
                problem,
                "attribute cannot be an X-Ray annotation; exported as metadata instead"
            );
            rejected = true;
            continue;
        }
        out.push_str(if annotations == 0 {
            ",\"annotations\":{"
        } else {
            ","
        });
        json::string(out, key);
        out.push(':');
        json::value(out, &kv.value);
        annotations += 1;
    }
    if annotations > 0 {
        out.push('}');
    }

    // Metadata: every attribute that did not become an annotation, under one namespace.
    let mut metadata = 0;
    let mut open = |out: &mut String| {
        if metadata == 0 {
            out.push_str(",\"metadata\":{\"");
            out.push_str(METADATA_NAMESPACE);
            out.push_str("\":{");
        } else {
            out.push(',');
        }
        metadata += 1;
    };
    if let Some(name) = span_name {
        open(out);
        out.push_str("\"otel.span.name\":");
        json::string(out, name);
    }
    let mut kept = 0;
    for kv in &span.attributes {
        let key = kv.key.as_str();
        if let Some(short) = key.strip_prefix(ANNOTATION_PREFIX) {
            // An annotation already, unless it was rejected above (same rules, same order).
            if !rejected || annotation_problem(short, &kv.value, kept).is_none() {
                kept += 1;
                continue;
            }
        }
        open(out);
        json::string(out, key);
        out.push(':');
        json::value(out, &kv.value);
    }
    if metadata > 0 {
        out.push_str("}}");
    }
}

fn write_links(out: &mut String, span: &SpanData) {
    let mut first = true;
    for link in span.links.iter() {
        let cx = &link.span_context;
        if !cx.is_valid() {
            continue;
        }
        out.push_str(if first { ",\"links\":[" } else { "," });
        first = false;
        out.push('{');
        json::key(out, "trace_id");
        json::trace_id(out, cx.trace_id());
        json::next_key(out, "id");
        json::span_id(out, cx.span_id());
        if !link.attributes.is_empty() {
            out.push_str(",\"attributes\":{");
            for (i, kv) in link.attributes.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json::string(out, kv.key.as_str());
                out.push(':');
                json::value(out, &kv.value);
            }
            out.push('}');
        }
        out.push('}');
    }
    if !first {
        out.push(']');
    }
}

/// The longest prefix of `s` with at most `max` characters.
fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

fn name_char_allowed(c: char) -> bool {
    c.is_alphanumeric()
        || c == ' '
        || matches!(
            c,
            '_' | '.' | ':' | '/' | '%' | '&' | '#' | '=' | '+' | '\\' | '-' | '@'
        )
}

/// A name X-Ray accepts: Unicode letters and numbers, spaces, and `_ . : / % & # = + \ - @`;
/// other whitespace becomes a space, other characters are left out; at most 200 characters.
/// A name with nothing left is `span`.
pub(crate) fn sanitize_name(name: &str) -> Cow<'_, str> {
    let fits = name.chars().all(name_char_allowed) && name.chars().nth(MAX_NAME_CHARS).is_none();
    if fits && !name.is_empty() {
        return Cow::Borrowed(name);
    }
    let clean: String = name
        .chars()
        .filter_map(|c| {
            if name_char_allowed(c) {
                Some(c)
            } else if c.is_whitespace() {
                Some(' ')
            } else {
                None
            }
        })
        .take(MAX_NAME_CHARS)
        .collect();
    if clean.trim().is_empty() {
        Cow::Borrowed("span")
    } else {
        Cow::Owned(clean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const NAMES: &[(&str, &str)] = &[
        ("send orders",              "send orders"),
        ("GET /users/{id}",          "GET /users/id"),
        ("a\tb\nc",                  "a b c"),
        ("café@host:80",             "café@host:80"),
        ("<<>>",                     "span"),
        ("",                         "span"),
        ("q=1&x+y%20#f\\g",          "q=1&x+y%20#f\\g"),
    ];

    #[test]
    fn names_are_sanitized() {
        for (input, expected) in NAMES {
            assert_eq!(sanitize_name(input), *expected, "input {input:?}");
        }
        let long = "é".repeat(300);
        assert_eq!(sanitize_name(&long).chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn annotation_rules() {
        let s = |v: &str| Value::from(v.to_owned());
        assert!(annotation_problem("order_id", &s("x"), 0).is_none());
        assert!(annotation_problem("order.id", &s("x"), 0).is_some());
        assert!(annotation_problem("", &s("x"), 0).is_some());
        assert!(annotation_problem(&"k".repeat(501), &s("x"), 0).is_some());
        assert!(annotation_problem("k", &s(&"é".repeat(1000)), 0).is_none());
        assert!(annotation_problem("k", &s(&"é".repeat(1001)), 0).is_some());
        assert!(annotation_problem("k", &Value::F64(f64::NAN), 0).is_some());
        assert!(
            annotation_problem("k", &Value::Array(opentelemetry::Array::I64(vec![1])), 0).is_some()
        );
        assert!(annotation_problem("k", &Value::I64(1), MAX_ANNOTATIONS).is_some());
    }
}
