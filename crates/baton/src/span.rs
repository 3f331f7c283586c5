//! Messaging spans: producer (`send`), consumer (`receive`) and `process` spans with the
//! OpenTelemetry messaging semantic-convention attributes, and the [`LinkPolicy`] that decides
//! how a processing span relates to its producer.

use std::borrow::Cow;

use opentelemetry::baggage::{BaggageExt, KeyValueMetadata};
use opentelemetry::trace::{Link, SpanBuilder, SpanContext, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, Value};

use crate::consts::attr;
use crate::propagator::PassOnFields;

/// The messaging system a span talks to (`messaging.system`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessagingSystem {
    /// Amazon SQS (`aws_sqs`).
    Sqs,
    /// Amazon SNS (`aws.sns`, the conventions' value since v1.37; SQS keeps `aws_sqs`).
    Sns,
    /// Amazon EventBridge (`aws_eventbridge`: the conventions define no value for it; Baton's,
    /// in the form of `aws_sqs`).
    EventBridge,
    /// AWS Step Functions (`aws_stepfunctions`: no value defined by the conventions either).
    StepFunctions,
    /// Any other system, by its `messaging.system` value: how a crate outside Baton describes
    /// a service Baton has no variant for, without a new release of the core. Use the
    /// semantic conventions' value where one exists; an `aws_` prefix makes the X-Ray exporter
    /// treat the span as a call to that AWS service (`aws_kinesis` shows as `Kinesis`).
    ///
    /// ```
    /// use baton::{MessagingSpan, MessagingSystem};
    ///
    /// let kinesis = MessagingSystem::Other("aws_kinesis");
    /// assert_eq!(kinesis.as_str(), "aws_kinesis");
    /// let span = MessagingSpan::send(kinesis, "clicks");
    /// # drop(span);
    /// ```
    Other(&'static str),
}

impl MessagingSystem {
    /// The `messaging.system` value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessagingSystem::Sqs => "aws_sqs",
            MessagingSystem::Sns => "aws.sns",
            MessagingSystem::EventBridge => "aws_eventbridge",
            MessagingSystem::StepFunctions => "aws_stepfunctions",
            MessagingSystem::Other(system) => system,
        }
    }
}

/// The kind of messaging operation (`messaging.operation.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Creating one message of a batch, to give it a context of its own (a PRODUCER span).
    Create,
    /// Sending one or more messages (a PRODUCER span).
    Send,
    /// Receiving a batch of messages (a CLIENT span linked to each producer: the conventions
    /// made receive CLIENT in v1.28; it was CONSUMER before).
    Receive,
    /// Processing one message (a CONSUMER span under, or linked to, its producer).
    Process,
    /// Settling messages: deleting them, or changing their visibility (a CLIENT span).
    Settle,
}

impl Operation {
    /// The `messaging.operation.type` value, also the first word of the span name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Send => "send",
            Operation::Receive => "receive",
            Operation::Process => "process",
            Operation::Settle => "settle",
        }
    }

    fn kind(self) -> SpanKind {
        match self {
            Operation::Create | Operation::Send => SpanKind::Producer,
            Operation::Receive | Operation::Settle => SpanKind::Client,
            Operation::Process => SpanKind::Consumer,
        }
    }
}

/// How a processing span relates to the producer of its message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LinkPolicy {
    /// Continue the producer's trace: the producer span is the parent. One request stays one
    /// trace in X-Ray. The default.
    #[default]
    Parent,
    /// Start a new trace with a span link to the producer: for fan-in, where one process span
    /// stands for messages of many traces.
    Link,
}

/// The attributes a messaging span is made with room for.
const ATTRIBUTE_CAPACITY: usize = 12;

/// Where [`MessagingSpan::new`] puts `messaging.operation.name`.
const OPERATION_NAME_AT: usize = 2;

/// A messaging span about to start.
///
/// ```
/// use baton::{MessagingSpan, MessagingSystem};
/// use opentelemetry::{global, Context};
///
/// let tracer = global::tracer("example");
/// let span = MessagingSpan::send(MessagingSystem::Sqs, "orders")
///     .operation_name("SendMessage")
///     .region("eu-west-1")
///     .start(&tracer, &Context::current());
/// # drop(span);
/// ```
#[derive(Clone, Debug)]
#[must_use = "a MessagingSpan does nothing until started"]
pub struct MessagingSpan {
    operation: Operation,
    /// `{operation} {destination}`, made once: the destination itself moves into its
    /// attribute rather than being copied.
    name: String,
    attributes: Vec<KeyValue>,
    links: Vec<Link>,
    start_time: Option<std::time::SystemTime>,
}

