//! The service map: which service called which, through which queue, topic, bus or state
//! machine.

use std::fmt;

use crate::trace::{Node, NodeKind, Trace};

/// One edge of the service map: `from` called `via` (on `resource`), and `to` continued the
/// trace from there.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Edge {
    /// The calling service (`?` when the call's segment has not arrived).
    pub from: String,
    /// The call: the subsegment's name and AWS operation (`SNS Publish`), if there was one.
    pub via: Option<String>,
    /// The queue, topic, bus, state machine or table the call addressed, when known.
    pub resource: Option<String>,
    /// The service that continued the trace, if any did.
    pub to: Option<String>,
}

impl fmt::Display for Edge {
    /// `checkout --SNS Publish--> orders-topic --> fulfilment`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.from)?;
        match &self.via {
            Some(via) => write!(f, " --{via}-->")?,
            None => f.write_str(" -->")?,
        }
        if let Some(resource) = &self.resource {
            write!(f, " {resource}")?;
            if self.to.is_some() {
                f.write_str(" -->")?;
            }
        }
        if let Some(to) = &self.to {
            write!(f, " {to}")?;
        }
        Ok(())
    }
}

/// The edges of `trace`'s service map, each once, in the order the tree shows them.
///
/// - A segment under a subsegment of another service (a consumer continuing the producer's
///   trace from the message) gives `producer --call--> resource --> consumer`.
/// - A segment directly under another service's segment (a producer that started the trace
///   itself, whose consumer's parent is the producer's segment) goes through the producer's
///   latest AWS or remote call that started before the consumer did, if there is one.
/// - An AWS or remote call that nobody in the trace continued gives `service --call-->
///   resource` (a queue not consumed yet, a table), or `service --> name` where nothing
///   names a resource (an HTTP API seen as a `remote` subsegment).
pub fn service_map(trace: &Trace) -> Vec<Edge> {
    let nodes = trace.nodes();
    let (through, continued) = reached_through(trace);

    let mut edges: Vec<Edge> = Vec::new();
    let mut push = |edge: Edge| {
        if !edges.contains(&edge) {
            edges.push(edge);
        }
    };
    for (i, node) in nodes.iter().enumerate() {
        match node.kind {
            NodeKind::Segment => {
                let Some(p) = node.parent else { continue };
                let from = service_of(&nodes[p]);
                let call = through[i].map(|c| &nodes[c]);
                if call.is_none() && from == node.name {
                    // A service's segments nested in one another: no edge to draw.
                    continue;
                }
                push(Edge {
                    from,
                    via: call.map(call_label),
                    resource: call.and_then(|c| resource_in(trace, c)),
                    to: Some(node.name.clone()),
                });
            }
            _ if is_call(node) && !continued[i] => {
                // Where nothing names the resource, the called service's name does.
                let label = call_label(node);
                let (via, resource) = match resource_in(trace, node) {
                    Some(resource) => (Some(label), resource),
                    None if label == node.name => (None, node.name.clone()),
                    None => (Some(label), node.name.clone()),
                };
                push(Edge {
                    from: service_of(node),
                    via,
                    resource: Some(resource),
                    to: None,
                });
            }
            _ => {}
        }
    }
    edges
}

/// For each node of `trace` (by index): the call through which a segment was reached (see
/// [`service_map`]), and whether a call was continued by some segment.
pub(crate) fn reached_through(trace: &Trace) -> (Vec<Option<usize>>, Vec<bool>) {
    let nodes = trace.nodes();
    let mut through: Vec<Option<usize>> = vec![None; nodes.len()];
    let mut continued = vec![false; nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        if node.kind != NodeKind::Segment {
            continue;
        }
        let Some(p) = node.parent else { continue };
        let call = match nodes[p].kind {
            NodeKind::Subsegment => Some(p),
            NodeKind::Segment => nodes[p]
                .children
                .iter()
                .copied()
                .filter(|&c| is_call(&nodes[c]) && nodes[c].start <= node.start)
                .max_by(|&a, &b| nodes[a].start.total_cmp(&nodes[b].start)),
        };
        through[i] = call;
        if let Some(call) = call {
            continued[call] = true;
        }
    }
    (through, continued)
}

pub(crate) fn service_of(node: &Node) -> String {
    node.service.clone().unwrap_or_else(|| "?".to_owned())
}

