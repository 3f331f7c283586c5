//! The consumer side: the event envelope EventBridge delivers to its targets, and the trace
//! context in its `detail.traceHeader`.

use baton::{Delivery, LinkPolicy, MessagingSpan, MessagingSystem, TracerHandle, extract_header};
use opentelemetry::Context;
use serde::Deserialize;

/// The field Baton adds to an event's JSON `detail` (what AWS's own integrations use).
pub const DETAIL_TRACE_FIELD: &str = "traceHeader";

/// An EventBridge event as targets receive it (an SQS message body, a Lambda event).
///
/// ```
/// use baton_eventbridge::EventEnvelope;
/// use opentelemetry::trace::TraceContextExt;
///
/// let event = EventEnvelope::parse(r#"{
///     "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
///     "detail-type": "OrderPlaced", "source": "shop.orders",
///     "account": "111122223333", "time": "2026-11-25T12:00:00Z", "region": "eu-west-1",
///     "resources": [],
///     "detail": {"traceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", "order": 42}
/// }"#)?;
/// assert_eq!(event.detail_type.as_deref(), Some("OrderPlaced"));
/// assert_eq!(
///     event.producer_context().span().span_context().span_id().to_string(),
///     "53995c3f42cd8ad8"
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct EventEnvelope {
    /// Envelope version (`"0"`).
    pub version: Option<String>,
    /// The event id EventBridge assigned.
    pub id: Option<String>,
    /// `detail-type`.
    #[serde(rename = "detail-type")]
    pub detail_type: Option<String>,
    /// `source`.
    pub source: Option<String>,
    /// The account that sent the event.
    pub account: Option<String>,
    /// When the event happened (RFC 3339).
    pub time: Option<String>,
    /// The region of the bus.
    pub region: Option<String>,
    /// ARNs the event concerns.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The event's own content, as sent.
    #[serde(default)]
    pub detail: serde_json::Value,
}

impl EventEnvelope {
    /// Parses an event envelope (JSON).
    pub fn parse(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The trace header in `detail.traceHeader`, if the detail is an object that has one.
    pub fn trace_header(&self) -> Option<&str> {
        self.detail.get(DETAIL_TRACE_FIELD)?.as_str()
    }

    /// The producer's context from `detail.traceHeader`; an empty context (a new trace) when
    /// there is none, and also when it is malformed (with a `tracing` event).
    pub fn producer_context(&self) -> Context {
        match self.trace_header() {
            Some(header) => extract_header(&Context::new(), header, "detail.traceHeader"),
            None => Context::new(),
        }
    }

    /// Starts the processing span of this event with `tracer` under `policy` and returns the
    /// context with that span active; `destination` names what delivered it (the queue, or the
    /// rule). End the span when the event is handled. Needs no AWS SDK: this is what
    /// `baton-worker`'s EventBridge Lambda adapter uses.
    pub fn start_process_span(
        &self,
        tracer: &TracerHandle,
        policy: LinkPolicy,
        destination: &str,
    ) -> Context {
        tracer.start_delivery(self, destination, policy)
    }
}

impl Delivery for EventEnvelope {
    fn system(&self) -> MessagingSystem {
        MessagingSystem::EventBridge
    }

    fn message_id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The context in `detail.traceHeader` (see [`EventEnvelope::producer_context`]).
    fn producer_context(&self) -> Context {
        EventEnvelope::producer_context(self)
    }

    /// How long ago the event's `time` was, as `baton.messaging.time_in_queue_ms`: to the
    /// second, as EventBridge dates events (and a producer may set `time` itself); nothing
    /// when it is missing or does not parse.
    fn delivery_facts(&self, span: MessagingSpan) -> MessagingSpan {
        span.time_in_queue_since(self.time.as_deref())
    }
}

/// The producer context of an event given as JSON text (say, an SQS message body): an empty
/// context if the text is not an event envelope (with a `tracing` event) or carries none.
pub fn producer_context_from_json(json: &str) -> Context {
    match EventEnvelope::parse(json) {
        Ok(event) => event.producer_context(),
        Err(error) => {
            tracing::warn!(
                target: "baton::eventbridge",
                %error,
                "not an EventBridge event envelope; it starts a new trace"
            );
            Context::new()
        }
    }
}