impl MessagingSpan {
    /// A span for `operation` on `destination` of `system`.
    pub fn new(
        system: MessagingSystem,
        operation: Operation,
        destination: impl Into<Cow<'static, str>>,
    ) -> Self {
        let destination = destination.into();
        let verb = operation.as_str();
        let mut name = String::with_capacity(verb.len() + 1 + destination.len());
        name.push_str(verb);
        name.push(' ');
        name.push_str(&destination);
        // Room for what the middleware adds (operation name, region, batch size, the
        // service's own, then server, message id, request id) without growing the vector on
        // the way, after the span started too (the span keeps this vector).
        let mut attributes = Vec::with_capacity(ATTRIBUTE_CAPACITY);
        attributes.extend([
            KeyValue::new(attr::MESSAGING_SYSTEM, system.as_str()),
            KeyValue::new(attr::MESSAGING_OPERATION_TYPE, verb),
            // Required on every messaging span; the service's own operation name replaces it
            // where there is one (see `operation_name`, which finds it at this index).
            KeyValue::new(attr::MESSAGING_OPERATION_NAME, verb),
            KeyValue::new(attr::MESSAGING_DESTINATION_NAME, destination),
        ]);
        MessagingSpan {
            operation,
            name,
            attributes,
            links: Vec::new(),
            start_time: None,
        }
    }

    /// A PRODUCER span `send {destination}`.
    pub fn send(system: MessagingSystem, destination: impl Into<Cow<'static, str>>) -> Self {
        Self::new(system, Operation::Send, destination)
    }

    /// A PRODUCER span `create {destination}` for one message of a batch send.
    pub fn create(system: MessagingSystem, destination: impl Into<Cow<'static, str>>) -> Self {
        Self::new(system, Operation::Create, destination)
    }

    /// A CLIENT span `receive {destination}`; add the producers with [`link`](Self::link).
    pub fn receive(system: MessagingSystem, destination: impl Into<Cow<'static, str>>) -> Self {
        Self::new(system, Operation::Receive, destination)
    }

    /// A CLIENT span `settle {destination}` (a delete or a visibility change); link the
    /// messages it settles with [`link`](Self::link).
    pub fn settle(system: MessagingSystem, destination: impl Into<Cow<'static, str>>) -> Self {
        Self::new(system, Operation::Settle, destination)
    }

    /// A CONSUMER span `process {destination}`; start it with
    /// [`start_process`](Self::start_process).
    pub fn process(system: MessagingSystem, destination: impl Into<Cow<'static, str>>) -> Self {
        Self::new(system, Operation::Process, destination)
    }

    /// Adds an attribute.
    pub fn attribute(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.attributes.push(KeyValue::new(key, value));
        self
    }

    /// Adds each of `attributes` (see [`attribute`](Self::attribute)).
    pub fn attributes(mut self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        self.attributes.extend(attributes);
        self
    }

    /// `messaging.operation.name`, the service's own operation name (`SendMessage`, `Publish`),
    /// in place of the default, the operation type (`send`, `create`, `receive`, `process`).
    pub fn operation_name(mut self, name: &'static str) -> Self {
        // `new` put the default at OPERATION_NAME_AT, and attributes are only ever added
        // after it; the value is replaced in place.
        let slot = &mut self.attributes[OPERATION_NAME_AT];
        debug_assert_eq!(slot.key.as_str(), attr::MESSAGING_OPERATION_NAME);
        slot.value = Value::from(name);
        self
    }

    /// `messaging.message.id`.
    pub fn message_id(self, id: impl Into<String>) -> Self {
        self.attribute(attr::MESSAGING_MESSAGE_ID, id.into())
    }

    /// The size of the one message's body, in bytes (`messaging.message.body.size`).
    pub fn body_size(mut self, bytes: usize) -> Self {
        self.attributes.push(body_size(bytes));
        self
    }

    /// The host the call goes to (`server.address`), and its port (`server.port`) when it is
    /// not the scheme's default.
    pub fn server(self, address: impl Into<String>, port: Option<u16>) -> Self {
        let span = self.attribute(attr::SERVER_ADDRESS, address.into());
        match port {
            Some(port) => span.attribute(attr::SERVER_PORT, i64::from(port)),
            None => span,
        }
    }

