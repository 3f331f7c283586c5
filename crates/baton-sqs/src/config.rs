//! What the SQS middleware does, shared by the Tower layer and the SDK interceptor.

use aws_sdk_sqs::types::{Message, SendMessageBatchRequestEntry};
use baton::{LinkPolicy, MessagingSpan, MessagingSystem, TracerHandle};
use opentelemetry::Context;

use crate::extract::extract_message;
use crate::interceptor::SqsInterceptor;
use crate::service::PropagationLayer;

/// Settings of Baton's SQS propagation; build the Tower [`layer`](Self::layer) or the SDK
/// [`interceptor`](Self::interceptor) from it.
///
/// The defaults: spans from the global tracer provider, `AWSTraceHeader` only (no W3C message
/// attributes), and processing spans that continue the producer's trace
/// ([`LinkPolicy::Parent`]).
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
    pub(crate) tracer: TracerHandle,
    pub(crate) on_send: Option<baton::OnSend>,
    pub(crate) w3c_attributes: bool,
    pub(crate) link_policy: LinkPolicy,
    pub(crate) envelopes: bool,
    pub(crate) max_message_bytes: usize,
    pub(crate) env: fn(&str) -> Option<String>,
    pub(crate) region: Option<String>,
}

impl Default for SqsPropagation {
    fn default() -> Self {
        SqsPropagation {
            tracer: TracerHandle::default(),
            on_send: None,
            w3c_attributes: false,
            link_policy: LinkPolicy::default(),
            envelopes: true,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            env: baton::process_env,
            region: None,
        }
    }
}

/// The message size Baton assumes a queue accepts unless told otherwise: 256 KiB, SQS's
/// maximum (and default) before it was raised to 1 MiB, so that Baton's additions never push a
/// message over the limit of a queue still set to it. Set the queue's real limit (its
/// `MaximumMessageSize`, which may also be lower) with
/// [`SqsPropagation::with_max_message_bytes`].
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;

impl SqsPropagation {
    /// The defaults (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts Baton's spans with `tracer` instead of the global tracer provider's.
    pub fn with_tracer(mut self, tracer: TracerHandle) -> Self {
        self.tracer = tracer;
        self
    }

    /// Whether [`start_process_span`](Self::start_process_span) and the `receive` span's links
    /// look for the producer's context in an EventBridge or SNS envelope in the body when the
    /// message has no SQS carrier (default: yes).
    pub fn with_envelope_extraction(mut self, enabled: bool) -> Self {
        self.envelopes = enabled;
        self
    }

    /// Calls `hook` with each `send` span just before it ends, after Baton recorded the call's
    /// outcome on it (request id, message id, error): read its ids to log them, or add
    /// attributes of your own. Both forms (interceptor and Tower) call it.
    ///
    /// ```
    /// use opentelemetry::KeyValue;
    ///
    /// let propagation = baton_sqs::SqsPropagation::new().with_on_send(|span| {
    ///     span.set_attribute(KeyValue::new("shop.tenant", "acme"));
    ///     tracing::info!(span_id = %span.span_context().span_id(), "sent");
    /// });
    /// # drop(propagation);
    /// ```
    pub fn with_on_send(
        mut self,
        hook: impl Fn(&opentelemetry::trace::SpanRef<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.on_send = Some(baton::OnSend::new(hook));
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

    /// How processing spans relate to the producer (see [`LinkPolicy`]).
    pub fn with_link_policy(mut self, policy: LinkPolicy) -> Self {
        self.link_policy = policy;
        self
    }

    /// The largest message (body and attributes, in bytes) the target queues accept — their
    /// `MaximumMessageSize`. Baton never adds the W3C attributes to a message they would push
    /// over it. Default [`DEFAULT_MAX_MESSAGE_BYTES`]; clamped to 1 KiB ..= 1 MiB.
    pub fn with_max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes.clamp(1024, crate::limits::MAX_MESSAGE_BYTES);
        self
    }

    /// Reads environment variables with `env` instead of the process environment (for tests).
    /// Baton reads `AWS_LAMBDA_FUNCTION_NAME` and `_X_AMZN_TRACE_ID`: inside Lambda, the
    /// invocation's `Lineage` goes into each `AWSTraceHeader` that has none of its own, so that
    /// Lambda's recursive-loop detection keeps working.
    pub fn with_environment(mut self, env: fn(&str) -> Option<String>) -> Self {
        self.env = env;
        self
    }

    /// The region recorded on spans as `cloud.region`. The interceptor reads it from the SDK
    /// configuration by itself; the Tower layer cannot see the client it wraps, so
    /// [`service`](Self::service) sets it from the client, or set it here.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// The Tower form in one call: `client` as an [`SqsService`](crate::SqsService) wrapped in
    /// this propagation, with `cloud.region` taken from the client's configuration.
    pub fn service(&self, client: aws_sdk_sqs::Client) -> crate::Propagation<crate::SqsService> {
        let mut config = self.clone();
        if config.region.is_none() {
            config.region = client.config().region().map(|r| r.as_ref().to_owned());
        }
        crate::Propagation::new(crate::SqsService::new(client), config)
    }

    /// The configured link policy.
    pub fn link_policy(&self) -> LinkPolicy {
        self.link_policy
    }

    /// The SDK interceptor with these settings.
    pub fn interceptor(&self) -> SqsInterceptor {
        SqsInterceptor::new(self.clone())
    }

    /// The Tower layer with these settings.
    pub fn layer(&self) -> PropagationLayer {
        PropagationLayer::new(self.clone())
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
        let (producer, _) = extract_message(message, self.envelopes);
        let mut span = MessagingSpan::process(MessagingSystem::Sqs, queue.to_owned());
        if let Some(id) = &message.message_id {
            span = span.message_id(id.clone());
        }
        // The new span takes the place of the producer's remote span; its pass-on fields stay.
        self.tracer.start_process(span, &producer, self.link_policy)
    }
}
