//! Assembled traces: the nodes of one trace id arranged as a tree.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// Whether a node was sent as a segment (a service's own work) or a subsegment (a step
/// inside it, such as a call to another service).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodeKind {
    /// A segment: the work one service did for the request. Its name is the service's.
    Segment,
    /// A subsegment, embedded in its parent's document or sent on its own.
    Subsegment,
}

/// A span link as the X-Ray exporter writes it: `{"trace_id", "id", "attributes"}`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Link {
    /// The linked trace, in X-Ray form.
    pub trace_id: String,
    /// The linked segment or subsegment.
    pub id: String,
    /// The link's attributes, as sent.
    pub attributes: BTreeMap<String, Value>,
}

/// One segment or subsegment of a [`Trace`], with its place in the tree.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Node {
    /// The segment id (16 hex digits from X-Ray SDKs and exporters).
    pub id: String,
    /// The parent's id as the document gave it (for an embedded subsegment, the id of the
    /// object that held it). `None` for a trace's first segment.
    pub parent_id: Option<String>,
    /// The name: the service for a segment; the called service, resource or step for a
    /// subsegment.
    pub name: String,
    /// Start, in seconds since the Unix epoch.
    pub start: f64,
    /// End, in seconds since the Unix epoch; `None` while in progress. Never before `start`.
    pub end: Option<f64>,
    /// Whether the document said the work was still running (or gave no end).
    pub in_progress: bool,
    /// Segment or subsegment.
    pub kind: NodeKind,
    /// `aws` for calls to AWS services, `remote` for other calls.
    pub namespace: Option<String>,
    /// The kind of host that ran a segment (`AWS::EC2::Instance`, `AWS::Lambda`, …).
    pub origin: Option<String>,
    /// The `aws` object: `operation`, `region`, `request_id`, `queue_url`, `account_id`, …
    pub aws: BTreeMap<String, Value>,
    /// `http.request.method`.
    pub http_method: Option<String>,
    /// `http.request.url`.
    pub http_url: Option<String>,
    /// `http.response.status`.
    pub http_status: Option<u16>,
    /// A client error (4xx).
    pub error: bool,
    /// A server error (5xx, or a failure with no status to say otherwise).
    pub fault: bool,
    /// Throttled (429, or an AWS throttling error).
    pub throttle: bool,
    /// `cause.exceptions`, each as `type: message`.
    pub exceptions: Vec<String>,
    /// `annotations`, as sent.
    pub annotations: BTreeMap<String, Value>,
    /// `metadata`, by namespace (the X-Ray exporter puts attributes under `default`).
    pub metadata: BTreeMap<String, Value>,
    /// Span links.
    pub links: Vec<Link>,
    /// Depth in the tree: 0 for a root.
    pub depth: usize,
    /// Shown at the root because its parent has not arrived (or its parent chain loops).
    pub orphan: bool,
    /// The service the node belongs to: the name of the nearest segment at or above it.
    /// `None` for an orphan subsegment, whose segment is not known yet.
    pub service: Option<String>,
    /// The parent's index in [`Trace::nodes`].
    pub(crate) parent: Option<usize>,
    /// The children's indexes in [`Trace::nodes`], by start time.
    pub(crate) children: Vec<usize>,
}

impl Node {
    /// The duration in milliseconds, if the node has ended.
    pub fn duration_ms(&self) -> Option<f64> {
        self.end.map(|end| (end - self.start) * 1000.0)
    }

    /// Whether the node is marked error, fault or throttle.
    pub fn failed(&self) -> bool {
        self.error || self.fault || self.throttle
    }

    /// A string field of the `aws` object (`operation`, `queue_url`, …).
    pub fn aws_str(&self, key: &str) -> Option<&str> {
        self.aws.get(key).and_then(Value::as_str)
    }

    /// A string from the `default` metadata namespace, where the X-Ray exporter keeps span
    /// attributes (`messaging.destination.name`, `otel.span.name`, …).
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.metadata
            .get("default")
            .and_then(|d| d.get(key))
            .and_then(Value::as_str)
    }
}

/// One trace: every segment and subsegment received for a trace id, as a tree.
///
/// [`nodes`](Self::nodes) lists them depth first (a parent before its children, siblings by
/// start time), which is the order a waterfall shows them in.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    id: String,
    nodes: Vec<Node>,
    roots: Vec<usize>,
}

