//! The service map as a graph: services and the resources they call as nodes, calls and
//! deliveries as edges, each with request counts by outcome and latencies, and a layered
//! layout for drawing it.

use std::collections::HashMap;
use std::fmt;

use super::size;
use crate::map::{is_call, reached_through, resource_in};
use crate::trace::{Node, NodeKind, Trace};

/// The outcome of one request, as X-Ray sorts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Status {
    /// Neither error, fault nor throttle.
    Ok,
    /// A client error (4xx) that is not a throttle.
    Error,
    /// A server error (5xx, or a failure with no status to say otherwise).
    Fault,
    /// Throttled (429, or an AWS throttling error).
    Throttle,
}

impl Status {
    /// Every status, in the order the page lists them.
    pub const ALL: [Status; 4] = [Status::Ok, Status::Error, Status::Fault, Status::Throttle];

    /// `ok`, `error`, `fault` or `throttle`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Fault => "fault",
            Status::Throttle => "throttle",
        }
    }

    /// The status named `name` (as [`as_str`](Self::as_str) spells it, any case).
    pub fn from_name(name: &str) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    /// The outcome of one node: a fault first, then a throttle (which X-Ray also marks as
    /// an error), then an error.
    pub fn of(node: &Node) -> Status {
        if node.fault {
            Status::Fault
        } else if node.throttle {
            Status::Throttle
        } else if node.error {
            Status::Error
        } else {
            Status::Ok
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Requests counted by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Requests that succeeded.
    pub ok: u64,
    /// Client errors (4xx) other than throttles.
    pub error: u64,
    /// Server errors (5xx).
    pub fault: u64,
    /// Throttled requests (429).
    pub throttle: u64,
}

impl Health {
    /// All requests counted.
    pub fn total(&self) -> u64 {
        self.ok + self.error + self.fault + self.throttle
    }

    /// The count of one outcome.
    pub fn count(&self, status: Status) -> u64 {
        match status {
            Status::Ok => self.ok,
            Status::Error => self.error,
            Status::Fault => self.fault,
            Status::Throttle => self.throttle,
        }
    }

    /// The share of requests with `status`, from 0 to 1 (0 when nothing was counted).
    pub fn share(&self, status: Status) -> f64 {
        match self.total() {
            0 => 0.0,
            total => self.count(status) as f64 / total as f64,
        }
    }

    fn add(&mut self, status: Status, n: u64) {
        let slot = match status {
            Status::Ok => &mut self.ok,
            Status::Error => &mut self.error,
            Status::Fault => &mut self.fault,
            Status::Throttle => &mut self.throttle,
        };
        *slot += n;
    }

    fn merge(&mut self, other: &Health) {
        for status in Status::ALL {
            self.add(status, other.count(status));
        }
    }
}

/// What a node of the service map stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MapNodeKind {
    /// A service: the name of segments.
    Service,
    /// An SQS queue.
    Queue,
    /// An SNS topic.
    Topic,
    /// An EventBridge event bus.
    Bus,
    /// A Step Functions state machine.
    StateMachine,
    /// A DynamoDB table.
    Table,
    /// A Lambda function called directly.
    Function,
    /// An S3 bucket.
    Bucket,
    /// A Kinesis stream.
    Stream,
    /// Another AWS resource.
    Aws,
    /// A call outside AWS (namespace `remote`).
    Remote,
}

