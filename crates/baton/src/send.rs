//! The spans of one send call, shared by every service crate: the PRODUCER `send` span, the
//! `create` span of each entry of a batch, and how they all end.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use opentelemetry::trace::{SpanRef, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use crate::metrics::Measure;
use crate::{CallError, MessagingSpan, MessagingSystem, TracerHandle, attr};

/// A function called with each `send` span just before it ends, after Baton recorded the
/// call's outcome on it: the producer's way to learn the span its send created (its ids, for a
/// log line) or to add attributes of its own. Each service crate's settings take one
/// (`SqsPropagation::with_on_send` and so on); it runs in both the interceptor and the Tower
/// form.
///
/// ```
/// use baton::OnSend;
/// use opentelemetry::KeyValue;
///
/// let on_send = OnSend::new(|span| {
///     span.set_attribute(KeyValue::new("shop.tenant", "acme"));
///     let id = span.span_context().span_id();
///     println!("sent in span {id}");
/// });
/// # drop(on_send);
/// ```
///
/// The send span's context is current while the hook runs. A hook that panics is caught: the
/// panic is logged (`tracing`, target `baton`) and the span ends as it would have (the process's
/// panic hook still sees the panic, and `panic = "abort"` still aborts). Without a tracer
/// provider (OpenTelemetry's no-op tracer) Baton makes no span of its own, and the hook sees the
/// caller's span.
#[derive(Clone)]
pub struct OnSend(Arc<dyn Fn(&SpanRef<'_>) + Send + Sync>);

impl OnSend {
    /// Wraps `hook`.
    pub fn new(hook: impl Fn(&SpanRef<'_>) + Send + Sync + 'static) -> Self {
        OnSend(Arc::new(hook))
    }

    /// Runs the hook on `span` (a panic in it is caught and logged). Baton's send paths call
    /// it; so can a service crate of another kind of call (Lambda's Invoke).
    pub fn call(&self, span: &SpanRef<'_>) {
        if std::panic::catch_unwind(AssertUnwindSafe(|| (self.0)(span))).is_err() {
            tracing::warn!(
                target: "baton",
                "an on_send hook panicked; the send span ends without what it would have added"
            );
        }
    }
}

impl fmt::Debug for OnSend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnSend(..)")
    }
}

/// Sets `server.address` (and `server.port`, if given) on the active span of `cx`.
pub(crate) fn set_server_attributes(cx: &Context, address: &str, port: Option<u16>) {
    let span = cx.span();
    span.set_attribute(KeyValue::new(attr::SERVER_ADDRESS, address.to_owned()));
    if let Some(port) = port {
        span.set_attribute(KeyValue::new(attr::SERVER_PORT, i64::from(port)));
    }
}

/// How one entry of a batch send came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryOutcome<'a> {
    /// Accepted, with the id the service gave the message, if it gave one.
    Sent(Option<&'a str>),
    /// Refused, with the service's error code and message.
    Failed {
        /// The service's error code (`error.type` of the entry's span).
        code: &'a str,
        /// The service's message, if any (the span status; the code otherwise).
        message: Option<&'a str>,
    },
    /// The response does not mention the entry: its span ends with nothing more recorded.
    Unreported,
}

/// What a send call's response says, as far as its spans care: the request id, the message
/// id of a single send, and for a batch how many entries were refused.
///
/// ```
/// use baton::SendOutcome;
///
/// let single = SendOutcome::new(Some("req-1")).with_message_id(Some("m-1"));
/// let batch = SendOutcome::new(Some("req-2")).with_failures(1, 10);
/// # drop((single, batch));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendOutcome<'a> {
    message_id: Option<&'a str>,
    request_id: Option<&'a str>,
    failed: usize,
    total: usize,
    /// `error.type` of refused entries that have no span of their own to say it.
    error_code: Option<&'a str>,
    /// The status of a lone refused send (its service's message).
    error_message: Option<&'a str>,
}

impl<'a> SendOutcome<'a> {
    /// A response with `request_id` (`aws.request_id` of the send span).
    pub fn new(request_id: Option<&'a str>) -> Self {
        SendOutcome {
            request_id,
            ..SendOutcome::default()
        }
    }

    /// The id the service gave the one message sent (`messaging.message.id` of the send
    /// span).
    #[must_use]
    pub fn with_message_id(mut self, message_id: Option<&'a str>) -> Self {
        self.message_id = message_id;
        self
    }

