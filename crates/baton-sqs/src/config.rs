//! What the SQS middleware does, shared by the Tower layer and the SDK interceptor.

use aws_sdk_sqs::types::{Message, SendMessageBatchRequestEntry};
use baton::driver::Common;
use baton::driver::Probed;
use opentelemetry::Context;

use crate::extract::SqsDelivery;
use crate::{SqsInterceptor, SqsLayer, SqsService, TracedSqs};

/// Settings of Baton's SQS propagation; build the Tower [`layer`](Self::layer) or the SDK
/// [`interceptor`](Self::interceptor) from it.
///
/// The defaults: spans from the global tracer provider, `AWSTraceHeader` only (no W3C message
/// attributes), and processing spans that continue the producer's trace
/// ([`LinkPolicy::Parent`](baton::LinkPolicy::Parent)).
///
/// ```
/// use baton::LinkPolicy;
/// use baton_sqs::SqsPropagation;
///
/// let propagation = SqsPropagation::new()
///     .with_w3c_message_attributes(true)
///     .with_link_policy(LinkPolicy::Link);
/// let interceptor = propagation.interceptor();
/// # drop(interceptor);
/// ```
#[derive(Clone, Debug)]
pub struct SqsPropagation {
    pub(crate) common: Common,
    pub(crate) w3c_attributes: bool,
    pub(crate) envelopes: bool,
    pub(crate) settle: bool,
    pub(crate) facts: bool,
    pub(crate) attribute_carriers: bool,
}

impl Default for SqsPropagation {
    fn default() -> Self {
        SqsPropagation {
            common: Common::default(),
            w3c_attributes: false,
            envelopes: true,
            settle: true,
            facts: false,
            attribute_carriers: true,
        }
    }
}