/// A subsegment for a call to another service.
pub(crate) fn is_call(node: &Node) -> bool {
    node.kind == NodeKind::Subsegment
        && matches!(node.namespace.as_deref(), Some("aws") | Some("remote"))
}

/// `SQS SendMessage`: the subsegment's name and, for AWS calls, the operation.
pub(crate) fn call_label(node: &Node) -> String {
    match node.aws_str("operation") {
        Some(operation) if !operation.is_empty() && operation != node.name => {
            format!("{} {operation}", node.name)
        }
        _ => node.name.clone(),
    }
}

/// The resource `node` (a call in `trace`) addressed. A call that started a trace has its
/// attributes on the segment the exporter wrote for the caller: the call's parent, with the
/// same times, while the call itself carries no metadata.
pub(crate) fn resource_in(trace: &Trace, node: &Node) -> Option<String> {
    resource_of(node).or_else(|| {
        let parent = trace.parent(node)?;
        (node.metadata.is_empty()
            && parent.kind == NodeKind::Segment
            && parent.start == node.start
            && parent.end == node.end)
            .then(|| resource_of(parent))
            .flatten()
    })
}

/// The verbs that messaging span names start with (`send orders`, `publish orders-topic`).
const MESSAGING_VERBS: &[&str] = &[
    "send", "publish", "create", "receive", "process", "deliver", "settle", "start",
];

/// The resource a call addressed: from the `aws` fields, else the messaging destination
/// attribute, else the span name the exporter kept (`send orders` → `orders`).
fn resource_of(node: &Node) -> Option<String> {
    if let Some(url) = node.aws_str("queue_url") {
        return last_part(url, '/');
    }
    for key in [
        "topic_arn",
        "state_machine_arn",
        "event_bus_name",
        "table_name",
        "function_name",
        "stream_name",
        "bucket_name",
    ] {
        if let Some(value) = node.aws_str(key) {
            return last_part(value, ':').and_then(|v| last_part(&v, '/'));
        }
    }
    for key in [
        "messaging.destination.name",
        "aws.sns.topic.arn",
        "aws.sqs.queue.url",
    ] {
        if let Some(value) = node.attribute(key) {
            return last_part(value, ':').and_then(|v| last_part(&v, '/'));
        }
    }
    let span_name = node.attribute("otel.span.name")?;
    let (verb, rest) = span_name.split_once(' ')?;
    let rest = rest.trim();
    (MESSAGING_VERBS.contains(&verb.to_ascii_lowercase().as_str()) && !rest.is_empty())
        .then(|| rest.to_owned())
}

/// The text after the last `separator` (ignoring one at the very end), if not empty.
fn last_part(value: &str, separator: char) -> Option<String> {
    let value = value.trim_end_matches(separator);
    let last = value.rsplit(separator).next().unwrap_or(value);
    (!last.is_empty()).then(|| last.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const PARTS: &[(&str, char, Option<&str>)] = &[
        ("http://localhost:4566/000000000000/orders",        '/', Some("orders")),
        ("https://sqs.eu-west-1.amazonaws.com/1/orders/",    '/', Some("orders")),
        ("arn:aws:sns:eu-west-1:123456789012:orders-topic",  ':', Some("orders-topic")),
        ("",                                                 ':', None),
        ("plain",                                            '/', Some("plain")),
    ];

    #[test]
    fn last_parts() {
        for (value, sep, expected) in PARTS {
            assert_eq!(last_part(value, *sep).as_deref(), *expected, "{value}");
        }
    }

    #[test]
    fn edges_read_like_arrows() {
        let full = Edge {
            from: "checkout".into(),
            via: Some("SNS Publish".into()),
            resource: Some("orders-topic".into()),
            to: Some("fulfilment".into()),
        };
        assert_eq!(
            full.to_string(),
            "checkout --SNS Publish--> orders-topic --> fulfilment"
        );
        let direct = Edge {
            via: None,
            resource: None,
            ..full.clone()
        };
        assert_eq!(direct.to_string(), "checkout --> fulfilment");
        let leaf = Edge {
            to: None,
            ..full.clone()
        };
        assert_eq!(leaf.to_string(), "checkout --SNS Publish--> orders-topic");
        let unnamed = Edge {
            resource: None,
            ..full
        };
        assert_eq!(unnamed.to_string(), "checkout --SNS Publish--> fulfilment");
    }
}
