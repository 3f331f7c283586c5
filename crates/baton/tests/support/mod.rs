//! Helpers the core's test binaries share: recorded `tracing` events and an exact-match carrier.
// Each test binary uses only some of these.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use opentelemetry::propagation::Extractor;
use tracing_subscriber::layer::SubscriberExt;

/// `tracing` events, as `level target: field=value …`, recorded on the current thread.
#[derive(Clone, Default)]
pub(crate) struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    /// The events recorded so far, emptying the record.
    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Events {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        let mut text = format!("{} {}: ", meta.level(), meta.target());
        event.record(&mut Fields(&mut text));
        self.0.lock().unwrap().push(text);
    }
}

/// Runs `f` with the `tracing` events it emits recorded.
pub(crate) fn recording<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let events = Events::default();
    let subscriber = tracing_subscriber::registry().with(events.clone());
    let out = tracing::subscriber::with_default(subscriber, f);
    (out, events.take())
}

/// A carrier that looks keys up exactly as given, as the AWS SDK's attribute maps do.
pub(crate) struct Exact(pub(crate) Vec<(String, String)>);

impl Extractor for Exact {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}
