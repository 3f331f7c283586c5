//! Daemon datagrams into flat nodes.
//!
//! A datagram is the daemon header line, a newline, and one JSON document: a segment (with
//! its subsegments embedded, to any depth) or an independent subsegment. Parsing checks the
//! header and the fields the view relies on, then flattens the document: every embedded
//! subsegment becomes a node of its own whose `parent_id` is the id of the object that held
//! it. Whatever does not look like a segment document is refused as a whole, with a
//! [`Malformed`] reason; nothing here panics on any input.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::trace::{Link, Node, NodeKind};

/// The first line of every datagram the X-Ray daemon accepts.
pub const DAEMON_HEADER: &str = r#"{"format":"json","version":1}"#;

/// The largest datagram accepted, in bytes (header included). The X-Ray daemon takes
/// datagrams up to 64 KiB; anything longer is refused as [`Malformed::Oversize`].
pub const MAX_DATAGRAM_BYTES: usize = 64 * 1024;

/// The longest trace id accepted (X-Ray's own are 35 characters).
const MAX_TRACE_ID_CHARS: usize = 64;
/// The longest segment id accepted (X-Ray's own are 16 hex digits).
const MAX_ID_CHARS: usize = 32;

/// Why a datagram was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The datagram is longer than [`MAX_DATAGRAM_BYTES`].
    #[error("datagram of {0} bytes or more is over the {MAX_DATAGRAM_BYTES}-byte limit")]
    Oversize(usize),
    /// The datagram is not UTF-8 text.
    #[error("datagram is not UTF-8")]
    NotUtf8,
    /// There is no newline, so no header line followed by a document.
    #[error("no header line: expected {DAEMON_HEADER} and a newline first")]
    NoHeader,
    /// The first line is not the daemon header (`format` `json`, `version` 1).
    #[error("first line is not the daemon header {DAEMON_HEADER}")]
    BadHeader,
    /// The document after the header is not one JSON value.
    #[error("document is not valid JSON: {0}")]
    Json(String),
    /// The document is JSON but not a segment or subsegment (the field named is missing or
    /// of the wrong type or form).
    #[error("document is not a segment document: bad or missing `{0}`")]
    Shape(&'static str),
}

/// The nodes of one datagram, all of one trace.
#[derive(Debug, PartialEq)]
pub(crate) struct Parsed {
    pub(crate) trace_id: String,
    /// The document's own node first, then its embedded subsegments, depth first.
    pub(crate) nodes: Vec<Node>,
}

/// Checks and flattens one datagram.
pub(crate) fn parse_datagram(datagram: &[u8]) -> Result<Parsed, Malformed> {
    if datagram.len() > MAX_DATAGRAM_BYTES {
        return Err(Malformed::Oversize(datagram.len()));
    }
    let text = std::str::from_utf8(datagram).map_err(|_| Malformed::NotUtf8)?;
    let (header, document) = text.split_once('\n').ok_or(Malformed::NoHeader)?;
    if !is_daemon_header(header) {
        return Err(Malformed::BadHeader);
    }
    let value: Value =
        serde_json::from_str(document).map_err(|error| Malformed::Json(error.to_string()))?;
    let Value::Object(top) = value else {
        return Err(Malformed::Shape("document"));
    };
    let trace_id = match top.get("trace_id") {
        Some(Value::String(id)) if valid_trace_id(id) => id.clone(),
        _ => return Err(Malformed::Shape("trace_id")),
    };
    let kind = match top.get("type") {
        None => NodeKind::Segment,
        Some(Value::String(t)) if t == "subsegment" => NodeKind::Subsegment,
        Some(_) => return Err(Malformed::Shape("type")),
    };
    let parent_id = match top.get("parent_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if valid_id(id) => Some(id.clone()),
        Some(_) => return Err(Malformed::Shape("parent_id")),
    };
    if kind == NodeKind::Subsegment && parent_id.is_none() {
        // An independent subsegment must say where it belongs.
        return Err(Malformed::Shape("parent_id"));
    }

    let mut nodes = Vec::new();
    // Objects still to read, each with the id of the object that held it.
    let mut stack: Vec<(&Map<String, Value>, Option<String>, NodeKind)> =
        vec![(&top, parent_id, kind)];
    while let Some((object, parent, kind)) = stack.pop() {
        let node = read_node(object, parent, kind)?;
        if let Some(subsegments) = object.get("subsegments") {
            let Value::Array(subsegments) = subsegments else {
                return Err(Malformed::Shape("subsegments"));
            };
            // Reversed, so that they come off the stack in document order.
            for sub in subsegments.iter().rev() {
                let Value::Object(sub) = sub else {
                    return Err(Malformed::Shape("subsegments"));
                };
                stack.push((sub, Some(node.id.clone()), NodeKind::Subsegment));
            }
        }
        nodes.push(node);
    }
    Ok(Parsed { trace_id, nodes })
}

/// Whether `line` is the daemon header: the exact text, or the same JSON spelled otherwise.
fn is_daemon_header(line: &str) -> bool {
    let line = line.trim();
    if line == DAEMON_HEADER {
        return true;
    }
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(header)) => {
            header.get("format").and_then(Value::as_str) == Some("json")
                && header.get("version").and_then(Value::as_u64) == Some(1)
        }
        _ => false,
    }
}

