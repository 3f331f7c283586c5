//! The listener: a stand-in for the X-Ray daemon that keeps what it receives over UDP and,
//! given sampling rules, serves them over TCP.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use baton_sampling::{Clock, SamplingRules, SystemClock};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::assembler::{Assembler, Stats};
use crate::document::MAX_DATAGRAM_BYTES;
use crate::otlp;
use crate::page::{self, Page};
use crate::sampling::{self, Book, RuleCounts};
use crate::trace::Trace;

/// A bound UDP socket that receives X-Ray daemon datagrams, not yet receiving.
///
/// [`bind`](Self::bind) needs no runtime; [`spawn`](Self::spawn) starts the receive loop on
/// the current tokio runtime and returns the [`CollectorHandle`] to read traces from.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use std::time::Duration;
/// use baton_trace::Collector;
///
/// let collector = Collector::bind("127.0.0.1:0".parse().unwrap())?;
/// let mut handle = collector.spawn();
///
/// // Anything that speaks the daemon's format: here, a hand-written segment.
/// let sender = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// sender.send_to(
///     concat!(
///         "{\"format\":\"json\",\"version\":1}\n",
///         "{\"name\":\"checkout\",\"id\":\"70de5b6f19ff9a0a\",",
///         "\"trace_id\":\"1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2b\",",
///         "\"start_time\":1602537377.0,\"end_time\":1602537377.25}",
///     )
///     .as_bytes(),
///     handle.local_addr(),
/// )?;
///
/// let trace = handle
///     .wait_for(|t| t.len() >= 1, Duration::from_secs(5))
///     .await
///     .expect("the segment arrives");
/// assert_eq!(trace.services(), ["checkout"]);
/// handle.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a collector receives nothing until spawned"]
pub struct Collector {
    socket: std::net::UdpSocket,
    local_addr: SocketAddr,
    assembler: Assembler,
    sampling_rules: Option<SamplingRules>,
    sampling_clock: Option<Arc<dyn Clock>>,
    page: Option<std::net::TcpListener>,
    otlp: Option<std::net::TcpListener>,
}

impl Collector {
    /// Binds a UDP socket at `addr` (`127.0.0.1:0` picks a free port: see
    /// [`local_addr`](Self::local_addr)).
    pub fn bind(addr: SocketAddr) -> io::Result<Collector> {
        let socket = std::net::UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        let local_addr = socket.local_addr()?;
        Ok(Collector {
            socket,
            local_addr,
            assembler: Assembler::new(),
            sampling_rules: None,
            sampling_clock: None,
            page: None,
            otlp: None,
        })
    }

