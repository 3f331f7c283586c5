//! Why a set-up could not be built.

/// Why [`Setup::build`](crate::Setup::build) or [`Setup::install`](crate::Setup::install)
/// failed. Nothing is installed when it fails. Once built, exporting never fails the
/// application: spans that cannot be sent are dropped and counted in
/// [`ExportStats`](crate::ExportStats).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The OTLP exporter could not be built (an endpoint that is not a URI, a protocol
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` names that this build cannot speak, …).
    #[error("cannot build the OTLP exporter: {0}")]
    Otlp(#[from] opentelemetry_otlp::ExporterBuildError),
    /// The X-Ray daemon exporter could not be built (an invalid `AWS_XRAY_DAEMON_ADDRESS`).
    #[error("cannot build the X-Ray daemon exporter: {0}")]
    Daemon(#[from] baton_xray::BuildError),
    /// The X-Ray sampler could not be built.
    #[error("cannot build the X-Ray sampler: {0}")]
    Sampler(#[from] baton_sampling::BuildError),
    /// A setting is not usable; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// No tokio runtime was given or current, and none could be started for the exporter.
    #[error("cannot start a runtime for the exporter: {0}")]
    Runtime(#[source] std::io::Error),
}
