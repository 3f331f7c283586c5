//! A minimal JSON writer: segment documents are written straight into a `String`, without an
//! intermediate tree, because conversion sits on the export path of every span.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry::{Array, Value};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string (quotes included).
pub(crate) fn string(out: &mut String, s: &str) {
    out.push('"');
    escaped(out, s);
    out.push('"');
}

/// Appends `s` escaped for the inside of a JSON string.
pub(crate) fn escaped(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let replacement: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f | 0x7f => "",
            _ => continue,
        };
        // Only ASCII bytes are replaced, so `start..i` always falls on character boundaries.
        out.push_str(&s[start..i]);
        if replacement.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(replacement);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Appends `"key":` (the key is trusted to need no escaping).
pub(crate) fn key(out: &mut String, key: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
}

/// Appends `,"key":` (the key is trusted to need no escaping).
pub(crate) fn next_key(out: &mut String, k: &str) {
    out.push(',');
    key(out, k);
}

fn hex_bytes(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

/// Appends a span id as a quoted 16-digit lower-case hex string.
pub(crate) fn span_id(out: &mut String, id: SpanId) {
    out.push('"');
    hex_bytes(out, &id.to_bytes());
    out.push('"');
}

/// Appends a trace id in X-Ray form, quoted: `"1-{8 hex}-{24 hex}"`.
pub(crate) fn trace_id(out: &mut String, id: TraceId) {
    let bytes = id.to_bytes();
    out.push_str("\"1-");
    hex_bytes(out, &bytes[..4]);
    out.push('-');
    hex_bytes(out, &bytes[4..]);
    out.push('"');
}

/// Appends a time as epoch seconds with a six-digit fraction (microseconds): exact, and a
/// valid JSON number. Times before 1970 are written as 0.
pub(crate) fn epoch_seconds(out: &mut String, at: SystemTime) {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let _ = write!(out, "{}.{:06}", since.as_secs(), since.subsec_micros());
}

/// Appends an `f64` as a JSON number, or as a string when JSON cannot hold it (NaN, ±∞).
pub(crate) fn float(out: &mut String, f: f64) {
    if f.is_finite() {
        let _ = write!(out, "{f}");
    } else {
        string(out, &f.to_string());
    }
}

/// Appends an `i64`.
pub(crate) fn int(out: &mut String, i: i64) {
    let _ = write!(out, "{i}");
}

/// Appends an attribute value as the closest JSON value (arrays stay arrays).
pub(crate) fn value(out: &mut String, v: &Value) {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::I64(i) => int(out, *i),
        Value::F64(f) => float(out, *f),
        Value::String(s) => string(out, s.as_str()),
        Value::Array(array) => {
            out.push('[');
            match array {
                Array::Bool(values) => list(out, values, |out, b| {
                    out.push_str(if *b { "true" } else { "false" })
                }),
                Array::I64(values) => list(out, values, |out, i| int(out, *i)),
                Array::F64(values) => list(out, values, |out, f| float(out, *f)),
                Array::String(values) => list(out, values, |out, s| string(out, s.as_str())),
                // Array kinds added to OpenTelemetry later: keep their text.
                other => string(out, &other.to_string()),
            }
            out.push(']');
        }
        other => string(out, &other.as_str()),
    }
}

fn list<T>(out: &mut String, values: &[T], mut each: impl FnMut(&mut String, &T)) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(out, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn escapes_quotes_backslashes_and_control_characters() {
        let mut out = String::new();
        string(&mut out, "a\"b\\c\nd\u{1}é\u{7f}");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é\u007f""#);
    }

    #[test]
    fn ids_and_times() {
        let mut out = String::new();
        trace_id(
            &mut out,
            TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap(),
        );
        assert_eq!(out, r#""1-5759e988-bd862e3fe1be46a994272793""#);
        out.clear();
        span_id(&mut out, SpanId::from_hex("53995c3f42cd8ad8").unwrap());
        assert_eq!(out, r#""53995c3f42cd8ad8""#);
        out.clear();
        epoch_seconds(
            &mut out,
            UNIX_EPOCH + Duration::new(1_480_615_200, 10_000_123),
        );
        assert_eq!(out, "1480615200.010000");
    }

    #[test]
    fn non_finite_floats_become_strings() {
        let mut out = String::new();
        float(&mut out, f64::NAN);
        out.push(',');
        float(&mut out, 1.5);
        assert_eq!(out, r#""NaN",1.5"#);
    }
}