impl MapNodeKind {
    /// A short lower-case name (`service`, `queue`, `state-machine`, …), also the prefix of
    /// [`MapNode::id`].
    pub fn as_str(self) -> &'static str {
        match self {
            MapNodeKind::Service => "service",
            MapNodeKind::Queue => "queue",
            MapNodeKind::Topic => "topic",
            MapNodeKind::Bus => "bus",
            MapNodeKind::StateMachine => "state-machine",
            MapNodeKind::Table => "table",
            MapNodeKind::Function => "function",
            MapNodeKind::Bucket => "bucket",
            MapNodeKind::Stream => "stream",
            MapNodeKind::Aws => "aws",
            MapNodeKind::Remote => "remote",
        }
    }

    /// What an AWS or remote call addressed, from its `aws` fields, else the name X-Ray
    /// gives AWS services' subsegments, else its messaging system.
    fn of_call(call: &Node) -> MapNodeKind {
        #[rustfmt::skip]
        const BY_FIELD: &[(&str, MapNodeKind)] = &[
            ("queue_url",         MapNodeKind::Queue),
            ("topic_arn",         MapNodeKind::Topic),
            ("event_bus_name",    MapNodeKind::Bus),
            ("state_machine_arn", MapNodeKind::StateMachine),
            ("table_name",        MapNodeKind::Table),
            ("function_name",     MapNodeKind::Function),
            ("bucket_name",       MapNodeKind::Bucket),
            ("stream_name",       MapNodeKind::Stream),
        ];
        if let Some((_, kind)) = BY_FIELD.iter().find(|(key, _)| call.aws.contains_key(*key)) {
            return *kind;
        }
        let by_name = |name: &str| match name.to_ascii_lowercase().as_str() {
            "sqs" | "aws_sqs" => Some(MapNodeKind::Queue),
            "sns" | "aws_sns" | "aws.sns" => Some(MapNodeKind::Topic),
            "eventbridge" | "events" | "cloudwatchevents" | "aws_eventbridge" => {
                Some(MapNodeKind::Bus)
            }
            "sfn" | "stepfunctions" | "states" | "aws_stepfunctions" => {
                Some(MapNodeKind::StateMachine)
            }
            "dynamodb" => Some(MapNodeKind::Table),
            "lambda" => Some(MapNodeKind::Function),
            "s3" => Some(MapNodeKind::Bucket),
            "kinesis" | "aws_kinesis" => Some(MapNodeKind::Stream),
            _ => None,
        };
        if let Some(kind) = by_name(&call.name) {
            return kind;
        }
        if let Some(kind) = call.attribute("messaging.system").and_then(by_name) {
            return kind;
        }
        match call.namespace.as_deref() {
            Some("remote") => MapNodeKind::Remote,
            _ => MapNodeKind::Aws,
        }
    }
}

impl fmt::Display for MapNodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One node of a [`ServiceGraph`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MapNode {
    /// `{kind}:{name}` (`service:checkout`, `queue:orders`): unique in the graph.
    pub id: String,
    /// The service's or resource's name.
    pub name: String,
    /// What the node stands for.
    pub kind: MapNodeKind,
    /// Requests by outcome: a service's segments, or the calls that addressed a resource.
    pub health: Health,
    /// The sum of the finished requests' durations, in milliseconds.
    pub total_ms: f64,
    /// How many requests had finished (those that [`total_ms`](Self::total_ms) adds up).
    pub timed: u64,
    /// How many traces the node appears in.
    pub traces: u64,
    /// The layout's column, 0 for nodes nothing calls.
    pub layer: usize,
    /// The layout's row within its column.
    pub row: usize,
}

impl MapNode {
    /// The average duration of the finished requests, in milliseconds.
    pub fn average_ms(&self) -> Option<f64> {
        (self.timed > 0).then(|| self.total_ms / self.timed as f64)
    }
}

/// One edge of a [`ServiceGraph`]: calls from a service to a resource or service, or
/// deliveries from a resource to the service that continued the trace.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MapEdge {
    /// The calling node's [`MapNode::id`].
    pub from: String,
    /// The called node's [`MapNode::id`].
    pub to: String,
    /// Requests along the edge by outcome (the call's, or the continuing segment's).
    pub health: Health,
    /// The sum of their durations in milliseconds: the call's, for a call; the continuing
    /// segment's, for a delivery or a direct call without a call subsegment.
    pub total_ms: f64,
    /// How many of them had finished.
    pub timed: u64,
}

impl MapEdge {
    /// How many requests went along the edge.
    pub fn calls(&self) -> u64 {
        self.health.total()
    }

    /// Their average duration in milliseconds.
    pub fn average_ms(&self) -> Option<f64> {
        (self.timed > 0).then(|| self.total_ms / self.timed as f64)
    }
}