    /// A batch of `total` entries of which `failed` were refused: any refusal puts the send
    /// span in error (`"{failed} of {total} entries failed"`, with the first refused entry's
    /// code as `error.type`).
    #[must_use]
    pub fn with_failures(mut self, failed: usize, total: usize) -> Self {
        self.failed = failed;
        self.total = total;
        self
    }

    /// The code refused entries without a `create` span of their own are recorded and
    /// counted under (the first refused entry's, say); without one they are `_OTHER`.
    #[must_use]
    pub fn with_error_code(mut self, code: Option<&'a str>) -> Self {
        self.error_code = code;
        self
    }

    /// A lone message the service refused in an otherwise successful response (a batch API
    /// called with one entry): the send span records `code` as `error.type` and `message` as
    /// its status, as a failed call would, and the metrics count the message as refused.
    ///
    /// ```
    /// use baton::SendOutcome;
    ///
    /// let refused = SendOutcome::new(Some("req-1"))
    ///     .with_refusal("ProvisionedThroughputExceededException", Some("Rate exceeded"));
    /// # drop(refused);
    /// ```
    #[must_use]
    pub fn with_refusal(mut self, code: &'a str, message: Option<&'a str>) -> Self {
        self.failed = 1;
        self.total = 1;
        self.error_code = Some(code);
        self.error_message = Some(message.unwrap_or(code));
        self
    }
}

/// The spans of one send call in flight: the `send` span, active in [`cx`](Self::cx), and for
/// a batch a `create` span per entry, each a child of the send span and found again by its
/// key `K` (the entry's id, or its index where entries have no id). Baton's service crates
/// keep one per call; it is public for integrations of other services built the same way.
///
/// ```
/// use baton::{EntryOutcome, MessagingSystem, SendOutcome, SendSpans, TracerHandle};
/// use opentelemetry::Context;
///
/// let tracer = TracerHandle::global();
/// let mut spans = SendSpans::<String>::start(
///     &tracer,
///     MessagingSystem::Sqs,
///     "orders".to_owned(),
///     "SendMessageBatch",
///     Some(2),
///     None,
///     &Context::new(),
///     [opentelemetry::KeyValue::new("aws.sqs.queue_url", "https://sqs.eu-west-1.amazonaws.com/123456789012/orders")],
/// );
/// for id in ["a", "b"] {
///     let entry = spans.start_entry(&tracer, MessagingSystem::Sqs, "orders".to_owned());
///     // … write `entry`'s context into the entry …
///     spans.push_entry(id.to_owned(), entry);
/// }
/// let outcome = SendOutcome::new(Some("req-1")).with_failures(1, 2);
/// spans.finish(Ok(outcome), |id| match id.as_str() {
///     "a" => EntryOutcome::Sent(Some("m-1")),
///     _ => EntryOutcome::Failed { code: "InvalidParameterValue", message: None },
/// });
/// ```
#[derive(Clone, Debug)]
pub struct SendSpans<K> {
    cx: Context,
    /// The service's operation (`SendMessageBatch`), the entries' operation name too.
    operation: &'static str,
    entries: Vec<(K, Context)>,
    on_send: Option<OnSend>,
    /// The messages the call sends (1, or the batch's entries).
    messages: usize,
    measure: Option<Measure>,
}

impl<K> SendSpans<K> {
    /// Starts the `send {destination}` span of `operation` under `parent`; `batch_len` is the
    /// number of entries of a batch call, `region` the client's region if known, `attributes`
    /// the service's own (a queue URL, a body size), which the span starts with.
    #[allow(clippy::too_many_arguments)] // each is one fact of the span, named at the call
    pub fn start(
        tracer: &TracerHandle,
        system: MessagingSystem,
        destination: String,
        operation: &'static str,
        batch_len: Option<usize>,
        region: Option<&str>,
        parent: &Context,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) -> Self {
        let mut span = MessagingSpan::send(system, destination).operation_name(operation);
        if let Some(len) = batch_len {
            span = span.batch_count(len);
        }
        if let Some(region) = region {
            span = span.region(region.to_owned());
        }
        let span = span.attributes(attributes);
        SendSpans {
            cx: tracer.start(span, parent),
            operation,
            entries: Vec::new(),
            on_send: None,
            messages: batch_len.unwrap_or(1),
            measure: None,
        }
    }

    /// Records the call's metrics with `measure` when it finishes (see
    /// [`metrics`](crate::metrics)): its duration and the messages it attempted to send.
    pub fn with_measure(mut self, measure: Option<Measure>) -> Self {
        self.measure = measure;
        self
    }

