//! Why an exporter could not be built.

/// Why [`XrayExporterBuilder::build`](crate::XrayExporterBuilder::build) failed. Once built,
/// the exporter never fails a span export for network reasons: it drops and counts instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The daemon address is not `host:port`, nor the `tcp:host:port udp:host:port` pair.
    #[error(
        "invalid X-Ray daemon address {value:?}: expected host:port or \"tcp:host:port udp:host:port\""
    )]
    InvalidAddress {
        /// The address as given.
        value: String,
    },
    /// The daemon's host name could not be resolved.
    #[error("could not resolve the X-Ray daemon address {value:?}")]
    Resolve {
        /// The address as given.
        value: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },
    /// The local UDP socket could not be set up.
    #[error("could not open a UDP socket to the X-Ray daemon")]
    Socket(#[source] std::io::Error),
}
