//! Memory with 10,000 traces held (issue 20): what the byte budget counts stays under it,
//! including the page's summaries, and the process's resident memory follows what is
//! counted, also while traces are forgotten to make room for new ones.
//!
//! One test, in a binary of its own, so that nothing else allocates while it reads
//! `/proc/self/status`. The traces go through the real path: UDP into a collector that
//! serves the page, whose list and map are asked for over HTTP as the page asks for them.

#[path = "common/load.rs"]
mod load;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::ops::Range;
use std::time::{Duration, Instant};

use baton_trace::{Assembler, Collector, CollectorHandle};
use load::{checkout_like, mib, resident_bytes};
use serde_json::Value;

const MIB: usize = 1024 * 1024;

/// The most traces held.
const HELD: usize = 10_000;
/// The byte budget: room for 10,000 of these traces (17 MiB of datagrams) and their
/// summaries (31 MiB), so that `HELD` is the limit that forgets traces here.
const BUDGET: usize = 56 * MIB;

/// The documented bound on what the process holds for its traces, from what the budget
/// counts (see `Assembler::held_bytes`): the parsed nodes take at most six times their
/// datagrams (measured: 5.4 for these), a summary at most one and a half times its
/// estimate (measured: 1.0), and the runtime, the buffers and the map drawn take a few MiB.
const RESIDENT_PER_DATAGRAM_BYTE: f64 = 6.0;
const RESIDENT_PER_SUMMARY_BYTE: f64 = 1.5;
const RESIDENT_FIXED: usize = 16 * MIB;

/// Once 10,000 traces are held, 20,000 more (each forgetting the oldest) may grow the process
/// by no more than a fifth of what the first 10,000 took (allocator slack): what forgotten
/// traces held, their summaries included, must be given back. Had the 20,000 forgotten
/// traces' summaries been kept, it would have grown by half again (measured: 64 MiB).
const GROWTH_WHEN_FULL: f64 = 0.2;

/// Datagrams sent and not yet received, at most: far below what the socket's receive
/// buffer holds, so that none is lost while the collector is busy (answering the page).
const WINDOW: u64 = 32;

/// How often the page's list (and map) are asked for, in traces sent.
const LIST_EVERY: u32 = 1000;

#[test]
fn memory_stays_within_the_budget_with_10000_traces_held_and_20000_forgotten() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let handle = Collector::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .with_assembler(
            Assembler::new()
                .with_max_traces(HELD)
                .with_max_bytes(BUDGET),
        )
        .with_page("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .spawn();
    let page = handle.page_addr().unwrap();
    let mut feeder = Feeder::new(&handle);

    // The first hundred traces and a list and a map, so that the runtime's, the socket's
    // and the page's first allocations are not taken for the traces'.
    feeder.send(0..100, page);
    let base = resident_bytes();

    feeder.send(100..HELD as u32, page);
    let listed = list(page);
    assert_eq!(listed["held"], HELD);
    let counted = handle.held_bytes();
    let datagrams = datagram_bytes(0..HELD as u32);
    let summaries = counted - datagrams;
    let grown = resident_bytes().saturating_sub(base);
    let bound = resident_bound(datagrams, summaries);
    eprintln!(
        "{HELD} traces held: counted {:.1} MiB ({:.1} MiB of datagrams, {:.1} MiB of summaries) \
         of a {:.0} MiB budget; resident {:.1} MiB, grown by {:.1} MiB (bound {:.1} MiB)",
        mib(counted),
        mib(datagrams),
        mib(summaries),
        mib(BUDGET),
        mib(resident_bytes()),
        mib(grown),
        bound / MIB as f64,
    );
    assert!(counted <= BUDGET, "counted {counted} of {BUDGET}");
    assert!(
        summaries >= HELD * 1024,
        "every listed trace's summary is counted (about 3 KiB each): {summaries} bytes"
    );
    assert!(
        (grown as f64) <= bound,
        "resident memory grew by {:.1} MiB with {HELD} traces, over the bound of {:.1} MiB",
        mib(grown),
        bound / MIB as f64
    );

    // Twice as many again: each new trace forgets the oldest, as the page keeps listing.
    let total = 3 * HELD as u32;
    feeder.send(HELD as u32..total, page);
    let listed = list(page);
    assert_eq!(listed["held"], HELD);
    assert_eq!(listed["stats"]["evicted"], total - HELD as u32);
    let counted_full = handle.held_bytes();
    let datagrams_full = datagram_bytes(total - HELD as u32..total);
    let grown_full = resident_bytes().saturating_sub(base);
    let bound_full = resident_bound(datagrams_full, counted_full - datagrams_full);
    eprintln!(
        "{total} traces sent, {HELD} held: counted {:.1} MiB ({:.1} MiB of datagrams); \
         resident {:.1} MiB, grown by {:.1} MiB since the first 100 traces",
        mib(counted_full),
        mib(datagrams_full),
        mib(resident_bytes()),
        mib(grown_full),
    );
    assert!(counted_full <= BUDGET, "counted {counted_full} of {BUDGET}");
    assert!(
        counted_full.abs_diff(counted) <= counted / 50,
        "as many traces, as many bytes counted: {counted} then {counted_full}"
    );
    assert!(
        counted_full - datagrams_full >= HELD * 1024,
        "the held traces' summaries are counted"
    );
    assert!(
        (grown_full as f64) <= bound_full,
        "resident memory grew by {:.1} MiB, over the bound of {:.1} MiB",
        mib(grown_full),
        bound_full / MIB as f64
    );
    let more = grown_full.saturating_sub(grown);
    assert!(
        (more as f64) <= GROWTH_WHEN_FULL * grown as f64,
        "resident memory grew by {:.1} MiB more with {HELD} traces held ({:.1} MiB for the \
         first {HELD}): what forgotten traces held is not given back",
        mib(more),
        mib(grown)
    );
}

