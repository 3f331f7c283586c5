//! What the tests share: spans from a real tracer provider, and datagrams parsed back.

#![allow(dead_code, unreachable_pub)]

use std::time::{SystemTime, UNIX_EPOCH};

use baton_xray::XrayExporter;
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider, SpanData};
use serde_json::Value;

pub const HEADER: &str = "{\"format\":\"json\",\"version\":1}";

/// The spans `f` makes with a real provider (X-Ray ids), in the order they ended.
pub fn capture(f: impl FnOnce(&SdkTracer)) -> Vec<SpanData> {
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_id_generator(baton::XrayIdGenerator::default())
        .with_simple_exporter(memory.clone())
        .build();
    let tracer = provider.tracer("baton-xray-test");
    f(&tracer);
    provider.force_flush().unwrap();
    let spans = memory.get_finished_spans().unwrap();
    provider.shutdown().unwrap();
    spans
}

/// An exporter whose datagrams are only encoded (its address is never sent to).
pub fn encoder() -> XrayExporter {
    XrayExporter::builder()
        .with_daemon_address("127.0.0.1:9")
        .with_service_name("orders")
        .build()
        .unwrap()
}

/// Splits a datagram into the daemon header and the parsed document, checking the framing.
pub fn parse_datagram(datagram: &str) -> Value {
    let (header, document) = datagram
        .split_once('\n')
        .expect("a header line, then the document");
    assert_eq!(header, HEADER);
    assert!(!document.contains('\n'), "one document per datagram");
    serde_json::from_str(document).expect("the document is JSON")
}

/// The documents `spans` encode to.
pub fn documents(exporter: &XrayExporter, spans: &[SpanData]) -> Vec<Value> {
    let mut out = Vec::new();
    exporter.encode(spans, |datagram| out.push(parse_datagram(datagram)));
    out
}

pub fn xray_trace_id(id: TraceId) -> String {
    let hex = id.to_string();
    format!("1-{}-{}", &hex[..8], &hex[8..])
}

pub fn hex_id(id: SpanId) -> String {
    id.to_string()
}

pub fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `1-{8 hex}-{24 hex}`.
pub fn is_xray_trace_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 3 && parts[0] == "1" && is_hex(parts[1], 8) && is_hex(parts[2], 24)
}

pub fn epoch(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Checks what every segment or subsegment object must have, against the span it came from.
pub fn check_identity(doc: &Value, span: &SpanData) {
    let id = doc["id"].as_str().expect("id");
    assert!(is_hex(id, 16), "id {id}");
    assert_eq!(id, hex_id(span.span_context.span_id()));
    let start = doc["start_time"].as_f64().expect("start_time is a number");
    let end = doc["end_time"].as_f64().expect("end_time is a number");
    assert!(
        (start - epoch(span.start_time)).abs() < 2e-6,
        "start {start}"
    );
    assert!((end - epoch(span.end_time)).abs() < 2e-6, "end {end}");
    assert!(end >= start);
    assert!(start > 1.7e9, "epoch seconds, not milliseconds: {start}");
    assert!(
        doc.get("in_progress").is_none(),
        "ended spans are never in progress"
    );
    assert!(doc["name"].as_str().is_some_and(|n| !n.is_empty()));
}

/// The span named `name`.
pub fn span<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}"))
}

/// Every span id in a document, embedded subsegments included.
pub fn ids_in(doc: &Value, out: &mut Vec<String>) {
    out.push(doc["id"].as_str().unwrap().to_owned());
    if let Some(subs) = doc.get("subsegments").and_then(Value::as_array) {
        for sub in subs {
            assert!(
                sub.get("trace_id").is_none(),
                "embedded subsegments inherit trace_id"
            );
            ids_in(sub, out);
        }
    }
}
