//! The page's JSON: what each endpoint answers, from summaries, traces and the graph, with
//! no I/O.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::filter::Filter;
use super::graph::{Health, ServiceGraph, Status};
use super::summary::Summary;
use crate::assembler::Stats;
use crate::render::label;
use crate::trace::{NodeKind, Trace};

/// Traces listed when the query does not say.
pub(crate) const DEFAULT_LIMIT: usize = 200;
/// The most traces one answer lists.
pub(crate) const MAX_LIMIT: usize = 1000;
/// The most service names listed for the service filter.
const MAX_SERVICE_NAMES: usize = 500;

/// A refused request: the message for the JSON body, and where in the filter expression
/// the problem is, if it is there.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) message: String,
    pub(crate) column: Option<usize>,
}

impl Refusal {
    fn new(message: impl Into<String>) -> Self {
        Refusal {
            message: message.into(),
            column: None,
        }
    }

    pub(crate) fn to_json(&self) -> String {
        match self.column {
            Some(column) => json!({ "error": self.message, "column": column }),
            None => json!({ "error": self.message }),
        }
        .to_string()
    }
}

/// What `/api/traces` was asked for.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ListQuery {
    pub(crate) service: Option<String>,
    pub(crate) status: Option<Status>,
    /// A map node's id: only traces that touched it.
    pub(crate) node: Option<String>,
    pub(crate) filter: Filter,
    pub(crate) limit: usize,
}

impl ListQuery {
    /// Reads `service`, `status`, `node`, `q` (a filter expression) and `limit` from a
    /// query string; other parameters are ignored, and empty ones mean "any".
    pub(crate) fn parse(query: &str) -> Result<ListQuery, Refusal> {
        let mut parsed = ListQuery {
            limit: DEFAULT_LIMIT,
            ..ListQuery::default()
        };
        for (key, value) in query_pairs(query)? {
            if value.is_empty() {
                continue;
            }
            match key.as_str() {
                "service" => parsed.service = Some(value),
                "node" => parsed.node = Some(value),
                "status" => {
                    parsed.status = Some(Status::from_name(&value).ok_or_else(|| {
                        Refusal::new(format!(
                            "status must be ok, error, fault or throttle, not {value:?}"
                        ))
                    })?);
                }
                "limit" => {
                    parsed.limit = match value.parse::<usize>() {
                        Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                        _ => {
                            return Err(Refusal::new(format!(
                                "limit must be a number from 1 to {MAX_LIMIT}, not {value:?}"
                            )));
                        }
                    }
                }
                "q" => {
                    parsed.filter = Filter::parse(&value).map_err(|error| Refusal {
                        message: format!("filter expression {error}"),
                        column: Some(error.column()),
                    })?;
                }
                _ => {}
            }
        }
        Ok(parsed)
    }

    fn matches(&self, s: &Summary) -> bool {
        self.service
            .as_ref()
            .is_none_or(|name| s.services.iter().any(|n| n == name))
            && self.status.is_none_or(|status| s.status == status)
            && self.node.as_ref().is_none_or(|id| s.graph.has_node(id))
            && self.filter.matches_summary(s)
    }
}

/// `a=1&b=x+y%21` as pairs, percent-decoded (`+` is a space).
pub(crate) fn query_pairs(query: &str) -> Result<Vec<(String, String)>, Refusal> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(key)?, decode(value)?))
        })
        .collect()
}

fn decode(text: &str) -> Result<String, Refusal> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        Refusal::new("the query has a `%` not followed by two hex digits")
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| Refusal::new("the query is not UTF-8 once decoded"))
}