    /// The call's metrics in progress, if any.
    pub fn measure_mut(&mut self) -> Option<&mut Measure> {
        self.measure.as_mut()
    }

    /// Records where the call went (`server.address`, and `server.port` when not the scheme's
    /// default) on the send span and in its metrics.
    pub fn set_server(&mut self, address: &str, port: Option<u16>) {
        set_server_attributes(&self.cx, address, port);
        if let Some(measure) = &mut self.measure {
            measure.set_server(address, port);
        }
    }

    /// Calls `hook` with the send span when [`finish`](Self::finish) has recorded the
    /// outcome, just before the span ends.
    pub fn with_on_send(mut self, hook: Option<OnSend>) -> Self {
        self.on_send = hook;
        self
    }

    /// Starts a `create {destination}` span, child of the send span (and named by the same
    /// service operation), and returns its context (to write into the entry, then hand to
    /// [`push_entry`](Self::push_entry)).
    pub fn start_entry(
        &self,
        tracer: &TracerHandle,
        system: MessagingSystem,
        destination: String,
    ) -> Context {
        let span = MessagingSpan::create(system, destination).operation_name(self.operation);
        tracer.start(span, &self.cx)
    }

    /// The caller's context with the send span active: what a single send injects, and what
    /// the call runs in.
    pub fn cx(&self) -> &Context {
        &self.cx
    }

    /// Keeps an entry's `create` span, under `key`, until the call ends; the send span links
    /// to it (the messaging conventions have a batch send name each message's creation
    /// context).
    pub fn push_entry(&mut self, key: K, cx: Context) {
        let entry = cx.span().span_context().clone();
        if entry.is_valid() {
            self.cx.span().add_link(entry, Vec::new());
        }
        self.entries.push((key, cx));
    }

    /// Whether any entry has a `create` span of its own.
    pub fn has_entries(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Ends every span. On a response, each entry's span records what `entry` says of it
    /// (its message id, or its error); the send span records the message id and request id,
    /// and is in error if any entry was refused. On an error, every span records it.
    pub fn finish<'a>(
        self,
        result: Result<SendOutcome<'a>, &CallError>,
        mut entry: impl FnMut(&K) -> EntryOutcome<'a>,
    ) {
        let span = self.cx.span();
        let messages = self.messages;
        match result {
            Ok(outcome) => {
                let mut first_code = None;
                // Refused entries by code, for the metrics.
                let mut refused_by_code: Vec<(&str, usize)> = Vec::new();
                for (key, cx) in &self.entries {
                    let entry_span = cx.span();
                    let result = entry(key);
                    if let EntryOutcome::Failed { code, .. } = result {
                        first_code.get_or_insert(code);
                        if self.measure.is_some() {
                            match refused_by_code.iter_mut().find(|(c, _)| *c == code) {
                                Some((_, n)) => *n += 1,
                                None => refused_by_code.push((code, 1)),
                            }
                        }
                    }
                    match result {
                        EntryOutcome::Sent(Some(id)) => entry_span.set_attribute(KeyValue::new(
                            attr::MESSAGING_MESSAGE_ID,
                            id.to_owned(),
                        )),
                        EntryOutcome::Sent(None) | EntryOutcome::Unreported => {}
                        EntryOutcome::Failed { code, message } => {
                            CallError::new(message.unwrap_or(code))
                                .with_code(code)
                                .record(&entry_span);
                        }
                    }
                    entry_span.end();
                }
                if let Some(id) = outcome.message_id {
                    span.set_attribute(KeyValue::new(attr::MESSAGING_MESSAGE_ID, id.to_owned()));
                }
                if let Some(id) = outcome.request_id {
                    span.set_attribute(KeyValue::new(attr::AWS_REQUEST_ID, id.to_owned()));
                }
                if outcome.failed > 0 {
                    // `error.type` goes with an error status: the first refused entry's
                    // code, the one the outcome names when no entry span says which, or
                    // `_OTHER`.
                    let code = first_code.or(outcome.error_code).unwrap_or("_OTHER");
                    span.set_attribute(KeyValue::new(attr::ERROR_TYPE, code.to_owned()));
                    span.set_status(Status::error(match outcome.error_message {
                        Some(message) => message.to_owned(),
                        None => format!("{} of {} entries failed", outcome.failed, outcome.total),
                    }));
                    if let Some(measure) = self.measure {
                        let refused = outcome.failed.min(messages);
                        // Entries with no span of their own are counted under the first code.
                        let counted: usize = refused_by_code.iter().map(|(_, n)| n).sum();
                        if counted < refused {
                            match refused_by_code.first_mut() {
                                Some((_, n)) => *n += refused - counted,
                                None => refused_by_code.push((code, refused)),
                            }
                        }
                        measure.finish_batch(messages - refused, &refused_by_code);
                    }
                } else if let Some(measure) = self.measure {
                    measure.finish(None, messages);
                }
            }
            Err(error) => {
                if let Some(measure) = self.measure {
                    measure.finish(Some(error.error_type()), messages);
                }
                for (_, cx) in &self.entries {
                    let entry_span = cx.span();
                    error.record(&entry_span);
                    entry_span.end();
                }
                error.record(&span);
            }
        }
        if let Some(hook) = &self.on_send {
            // The send span's context is current in the hook, so a log line written there
            // carries its ids (`baton::logs`).
            let _current = self.cx.clone().attach();
            hook.call(&span);
        }
        span.end();
    }
}

