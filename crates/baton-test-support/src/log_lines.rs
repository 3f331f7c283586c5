//! Log lines written to memory, for tests that check what a `tracing` subscriber prints.

use std::sync::{Arc, Mutex};

/// An in-memory writer for `tracing_subscriber::fmt`: every clone appends to the same buffer,
/// which [`text`](Self::text) reads back.
///
/// ```
/// use baton_test_support::LogLines;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let logs = LogLines::default();
/// let subscriber = tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer().with_writer(logs.clone()));
/// tracing::subscriber::with_default(subscriber, || tracing::warn!("hello"));
/// assert!(logs.text().contains("hello"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct LogLines(Arc<Mutex<Vec<u8>>>);

impl LogLines {
    /// Everything written so far.
    ///
    /// # Panics
    ///
    /// If what was written is not UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("log lines are UTF-8")
    }
}

impl std::io::Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogLines {
    type Writer = LogLines;

    fn make_writer(&'a self) -> LogLines {
        self.clone()
    }
}