/// The service map over many traces, as X-Ray's console draws it: services, queues, topics,
/// buses, state machines and other called resources as nodes with their requests counted by
/// outcome (the health ring), and edges with call counts and average latencies.
///
/// - Every segment is one request of its service; every AWS or remote call subsegment is a
///   request of the resource it addressed (the queue, the topic, …, or the called service's
///   name where nothing names a resource) and a call along the edge from its service.
/// - A segment that continued a trace from a call adds the edge from the call's resource to
///   its service; one reached without a call subsegment, an edge from the calling service.
/// - The outcome of a request is its node's [`Status`].
///
/// ```
/// use baton_trace::{Assembler, DAEMON_HEADER, ServiceGraph, Status};
///
/// let mut assembler = Assembler::new();
/// let document = r#"{"name":"checkout","id":"1000000000000001","trace_id":"1-5f84c7a1-000000000000000000000001","start_time":1.0,"end_time":1.2,"subsegments":[{"name":"SQS","id":"1000000000000002","start_time":1.0,"end_time":1.1,"namespace":"aws","throttle":true,"error":true,"aws":{"operation":"SendMessage","queue_url":"http://localhost:4566/000000000000/orders"}}]}"#;
/// assembler.ingest(format!("{DAEMON_HEADER}\n{document}").as_bytes(), std::time::Instant::now())?;
/// let graph = ServiceGraph::from_traces(&assembler.traces());
/// let queue = graph.node("queue:orders").unwrap();
/// assert_eq!(queue.health.share(Status::Throttle), 1.0);
/// let edge = &graph.edges()[0];
/// assert_eq!((edge.from.as_str(), edge.to.as_str(), edge.calls()), ("service:checkout", "queue:orders", 1));
/// # Ok::<(), baton_trace::Malformed>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceGraph {
    nodes: Vec<MapNode>,
    edges: Vec<MapEdge>,
    traces: u64,
}

