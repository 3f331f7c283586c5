//! What the trace list and the filters need of one trace, kept beside it so that listing
//! thousands of traces reads no trace again.

use std::mem::size_of;

use serde_json::Value;

use super::graph::{Contribution, Status};
use super::size;
use crate::trace::{NodeKind, Trace};

/// The most annotations kept per trace for filtering (a trace with more is matched on its
/// first ones).
const MAX_ANNOTATIONS: usize = 64;
/// The longest annotation text kept; a longer value is matched on its beginning.
const MAX_ANNOTATION_CHARS: usize = 256;
/// The most service names kept per trace.
const MAX_SERVICES: usize = 64;

/// One trace, as the list shows it and the filters read it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Summary {
    pub(crate) id: String,
    /// When the trace's first part arrived, as an arrival number.
    pub(crate) first_seen: u64,
    /// The service (or, for an orphan subsegment, the name) of the first root.
    pub(crate) root: String,
    /// The earliest start, in epoch seconds.
    pub(crate) start: f64,
    pub(crate) duration_ms: f64,
    /// The first segment's own duration, if it has ended.
    pub(crate) response_ms: Option<f64>,
    /// Fault before throttle before error before ok, over all nodes.
    pub(crate) status: Status,
    /// Whether any node is marked error, fault, throttle.
    pub(crate) error: bool,
    pub(crate) fault: bool,
    pub(crate) throttle: bool,
    pub(crate) spans: usize,
    pub(crate) orphans: usize,
    pub(crate) in_progress: bool,
    pub(crate) services: Vec<String>,
    /// Every node's annotations (key, value), each pair once.
    pub(crate) annotations: Vec<(String, Value)>,
    /// The first segment's HTTP request and response.
    pub(crate) http_method: Option<String>,
    pub(crate) http_url: Option<String>,
    pub(crate) http_status: Option<u16>,
    pub(crate) graph: Contribution,
}

impl Summary {
    pub(crate) fn of(trace: &Trace, first_seen: u64) -> Summary {
        let nodes = trace.nodes();
        let root = trace
            .roots()
            .next()
            .map(|n| n.service.clone().unwrap_or_else(|| n.name.clone()))
            .unwrap_or_default();
        let first_segment = nodes.iter().find(|n| n.kind == NodeKind::Segment);
        let (error, fault, throttle) = nodes.iter().fold((false, false, false), |acc, n| {
            (acc.0 || n.error, acc.1 || n.fault, acc.2 || n.throttle)
        });
        let status = if fault {
            Status::Fault
        } else if throttle {
            Status::Throttle
        } else if error {
            Status::Error
        } else {
            Status::Ok
        };
        let mut services: Vec<String> = trace
            .services()
            .into_iter()
            .take(MAX_SERVICES)
            .map(str::to_owned)
            .collect();
        services.dedup();
        let mut annotations: Vec<(String, Value)> = Vec::new();
        'nodes: for node in nodes {
            for (key, value) in &node.annotations {
                if annotations.len() >= MAX_ANNOTATIONS {
                    break 'nodes;
                }
                let value = match value {
                    Value::String(s) if s.chars().count() > MAX_ANNOTATION_CHARS => {
                        Value::String(s.chars().take(MAX_ANNOTATION_CHARS).collect())
                    }
                    Value::String(_) | Value::Number(_) | Value::Bool(_) => value.clone(),
                    // X-Ray annotations are strings, numbers and booleans only.
                    _ => continue,
                };
                let key: String = key.chars().take(MAX_ANNOTATION_CHARS).collect();
                if !annotations.iter().any(|(k, v)| *k == key && *v == value) {
                    annotations.push((key, value));
                }
            }
        }
        // Kept for as long as the trace: no spare room.
        services.shrink_to_fit();
        annotations.shrink_to_fit();
        Summary {
            id: trace.id().to_owned(),
            first_seen,
            root,
            start: trace.start(),
            duration_ms: trace.duration_ms(),
            response_ms: first_segment
                .filter(|n| !n.in_progress)
                .and_then(|n| n.duration_ms()),
            status,
            error,
            fault,
            throttle,
            spans: nodes.len(),
            orphans: trace.orphans().count(),
            in_progress: nodes.iter().any(|n| n.in_progress),
            services,
            annotations,
            http_method: first_segment.and_then(|n| n.http_method.clone()),
            http_url: first_segment.and_then(|n| n.http_url.clone()),
            http_status: first_segment.and_then(|n| n.http_status),
            graph: Contribution::of(trace),
        }
    }

    /// The memory the summary takes once shared as an `Arc<Summary>` (an estimate, see
    /// `size`): what the assembler counts for it against its byte budget.
    pub(crate) fn memory_bytes(&self) -> usize {
        let strings =
            |list: &Vec<String>| size::vec(list) + list.iter().map(size::string).sum::<usize>();
        let optional = |s: &Option<String>| s.as_ref().map_or(0, size::string);
        // The `Arc`'s block: two counts and the summary.
        size::block(2 * size_of::<usize>() + size_of::<Summary>())
            + size::string(&self.id)
            + size::string(&self.root)
            + strings(&self.services)
            + size::vec(&self.annotations)
            + self
                .annotations
                .iter()
                .map(|(k, v)| size::string(k) + size::value(v))
                .sum::<usize>()
            + optional(&self.http_method)
            + optional(&self.http_url)
            + self.graph.memory_bytes()
    }
}