    /// Also serves the trace view's web page over HTTP on TCP `addr` (`127.0.0.1:0` picks a
    /// free port: see [`CollectorHandle::page_addr`]), from [`spawn`](Self::spawn) on: the
    /// live trace list with its filters, each trace's waterfall and details, and the service
    /// map of all traces held (see [the `page` section of the crate docs](crate#the-web-page)).
    ///
    /// The port is bound here, so that a port in use is an error now rather than a warning
    /// later. On a loopback address the page answers only to loopback host names.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use baton_trace::Collector;
    ///
    /// let handle = Collector::bind("127.0.0.1:0".parse().unwrap())?
    ///     .with_page("127.0.0.1:0".parse().unwrap())?
    ///     .spawn();
    /// let page = handle.page_addr().expect("asked for");
    /// println!("open http://{page}/");
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_page(mut self, addr: SocketAddr) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        self.page = Some(listener);
        Ok(self)
    }

    /// Also receives traces over OTLP/HTTP on TCP `addr` (the standard port is 4318;
    /// `127.0.0.1:0` picks a free one: see [`CollectorHandle::otlp_addr`]), from
    /// [`spawn`](Self::spawn) on: `POST /v1/traces` with an `ExportTraceServiceRequest` in
    /// protobuf (`application/x-protobuf`) or JSON (`application/json`), gzip-compressed or not,
    /// as OpenTelemetry SDKs' OTLP/HTTP exporters and collectors send it.
    ///
    /// Spans are turned into segment documents by `baton-xray`'s
    /// [`SegmentEncoder`](baton_xray::SegmentEncoder), the daemon exporter's own conversion,
    /// and assembled with whatever arrives over UDP: one trace may come partly each way. See
    /// [OTLP](crate#otlp) in the crate docs for what is kept of a span.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use baton_trace::Collector;
    ///
    /// let handle = Collector::bind("127.0.0.1:0".parse().unwrap())?
    ///     .with_otlp("127.0.0.1:0".parse().unwrap())?
    ///     .spawn();
    /// let otlp = handle.otlp_addr().expect("asked for");
    /// // OTEL_EXPORTER_OTLP_ENDPOINT=http://{otlp} for an OTLP/HTTP exporter.
    /// println!("OTLP/HTTP at http://{otlp}/v1/traces");
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_otlp(mut self, addr: SocketAddr) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        self.otlp = Some(listener);
        Ok(self)
    }

    /// Replaces the assembler (to change its limits).
    pub fn with_assembler(mut self, assembler: Assembler) -> Self {
        self.assembler = assembler;
        self
    }

    /// Serves `rules` the way the X-Ray daemon serves X-Ray's: [`spawn`](Self::spawn) also
    /// listens on TCP at [`local_addr`](Self::local_addr) and answers `POST /GetSamplingRules`
    /// and `POST /SamplingTargets` (see [the crate docs](crate#sampling-rules-for-samplers)).
    /// Read what samplers report with [`CollectorHandle::sampling_stats`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use baton_sampling::{SamplingRule, SamplingRules};
    /// use baton_trace::Collector;
    ///
    /// let rules = SamplingRules::new([
    ///     SamplingRule::new("checkout", 1, 1, 1.0).with_url_path("/checkout"),
    /// ])?;
    /// let handle = Collector::bind("127.0.0.1:0".parse()?)?
    ///     .with_sampling_rules(rules)
    ///     .spawn();
    /// // Samplers poll `http://{addr}`, the address exporters send to.
    /// assert_eq!(handle.sampling_addr(), Some(handle.local_addr()));
    /// let rules: Vec<String> = handle.sampling_stats().into_iter().map(|c| c.rule).collect();
    /// assert_eq!(rules, ["checkout", "Default"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_sampling_rules(mut self, rules: SamplingRules) -> Self {
        self.sampling_rules = Some(rules);
        self
    }

    /// The clock the sampling endpoints read (default: the system clock): it dates the rules
    /// and sets when a target's reservoir quota ends. Tests give it the same
    /// `baton_sampling::ManualClock` as the samplers under test.
    pub fn with_sampling_clock(mut self, clock: impl Clock) -> Self {
        self.sampling_clock = Some(Arc::new(clock));
        self
    }

    /// The address the socket is bound to: where exporters should send.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Starts receiving on a tokio task and returns the handle to read traces from.
    ///
    /// With [sampling rules](Self::with_sampling_rules), also binds TCP at the same address
    /// and serves them on another task. If that port cannot be had, a warning is logged
    /// (`tracing`, target `baton_trace`), [`CollectorHandle::sampling_addr`] is `None`, and
    /// the UDP side works all the same.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with I/O enabled (as `tokio::spawn` does).
    pub fn spawn(self) -> CollectorHandle {
        let shared = Arc::new(Shared {
            assembler: Mutex::new(self.assembler),
            updates: watch::Sender::new(0),
        });
        let (stop, stopped) = watch::channel(false);
        let socket = UdpSocket::from_std(self.socket)
            .expect("Collector::spawn runs inside a tokio runtime with I/O enabled");
        let mut tasks = vec![tokio::spawn(receive(
            socket,
            Arc::clone(&shared),
            stopped.clone(),
        ))];

        let mut page_addr = None;
        if let Some(listener) = self.page {
            let local = listener.local_addr();
            let listener = tokio::net::TcpListener::from_std(listener);
            match (listener, local) {
                (Ok(listener), Ok(local)) => {
                    page_addr = Some(local);
                    let page = Arc::new(Page::new(Arc::clone(&shared), local));
                    tasks.push(tokio::spawn(page::serve(listener, page, stopped.clone())));
                }
                (Err(error), _) | (_, Err(error)) => tracing::warn!(
                    target: "baton_trace",
                    %error,
                    "cannot serve the page"
                ),
            }
        }

        let mut otlp_addr = None;
        if let Some(listener) = self.otlp {
            let local = listener.local_addr();
            let listener = tokio::net::TcpListener::from_std(listener);
            match (listener, local) {
                (Ok(listener), Ok(local)) => {
                    otlp_addr = Some(local);
                    tasks.push(tokio::spawn(otlp::serve(
                        listener,
                        Arc::clone(&shared),
                        stopped.clone(),
                    )));
                }
                (Err(error), _) | (_, Err(error)) => tracing::warn!(
                    target: "baton_trace",
                    %error,
                    "cannot receive otlp"
                ),
            }
        }

        let mut sampling = None;
        let mut sampling_addr = None;
        if let Some(rules) = &self.sampling_rules {
            let clock = self
                .sampling_clock
                .unwrap_or_else(|| Arc::new(SystemClock::default()));
            let book = Arc::new(Book::new(rules, clock));
            for name in book.duplicate_names() {
                tracing::warn!(
                    target: "baton_trace",
                    rule = name,
                    "two sampling rules share a name; samplers report and receive targets by name"
                );
            }
            // The UDP port is known by now, so TCP binds exactly `local_addr`.
            match sampling::listen(self.local_addr) {
                Ok(listener) => {
                    sampling_addr = Some(self.local_addr);
                    tasks.push(tokio::spawn(sampling::serve(
                        listener,
                        Arc::clone(&book),
                        stopped,
                    )));
                }
                Err(error) => tracing::warn!(
                    target: "baton_trace",
                    addr = %self.local_addr,
                    %error,
                    "cannot listen on tcp for the sampling endpoints; udp is received all the same"
                ),
            }
            sampling = Some(book);
        }
        CollectorHandle {
            shared,
            local_addr: self.local_addr,
            sampling,
            sampling_addr,
            page_addr,
            otlp_addr,
            stop: Some(stop),
            tasks,
        }
    }
}