impl ServiceGraph {
    /// The graph of `traces`, laid out.
    pub fn from_traces<'a>(traces: impl IntoIterator<Item = &'a Trace>) -> ServiceGraph {
        let parts: Vec<Contribution> = traces.into_iter().map(Contribution::of).collect();
        ServiceGraph::from_parts(parts.iter())
    }

    /// The graph of the traces these contributions were taken from, laid out.
    pub(crate) fn from_parts<'a>(parts: impl IntoIterator<Item = &'a Contribution>) -> Self {
        let mut graph = ServiceGraph::default();
        let mut node_at: HashMap<&str, usize> = HashMap::new();
        let mut edge_at: HashMap<(&str, &str), usize> = HashMap::new();
        for part in parts {
            graph.traces += 1;
            for tally in &part.nodes {
                let at = *node_at.entry(&tally.id).or_insert_with(|| {
                    graph.nodes.push(MapNode {
                        id: tally.id.clone(),
                        name: tally.name.clone(),
                        kind: tally.kind,
                        health: Health::default(),
                        total_ms: 0.0,
                        timed: 0,
                        traces: 0,
                        layer: 0,
                        row: 0,
                    });
                    graph.nodes.len() - 1
                });
                let node = &mut graph.nodes[at];
                node.health.merge(&tally.health);
                node.total_ms += tally.total_ms;
                node.timed += tally.timed;
                node.traces += 1;
            }
            for tally in &part.edges {
                let at = *edge_at.entry((&tally.from, &tally.to)).or_insert_with(|| {
                    graph.edges.push(MapEdge {
                        from: tally.from.clone(),
                        to: tally.to.clone(),
                        health: Health::default(),
                        total_ms: 0.0,
                        timed: 0,
                    });
                    graph.edges.len() - 1
                });
                let edge = &mut graph.edges[at];
                edge.health.merge(&tally.health);
                edge.total_ms += tally.total_ms;
                edge.timed += tally.timed;
            }
        }
        graph.lay_out();
        graph
    }

    /// The nodes, by column and then row.
    pub fn nodes(&self) -> &[MapNode] {
        &self.nodes
    }

    /// The edges, in the order they were first seen.
    pub fn edges(&self) -> &[MapEdge] {
        &self.edges
    }

    /// The node with this [`MapNode::id`].
    pub fn node(&self, id: &str) -> Option<&MapNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// How many traces the graph was built from.
    pub fn traces(&self) -> u64 {
        self.traces
    }

    /// Places the nodes in columns (a node one column right of the furthest node that calls
    /// it, loops cut) and orders each column to keep edges short (a few passes of the
    /// barycentre heuristic); then sorts the nodes by column and row.
    fn lay_out(&mut self) {
        let n = self.nodes.len();
        if n == 0 {
            return;
        }
        // Start from a fixed order, so the picture does not depend on arrival order.
        self.nodes.sort_by(|a, b| {
            (a.kind != MapNodeKind::Service, &a.id).cmp(&(b.kind != MapNodeKind::Service, &b.id))
        });
        let index: HashMap<&str, usize> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| (node.id.as_str(), i))
            .collect();
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
        for edge in &self.edges {
            if let (Some(&a), Some(&b)) =
                (index.get(edge.from.as_str()), index.get(edge.to.as_str()))
                && a != b
                && !out[a].contains(&b)
            {
                out[a].push(b);
            }
        }
        // Cut loops: a depth-first walk (without recursion) drops edges back to a node on
        // its current path.
        let mut incoming = vec![0usize; n];
        for list in &out {
            for &b in list {
                incoming[b] += 1;
            }
        }
        let mut starts: Vec<usize> = (0..n).filter(|&i| incoming[i] == 0).collect();
        starts.extend(0..n);
        let mut state = vec![0u8; n]; // 0 new, 1 on the path, 2 done
        let mut dag: Vec<Vec<usize>> = vec![Vec::new(); n];
        for start in starts {
            if state[start] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            state[start] = 1;
            while let Some(&mut (at, ref mut next)) = stack.last_mut() {
                if let Some(&to) = out[at].get(*next) {
                    *next += 1;
                    match state[to] {
                        1 => {} // back to the path: a loop, not laid out
                        0 => {
                            dag[at].push(to);
                            state[to] = 1;
                            stack.push((to, 0));
                        }
                        _ => dag[at].push(to),
                    }
                } else {
                    state[at] = 2;
                    stack.pop();
                }
            }
        }
        // Columns: the longest path from a node nothing calls (Kahn's order).
        let mut indegree = vec![0usize; n];
        for list in &dag {
            for &b in list {
                indegree[b] += 1;
            }
        }
        let mut layer = vec![0usize; n];
        let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
        while let Some(at) = ready.pop() {
            for &to in &dag[at] {
                layer[to] = layer[to].max(layer[at] + 1);
                indegree[to] -= 1;
                if indegree[to] == 0 {
                    ready.push(to);
                }
            }
        }
        let columns = layer.iter().max().map_or(0, |m| m + 1);
        let mut column: Vec<Vec<usize>> = vec![Vec::new(); columns];
        for (i, &l) in layer.iter().enumerate() {
            column[l].push(i);
        }
        // Rows: each node towards the average row of its neighbours in the column before
        // (left to right), then after (right to left).
        let mut row = vec![0.0f64; n];
        for list in &column {
            for (r, &i) in list.iter().enumerate() {
                row[i] = r as f64;
            }
        }
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (a, list) in dag.iter().enumerate() {
            for &b in list {
                preds[b].push(a);
            }
        }
        for pass in 0..4 {
            let order: Vec<usize> = if pass % 2 == 0 {
                (1..columns).collect()
            } else {
                (0..columns.saturating_sub(1)).rev().collect()
            };
            for c in order {
                let neighbours =
                    |i: usize| -> &Vec<usize> { if pass % 2 == 0 { &preds[i] } else { &dag[i] } };
                let mut keyed: Vec<(f64, f64, usize)> = column[c]
                    .iter()
                    .map(|&i| {
                        let near = neighbours(i);
                        let key = if near.is_empty() {
                            row[i]
                        } else {
                            near.iter().map(|&j| row[j]).sum::<f64>() / near.len() as f64
                        };
                        (key, row[i], i)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
                column[c] = keyed.iter().map(|k| k.2).collect();
                for (r, &i) in column[c].iter().enumerate() {
                    row[i] = r as f64;
                }
            }
        }
        let mut placed: Vec<(usize, usize, MapNode)> = std::mem::take(&mut self.nodes)
            .into_iter()
            .enumerate()
            .map(|(i, node)| (layer[i], row[i] as usize, node))
            .collect();
        placed.sort_by_key(|(l, r, _)| (*l, *r));
        self.nodes = placed
            .into_iter()
            .map(|(l, r, mut node)| {
                node.layer = l;
                node.row = r;
                node
            })
            .collect();
    }
}

/// The most distinct nodes, and edges, one trace adds to the map (a bound on what is kept
/// per trace; a trace with more adds its first ones).
const MAX_PARTS_PER_TRACE: usize = 256;

/// One trace's share of the map: its nodes and edges with their counts, kept with the
/// trace's summary so the map over thousands of traces is a sum, not a re-reading.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Contribution {
    pub(crate) nodes: Vec<NodeTally>,
    pub(crate) edges: Vec<EdgeTally>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NodeTally {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) kind: MapNodeKind,
    pub(crate) health: Health,
    pub(crate) total_ms: f64,
    pub(crate) timed: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EdgeTally {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) health: Health,
    pub(crate) total_ms: f64,
    pub(crate) timed: u64,
}

fn node_id(kind: MapNodeKind, name: &str) -> String {
    format!("{}:{name}", kind.as_str())
}

/// The duration of a finished node.
fn finished_ms(node: &Node) -> Option<f64> {
    node.duration_ms().filter(|_| !node.in_progress)
}

