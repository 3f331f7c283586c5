//! The span exporter: segment documents over UDP to the X-Ray daemon.

use std::fmt;
use std::future::{Future, ready};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::address;
use crate::document;
use crate::encoder::SegmentEncoder;
use crate::error::BuildError;

/// The largest datagram the exporter sends unless told otherwise (header included): under
/// the 64 KiB the daemon reads at once, and under the 65,507 bytes a UDP datagram can carry.
pub const DEFAULT_MAX_DATAGRAM_SIZE: usize = 64_000;

/// The bounds of [`XrayExporterBuilder::with_max_datagram_size`].
pub(crate) const MIN_DATAGRAM_SIZE: usize = 1024;
pub(crate) const MAX_DATAGRAM_SIZE: usize = 65_000;

/// Sets up an [`XrayExporter`].
///
/// ```
/// use baton_xray::XrayExporter;
///
/// let exporter = XrayExporter::builder()
///     .with_daemon_address("127.0.0.1:2000")
///     .with_service_name("orders-worker")
///     .build()
///     .expect("a valid address");
/// assert_eq!(exporter.daemon_address().port(), 2000);
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until built"]
pub struct XrayExporterBuilder {
    address: Option<String>,
    env: fn(&str) -> Option<String>,
    service_name: Option<String>,
    max_datagram: usize,
}

impl Default for XrayExporterBuilder {
    fn default() -> Self {
        XrayExporterBuilder {
            address: None,
            env: |name| std::env::var(name).ok(),
            service_name: None,
            max_datagram: DEFAULT_MAX_DATAGRAM_SIZE,
        }
    }
}

impl XrayExporterBuilder {
    /// Sends to `address` (`host:port`, or `tcp:host:port udp:host:port` as in
    /// `AWS_XRAY_DAEMON_ADDRESS`) instead of the address the environment names.
    pub fn with_daemon_address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// Reads the environment through `env` instead of [`std::env::var`] (for tests).
    pub fn with_env(mut self, env: fn(&str) -> Option<String>) -> Self {
        self.env = env;
        self
    }

    /// Names every segment `name`. Without it, segments take the `service.name` of the tracer
    /// provider's resource, or failing that the span's own name.
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// The largest datagram to send, header included (default
    /// [`DEFAULT_MAX_DATAGRAM_SIZE`]; kept between 1,024 and 65,000 bytes).
    pub fn with_max_datagram_size(mut self, bytes: usize) -> Self {
        self.max_datagram = bytes.clamp(MIN_DATAGRAM_SIZE, MAX_DATAGRAM_SIZE);
        self
    }

    /// Resolves the daemon's address and opens a non-blocking UDP socket connected to it.
    ///
    /// A host name in the address is resolved here, once (this may block on DNS); nothing
    /// blocks afterwards.
    pub fn build(self) -> Result<XrayExporter, BuildError> {
        let daemon = match &self.address {
            Some(value) => address::resolve(address::udp_part(value)?)?,
            None => address::from_env(self.env)?,
        };
        let local: SocketAddr = if daemon.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).map_err(BuildError::Socket)?;
        // Connected, so that the kernel reports an absent daemon (ICMP port unreachable) as
        // an error on a later send, instead of silently dropping every datagram.
        socket.connect(daemon).map_err(BuildError::Socket)?;
        socket.set_nonblocking(true).map_err(BuildError::Socket)?;
        Ok(XrayExporter {
            socket,
            daemon,
            encoder: match self.service_name {
                Some(name) => SegmentEncoder::new().with_service_name(name),
                None => SegmentEncoder::new(),
            }
            .with_max_datagram_size(self.max_datagram),
            stats: XrayStats::default(),
            shut_down: AtomicBool::new(false),
            unreachable: AtomicBool::new(false),
        })
    }
}

/// An OpenTelemetry [`SpanExporter`] that sends spans to the X-Ray daemon as segment
/// documents over UDP.
///
/// - `export` converts and sends at once, with non-blocking sends on a connected socket: it
///   never waits on the network. A datagram the kernel will not take (the daemon is absent,
///   the send buffer is full) is dropped and counted in [`XrayStats`]; `export` still
///   returns `Ok`.
/// - The spans of one batch that belong together are sent as one segment document with its
///   subsegments embedded, split into independent subsegment documents where one datagram
///   would not hold them (see the crate documentation for the mapping).
///
/// Build one with [`XrayExporter::builder`]; hand it to the tracer provider with
/// `with_batch_exporter` (or `with_simple_exporter`, which is also cheap here since nothing
/// waits).
pub struct XrayExporter {
    socket: UdpSocket,
    daemon: SocketAddr,
    encoder: SegmentEncoder,
    stats: XrayStats,
    shut_down: AtomicBool,
    unreachable: AtomicBool,
}

