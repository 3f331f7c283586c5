//! Datagrams in, traces out: the collector's state, without the socket.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::document::{Malformed, parse_datagram};
use crate::page::Summary;
use crate::trace::{Node, Trace};

/// How many traces an [`Assembler`] keeps by default before it forgets the one updated
/// longest ago.
pub const DEFAULT_MAX_TRACES: usize = 1000;

/// How many nodes one trace may hold by default; later ones are dropped and counted.
pub const DEFAULT_MAX_NODES_PER_TRACE: usize = 10_000;

/// How many bytes all traces together may hold by default: the datagrams they were made of
/// (what was received, a measure of the parsed nodes kept) and, for the traces the web page
/// has listed, their summaries (at their estimated size in memory). The traces updated
/// longest ago are forgotten to stay under it, and one trace alone may not pass it.
///
/// The parsed nodes take more memory than the datagrams they came from: about five times as
/// much for segments like the demo's (see [`Assembler::held_bytes`]), so the default is a
/// bound of about 1.5 GiB; [`Assembler::with_max_traces`] is usually the one that binds.
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024 * 1024;

/// What a collector has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Datagrams received, malformed ones included.
    pub datagrams: u64,
    /// Datagrams refused as malformed (see [`Malformed`]) and skipped.
    pub malformed: u64,
    /// Segments and subsegments accepted.
    pub nodes: u64,
    /// Segments and subsegments that repeated an id already held for their trace, and were
    /// ignored (an in-progress node is replaced by its finished version instead).
    pub duplicates: u64,
    /// Segments and subsegments dropped because their trace already held the most nodes
    /// or bytes allowed.
    pub over_limit: u64,
    /// Traces forgotten to keep no more than the most traces, or bytes, allowed.
    pub evicted: u64,
}

/// The parts of one trace received so far.
#[derive(Debug)]
struct Pending {
    nodes: Vec<Node>,
    by_id: HashMap<String, usize>,
    /// When the trace was first seen, as an arrival number (for a stable listing order).
    first_seen: u64,
    last_update: Instant,
    /// Bumped by every change; compared with `taken` to know what is new.
    version: u64,
    taken: u64,
    /// Bytes of the datagrams that added to this trace.
    bytes: usize,
    /// What the page lists of the trace: made when first asked for, dropped when the trace
    /// changes (and made again when next asked for) or is forgotten.
    summary: Option<Arc<Summary>>,
    /// The summary's estimated size in memory, counted with `bytes` against the budget.
    summary_bytes: usize,
}

/// Assembles traces from daemon datagrams. The [`Collector`](crate::Collector) runs one
/// behind its socket; use it directly to read datagrams from elsewhere (a file, a test).
///
/// Time is passed in (`now`) rather than read, so that callers decide what "quiet" means.
///
/// ```
/// use std::time::Instant;
/// use baton_trace::Assembler;
///
/// let mut assembler = Assembler::new();
/// let datagram = concat!(
///     "{\"format\":\"json\",\"version\":1}\n",
///     "{\"name\":\"checkout\",\"id\":\"70de5b6f19ff9a0a\",",
///     "\"trace_id\":\"1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2b\",",
///     "\"start_time\":1602537377.0,\"end_time\":1602537377.25}",
/// );
/// assembler.ingest(datagram.as_bytes(), Instant::now()).unwrap();
/// let trace = assembler.trace("1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2b").unwrap();
/// assert_eq!(trace.nodes()[0].name, "checkout");
/// assert_eq!(trace.duration_ms(), 250.0);
/// ```
#[derive(Debug)]
pub struct Assembler {
    traces: HashMap<Arc<str>, Pending>,
    /// Every trace held, by `(last_update, first_seen)`: the first is the one to forget.
    order: BTreeMap<(Instant, u64), Arc<str>>,
    arrivals: u64,
    stats: Stats,
    max_traces: usize,
    max_nodes: usize,
    max_bytes: usize,
    /// Bytes held by all traces (the sum of their `bytes` and `summary_bytes`).
    bytes: usize,
}

impl Default for Assembler {
    fn default() -> Self {
        Assembler::new()
    }
}