impl Trace {
    /// Builds the tree of `parts` (nodes of trace `id`, ids unique, in any order).
    pub(crate) fn assemble(id: &str, parts: &[Node]) -> Trace {
        let n = parts.len();
        let index: HashMap<&str, usize> = parts
            .iter()
            .enumerate()
            .map(|(i, node)| (node.id.as_str(), i))
            .collect();
        let mut parent: Vec<Option<usize>> = parts
            .iter()
            .enumerate()
            .map(|(i, node)| {
                node.parent_id
                    .as_deref()
                    .and_then(|p| index.get(p).copied())
                    .filter(|&p| p != i)
            })
            .collect();
        let mut orphan: Vec<bool> = parts
            .iter()
            .zip(&parent)
            .map(|(node, p)| node.parent_id.is_some() && p.is_none())
            .collect();
        let by_start = |a: &usize, b: &usize| {
            parts[*a]
                .start
                .total_cmp(&parts[*b].start)
                .then_with(|| parts[*a].id.cmp(&parts[*b].id))
        };
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut roots = Vec::new();
        for (i, p) in parent.iter().enumerate() {
            match p {
                Some(p) => children[*p].push(i),
                None => roots.push(i),
            }
        }

        // Nodes that no root reaches sit on a loop of parent ids (hand-made data, or ids
        // reused): cut each loop open at its earliest node and show it as an orphan.
        let mut reached = vec![false; n];
        let mark = |from: usize, reached: &mut [bool], children: &[Vec<usize>]| {
            let mut stack = vec![from];
            while let Some(i) = stack.pop() {
                if !std::mem::replace(&mut reached[i], true) {
                    stack.extend_from_slice(&children[i]);
                }
            }
        };
        for &root in &roots {
            mark(root, &mut reached, &children);
        }
        for i in 0..n {
            if reached[i] {
                continue;
            }
            // Walk up until a node repeats: that node is on the loop.
            let mut seen = vec![false; n];
            let mut j = i;
            while !std::mem::replace(&mut seen[j], true) {
                match parent[j] {
                    Some(p) => j = p,
                    None => break,
                }
            }
            // Of the loop's nodes, cut the earliest, so arrival order does not matter.
            let mut cut = j;
            let mut k = parent[j].unwrap_or(j);
            while k != j {
                if by_start(&k, &cut).is_lt() {
                    cut = k;
                }
                k = parent[k].unwrap_or(j);
            }
            if let Some(p) = parent[cut].take() {
                children[p].retain(|&c| c != cut);
            }
            orphan[cut] = true;
            roots.push(cut);
            mark(cut, &mut reached, &children);
        }

        roots.sort_by(by_start);
        for list in &mut children {
            list.sort_by(by_start);
        }

        // Depth first, without recursion (chains of independent subsegments can be long).
        let mut order: Vec<usize> = Vec::with_capacity(n);
        let mut depth = vec![0usize; n];
        let mut stack: Vec<usize> = roots.iter().rev().copied().collect();
        while let Some(i) = stack.pop() {
            order.push(i);
            for &c in children[i].iter().rev() {
                depth[c] = depth[i] + 1;
                stack.push(c);
            }
        }
        let mut position = vec![0usize; n];
        for (pos, &i) in order.iter().enumerate() {
            position[i] = pos;
        }

        let mut nodes: Vec<Node> = Vec::with_capacity(n);
        for &i in &order {
            let mut node = parts[i].clone();
            node.depth = depth[i];
            node.orphan = orphan[i];
            node.parent = parent[i].map(|p| position[p]);
            node.children = children[i].iter().map(|&c| position[c]).collect();
            node.service = match (node.kind, node.parent) {
                (NodeKind::Segment, _) => Some(node.name.clone()),
                // Parents come first in `order`, so theirs is already set.
                (_, Some(p)) => nodes[p].service.clone(),
                (_, None) => None,
            };
            nodes.push(node);
        }
        Trace {
            id: id.to_owned(),
            roots: roots.iter().map(|&r| position[r]).collect(),
            nodes,
        }
    }

    /// The trace id, in X-Ray form (`1-5f3a1b2c-…`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Every node, depth first: each parent before its children, siblings by start time.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The number of nodes (segments and subsegments).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the trace has no nodes (never the case for a trace received).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The nodes at the top: the trace's first segment, and orphans.
    pub fn roots(&self) -> impl Iterator<Item = &Node> + '_ {
        self.roots.iter().map(|&i| &self.nodes[i])
    }

    /// The children of `node` (a node of this trace), by start time.
    pub fn children<'a>(&'a self, node: &'a Node) -> impl Iterator<Item = &'a Node> + 'a {
        node.children.iter().map(|&i| &self.nodes[i])
    }

    /// The parent of `node` (a node of this trace), if it has arrived.
    pub fn parent(&self, node: &Node) -> Option<&Node> {
        node.parent.map(|i| &self.nodes[i])
    }

    /// The nodes shown at the root because their parent is missing.
    pub fn orphans(&self) -> impl Iterator<Item = &Node> + '_ {
        self.nodes.iter().filter(|n| n.orphan)
    }

    /// The earliest start, in epoch seconds (0 for an empty trace).
    pub fn start(&self) -> f64 {
        self.nodes
            .iter()
            .map(|n| n.start)
            .reduce(f64::min)
            .unwrap_or(0.0)
    }

    /// The latest end (or start, for nodes still in progress), in epoch seconds.
    pub fn end(&self) -> f64 {
        self.nodes
            .iter()
            .map(|n| n.end.unwrap_or(n.start))
            .reduce(f64::max)
            .unwrap_or(0.0)
    }

    /// From the earliest start to the latest end, in milliseconds.
    pub fn duration_ms(&self) -> f64 {
        (self.end() - self.start()) * 1000.0
    }

    /// The services (segment names) in the order the tree shows them, each once.
    pub fn services(&self) -> Vec<&str> {
        let mut services: Vec<&str> = Vec::new();
        for node in &self.nodes {
            if node.kind == NodeKind::Segment && !services.contains(&node.name.as_str()) {
                services.push(&node.name);
            }
        }
        services
    }

    /// Whether any node is marked error, fault or throttle.
    pub fn failed(&self) -> bool {
        self.nodes.iter().any(Node::failed)
    }
}