impl SendSpans<String> {
    /// Ends a batch call whose response names its entries by id (SQS SendMessageBatch, SNS
    /// PublishBatch): `sent` lists the accepted entries with the id the service gave each
    /// message, `failed` the refused ones with their error code and message. An entry in
    /// neither ends with nothing more recorded.
    pub fn finish_by_id<'a, S, F>(self, result: Result<BatchResponse<'a, S, F>, &CallError>)
    where
        S: Iterator<Item = (&'a str, Option<&'a str>)> + Clone,
        F: Iterator<Item = (&'a str, &'a str, Option<&'a str>)> + Clone,
    {
        let response = match result {
            Ok(response) => response,
            Err(error) => return self.finish(Err(error), |_| EntryOutcome::Unreported),
        };
        let failed = response.failed.clone().count();
        let outcome = SendOutcome::new(response.request_id)
            .with_failures(failed, failed + response.sent.clone().count());
        self.finish(Ok(outcome), |id| {
            if let Some((_, message_id)) = response.sent.clone().find(|(ok, _)| *ok == id) {
                EntryOutcome::Sent(message_id)
            } else if let Some((_, code, message)) = response
                .failed
                .clone()
                .find(|(refused, _, _)| *refused == id)
            {
                EntryOutcome::Failed { code, message }
            } else {
                EntryOutcome::Unreported
            }
        });
    }
}