impl Assembler {
    /// An empty assembler with the default limits.
    pub fn new() -> Self {
        Assembler {
            traces: HashMap::new(),
            order: BTreeMap::new(),
            arrivals: 0,
            stats: Stats::default(),
            max_traces: DEFAULT_MAX_TRACES,
            max_nodes: DEFAULT_MAX_NODES_PER_TRACE,
            max_bytes: DEFAULT_MAX_BYTES,
            bytes: 0,
        }
    }

    /// Keeps at most `traces` traces (at least 1), forgetting the one updated longest ago
    /// when a new one arrives.
    #[must_use]
    pub fn with_max_traces(mut self, traces: usize) -> Self {
        self.max_traces = traces.max(1);
        self
    }

    /// Keeps at most `nodes` nodes per trace (at least 1).
    #[must_use]
    pub fn with_max_nodes_per_trace(mut self, nodes: usize) -> Self {
        self.max_nodes = nodes.max(1);
        self
    }

    /// Keeps at most `bytes` bytes across all traces (at least 1): their datagrams, and the
    /// summaries the web page made of them (see [`held_bytes`](Self::held_bytes)). The traces
    /// updated longest ago are forgotten to make room, and a trace whose datagrams alone
    /// would pass it takes no more nodes.
    #[must_use]
    pub fn with_max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes.max(1);
        self
    }

    /// Takes in one datagram received at `now`, returning how many new nodes it added.
    ///
    /// A malformed datagram is counted, reported as a `tracing` event, and changes nothing.
    pub fn ingest(&mut self, datagram: &[u8], now: Instant) -> Result<usize, Malformed> {
        self.stats.datagrams += 1;
        let parsed = match parse_datagram(datagram) {
            Ok(parsed) => parsed,
            Err(error) => {
                self.stats.malformed += 1;
                let malformed = self.stats.malformed;
                // Loud for the first few, then on every power of two: a flood of junk must
                // not flood the log.
                if malformed <= 8 || malformed.is_power_of_two() {
                    tracing::warn!(
                        target: "baton_trace",
                        %error,
                        bytes = datagram.len(),
                        malformed,
                        "skipping a datagram that is not a segment document"
                    );
                } else {
                    tracing::debug!(target: "baton_trace", %error, bytes = datagram.len(), "skipping a malformed datagram");
                }
                return Err(error);
            }
        };

        if !self.traces.contains_key(parsed.trace_id.as_str()) {
            if datagram.len() > self.max_bytes {
                // It could never be held: forget nothing to make room for it.
                self.stats.over_limit += parsed.nodes.len() as u64;
                return Ok(0);
            }
            self.make_room();
            self.arrivals += 1;
            let id: Arc<str> = Arc::from(parsed.trace_id.as_str());
            self.order.insert((now, self.arrivals), Arc::clone(&id));
            self.traces.insert(
                id,
                Pending {
                    nodes: Vec::new(),
                    by_id: HashMap::new(),
                    first_seen: self.arrivals,
                    last_update: now,
                    version: 0,
                    taken: 0,
                    bytes: 0,
                    summary: None,
                    summary_bytes: 0,
                },
            );
        }
        let Some(pending) = self.traces.get_mut(parsed.trace_id.as_str()) else {
            return Ok(0);
        };
        let full = pending.bytes + datagram.len() > self.max_bytes;
        let mut added = 0;
        let mut changed = false;
        for node in parsed.nodes {
            match pending.by_id.get(&node.id) {
                Some(&at) => {
                    // A finished node replaces its in-progress version (unless the trace
                    // has no bytes left: finished parts can be far larger); anything else
                    // repeating an id is a duplicate (a resend) and ignored.
                    if !pending.nodes[at].in_progress || node.in_progress {
                        self.stats.duplicates += 1;
                    } else if full {
                        self.stats.over_limit += 1;
                    } else {
                        pending.nodes[at] = node;
                        changed = true;
                    }
                }
                None if full || pending.nodes.len() >= self.max_nodes => {
                    self.stats.over_limit += 1;
                }
                None => {
                    pending.by_id.insert(node.id.clone(), pending.nodes.len());
                    pending.nodes.push(node);
                    added += 1;
                    changed = true;
                }
            }
        }
        self.stats.nodes += added as u64;
        if changed {
            pending.version += 1;
            if let Some(id) = self
                .order
                .remove(&(pending.last_update, pending.first_seen))
            {
                self.order.insert((now, pending.first_seen), id);
            }
            pending.last_update = now;
            pending.bytes += datagram.len();
            self.bytes += datagram.len();
            // The summary no longer says what the trace holds: the page makes it again.
            if pending.summary.take().is_some() {
                self.bytes -= std::mem::take(&mut pending.summary_bytes);
            }
            let keep = parsed.trace_id;
            while self.bytes > self.max_bytes && self.evict_oldest(Some(&keep)) {}
        }
        Ok(added)
    }

    /// Forgets the trace updated longest ago (other than `keep`), with its summary; false if
    /// there is none.
    fn evict_oldest(&mut self, keep: Option<&str>) -> bool {
        let Some(oldest) = self
            .order
            .iter()
            .find(|(_, id)| Some(&***id) != keep)
            .map(|(key, _)| *key)
        else {
            return false;
        };
        if let Some(id) = self.order.remove(&oldest)
            && let Some(gone) = self.traces.remove(&id)
        {
            let held = gone.bytes + gone.summary_bytes;
            debug_assert!(held <= self.bytes);
            self.bytes -= held;
        }
        self.stats.evicted += 1;
        true
    }

    fn make_room(&mut self) {
        while self.traces.len() >= self.max_traces && self.evict_oldest(None) {}
    }

    /// Every trace held, in the order their first part arrived.
    pub fn traces(&self) -> Vec<Trace> {
        let mut pending: Vec<(&Arc<str>, &Pending)> = self.traces.iter().collect();
        pending.sort_by_key(|(_, p)| p.first_seen);
        pending
            .into_iter()
            .map(|(id, p)| Trace::assemble(id, &p.nodes))
            .collect()
    }

    /// The trace with this id, as far as it has arrived.
    pub fn trace(&self, id: &str) -> Option<Trace> {
        self.traces.get(id).map(|p| Trace::assemble(id, &p.nodes))
    }

    /// The traces that changed since they were last taken and have had no new part for
    /// `quiet` (as of `now`), in arrival order; each is marked taken, so it comes back only
    /// if more of it arrives.
    pub fn take_settled(&mut self, now: Instant, quiet: Duration) -> Vec<Trace> {
        let mut settled: Vec<(&Arc<str>, &mut Pending)> = self
            .traces
            .iter_mut()
            .filter(|(_, p)| {
                p.version != p.taken && now.saturating_duration_since(p.last_update) >= quiet
            })
            .collect();
        settled.sort_by_key(|(_, p)| p.first_seen);
        settled
            .into_iter()
            .map(|(id, p)| {
                p.taken = p.version;
                Trace::assemble(id, &p.nodes)
            })
            .collect()
    }

    /// Every trace's summary, in no particular order, made for the traces new or changed
    /// since last asked.
    ///
    /// The summaries made count against the byte budget: if they pass it, the traces updated
    /// longest ago are forgotten (with their summaries) as when a datagram passes it.
    pub(crate) fn summaries(&mut self) -> Vec<Arc<Summary>> {
        for (id, p) in &mut self.traces {
            if p.summary.is_none() {
                let summary = Summary::of(&Trace::assemble(id, &p.nodes), p.first_seen);
                p.summary_bytes = summary.memory_bytes();
                p.summary = Some(Arc::new(summary));
                self.bytes += p.summary_bytes;
            }
        }
        while self.bytes > self.max_bytes && self.evict_oldest(None) {}
        self.traces
            .values()
            .filter_map(|p| p.summary.clone())
            .collect()
    }

    /// Whether a trace with this id is held.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.traces.contains_key(id)
    }

    /// The bytes counted against the budget ([`with_max_bytes`](Self::with_max_bytes)) for
    /// the traces held: the datagrams they were made of, and the summaries the web page has
    /// made of them, at their estimated size in memory. Never more than the budget.
    ///
    /// This is a measure, not the memory itself. A summary takes about what is counted for
    /// it; the parsed nodes take about five times their datagrams. Measured with 10,000
    /// checkout-like traces of eight nodes in four datagrams, listed by the page: 16.7 MiB
    /// of datagrams and 31.4 MiB of summaries counted, and the process grew by about 120 MiB
    /// (`docs/BENCHMARKS.md`, "Trace view"). `tests/memory.rs` holds the process to six
    /// times the datagram bytes and one and a half times the summary bytes counted, and
    /// checks that forgotten traces give their memory back.
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// How many traces are held.
    pub fn len(&self) -> usize {
        self.traces.len()
    }

    /// Whether no trace is held.
    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }
}