impl SqsPropagation {
    /// The defaults (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    baton::common_builders!(
        common,
        "the largest message (body and attributes, in bytes) the target queues accept, their \
         `MaximumMessageSize`. Baton never adds the W3C attributes to a message they would push \
         over it"
    );

    /// Whether [`start_process_span`](Self::start_process_span) and the `receive` span's links
    /// look for the producer's context in an EventBridge or SNS envelope in the body when the
    /// message has no SQS carrier (default: yes).
    pub fn with_envelope_extraction(mut self, enabled: bool) -> Self {
        self.envelopes = enabled;
        self
    }

    /// Whether process spans record the delivery facts (default: no): how long the message
    /// waited in the queue (`baton.messaging.time_in_queue_ms`, from `SentTimestamp`), how many
    /// times it was received (`baton.messaging.receive_count`: above 1 is a redelivery), and
    /// its FIFO group (`baton.aws.sqs.message_group_id`). When on, ReceiveMessage also asks SQS
    /// for those three system attributes, so a default receive stays as lean as before.
    pub fn with_delivery_facts(mut self, enabled: bool) -> Self {
        self.facts = enabled;
        self
    }

    /// Whether ReceiveMessage also asks SQS for the message attributes producers carry a trace
    /// in ([`TRACE_ATTRIBUTE_NAMES`](crate::TRACE_ATTRIBUTE_NAMES): W3C `traceparent` and
    /// `tracestate`, `X-Amzn-Trace-Id` in two spellings, `AWSTraceHeader`) besides the
    /// `AWSTraceHeader` system attribute (default: yes).
    ///
    /// Turn it off when every producer writes `AWSTraceHeader`, as AWS services, the X-Ray
    /// SDKs and Baton itself do. Each ReceiveMessage request is then about 100 bytes shorter,
    /// bytes the SDK would serialize and hash to sign the request: in `docs/BENCHMARKS.md`
    /// that is a quarter to a third of what Baton adds to a receive. A message whose producer
    /// wrote only message attributes (OpenTelemetry JS with its default propagator;
    /// OpenTelemetry instrumentations with the X-Ray propagator, which write
    /// `X-Amzn-Trace-Id`) then gets no link to it, and its process span starts a new trace,
    /// unless the call asked for those attributes itself or an SNS or EventBridge envelope in
    /// the body carries the trace.
    ///
    /// ```
    /// use baton_sqs::SqsPropagation;
    ///
    /// // Every producer of these queues writes AWSTraceHeader.
    /// let propagation = SqsPropagation::new().with_message_attribute_carriers(false);
    /// # drop(propagation);
    /// ```
    pub fn with_message_attribute_carriers(mut self, enabled: bool) -> Self {
        self.attribute_carriers = enabled;
        self
    }

    /// Whether DeleteMessage(Batch) and ChangeMessageVisibility(Batch) get a CLIENT
    /// `settle {queue}` span (default: yes). Only calls made inside a trace get one: a delete
    /// outside any span would otherwise start a new trace each time.
    pub fn with_settle_spans(mut self, enabled: bool) -> Self {
        self.settle = enabled;
        self
    }

    /// Also writes the W3C `traceparent` / `tracestate` message attributes on send, for
    /// consumers that read only those (OpenTelemetry JS, for one). Off by default: they count
    /// against the 10 message attributes SQS allows, and Baton never pushes a message over
    /// that limit or over the size limit (it skips the attributes and says so in a `tracing`
    /// event instead).
    pub fn with_w3c_message_attributes(mut self, enabled: bool) -> Self {
        self.w3c_attributes = enabled;
        self
    }

    /// The Tower form in one call: `client` as an [`SqsService`](crate::SqsService) wrapped in
    /// this propagation, with `cloud.region` taken from the client's configuration and
    /// `server.address` from where its calls go (see [`baton::driver::ServerProbe`]).
    pub fn service(&self, client: aws_sdk_sqs::Client) -> TracedSqs<Probed<SqsService>> {
        let mut settings = self.clone();
        let service = baton::tower_service!(aws_sdk_sqs, client, settings.common, SqsService::new);
        TracedSqs::new(service, settings)
    }

    /// The SDK interceptor with these settings.
    pub fn interceptor(&self) -> SqsInterceptor {
        SqsInterceptor::new(self.clone())
    }

    /// The Tower layer with these settings.
    pub fn layer(&self) -> SqsLayer {
        SqsLayer::new(self.clone())
    }

    /// Gives one SendMessageBatch entry the trace context `cx` — for a producer that batches
    /// messages from different requests, so each message continues its own request's trace.
    /// Writes `AWSTraceHeader` (and the W3C attributes if configured, within the limits); the
    /// middleware then keeps these, as it keeps any header the caller set, and opens no
    /// `create` span for the entry.
    ///
    /// ```
    /// use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
    /// use baton_sqs::SqsPropagation;
    /// use opentelemetry::Context;
    ///
    /// let propagation = SqsPropagation::new();
    /// let mut entry = SendMessageBatchRequestEntry::builder().id("1").message_body("…").build()?;
    /// let request_context = Context::current(); // the context of the request this entry belongs to
    /// propagation.inject_entry_context(&request_context, &mut entry);
    /// # Ok::<(), aws_sdk_sqs::error::BuildError>(())
    /// ```
    pub fn inject_entry_context(&self, cx: &Context, entry: &mut SendMessageBatchRequestEntry) {
        crate::send::inject_entry(self, cx, entry);
    }

    /// Starts the processing span of a received `message` from `queue` under the configured
    /// link policy, and returns the context with that span active. Attach it while the
    /// message is handled and end the span when done:
    ///
    /// ```no_run
    /// # fn handle(message: aws_sdk_sqs::types::Message) {
    /// use opentelemetry::trace::TraceContextExt;
    ///
    /// let cx = baton_sqs::SqsPropagation::new().start_process_span(&message, "orders");
    /// {
    ///     let _active = cx.clone().attach();
    ///     // … handle the message …
    /// }
    /// cx.span().end();
    /// # }
    /// ```
    ///
    /// The producer's context is read as [`extract_message`](crate::extract_message) reads it:
    /// the SQS carriers, then an EventBridge or SNS envelope in the body (unless turned off with
    /// [`with_envelope_extraction`](Self::with_envelope_extraction)).
    pub fn start_process_span(&self, message: &Message, queue: &str) -> Context {
        let delivery = SqsDelivery::new(message)
            .with_envelope_extraction(self.envelopes)
            .with_delivery_facts(self.facts);
        // The new span takes the place of the producer's remote span; its pass-on fields stay.
        self.common.start_delivery(&delivery, queue)
    }

    /// [`start_process_span`](Self::start_process_span) inside the span active in `enclosing`
    /// (the batch's, a Lambda invocation's): see
    /// [`Common::start_delivery_within`](baton::driver::Common::start_delivery_within).
    pub fn start_process_span_within(
        &self,
        message: &Message,
        queue: &str,
        enclosing: &Context,
    ) -> Context {
        let delivery = SqsDelivery::new(message)
            .with_envelope_extraction(self.envelopes)
            .with_delivery_facts(self.facts);
        self.common
            .start_delivery_within(&delivery, queue, enclosing)
    }
}
