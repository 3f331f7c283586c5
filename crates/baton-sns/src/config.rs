//! What the SNS middleware does, shared by the Tower layer and the interceptor.

use baton::driver::Common;
use baton::driver::Probed;
use opentelemetry::Context;

use crate::envelope::Notification;
use crate::{SnsInterceptor, SnsLayer, SnsService, TracedSns};

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
    pub(crate) common: Common,
    pub(crate) message_attribute: bool,
}

impl Default for SnsPropagation {
    fn default() -> Self {
        SnsPropagation {
            common: Common::default(),
            message_attribute: true,
        }
    }
}

impl SnsPropagation {
    /// The defaults (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    baton::common_builders!(
        common,
        "the largest message the topic accepts, which is also the limit of a PublishBatch \
         request as a whole. Baton adds its message attribute only while the message stays \
         within it"
    );

    /// Whether to add the `X-Amzn-Trace-Id` message attribute (default: yes).
    pub fn with_message_attribute(mut self, enabled: bool) -> Self {
        self.message_attribute = enabled;
        self
    }

    /// The Tower form in one call: `client` as an [`SnsService`] wrapped in this propagation,
    /// with `cloud.region` taken from the client's configuration and `server.address` from
    /// where its calls go (see [`baton::driver::ServerProbe`]).
    pub fn service(&self, client: aws_sdk_sns::Client) -> TracedSns<Probed<SnsService>> {
        let mut settings = self.clone();
        let client = SnsService::header_client(&client);
        let service =
            baton::tower_service!(aws_sdk_sns, client, settings.common, SnsService::prepared);
        TracedSns::new(service, settings)
    }

    /// The SDK interceptor with these settings.
    pub fn interceptor(&self) -> SnsInterceptor {
        SnsInterceptor::new(self.clone())
    }

    /// The Tower layer with these settings.
    pub fn layer(&self) -> SnsLayer {
        SnsLayer::new(self.clone())
    }

    /// Starts the processing span of a received notification under the configured link
    /// policy; returns the context with it active. End the span when done.
    pub fn start_process_span(&self, notification: &Notification, destination: &str) -> Context {
        self.common.start_delivery(notification, destination)
    }
}