/// What a batch response says of its entries, for [`SendSpans::finish_by_id`].
#[derive(Clone, Debug)]
pub struct BatchResponse<'a, S, F> {
    /// The request id.
    pub request_id: Option<&'a str>,
    /// The accepted entries: (entry id, message id).
    pub sent: S,
    /// The refused entries: (entry id, error code, error message).
    pub failed: F,
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};

    use super::*;

    fn run(
        finish: impl FnOnce(SendSpans<&'static str>),
        entries: &[&'static str],
    ) -> Vec<SpanData> {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = TracerHandle::new(provider.tracer("test"));
        let mut spans = SendSpans::start(
            &tracer,
            MessagingSystem::Sqs,
            "orders".to_owned(),
            "SendMessageBatch",
            Some(entries.len()),
            Some("eu-west-1"),
            &Context::new(),
            [],
        );
        for key in entries {
            let cx = spans.start_entry(&tracer, MessagingSystem::Sqs, "orders".to_owned());
            spans.push_entry(*key, cx);
        }
        finish(spans);
        exporter.get_finished_spans().unwrap()
    }

    fn attribute(span: &SpanData, key: &str) -> Option<String> {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    }

    #[test]
    fn a_batch_ends_each_entry_with_its_own_outcome() {
        let spans = run(
            |spans| {
                let outcome = SendOutcome::new(Some("req-1")).with_failures(1, 3);
                spans.finish(Ok(outcome), |key| match *key {
                    "a" => EntryOutcome::Sent(Some("m-a")),
                    "b" => EntryOutcome::Failed {
                        code: "InvalidParameterValue",
                        message: Some("too long"),
                    },
                    _ => EntryOutcome::Unreported,
                })
            },
            &["a", "b", "c"],
        );
        let [a, b, c, send] = &spans[..] else {
            panic!("four spans expected, got {spans:?}");
        };
        assert_eq!(send.name, "send orders");
        assert_eq!(send.span_kind, SpanKind::Producer);
        assert_eq!(
            attribute(send, attr::AWS_REQUEST_ID).as_deref(),
            Some("req-1")
        );
        assert_eq!(attribute(send, attr::MESSAGING_MESSAGE_ID), None);
        assert_eq!(send.status, Status::error("1 of 3 entries failed"));
        assert_eq!(
            attribute(send, attr::ERROR_TYPE).as_deref(),
            Some("InvalidParameterValue")
        );
        for entry in [a, b, c] {
            assert_eq!(entry.name, "create orders");
            assert_eq!(entry.parent_span_id, send.span_context.span_id());
        }
        // The send span links to each message's creation context, in order.
        let linked: Vec<_> = send.links.iter().map(|l| l.span_context.clone()).collect();
        assert_eq!(linked, [a, b, c].map(|e| e.span_context.clone()).to_vec());
        assert_eq!(
            attribute(a, attr::MESSAGING_MESSAGE_ID).as_deref(),
            Some("m-a")
        );
        assert_eq!(a.status, Status::Unset);
        assert_eq!(
            attribute(b, attr::ERROR_TYPE).as_deref(),
            Some("InvalidParameterValue")
        );
        assert_eq!(b.status, Status::error("too long"));
        assert_eq!(attribute(c, attr::MESSAGING_MESSAGE_ID), None);
        assert_eq!(c.status, Status::Unset);
    }

    #[test]
    fn a_refused_entry_without_a_message_is_described_by_its_code() {
        let spans = run(
            |spans| {
                let outcome = SendOutcome::new(None).with_failures(1, 1);
                spans.finish(Ok(outcome), |_| EntryOutcome::Failed {
                    code: "Throttled",
                    message: None,
                })
            },
            &["a"],
        );
        assert_eq!(spans[0].status, Status::error("Throttled"));
    }

    #[test]
    fn a_single_send_records_its_message_id() {
        let spans = run(
            |spans| {
                let outcome = SendOutcome::new(Some("req-1")).with_message_id(Some("m-1"));
                spans.finish(Ok(outcome), |_| EntryOutcome::Unreported)
            },
            &[],
        );
        let [send] = &spans[..] else {
            panic!("one span expected, got {spans:?}");
        };
        assert_eq!(
            attribute(send, attr::MESSAGING_MESSAGE_ID).as_deref(),
            Some("m-1")
        );
        assert_eq!(send.status, Status::Unset);
    }

    #[test]
    fn an_error_ends_every_span_in_error() {
        let spans = run(
            |spans| {
                let error = CallError::new("access denied")
                    .with_code("AccessDenied")
                    .with_request_id("req-9");
                spans.finish(Err(&error), |_| EntryOutcome::Sent(Some("never")))
            },
            &["a", "b"],
        );
        assert_eq!(spans.len(), 3);
        for span in &spans {
            assert_eq!(span.status, Status::error("access denied"));
            assert_eq!(
                attribute(span, attr::ERROR_TYPE).as_deref(),
                Some("AccessDenied")
            );
            assert_eq!(
                attribute(span, attr::AWS_REQUEST_ID).as_deref(),
                Some("req-9")
            );
            assert_eq!(attribute(span, attr::MESSAGING_MESSAGE_ID), None);
        }
    }

    #[test]
    fn on_send_sees_the_send_span_with_its_outcome_before_it_ends() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let hook = {
            let seen = seen.clone();
            OnSend::new(move |span| {
                span.set_attribute(KeyValue::new("shop.tenant", "acme"));
                seen.lock().unwrap().push(span.span_context().clone());
                // The send span is current in the hook.
                assert_eq!(
                    Context::current().span().span_context(),
                    span.span_context()
                );
            })
        };
        let spans = run(
            |spans| {
                spans
                    .with_on_send(Some(hook))
                    .finish(Ok(SendOutcome::new(Some("req-1"))), |_| {
                        EntryOutcome::Sent(None)
                    })
            },
            &["a"],
        );
        let send = spans.iter().find(|s| s.name == "send orders").unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "called once, for the send span only");
        assert_eq!(seen[0], send.span_context);
        assert_eq!(attribute(send, "shop.tenant").as_deref(), Some("acme"));
        assert_eq!(attribute(send, "aws.request_id").as_deref(), Some("req-1"));
    }

    #[test]
    fn a_panicking_on_send_hook_still_lets_the_span_end() {
        let spans = run(
            |spans| {
                spans
                    .with_on_send(Some(OnSend::new(|_| panic!("hook bug"))))
                    .finish(Err(&CallError::new("refused")), |_| {
                        EntryOutcome::Unreported
                    })
            },
            &[],
        );
        let send = spans.iter().find(|s| s.name == "send orders").unwrap();
        assert!(matches!(send.status, Status::Error { .. }));
    }
}