/// `/api/traces`: the newest matching traces first (by start, then arrival), at most
/// `query.limit`, with the counts, the service names for the filter, and the collector's
/// counters.
pub(crate) fn list(summaries: &[Arc<Summary>], query: &ListQuery, stats: Stats) -> String {
    let mut matched: Vec<&Summary> = summaries
        .iter()
        .map(Arc::as_ref)
        .filter(|s| query.matches(s))
        .collect();
    let count = matched.len();
    let newest_first = |a: &&Summary, b: &&Summary| {
        b.start
            .total_cmp(&a.start)
            .then(b.first_seen.cmp(&a.first_seen))
    };
    if matched.len() > query.limit {
        matched.select_nth_unstable_by(query.limit - 1, newest_first);
        matched.truncate(query.limit);
    }
    matched.sort_unstable_by(newest_first);
    let services: BTreeSet<&str> = summaries
        .iter()
        .flat_map(|s| s.services.iter().map(String::as_str))
        .collect();
    let rows: Vec<Value> = matched
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "root": s.root,
                "start": s.start,
                "duration_ms": s.duration_ms,
                "status": s.status.as_str(),
                "spans": s.spans,
                "services": s.services,
                "orphans": s.orphans,
                "in_progress": s.in_progress,
                "http_status": s.http_status,
            })
        })
        .collect();
    json!({
        "held": summaries.len(),
        "matched": count,
        "limit": query.limit,
        "services": services.into_iter().take(MAX_SERVICE_NAMES).collect::<Vec<_>>(),
        "stats": {
            "datagrams": stats.datagrams,
            "malformed": stats.malformed,
            "duplicates": stats.duplicates,
            "over_limit": stats.over_limit,
            "evicted": stats.evicted,
        },
        "traces": rows,
    })
    .to_string()
}

fn health_json(health: &Health) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("requests".into(), health.total().into());
    for status in Status::ALL {
        map.insert(status.as_str().into(), health.count(status).into());
    }
    map
}

/// `/api/map`: the graph's nodes (with their place in the layout) and edges.
pub(crate) fn map(graph: &ServiceGraph) -> String {
    let nodes: Vec<Value> = graph
        .nodes()
        .iter()
        .map(|n| {
            let mut object = health_json(&n.health);
            object.insert("id".into(), n.id.clone().into());
            object.insert("name".into(), n.name.clone().into());
            object.insert("kind".into(), n.kind.as_str().into());
            object.insert("layer".into(), n.layer.into());
            object.insert("row".into(), n.row.into());
            object.insert("traces".into(), n.traces.into());
            object.insert("average_ms".into(), json!(n.average_ms()));
            Value::Object(object)
        })
        .collect();
    let edges: Vec<Value> = graph
        .edges()
        .iter()
        .map(|e| {
            let mut object = health_json(&e.health);
            object.insert("from".into(), e.from.clone().into());
            object.insert("to".into(), e.to.clone().into());
            object.insert("calls".into(), e.calls().into());
            object.insert("average_ms".into(), json!(e.average_ms()));
            Value::Object(object)
        })
        .collect();
    json!({ "traces": graph.traces(), "nodes": nodes, "edges": edges }).to_string()
}

/// `/api/traces/{id}`: every node, in waterfall order, with what the detail panel shows.
/// `held` says whether a linked trace is held (so the page can open it).
pub(crate) fn trace(trace: &Trace, held: impl Fn(&str) -> bool) -> String {
    let origin = trace.start();
    let nodes: Vec<Value> = trace
        .nodes()
        .iter()
        .map(|node| {
            let links: Vec<Value> = node
                .links
                .iter()
                .map(|link| {
                    json!({
                        "trace_id": link.trace_id,
                        "id": link.id,
                        "attributes": link.attributes,
                        "held": held(&link.trace_id),
                    })
                })
                .collect();
            json!({
                "id": node.id,
                "parent_id": node.parent_id,
                "parent": node.parent,
                "depth": node.depth,
                "name": node.name,
                "label": label(trace, node),
                "kind": match node.kind {
                    NodeKind::Segment => "segment",
                    _ => "subsegment",
                },
                "service": node.service,
                "offset_ms": (node.start - origin) * 1000.0,
                "duration_ms": node.duration_ms().filter(|_| !node.in_progress),
                "start": node.start,
                "end": node.end,
                "in_progress": node.in_progress,
                "orphan": node.orphan,
                "status": Status::of(node).as_str(),
                "error": node.error,
                "fault": node.fault,
                "throttle": node.throttle,
                "namespace": node.namespace,
                "origin": node.origin,
                "http": {
                    "method": node.http_method,
                    "url": node.http_url,
                    "status": node.http_status,
                },
                "aws": node.aws,
                "annotations": node.annotations,
                "metadata": node.metadata,
                "links": links,
                "exceptions": node.exceptions,
            })
        })
        .collect();
    let summary = Summary::of(trace, 0);
    json!({
        "id": trace.id(),
        "start": origin,
        "duration_ms": trace.duration_ms(),
        "status": summary.status.as_str(),
        "services": summary.services,
        "spans": trace.len(),
        "orphans": summary.orphans,
        "nodes": nodes,
    })
    .to_string()
}
