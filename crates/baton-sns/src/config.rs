//! What the SNS middleware does, shared by the Tower layer and the interceptor.

use baton::{LinkPolicy, MessagingSpan, MessagingSystem, TracerHandle};
use opentelemetry::Context;

use crate::envelope::Notification;
use crate::interceptor::SnsInterceptor;
use crate::service::PropagationLayer;

/// Settings of Baton's SNS propagation.
///
/// Every Publish and PublishBatch gets a PRODUCER span `send {topic}`. Its context travels in
/// the `X-Amzn-Trace-Id` request header, which SNS hands to SQS subscribers as their
/// `AWSTraceHeader` (raw delivery and envelope alike); and, by default, as an
/// `X-Amzn-Trace-Id` message attribute on each message, for consumers that read the
/// notification envelope (HTTP, Lambda) — each batch entry with its own `create` span's
/// context. The attribute is never added to a message that has 10 already.
#[derive(Clone, Debug)]
pub struct SnsPropagation {
    pub(crate) tracer: TracerHandle,
    pub(crate) on_send: Option<baton::OnSend>,
    pub(crate) message_attribute: bool,
    pub(crate) link_policy: LinkPolicy,
    pub(crate) env: fn(&str) -> Option<String>,
    pub(crate) max_message_bytes: usize,
}

impl Default for SnsPropagation {
    fn default() -> Self {
        SnsPropagation {
            tracer: TracerHandle::default(),
            on_send: None,
            message_attribute: true,
            link_policy: LinkPolicy::default(),
            env: baton::process_env,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// The message size Baton assumes a topic accepts unless told otherwise: 256 KiB, SNS's
/// default `MaximumMessageSize` (a topic may be set higher), so that Baton's attribute never
/// pushes a message over the limit of a topic left at the default. See
/// [`SnsPropagation::with_max_message_bytes`].
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;

impl SnsPropagation {
    /// The defaults (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts Baton's spans with `tracer` instead of the global tracer provider's.
    pub fn with_tracer(mut self, tracer: TracerHandle) -> Self {
        self.tracer = tracer;
        self
    }

    /// Calls `hook` with each `send` span just before it ends, after Baton recorded the call's
    /// outcome on it (request id, message id, error): read its ids to log them, or add
    /// attributes of your own. Both forms (interceptor and Tower) call it.
    ///
    /// ```
    /// use opentelemetry::KeyValue;
    ///
    /// let propagation = baton_sns::SnsPropagation::new().with_on_send(|span| {
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

    /// Whether to add the `X-Amzn-Trace-Id` message attribute (default: yes).
    pub fn with_message_attribute(mut self, enabled: bool) -> Self {
        self.message_attribute = enabled;
        self
    }

    /// The largest message the topic accepts (its `MaximumMessageSize`; default
    /// [`DEFAULT_MAX_MESSAGE_BYTES`]), which is also the limit of a PublishBatch request as a
    /// whole. Baton adds its message attribute only while the message stays within it.
    pub fn with_max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// How processing spans relate to the producer (see [`LinkPolicy`]).
    pub fn with_link_policy(mut self, policy: LinkPolicy) -> Self {
        self.link_policy = policy;
        self
    }

    /// Reads environment variables with `env` instead of the process environment (for tests);
    /// inside Lambda, the invocation's `Lineage` is passed on.
    pub fn with_environment(mut self, env: fn(&str) -> Option<String>) -> Self {
        self.env = env;
        self
    }

    /// The SDK interceptor with these settings.
    pub fn interceptor(&self) -> SnsInterceptor {
        SnsInterceptor::new(self.clone())
    }

    /// The Tower layer with these settings.
    pub fn layer(&self) -> PropagationLayer {
        PropagationLayer::new(self.clone())
    }

    /// Starts the processing span of a received notification under the configured link
    /// policy; returns the context with it active. End the span when done.
    pub fn start_process_span(&self, notification: &Notification, destination: &str) -> Context {
        let producer = notification.producer_context();
        let mut span = MessagingSpan::process(MessagingSystem::Sns, destination.to_owned());
        if let Some(id) = &notification.message_id {
            span = span.message_id(id.clone());
        }
        self.tracer.start_process(span, &producer, self.link_policy)
    }
}