impl fmt::Debug for XrayExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XrayExporter")
            .field("daemon", &self.daemon)
            .field("service_name", &self.encoder.service_name())
            .field("max_datagram", &self.encoder.settings.max_datagram)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl XrayExporter {
    /// A builder with the defaults: the address from `AWS_XRAY_DAEMON_ADDRESS` (or
    /// `127.0.0.1:2000`), segment names from the resource, 64,000-byte datagrams.
    pub fn builder() -> XrayExporterBuilder {
        XrayExporterBuilder::default()
    }

    /// The daemon's address, as resolved when the exporter was built.
    pub fn daemon_address(&self) -> SocketAddr {
        self.daemon
    }

    /// The exporter's counters. The handle stays valid (and keeps counting) after the
    /// exporter has been moved into a tracer provider.
    pub fn stats(&self) -> XrayStats {
        self.stats.clone()
    }

    /// Converts `spans` exactly as [`export`](SpanExporter::export) would, handing each
    /// datagram (the daemon header line, then the document) to `each` instead of sending it.
    /// For tests, for measuring, or for sending through another transport.
    pub fn encode(&self, spans: &[SpanData], mut each: impl FnMut(&str)) {
        self.encoder.encode(spans, |datagram| each(datagram));
    }

    fn send_all(&self, spans: &[SpanData]) {
        let stats = &self.stats.0;
        let tally = document::encode(spans, &self.encoder.settings, |datagram, span_count| {
            let span_count = span_count as u64;
            match self.socket.send(datagram.as_bytes()) {
                Ok(_) => {
                    stats.datagrams_sent.fetch_add(1, Ordering::Relaxed);
                    stats.exported.fetch_add(span_count, Ordering::Relaxed);
                    if self.unreachable.swap(false, Ordering::Relaxed) {
                        tracing::info!(
                            target: "baton_xray",
                            daemon = %self.daemon,
                            "the X-Ray daemon accepts segments again"
                        );
                    }
                }
                Err(error) => {
                    stats.datagrams_dropped.fetch_add(1, Ordering::Relaxed);
                    stats.dropped.fetch_add(span_count, Ordering::Relaxed);
                    let absent = error.kind() == ErrorKind::ConnectionRefused;
                    if absent {
                        stats.daemon_unreachable.fetch_add(1, Ordering::Relaxed);
                    }
                    // Once per outage, not once per datagram.
                    if !self.unreachable.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            target: "baton_xray",
                            daemon = %self.daemon,
                            %error,
                            "cannot send segments to the X-Ray daemon; dropping them until it can"
                        );
                    }
                }
            }
        });
        stats
            .truncated
            .fetch_add(tally.truncated, Ordering::Relaxed);
    }
}

impl SpanExporter for XrayExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let result = if self.shut_down.load(Ordering::Relaxed) {
            Err(OTelSdkError::AlreadyShutdown)
        } else {
            self.send_all(&batch);
            Ok(())
        };
        ready(result)
    }

    fn shutdown_with_timeout(&self, _timeout: std::time::Duration) -> OTelSdkResult {
        if self.shut_down.swap(true, Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.encoder.set_resource(resource);
    }
}

/// The exporter's counters, shared with the exporter: clone freely, read any time.
///
/// Every span handed to `export` ends up in exactly one of [`exported`](Self::exported) and
/// [`dropped`](Self::dropped). "Exported" means the kernel took the datagram: UDP gives no
/// delivery receipt, and when the daemon is absent the kernel learns so only from the ICMP
/// "port unreachable" reply to an earlier datagram (reported on the next send of the
/// connected socket, as Linux and the BSDs do), so some datagrams sent into the void count
/// as exported. Where the daemon's host is down or filtered, no reply comes at all.
#[derive(Clone, Debug, Default)]
pub struct XrayStats(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    exported: AtomicU64,
    dropped: AtomicU64,
    datagrams_sent: AtomicU64,
    datagrams_dropped: AtomicU64,
    daemon_unreachable: AtomicU64,
    truncated: AtomicU64,
}

impl XrayStats {
    /// Spans sent to the daemon.
    pub fn exported(&self) -> u64 {
        self.0.exported.load(Ordering::Relaxed)
    }

    /// Spans dropped because their datagram could not be sent.
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    /// Datagrams sent.
    pub fn datagrams_sent(&self) -> u64 {
        self.0.datagrams_sent.load(Ordering::Relaxed)
    }

    /// Datagrams dropped (for any reason).
    pub fn datagrams_dropped(&self) -> u64 {
        self.0.datagrams_dropped.load(Ordering::Relaxed)
    }

    /// Datagrams dropped because the kernel reported the daemon absent (ICMP port
    /// unreachable); included in [`datagrams_dropped`](Self::datagrams_dropped).
    pub fn daemon_unreachable(&self) -> u64 {
        self.0.daemon_unreachable.load(Ordering::Relaxed)
    }

    /// Spans sent without their details (attributes, annotations, links, cause) because
    /// they alone would not fit in a datagram; they still count as exported.
    pub fn truncated(&self) -> u64 {
        self.0.truncated.load(Ordering::Relaxed)
    }
}
