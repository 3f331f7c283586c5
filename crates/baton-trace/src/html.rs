//! A trace as one self-contained HTML page: inline CSS, no script, no outside resources.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde_json::Value;

use crate::render::{format_ms, format_utc, label, render_service_map};
use crate::trace::{Node, NodeKind, Trace};

const STYLE: &str = "\
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d2330;background:#fff}\
h1{font-size:18px;margin:0 0 4px}h2{font-size:15px;margin:24px 0 8px}\
code,pre,td{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}\
.summary{color:#555;margin:0 0 16px}.alert{color:#c0392b;font-weight:600}\
.wf{border:1px solid #d8dce6;border-radius:4px}\
.row{display:grid;grid-template-columns:minmax(18em,38%) 1fr 7em;align-items:center;border-top:1px solid #eef0f5;min-height:24px}\
.row:first-child{border-top:0}.row:hover{background:#f7f9fc}\
.label{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;padding:2px 6px}\
.seg .label{font-weight:600}.orphan .label{font-style:italic;color:#8a5a00}\
.track{position:relative;height:14px;margin:0 6px;background:#f1f3f8;border-radius:2px}\
.bar{position:absolute;top:0;bottom:0;min-width:2px;background:#4a7bd0;border-radius:2px}\
.seg .bar{background:#1f9d8b}.running .bar{background:repeating-linear-gradient(45deg,#9ab 0 4px,#cde 4px 8px)}\
.fault .bar,.error .bar{background:#d0453a}.throttle .bar{background:#b04fc0}\
.dur{text-align:right;padding-right:8px;font-variant-numeric:tabular-nums}\
.flag{color:#c0392b;font-weight:600;font-size:11px;margin-left:6px}\
pre{background:#f7f9fc;border:1px solid #d8dce6;border-radius:4px;padding:8px 12px}\
table{border-collapse:collapse}td,th{border-top:1px solid #eef0f5;padding:3px 8px;text-align:left;vertical-align:top}\
th{font-size:12px;color:#555}";

/// The trace as a self-contained HTML page: a summary, the waterfall (bars placed on the
/// trace's time axis, details in each row's tooltip), the service map, and a table of every
/// node's fields. Inline CSS only; no script.
pub fn render_html(trace: &Trace) -> String {
    let nodes = trace.nodes();
    let mut out = String::with_capacity(4096 + nodes.len() * 600);
    let id = escape(trace.id());
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Trace {id}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Trace <code>{id}</code></h1>\n"
    );
    let services = trace.services();
    let _ = write!(
        out,
        "<p class=\"summary\">{} nodes · {} services ({}) · {}",
        nodes.len(),
        services.len(),
        escape(&services.join(", ")),
        format_ms(trace.duration_ms()),
    );
    if !nodes.is_empty() {
        let _ = write!(out, " · started {}", format_utc(trace.start()));
    }
    if trace.failed() {
        out.push_str(" · <span class=\"alert\">errors</span>");
    }
    let orphans = trace.orphans().count();
    if orphans > 0 {
        let _ = write!(
            out,
            " · <span class=\"alert\">{orphans} orphan(s): parent not received</span>"
        );
    }
    out.push_str("</p>\n<div class=\"wf\">\n");

    let origin = trace.start();
    let span = trace.end() - origin;
    for node in nodes {
        let mut classes = vec!["row"];
        classes.push(match node.kind {
            NodeKind::Segment => "seg",
            _ => "sub",
        });
        for (on, class) in [
            (node.error, "error"),
            (node.fault, "fault"),
            (node.throttle, "throttle"),
            (node.orphan, "orphan"),
            (node.in_progress, "running"),
        ] {
            if on {
                classes.push(class);
            }
        }
        let (left, width) = placement(node, origin, span);
        let duration = match node.duration_ms() {
            Some(ms) if !node.in_progress => format_ms(ms),
            _ => "running".to_owned(),
        };
        let _ = write!(
            out,
            "<div class=\"{}\" title=\"{}\"><div class=\"label\" style=\"padding-left:{:.1}em\">{}",
            classes.join(" "),
            escape(&tooltip(node)),
            0.5 + 1.2 * node.depth as f64,
            escape(&label(trace, node)),
        );
        for (on, word) in [
            (node.fault, "FAULT"),
            (node.error, "ERROR"),
            (node.throttle, "THROTTLE"),
        ] {
            if on {
                let _ = write!(out, "<span class=\"flag\">{word}</span>");
            }
        }
        let _ = writeln!(
            out,
            "</div><div class=\"track\"><div class=\"bar\" style=\"left:{left:.3}%;width:{width:.3}%\"></div></div>\
             <div class=\"dur\">{duration}</div></div>"
        );
    }
    out.push_str("</div>\n<h2>Service map</h2>\n<pre>");
    out.push_str(&escape(&render_service_map(trace)));
    out.push_str("</pre>\n<h2>Nodes</h2>\n<table>\n<tr><th>id</th><th>parent</th><th>kind</th><th>name</th><th>start (ms)</th><th>duration</th><th>details</th></tr>\n");
    for node in nodes {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
            escape(&node.id),
            escape(node.parent_id.as_deref().unwrap_or("")),
            match node.kind {
                NodeKind::Segment => "segment",
                _ => "subsegment",
            },
            escape(&node.name),
            (node.start - origin) * 1000.0,
            node.duration_ms()
                .filter(|_| !node.in_progress)
                .map_or_else(|| "running".to_owned(), format_ms),
            escape(&details(node)).replace('\n', "<br>"),
        );
    }
    out.push_str("</table>\n</body>\n</html>\n");
    out
}

