//! What the EventBridge middleware does, shared by the Tower layer and the SDK interceptor.

use baton::{LinkPolicy, TracerHandle};
use opentelemetry::Context;

use crate::envelope::EventEnvelope;
use crate::interceptor::EventBridgeInterceptor;
use crate::service::PropagationLayer;

/// Settings of Baton's EventBridge propagation; build the Tower [`layer`](Self::layer) or the
/// SDK [`interceptor`](Self::interceptor) from it.
///
/// Defaults: spans from the global tracer provider; each entry gets its `TraceHeader` *and* a
/// `traceHeader` field in its JSON `detail` (targets such as SQS receive only the detail, not
/// the entry's `TraceHeader`); processing spans continue the producer's trace.
#[derive(Clone, Debug)]
pub struct EventBridgePropagation {
    pub(crate) tracer: TracerHandle,
    pub(crate) on_send: Option<baton::OnSend>,
    pub(crate) detail_field: bool,
    pub(crate) link_policy: LinkPolicy,
    pub(crate) env: fn(&str) -> Option<String>,
    pub(crate) max_request_bytes: usize,
}

impl Default for EventBridgePropagation {
    fn default() -> Self {
        EventBridgePropagation {
            tracer: TracerHandle::default(),
            on_send: None,
            detail_field: true,
            link_policy: LinkPolicy::default(),
            env: baton::process_env,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }
}

/// The PutEvents request size Baton assumes unless told otherwise: 256 KiB, EventBridge's
/// limit for years (it has since allowed larger requests in some places), so that Baton's
/// `traceHeader` never pushes a request over the limit of a bus that has not. See
/// [`EventBridgePropagation::with_max_request_bytes`].
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 256 * 1024;

impl EventBridgePropagation {
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
    /// let propagation = baton_eventbridge::EventBridgePropagation::new().with_on_send(|span| {
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

    /// Whether to add `traceHeader` to each entry's JSON `detail` (default: yes). Without it,
    /// only the entry's `TraceHeader` is set, which EventBridge does not hand to SQS targets.
    pub fn with_detail_field(mut self, enabled: bool) -> Self {
        self.detail_field = enabled;
        self
    }

    /// The largest PutEvents request the bus accepts, counted as EventBridge counts entries
    /// (default [`DEFAULT_MAX_REQUEST_BYTES`]). Baton adds `traceHeader` to a detail only
    /// while the request stays under it; raise it to your bus's real limit to have larger
    /// events traced through their detail too.
    pub fn with_max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }

    /// How processing spans relate to the producer (see [`LinkPolicy`]).
    pub fn with_link_policy(mut self, policy: LinkPolicy) -> Self {
        self.link_policy = policy;
        self
    }

    /// Reads environment variables with `env` instead of the process environment (for tests);
    /// inside Lambda, the invocation's `Lineage` is passed on in each trace header.
    pub fn with_environment(mut self, env: fn(&str) -> Option<String>) -> Self {
        self.env = env;
        self
    }

    /// The SDK interceptor with these settings.
    pub fn interceptor(&self) -> EventBridgeInterceptor {
        EventBridgeInterceptor::new(self.clone())
    }

    /// The Tower layer with these settings.
    pub fn layer(&self) -> PropagationLayer {
        PropagationLayer::new(self.clone())
    }

    /// Starts the processing span of a received event under the configured link policy and
    /// returns the context with that span active; `destination` names what delivered it (the
    /// queue, or the rule). End the span when the event is handled.
    pub fn start_process_span(&self, event: &EventEnvelope, destination: &str) -> Context {
        event.start_process_span(&self.tracer, self.link_policy, destination)
    }
}