impl Contribution {
    pub(crate) fn of(trace: &Trace) -> Contribution {
        let nodes = trace.nodes();
        let (through, continued) = reached_through(trace);
        let mut part = Contribution::default();
        for (i, node) in nodes.iter().enumerate() {
            let status = Status::of(node);
            let ms = finished_ms(node);
            match node.kind {
                NodeKind::Segment => {
                    let to = node_id(MapNodeKind::Service, &node.name);
                    part.node(&to, &node.name, MapNodeKind::Service, status, ms);
                    let Some(p) = node.parent else { continue };
                    let from = match through[i].map(|c| &nodes[c]) {
                        Some(call) if is_call(call) && resource_in(trace, call).is_some() => {
                            call_target(trace, call).0
                        }
                        // A call that names no resource (an HTTP call to the service that
                        // continued it) is an edge between the two services.
                        _ => match &nodes[p].service {
                            Some(service) if *service != node.name => {
                                node_id(MapNodeKind::Service, service)
                            }
                            // Nested segments of one service, or an unknown caller.
                            _ => continue,
                        },
                    };
                    part.edge(&from, &to, status, ms);
                }
                _ if is_call(node) && !(continued[i] && resource_in(trace, node).is_none()) => {
                    let (to, name, kind) = call_target(trace, node);
                    part.node(&to, &name, kind, status, ms);
                    if let Some(service) = &node.service {
                        part.edge(&node_id(MapNodeKind::Service, service), &to, status, ms);
                    }
                }
                _ => {}
            }
        }
        // Kept with the trace's summary: no spare room.
        part.nodes.shrink_to_fit();
        part.edges.shrink_to_fit();
        part
    }

    /// The heap memory the contribution holds (an estimate, see `size`).
    pub(crate) fn memory_bytes(&self) -> usize {
        size::vec(&self.nodes)
            + self
                .nodes
                .iter()
                .map(|n| size::string(&n.id) + size::string(&n.name))
                .sum::<usize>()
            + size::vec(&self.edges)
            + self
                .edges
                .iter()
                .map(|e| size::string(&e.from) + size::string(&e.to))
                .sum::<usize>()
    }

    fn node(&mut self, id: &str, name: &str, kind: MapNodeKind, status: Status, ms: Option<f64>) {
        let at = match self.nodes.iter().position(|t| t.id == id) {
            Some(at) => at,
            None if self.nodes.len() < MAX_PARTS_PER_TRACE => {
                self.nodes.push(NodeTally {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    kind,
                    health: Health::default(),
                    total_ms: 0.0,
                    timed: 0,
                });
                self.nodes.len() - 1
            }
            None => return,
        };
        let tally = &mut self.nodes[at];
        tally.health.add(status, 1);
        if let Some(ms) = ms {
            tally.total_ms += ms;
            tally.timed += 1;
        }
    }

    fn edge(&mut self, from: &str, to: &str, status: Status, ms: Option<f64>) {
        let at = match self.edges.iter().position(|t| t.from == from && t.to == to) {
            Some(at) => at,
            None if self.edges.len() < MAX_PARTS_PER_TRACE => {
                self.edges.push(EdgeTally {
                    from: from.to_owned(),
                    to: to.to_owned(),
                    health: Health::default(),
                    total_ms: 0.0,
                    timed: 0,
                });
                self.edges.len() - 1
            }
            None => return,
        };
        let tally = &mut self.edges[at];
        tally.health.add(status, 1);
        if let Some(ms) = ms {
            tally.total_ms += ms;
            tally.timed += 1;
        }
    }

    /// Whether the trace touched the node with this id.
    pub(crate) fn has_node(&self, id: &str) -> bool {
        self.nodes.iter().any(|t| t.id == id)
    }

    /// Whether the trace has an edge between nodes with these names (of any kind).
    pub(crate) fn has_edge_named(&self, from: &str, to: &str) -> bool {
        fn name(id: &str) -> &str {
            id.split_once(':').map_or("", |(_, name)| name)
        }
        self.edges
            .iter()
            .any(|e| name(&e.from) == from && name(&e.to) == to)
    }
}

/// The map node a call addressed: its id, name and kind.
fn call_target(trace: &Trace, call: &Node) -> (String, String, MapNodeKind) {
    let kind = MapNodeKind::of_call(call);
    let name = resource_in(trace, call).unwrap_or_else(|| call.name.clone());
    (node_id(kind, &name), name, kind)
}