    /// `messaging.batch.message_count` (for batch operations only).
    pub fn batch_count(self, count: usize) -> Self {
        self.attribute(
            attr::MESSAGING_BATCH_MESSAGE_COUNT,
            i64::try_from(count).unwrap_or(i64::MAX),
        )
    }

    /// `baton.messaging.time_in_queue_ms`: how long ago `sent` (an RFC 3339 timestamp, as SNS
    /// and EventBridge date their envelopes) was; nothing when it is missing or does not parse.
    pub fn time_in_queue_since(self, sent: Option<&str>) -> Self {
        match sent.and_then(|t| crate::time_in_queue_ms(t, std::time::SystemTime::now())) {
            Some(ms) => self.attribute(attr::BATON_TIME_IN_QUEUE_MS, ms),
            None => self,
        }
    }

    /// `cloud.region`.
    pub fn region(self, region: impl Into<String>) -> Self {
        self.attribute(attr::CLOUD_REGION, region.into())
    }

    /// Sets the start time (for spans created after the fact, such as a receive span that
    /// needs the response to know its links).
    pub fn start_time(mut self, at: std::time::SystemTime) -> Self {
        self.start_time = Some(at);
        self
    }

    /// Adds a span link to `producer` (skipped if the context is invalid).
    pub fn link(mut self, producer: &SpanContext) -> Self {
        if producer.is_valid() {
            self.links.push(Link::with_context(producer.clone()));
        }
        self
    }

    /// Adds a span link to each valid producer of `producers` (see [`link`](Self::link)),
    /// making room for all of them at once.
    pub fn links(mut self, producers: impl IntoIterator<Item = SpanContext>) -> Self {
        let producers = producers.into_iter();
        let (low, high) = producers.size_hint();
        self.links.reserve(high.unwrap_or(low));
        self.links.extend(
            producers
                .filter(SpanContext::is_valid)
                .map(Link::with_context),
        );
        self
    }

    /// The span name: `{operation} {destination}`.
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// The OpenTelemetry builder for this span.
    pub fn builder(self) -> SpanBuilder {
        let mut builder = SpanBuilder::from_name(self.name)
            .with_kind(self.operation.kind())
            .with_attributes(self.attributes);
        if !self.links.is_empty() {
            builder = builder.with_links(self.links);
        }
        if let Some(at) = self.start_time {
            builder = builder.with_start_time(at);
        }
        builder
    }

    /// Starts the span as a child of the active span of `parent` (or as a root if none).
    pub fn start<T: Tracer>(self, tracer: &T, parent: &Context) -> T::Span {
        tracer.build_with_context(self.builder(), parent)
    }

    /// Starts a processing span for a message whose producer context is `producer` (as
    /// extracted from the message), following `policy`:
    /// - [`LinkPolicy::Parent`]: a child of the producer span, linked to nothing;
    /// - [`LinkPolicy::Link`]: the root of a new trace, with a span link to the producer.
    ///
    /// Either way the X-Ray pass-on fields and the baggage of `producer` stay in the context
    /// the span is started from. A `producer` without a valid span context starts
    /// a new trace.
    pub fn start_process<T: Tracer>(
        mut self,
        tracer: &T,
        producer: &Context,
        policy: LinkPolicy,
    ) -> T::Span {
        match policy {
            LinkPolicy::Parent => self.start(tracer, producer),
            LinkPolicy::Link => {
                let producer_span = producer.span();
                self = self.link(producer_span.span_context());
                self.start(tracer, &without_span(producer))
            }
        }
    }
}

/// `messaging.message.body.size` of a body of `bytes`.
pub(crate) fn body_size(bytes: usize) -> KeyValue {
    KeyValue::new(
        attr::MESSAGING_MESSAGE_BODY_SIZE,
        i64::try_from(bytes).unwrap_or(i64::MAX),
    )
}

/// `cx` without its span: a fresh context carrying over the values Baton knows to belong to the
/// request rather than to the span. (An active but invalid span would not do: OpenTelemetry's
/// `Sampler::ParentBased` reads it as an unsampled parent and drops the new trace.)
fn without_span(cx: &Context) -> Context {
    let mut detached = Context::new();
    if let Some(fields) = cx.get::<PassOnFields>() {
        detached = detached.with_value(fields.clone());
    }
    let baggage = cx.baggage();
    if !baggage.is_empty() {
        detached = detached.with_baggage(
            baggage
                .iter()
                .map(|(k, (v, m))| KeyValueMetadata::new(k.clone(), v.clone(), m.clone())),
        );
    }
    detached
}