/// Writes [`render_html`] of `trace` to `path`.
pub fn write_html(trace: &Trace, path: impl AsRef<Path>) -> io::Result<()> {
    std::fs::write(path, render_html(trace))
}

/// Left edge and width of a node's bar, in percent of the trace's time axis.
fn placement(node: &Node, origin: f64, span: f64) -> (f64, f64) {
    if span <= 0.0 || !span.is_finite() {
        return (0.0, 100.0);
    }
    let end = if node.in_progress {
        origin + span
    } else {
        node.end.unwrap_or(node.start)
    };
    let left = ((node.start - origin) / span * 100.0).clamp(0.0, 100.0);
    let width = ((end - node.start) / span * 100.0).clamp(0.0, 100.0 - left);
    (left, width)
}

/// The first lines of a row's tooltip, then its details.
fn tooltip(node: &Node) -> String {
    let mut text = format!("{}\nid {}", node.name, node.id);
    if let Some(parent) = &node.parent_id {
        let _ = write!(text, "\nparent {parent}");
    }
    let more = details(node);
    if !more.is_empty() {
        text.push('\n');
        text.push_str(&more);
    }
    text
}

/// The fields worth reading, one per line: namespace, origin, `aws`, HTTP, annotations,
/// links, exceptions.
fn details(node: &Node) -> String {
    let mut lines: Vec<String> = Vec::new();
    if let Some(service) = node
        .service
        .as_deref()
        .filter(|_| node.kind != NodeKind::Segment)
    {
        lines.push(format!("service {service}"));
    }
    if let Some(namespace) = &node.namespace {
        lines.push(format!("namespace {namespace}"));
    }
    if let Some(origin) = &node.origin {
        lines.push(format!("origin {origin}"));
    }
    for (key, value) in &node.aws {
        lines.push(format!("aws.{key} = {}", show(value)));
    }
    if node.http_method.is_some() || node.http_url.is_some() || node.http_status.is_some() {
        let mut http = String::from("http");
        for part in [node.http_method.as_deref(), node.http_url.as_deref()]
            .into_iter()
            .flatten()
        {
            http.push(' ');
            http.push_str(part);
        }
        if let Some(status) = node.http_status {
            let _ = write!(http, " → {status}");
        }
        lines.push(http);
    }
    for (key, value) in &node.annotations {
        lines.push(format!("annotation {key} = {}", show(value)));
    }
    for link in &node.links {
        lines.push(format!("link {} / {}", link.trace_id, link.id));
    }
    for exception in &node.exceptions {
        lines.push(format!("exception {exception}"));
    }
    lines.join("\n")
}

/// A JSON value for people: strings without quotes.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Escapes text for HTML content and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>\x07"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;?"
        );
    }
}