/// The documented bound on the resident memory taken by traces whose datagrams and
/// summaries count these bytes.
fn resident_bound(datagrams: usize, summaries: usize) -> f64 {
    RESIDENT_PER_DATAGRAM_BYTE * datagrams as f64
        + RESIDENT_PER_SUMMARY_BYTE * summaries as f64
        + RESIDENT_FIXED as f64
}

/// The bytes of the datagrams of traces `range`.
fn datagram_bytes(range: Range<u32>) -> usize {
    range.flat_map(checkout_like).map(|d| d.len()).sum()
}

/// Sends traces over UDP, never more than `WINDOW` datagrams ahead of the collector.
struct Feeder<'a> {
    handle: &'a CollectorHandle,
    socket: UdpSocket,
    sent: u64,
}

impl<'a> Feeder<'a> {
    fn new(handle: &'a CollectorHandle) -> Self {
        Feeder {
            handle,
            socket: UdpSocket::bind("127.0.0.1:0").unwrap(),
            sent: handle.stats().datagrams,
        }
    }

    /// Sends traces `range`, asking for the page's list and map every `LIST_EVERY` traces
    /// and at the end; returns once the collector has received them all.
    fn send(&mut self, range: Range<u32>, page: SocketAddr) {
        for n in range {
            for datagram in checkout_like(n) {
                self.wait_until_behind(WINDOW - 1);
                self.socket
                    .send_to(datagram.as_bytes(), self.handle.local_addr())
                    .unwrap();
                self.sent += 1;
            }
            if (n + 1) % LIST_EVERY == 0 {
                self.wait_until_behind(0);
                list(page);
                get(page, "/api/map");
            }
        }
        self.wait_until_behind(0);
        list(page);
        get(page, "/api/map");
    }

    /// Waits until at most `behind` datagrams sent are not yet received.
    fn wait_until_behind(&self, behind: u64) {
        let mut received = self.handle.stats().datagrams;
        let mut progress = Instant::now();
        while self.sent - received > behind {
            std::thread::sleep(Duration::from_micros(50));
            let now = self.handle.stats().datagrams;
            if now != received {
                received = now;
                progress = Instant::now();
            }
            assert!(
                progress.elapsed() < Duration::from_secs(30),
                "{} of {} datagrams received: some were lost",
                received,
                self.sent
            );
        }
    }
}

/// The page's trace list, as the page asks for it.
fn list(page: SocketAddr) -> Value {
    let body = get(page, "/api/traces");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// One GET on a connection of its own; the body of a `200` answer.
fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200 "), "{path}: {head}");
    body.to_owned()
}
