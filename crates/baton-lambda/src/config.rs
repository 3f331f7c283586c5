//! What the Lambda middleware does, shared by the Tower layer and the SDK interceptor.

use baton::driver::{Common, Probed};

use crate::{LambdaInterceptor, LambdaLayer, LambdaService, TracedLambda};

/// Settings of Baton's Lambda Invoke propagation; build the Tower [`layer`](Self::layer), the
/// SDK [`interceptor`](Self::interceptor) or the whole Tower [`service`](Self::service) from it.
///
/// Each Invoke gets a CLIENT span `Lambda.Invoke` (`rpc.*`, `faas.invoked_name`,
/// `faas.invoked_provider`, `faas.invoked_region`) whose context goes twice into the request:
/// as its `X-Amzn-Trace-Id` header, which Lambda continues when the function traces (its
/// segment becomes a child of the span, and the `Lineage` passed on keeps Lambda's recursive-
/// loop detection working), and, on a synchronous invocation (Lambda hands the client context
/// to those only), as `X-Amzn-Trace-Id` in the `ClientContext`'s `custom` map, which reaches
/// the function whatever its tracing mode — `baton_worker::lambda::InvocationLayer` reads it
/// back. A `ClientContext` the caller set is merged into (a trace of the caller's own there is
/// kept, and sent as the header too); one that cannot take it (not base64 JSON, or over
/// Lambda's 3,583 encoded bytes) is sent as given, with a `tracing` event.
///
/// Invoke is a call, not a message: its span is CLIENT and gets no messaging metrics, so
/// `with_meter`, `with_on_process` and `with_link_policy` change nothing here; `with_on_send`
/// is called with the `Lambda.Invoke` span.
#[derive(Clone, Debug)]
pub struct LambdaPropagation {
    pub(crate) common: Common,
    pub(crate) client_context: bool,
}

impl Default for LambdaPropagation {
    fn default() -> Self {
        LambdaPropagation {
            common: Common::default(),
            client_context: true,
        }
    }
}

impl LambdaPropagation {
    /// The defaults (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    baton::common_builders!(
        common,
        "unused by Invoke, whose `ClientContext` has a fixed limit of its own (3,583 bytes \
         encoded)"
    );

    /// Whether to put the trace into the `ClientContext` too (default: yes). Without it only
    /// the request header carries it, which reaches the function only when Lambda traces it.
    pub fn with_client_context(mut self, enabled: bool) -> Self {
        self.client_context = enabled;
        self
    }

    /// The Tower form in one call: `client` as a [`LambdaService`] wrapped in this
    /// propagation, with `cloud.region` taken from the client's configuration and
    /// `server.address` from where its calls go (see [`baton::driver::ServerProbe`]).
    pub fn service(&self, client: aws_sdk_lambda::Client) -> TracedLambda<Probed<LambdaService>> {
        let mut settings = self.clone();
        let client = LambdaService::header_client(&client);
        let service = baton::tower_service!(
            aws_sdk_lambda,
            client,
            settings.common,
            LambdaService::prepared
        );
        TracedLambda::new(service, settings)
    }

    /// The SDK interceptor with these settings.
    pub fn interceptor(&self) -> LambdaInterceptor {
        LambdaInterceptor::new(self.clone())
    }

    /// The Tower layer with these settings.
    pub fn layer(&self) -> LambdaLayer {
        LambdaLayer::new(self.clone())
    }
}
