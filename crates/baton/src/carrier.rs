//! Carriers: OpenTelemetry [`Injector`] / [`Extractor`] views of string maps.
//!
//! The service crates wrap their SDK's attribute maps in [`ReadMap`] / [`WriteMap`] and hand
//! them to a propagator through [`MapExtractor`] and [`MapInjector`]. Lookups ignore ASCII
//! case, because producers disagree on it (`X-Amzn-Trace-Id`, `x-amzn-trace-id`). Writes never
//! replace what the user set and never exceed the limits they are given: a value that does not
//! fit is skipped and a `tracing` event says why.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;

use crate::{
    AWS_TRACE_HEADER, TRACEPARENT, TRACESTATE, W3cPropagator, XRAY_HEADER, extract_header,
};

/// A map of string keys to (possibly) string values that a carrier can read.
pub trait ReadMap {
    /// The value stored under exactly `key`, if it is a string.
    fn get_exact(&self, key: &str) -> Option<&str>;
    /// All keys of the map.
    fn key_list(&self) -> Vec<&str>;

    /// The value under `key`, matching the key exactly first and then ignoring ASCII case.
    fn get_ignore_case(&self, key: &str) -> Option<&str> {
        if let Some(value) = self.get_exact(key) {
            return Some(value);
        }
        let found = self
            .key_list()
            .into_iter()
            .find(|k| k.eq_ignore_ascii_case(key))?;
        self.get_exact(found)
    }

    /// Reads `key` with `read` under every spelling of it the map holds, the exact spelling
    /// first and then the others in the order of their names, and returns the first `Some`.
    /// A message may hold two spellings of one carrier (`traceparent` and `TraceParent`) of
    /// which only one is well formed; [`get_ignore_case`](Self::get_ignore_case) sees only one.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use baton::carrier::ReadMap;
    ///
    /// let map = HashMap::from([
    ///     ("traceparent".to_string(), "garbage".to_string()),
    ///     ("TraceParent".to_string(), "00-well-formed".to_string()),
    /// ]);
    /// let found = map.find_ignore_case("traceparent", |v| v.starts_with("00-").then_some(v));
    /// assert_eq!(found, Some("00-well-formed"));
    /// ```
    fn find_ignore_case<'a, T>(
        &'a self,
        key: &str,
        mut read: impl FnMut(&'a str) -> Option<T>,
    ) -> Option<T>
    where
        Self: Sized,
    {
        if let Some(found) = self.get_exact(key).and_then(&mut read) {
            return Some(found);
        }
        let mut others: Vec<&str> = self
            .key_list()
            .into_iter()
            .filter(|k| *k != key && k.eq_ignore_ascii_case(key))
            .collect();
        others.sort_unstable();
        others
            .into_iter()
            .filter_map(|k| self.get_exact(k))
            .find_map(read)
    }
}

/// The context a W3C `traceparent` (with its `tracestate`, if any) names, on top of `base`;
/// `base` unchanged if it is malformed.
pub fn extract_w3c(base: &Context, traceparent: &str, tracestate: Option<&str>) -> Context {
    struct Fields<'a>(&'a str, Option<&'a str>);
    impl Extractor for Fields<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            match key {
                "traceparent" => Some(self.0),
                "tracestate" => self.1,
                _ => None,
            }
        }
        fn keys(&self) -> Vec<&str> {
            vec!["traceparent", "tracestate"]
        }
    }
    W3cPropagator::new().extract_with_context(base, &Fields(traceparent, tracestate))
}

/// Which message attribute a producer context was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttributeCarrier {
    /// The W3C `traceparent` (and `tracestate`).
    TraceParent,
    /// An `X-Amzn-Trace-Id` or `AWSTraceHeader` attribute in the X-Ray format.
    Xray,
}

/// The producer context in message attributes, read in the order the service crates
/// document: `traceparent` (W3C, with `tracestate`), then `X-Amzn-Trace-Id`, then
/// `AWSTraceHeader` (X-Ray format); names in any letter case, each in every spelling the map
/// holds (see [`ReadMap::find_ignore_case`]). The first well-formed one wins; a malformed
/// `traceparent` is reported with a `tracing` event. `None` if there is none.
pub fn extract_from_attributes<M: ReadMap>(map: &M) -> Option<(Context, AttributeCarrier)> {
    let base = Context::new();
    let valid = |cx: &Context| cx.span().span_context().is_valid();
    // Looked up once, and only when some `traceparent` is there to go with it.
    let mut tracestate = None;
    let w3c = map.find_ignore_case(TRACEPARENT, |traceparent| {
        let state = *tracestate.get_or_insert_with(|| map.get_ignore_case(TRACESTATE));
        let cx = extract_w3c(&base, traceparent, state);
        if valid(&cx) {
            return Some(cx);
        }
        tracing::warn!(
            target: "baton::propagation",
            source = TRACEPARENT,
            value = %traceparent.chars().take(64).collect::<String>().escape_debug(),
            "ignoring malformed traceparent message attribute"
        );
        None
    });
    if let Some(cx) = w3c {
        return Some((cx, AttributeCarrier::TraceParent));
    }
    [XRAY_HEADER, AWS_TRACE_HEADER]
        .into_iter()
        .find_map(|name| {
            map.find_ignore_case(name, |header| {
                let cx = extract_header(&base, header, name);
                valid(&cx).then_some((cx, AttributeCarrier::Xray))
            })
        })
}

