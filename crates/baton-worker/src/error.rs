//! The runners' errors.

/// Why a runner could not run. Service errors while running are not among them: the worker
/// retries those and never stops because of them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// A setting is out of the range SQS accepts.
    #[error("invalid worker setting `{setting}`: {reason}")]
    Config {
        /// The setting (the builder method's name).
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The process signal handler could not be installed.
    #[error("cannot listen for shutdown signals")]
    Signal(#[source] std::io::Error),
}

impl WorkerError {
    pub(crate) fn config(setting: &'static str, reason: impl Into<String>) -> Self {
        WorkerError::Config {
            setting,
            reason: reason.into(),
        }
    }
}