/// `1-5f3a1b2c-…`: ASCII letters, digits and dashes only (trace ids become file names).
fn valid_trace_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_TRACE_ID_CHARS
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Segment ids: ASCII letters and digits (X-Ray's are 16 lower-case hex digits).
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_CHARS && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn read_node(
    object: &Map<String, Value>,
    parent_id: Option<String>,
    kind: NodeKind,
) -> Result<Node, Malformed> {
    let id = match object.get("id") {
        Some(Value::String(id)) if valid_id(id) => id.clone(),
        _ => return Err(Malformed::Shape("id")),
    };
    let name = match object.get("name") {
        Some(Value::String(name)) => name.clone(),
        _ => return Err(Malformed::Shape("name")),
    };
    let start = match object.get("start_time").and_then(Value::as_f64) {
        Some(start) if start.is_finite() => start,
        _ => return Err(Malformed::Shape("start_time")),
    };
    let end = match object.get("end_time") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_f64() {
            Some(end) if end.is_finite() => Some(end.max(start)),
            _ => return Err(Malformed::Shape("end_time")),
        },
    };
    let flag = |key: &str| object.get(key).and_then(Value::as_bool).unwrap_or(false);
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
    let map = |key: &str| match object.get(key) {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        _ => BTreeMap::new(),
    };
    let http = object.get("http");
    let http_status = http
        .and_then(|h| h.pointer("/response/status"))
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok());
    let http_method = http
        .and_then(|h| h.pointer("/request/method"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let http_url = http
        .and_then(|h| h.pointer("/request/url"))
        .and_then(Value::as_str)
        .map(str::to_owned);

    Ok(Node {
        id,
        parent_id,
        name,
        start,
        end,
        in_progress: end.is_none() || flag("in_progress"),
        kind,
        namespace: text("namespace"),
        origin: text("origin"),
        aws: map("aws"),
        http_method,
        http_url,
        http_status,
        error: flag("error"),
        fault: flag("fault"),
        throttle: flag("throttle"),
        exceptions: exceptions(object.get("cause")),
        annotations: map("annotations"),
        metadata: map("metadata"),
        links: links(object.get("links")),
        depth: 0,
        orphan: false,
        service: None,
        parent: None,
        children: Vec::new(),
    })
}

/// `cause.exceptions[*]` as `type: message` lines. (A cause may also be a bare exception id
/// pointing elsewhere; there is nothing to show for that.)
fn exceptions(cause: Option<&Value>) -> Vec<String> {
    let Some(list) = cause
        .and_then(|c| c.get("exceptions"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let message = e.get("message").and_then(Value::as_str);
            let kind = e.get("type").and_then(Value::as_str);
            match (kind, message) {
                (Some(kind), Some(message)) => Some(format!("{kind}: {message}")),
                (Some(one), None) | (None, Some(one)) => Some(one.to_owned()),
                (None, None) => None,
            }
        })
        .collect()
}

/// `links[*]` with a string `trace_id` and `id`; others are skipped.
fn links(links: Option<&Value>) -> Vec<Link> {
    let Some(list) = links.and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|link| {
            let trace_id = link.get("trace_id")?.as_str()?.to_owned();
            let id = link.get("id")?.as_str()?.to_owned();
            let attributes = match link.get("attributes") {
                Some(Value::Object(map)) => {
                    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
                }
                _ => BTreeMap::new(),
            };
            Some(Link {
                trace_id,
                id,
                attributes,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(document: &str) -> Vec<u8> {
        format!("{DAEMON_HEADER}\n{document}").into_bytes()
    }

    const SEGMENT: &str = r#"{"name":"checkout","id":"aaaaaaaaaaaaaaa1","trace_id":"1-5f000000-000000000000000000000001","start_time":1700000000.0,"end_time":1700000000.1,"subsegments":[{"name":"SQS","id":"aaaaaaaaaaaaaaa2","start_time":1700000000.01,"end_time":1700000000.02,"namespace":"aws","aws":{"operation":"SendMessage"},"subsegments":[{"name":"inner","id":"aaaaaaaaaaaaaaa3","start_time":1700000000.011,"end_time":1700000000.012}]},{"name":"db","id":"aaaaaaaaaaaaaaa4","start_time":1700000000.03,"end_time":1700000000.04,"fault":true}]}"#;

    #[test]
    fn embedded_subsegments_are_flattened_in_document_order() {
        let parsed = parse_datagram(&datagram(SEGMENT)).unwrap();
        assert_eq!(parsed.trace_id, "1-5f000000-000000000000000000000001");
        let shape: Vec<(&str, Option<&str>, NodeKind)> = parsed
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), n.parent_id.as_deref(), n.kind))
            .collect();
        assert_eq!(
            shape,
            [
                ("aaaaaaaaaaaaaaa1", None, NodeKind::Segment),
                (
                    "aaaaaaaaaaaaaaa2",
                    Some("aaaaaaaaaaaaaaa1"),
                    NodeKind::Subsegment
                ),
                (
                    "aaaaaaaaaaaaaaa3",
                    Some("aaaaaaaaaaaaaaa2"),
                    NodeKind::Subsegment
                ),
                (
                    "aaaaaaaaaaaaaaa4",
                    Some("aaaaaaaaaaaaaaa1"),
                    NodeKind::Subsegment
                ),
            ]
        );
        assert_eq!(parsed.nodes[1].namespace.as_deref(), Some("aws"));
        assert_eq!(parsed.nodes[1].aws["operation"], "SendMessage");
        assert!(parsed.nodes[3].fault);
        assert!(!parsed.nodes[0].in_progress);
    }

    #[test]
    fn header_spelled_with_spaces_is_accepted() {
        let text = format!("{{ \"format\": \"json\", \"version\": 1 }}\n{SEGMENT}");
        assert!(parse_datagram(text.as_bytes()).is_ok());
    }

    #[rustfmt::skip]
    const REFUSED: &[(&str, Malformed)] = &[
        ("no newline at all",                                             Malformed::NoHeader),
        ("{\"format\":\"json\",\"version\":2}\n{}",                       Malformed::BadHeader),
        ("{\"format\":\"json\",\"version\":1}\n{\"name\":",               Malformed::Json(String::new())),
        ("{\"format\":\"json\",\"version\":1}\n[1,2]",                    Malformed::Shape("document")),
        ("{\"format\":\"json\",\"version\":1}\n{\"name\":\"a\",\"id\":\"1\",\"start_time\":1}", Malformed::Shape("trace_id")),
        ("{\"format\":\"json\",\"version\":1}\n{\"name\":\"a\",\"id\":\"1\",\"trace_id\":\"../../x\",\"start_time\":1}", Malformed::Shape("trace_id")),
        ("{\"format\":\"json\",\"version\":1}\n{\"name\":\"a\",\"id\":\"x y\",\"trace_id\":\"1-a-b\",\"start_time\":1}", Malformed::Shape("id")),
        ("{\"format\":\"json\",\"version\":1}\n{\"id\":\"1\",\"trace_id\":\"1-a-b\",\"start_time\":1}", Malformed::Shape("name")),
        ("{\"format\":\"json\",\"version\":1}\n{\"name\":\"a\",\"id\":\"1\",\"trace_id\":\"1-a-b\",\"start_time\":\"soon\"}", Malformed::Shape("start_time")),
        ("{\"format\":\"json\",\"version\":1}\n{\"name\":\"a\",\"id\":\"1\",\"trace_id\":\"1-a-b\",\"start_time\":1,\"end_time\":true}", Malformed::Shape("end_time")),
        ("{\"format\":\"json\",\"version\":1}\n{\"name\":\"a\",\"id\":\"1\",\"trace_id\":\"1-a-b\",\"start_time\":1,\"type\":\"subsegment\"}", Malformed::Shape("parent_id")),
        ("{\"format\":\"json\",\"version\":1}\n{\"name\":\"a\",\"id\":\"1\",\"trace_id\":\"1-a-b\",\"start_time\":1,\"type\":\"other\"}", Malformed::Shape("type")),
        ("{\"format\":\"json\",\"version\":1}\n{\"name\":\"a\",\"id\":\"1\",\"trace_id\":\"1-a-b\",\"start_time\":1,\"subsegments\":{}}", Malformed::Shape("subsegments")),
        ("{\"format\":\"json\",\"version\":1}\n{\"name\":\"a\",\"id\":\"1\",\"trace_id\":\"1-a-b\",\"start_time\":1,\"subsegments\":[{\"name\":\"b\",\"start_time\":1}]}", Malformed::Shape("id")),
    ];

    #[test]
    fn refusals_name_their_reason() {
        for (input, expected) in REFUSED {
            let got = parse_datagram(input.as_bytes()).unwrap_err();
            match (expected, &got) {
                (Malformed::Json(_), Malformed::Json(_)) => {}
                _ => assert_eq!(&got, expected, "input {input:?}"),
            }
        }
    }

    #[test]
    fn oversize_and_binary_datagrams_are_refused() {
        let big = vec![b' '; MAX_DATAGRAM_BYTES + 1];
        assert_eq!(
            parse_datagram(&big),
            Err(Malformed::Oversize(MAX_DATAGRAM_BYTES + 1))
        );
        assert_eq!(
            parse_datagram(&[0xff, 0xfe, b'\n']),
            Err(Malformed::NotUtf8)
        );
    }

    #[test]
    fn an_end_before_the_start_is_clamped_and_no_end_means_in_progress() {
        let doc = r#"{"name":"a","id":"1","trace_id":"1-a-b","start_time":10,"end_time":9,"subsegments":[{"name":"b","id":"2","start_time":10}]}"#;
        let parsed = parse_datagram(&datagram(doc)).unwrap();
        assert_eq!(parsed.nodes[0].end, Some(10.0));
        assert!(parsed.nodes[1].in_progress);
        assert_eq!(parsed.nodes[1].end, None);
    }
}