/// What the receive task, the page and the handle share.
#[derive(Debug)]
pub(crate) struct Shared {
    assembler: Mutex<Assembler>,
    /// Bumped after every datagram, to wake those waiting for a trace.
    pub(crate) updates: watch::Sender<u64>,
}

impl Shared {
    pub(crate) fn assembler(&self) -> MutexGuard<'_, Assembler> {
        // Nothing panics while holding the lock; if something ever did, the data is still
        // consistent enough to show.
        self.assembler
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Receives until `stop` changes (or its sender is gone).
async fn receive(socket: UdpSocket, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    // One byte more than allowed, so that a longer datagram shows up as too long instead
    // of being silently cut to size.
    let mut buf = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            received = socket.recv_from(&mut buf) => match received {
                Ok((len, from)) => {
                    let result = shared.assembler().ingest(&buf[..len], Instant::now());
                    if let Err(error) = result {
                        tracing::debug!(target: "baton_trace", %from, %error, "malformed datagram");
                    }
                    shared.updates.send_modify(|n| *n = n.wrapping_add(1));
                }
                Err(error) => {
                    // UDP receive errors are transient (an ICMP report of an earlier send,
                    // on some systems); wait a moment so a persistent one cannot spin.
                    tracing::debug!(target: "baton_trace", %error, "receive error");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

/// The running collector: read traces while it receives; stop it with
/// [`shutdown`](Self::shutdown) (dropping the handle stops it too).
#[derive(Debug)]
pub struct CollectorHandle {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    sampling: Option<Arc<Book>>,
    sampling_addr: Option<SocketAddr>,
    page_addr: Option<SocketAddr>,
    otlp_addr: Option<SocketAddr>,
    stop: Option<watch::Sender<bool>>,
    /// The UDP receive task, then the page's, the OTLP receiver's and the sampling server's,
    /// if any.
    tasks: Vec<JoinHandle<()>>,
}

impl CollectorHandle {
    /// The address the collector receives on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where the sampling endpoints listen (TCP, the same address as
    /// [`local_addr`](Self::local_addr)): `None` without
    /// [sampling rules](Collector::with_sampling_rules), or if that port could not be bound.
    pub fn sampling_addr(&self) -> Option<SocketAddr> {
        self.sampling_addr
    }

    /// Where the web page is served (TCP): `None` without [`Collector::with_page`].
    pub fn page_addr(&self) -> Option<SocketAddr> {
        self.page_addr
    }

    /// Where OTLP/HTTP is received (TCP): `None` without [`Collector::with_otlp`]. Exporters
    /// take `http://{otlp_addr}` as `OTEL_EXPORTER_OTLP_ENDPOINT` (or
    /// `http://{otlp_addr}/v1/traces` as the traces endpoint).
    pub fn otlp_addr(&self) -> Option<SocketAddr> {
        self.otlp_addr
    }

    /// What samplers have reported through `/SamplingTargets` so far: one entry per served
    /// rule, in the order the rules are tried, rules never reported included (all zero).
    /// Empty without [sampling rules](Collector::with_sampling_rules).
    pub fn sampling_stats(&self) -> Vec<RuleCounts> {
        self.sampling
            .as_ref()
            .map_or_else(Vec::new, |book| book.snapshot())
    }

    /// A snapshot of every trace held, in the order their first part arrived.
    pub fn traces(&self) -> Vec<Trace> {
        self.shared.assembler().traces()
    }

    /// A snapshot of the trace with this id.
    pub fn trace(&self, id: &str) -> Option<Trace> {
        self.shared.assembler().trace(id)
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.shared.assembler().stats()
    }

    /// The bytes counted against the assembler's byte budget for the traces held: see
    /// [`Assembler::held_bytes`].
    pub fn held_bytes(&self) -> usize {
        self.shared.assembler().held_bytes()
    }

    /// The traces that changed since last taken and then received nothing for `quiet`:
    /// the ones ready to show. A trace comes back only if more of it arrives later.
    pub fn take_settled(&self, quiet: Duration) -> Vec<Trace> {
        self.shared.assembler().take_settled(Instant::now(), quiet)
    }

    /// Waits until some trace satisfies `predicate` and returns it, or `None` after
    /// `timeout`. Checked now and after every datagram.
    ///
    /// ```no_run
    /// # async fn f(handle: baton_trace::CollectorHandle) {
    /// use std::time::Duration;
    /// // A trace with three nodes that has reached the `fulfilment` service.
    /// let trace = handle
    ///     .wait_for(|t| t.len() >= 3 && t.services().contains(&"fulfilment"), Duration::from_secs(5))
    ///     .await;
    /// # }
    /// ```
    pub async fn wait_for<F>(&self, mut predicate: F, timeout: Duration) -> Option<Trace>
    where
        F: FnMut(&Trace) -> bool,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut updates = self.shared.updates.subscribe();
        loop {
            updates.mark_unchanged();
            if let Some(found) = self.traces().into_iter().find(|t| predicate(t)) {
                return Some(found);
            }
            match tokio::time::timeout_at(deadline, updates.changed()).await {
                Ok(Ok(())) => {}
                // Timed out, or the sender is gone (it lives as long as `self`).
                _ => return None,
            }
        }
    }

    /// Waits until the trace `trace_id` has at least `nodes` nodes, or `None` after
    /// `timeout`.
    pub async fn wait_for_nodes(
        &self,
        trace_id: &str,
        nodes: usize,
        timeout: Duration,
    ) -> Option<Trace> {
        self.wait_for(|t| t.id() == trace_id && t.len() >= nodes, timeout)
            .await
    }

    /// Stops receiving (and serving the page and sampling rules, closing open connections), waits for
    /// the tasks to end, and returns the final counters. The traces and the sampling counts
    /// stay readable until the handle is dropped.
    pub async fn shutdown(&mut self) -> Stats {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        self.stats()
    }
}

impl Drop for CollectorHandle {
    fn drop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}
