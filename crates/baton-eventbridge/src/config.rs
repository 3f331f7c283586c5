//! What the EventBridge middleware does, shared by the Tower layer and the SDK interceptor.

use baton::driver::Common;
use baton::driver::Probed;
use opentelemetry::Context;

use crate::envelope::EventEnvelope;
use crate::{EventBridgeInterceptor, EventBridgeLayer, EventBridgeService, TracedEventBridge};

/// Settings of Baton's EventBridge propagation; build the Tower [`layer`](Self::layer) or the
/// SDK [`interceptor`](Self::interceptor) from it.
///
/// Defaults: spans from the global tracer provider; each entry gets its `TraceHeader` *and* a
/// `traceHeader` field in its JSON `detail` (targets such as SQS receive only the detail, not
/// the entry's `TraceHeader`); processing spans continue the producer's trace.
#[derive(Clone, Debug)]
pub struct EventBridgePropagation {
    pub(crate) common: Common,
    pub(crate) detail_field: bool,
}

impl Default for EventBridgePropagation {
    fn default() -> Self {
        EventBridgePropagation {
            common: Common::default(),
            detail_field: true,
        }
    }
}

impl EventBridgePropagation {
    /// The defaults (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    baton::common_builders!(
        common,
        "the largest PutEvents request the bus accepts, counted as EventBridge counts entries. \
         Baton adds `traceHeader` to a detail only while the request stays under it; raise it \
         to your bus's real limit to have larger events traced through their detail too"
    );

    /// Whether to add `traceHeader` to each entry's JSON `detail` (default: yes). Without it,
    /// only the entry's `TraceHeader` is set, which EventBridge does not hand to SQS targets.
    pub fn with_detail_field(mut self, enabled: bool) -> Self {
        self.detail_field = enabled;
        self
    }

    /// The Tower form in one call: `client` as an [`EventBridgeService`] wrapped in this
    /// propagation, with `cloud.region` taken from the client's configuration and
    /// `server.address` from where its calls go (see [`baton::driver::ServerProbe`]).
    pub fn service(
        &self,
        client: aws_sdk_eventbridge::Client,
    ) -> TracedEventBridge<Probed<EventBridgeService>> {
        let mut settings = self.clone();
        // Learn the client's endpoint from calls to it, not to a global endpoint.
        let probe = baton::driver::ServerProbe::new().learning_from(|cfg| {
            cfg.load::<aws_smithy_runtime_api::client::endpoint::EndpointResolverParams>()
                .and_then(|params| params.get::<aws_sdk_eventbridge::config::endpoint::Params>())
                .is_none_or(|params| params.endpoint_id().is_none())
        });
        let service = baton::tower_service!(
            aws_sdk_eventbridge,
            client,
            settings.common,
            EventBridgeService::new,
            probe
        );
        TracedEventBridge::new(service, settings)
    }

    /// The SDK interceptor with these settings.
    pub fn interceptor(&self) -> EventBridgeInterceptor {
        EventBridgeInterceptor::new(self.clone())
    }

    /// The Tower layer with these settings.
    pub fn layer(&self) -> EventBridgeLayer {
        EventBridgeLayer::new(self.clone())
    }

    /// Starts the processing span of a received event under the configured link policy and
    /// returns the context with that span active; `destination` names what delivered it (the
    /// queue, or the rule). End the span when the event is handled.
    pub fn start_process_span(&self, event: &EventEnvelope, destination: &str) -> Context {
        self.common.start_delivery(event, destination)
    }
}
