//! What the Step Functions middleware does, shared by the Tower layer and the interceptor.

use baton::TracerHandle;

use crate::interceptor::SfnInterceptor;
use crate::service::PropagationLayer;

/// Settings of Baton's Step Functions propagation.
///
/// By default every StartExecution and StartSyncExecution gets a PRODUCER span whose context
/// goes into the request's `traceHeader`, which Step Functions shows in DescribeExecution and
/// X-Ray follows. Step Functions does not hand that header on to what its tasks send (an SQS
/// `sendMessage` task's message carries no `AWSTraceHeader`), so states cannot read it;
/// [`with_input_field`](Self::with_input_field) also puts it into the execution input, where a
/// state can pass it on (for instance as an `X-Amzn-Trace-Id` message attribute, which Baton's
/// SQS consumers read):
///
/// ```json
/// "MessageAttributes": {
///   "X-Amzn-Trace-Id": { "DataType": "String", "StringValue.$": "$.traceHeader" }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct SfnPropagation {
    pub(crate) tracer: TracerHandle,
    pub(crate) on_send: Option<baton::OnSend>,
    pub(crate) input_field: Option<String>,
    pub(crate) env: fn(&str) -> Option<String>,
}

impl Default for SfnPropagation {
    fn default() -> Self {
        SfnPropagation {
            tracer: TracerHandle::default(),
            on_send: None,
            input_field: None,
            env: baton::process_env,
        }
    }
}

impl SfnPropagation {
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
    /// let propagation = baton_sfn::SfnPropagation::new().with_on_send(|span| {
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

    /// Also adds the trace header to the execution input, as field `field` of its JSON object
    /// (commonly `"traceHeader"`). An input that is not a JSON object, already has the field,
    /// or would exceed 256 KiB is sent as given (with a `tracing` event); no input becomes an
    /// object holding only the field.
    pub fn with_input_field(mut self, field: impl Into<String>) -> Self {
        self.input_field = Some(field.into());
        self
    }

    /// Reads environment variables with `env` instead of the process environment (for tests);
    /// inside Lambda, the invocation's `Lineage` is passed on.
    pub fn with_environment(mut self, env: fn(&str) -> Option<String>) -> Self {
        self.env = env;
        self
    }

    /// The SDK interceptor with these settings.
    pub fn interceptor(&self) -> SfnInterceptor {
        SfnInterceptor::new(self.clone())
    }

    /// The Tower layer with these settings.
    pub fn layer(&self) -> PropagationLayer {
        PropagationLayer::new(self.clone())
    }
}