/// A map a carrier can add string entries to.
pub trait WriteMap: ReadMap {
    /// Number of entries.
    fn entry_count(&self) -> usize;
    /// Adds `key` = `value` (the key is known to be absent).
    fn insert_str(&mut self, key: &str, value: String);
}

impl<S: BuildHasher> ReadMap for HashMap<String, String, S> {
    fn get_exact(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
    fn key_list(&self) -> Vec<&str> {
        self.keys().map(String::as_str).collect()
    }
}

impl<S: BuildHasher> WriteMap for HashMap<String, String, S> {
    fn entry_count(&self) -> usize {
        self.len()
    }
    fn insert_str(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

impl ReadMap for BTreeMap<String, String> {
    fn get_exact(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
    fn key_list(&self) -> Vec<&str> {
        self.keys().map(String::as_str).collect()
    }
}

impl WriteMap for BTreeMap<String, String> {
    fn entry_count(&self) -> usize {
        self.len()
    }
    fn insert_str(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

/// An [`Extractor`] over a [`ReadMap`] that ignores ASCII case in keys.
///
/// ```
/// use std::collections::HashMap;
/// use baton::carrier::MapExtractor;
/// use opentelemetry::propagation::Extractor;
///
/// let map = HashMap::from([("TraceParent".to_string(), "00-…".to_string())]);
/// assert_eq!(MapExtractor::new(&map).get("traceparent"), Some("00-…"));
/// ```
#[derive(Debug)]
pub struct MapExtractor<'a, M: ?Sized>(&'a M);

impl<'a, M: ReadMap + ?Sized> MapExtractor<'a, M> {
    /// Reads from `map`.
    pub fn new(map: &'a M) -> Self {
        MapExtractor(map)
    }
}

impl<M: ReadMap + ?Sized> Extractor for MapExtractor<'_, M> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get_ignore_case(key)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.key_list()
    }
}

/// Why a [`MapInjector`] left a field out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// The map already holds the key (in any case); the existing value is kept.
    AlreadySet,
    /// Adding the key would exceed the entry limit.
    TooManyEntries,
    /// Adding the key and value would exceed the byte budget.
    TooLarge,
}

impl SkipReason {
    fn as_str(self) -> &'static str {
        match self {
            SkipReason::AlreadySet => "the key is already set; keeping the existing value",
            SkipReason::TooManyEntries => "adding it would exceed the attribute limit",
            SkipReason::TooLarge => "adding it would exceed the message size limit",
        }
    }
}

/// An [`Injector`] into a [`WriteMap`] that keeps what is there and respects limits.
///
/// ```
/// use std::collections::HashMap;
/// use baton::carrier::{MapInjector, SkipReason};
/// use opentelemetry::propagation::Injector;
///
/// let mut map: HashMap<String, String> = (0..10).map(|i| (format!("k{i}"), "v".into())).collect();
/// let mut injector = MapInjector::new(&mut map).with_max_entries(10);
/// injector.set("traceparent", "00-…".into());
/// assert_eq!(injector.skipped(), &[("traceparent".to_string(), SkipReason::TooManyEntries)]);
/// assert_eq!(map.len(), 10);
/// ```
#[derive(Debug)]
pub struct MapInjector<'a, M: ?Sized> {
    map: &'a mut M,
    max_entries: usize,
    byte_budget: usize,
    skipped: Vec<(String, SkipReason)>,
}

impl<'a, M: WriteMap + ?Sized> MapInjector<'a, M> {
    /// Writes into `map` with no limits.
    pub fn new(map: &'a mut M) -> Self {
        MapInjector {
            map,
            max_entries: usize::MAX,
            byte_budget: usize::MAX,
            skipped: Vec::new(),
        }
    }

    /// Never lets the map hold more than `max` entries.
    pub fn with_max_entries(mut self, max: usize) -> Self {
        self.max_entries = max;
        self
    }

    /// Adds at most `bytes` bytes of keys and values in all.
    pub fn with_byte_budget(mut self, bytes: usize) -> Self {
        self.byte_budget = bytes;
        self
    }

    /// The fields left out, with the reason, in the order they were offered.
    pub fn skipped(&self) -> &[(String, SkipReason)] {
        &self.skipped
    }
}

impl<M: WriteMap + ?Sized> Injector for MapInjector<'_, M> {
    fn set(&mut self, key: &str, value: String) {
        let reason = if self.map.get_ignore_case(key).is_some() {
            Some(SkipReason::AlreadySet)
        } else if self.map.entry_count() >= self.max_entries {
            Some(SkipReason::TooManyEntries)
        } else if key.len() + value.len() > self.byte_budget {
            Some(SkipReason::TooLarge)
        } else {
            None
        };
        match reason {
            None => {
                self.byte_budget -= key.len() + value.len();
                self.map.insert_str(key, value);
            }
            Some(reason) => {
                tracing::debug!(
                    target: "baton::propagation",
                    field = key,
                    reason = reason.as_str(),
                    "trace context field not written"
                );
                self.skipped.push((key.to_owned(), reason));
            }
        }
    }
}
