//! What a consumer receives, whatever delivered it: one way to read its producer's context and
//! to start its processing span.

use opentelemetry::Context;

use crate::{LinkPolicy, MessagingSpan, MessagingSystem, TracerHandle};

/// One delivered message, as a consumer sees it: an SQS message (or Lambda SQS record), an SNS
/// notification, an EventBridge event. Implemented by the service crates for their types, and
/// open to any other (a Kinesis record, say) without a change here.
///
/// Each implementation reads the producer's context in its service's documented precedence
/// (for SQS: the SQS carriers, then an SNS or EventBridge envelope in the body); the process
/// span is then started the same way for all of them, by [`TracerHandle::start_delivery`] (or
/// the service settings' `start_process_span`, which adds the `on_process` hook).
///
/// ```
/// use baton::{Delivery, LinkPolicy, MessagingSystem, TracerHandle};
/// use opentelemetry::Context;
///
/// /// A record of some queue of one's own, carrying an X-Ray header.
/// struct Record { id: String, trace_header: String }
///
/// impl Delivery for Record {
///     fn system(&self) -> MessagingSystem {
///         MessagingSystem::Other("my_queue")
///     }
///     fn message_id(&self) -> Option<&str> {
///         Some(&self.id)
///     }
///     fn producer_context(&self) -> Context {
///         baton::extract_header(&Context::new(), &self.trace_header, "trace_header")
///     }
/// }
///
/// let record = Record {
///     id: "r-1".into(),
///     trace_header: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into(),
/// };
/// let cx = TracerHandle::global().start_delivery(&record, "jobs", LinkPolicy::Parent);
/// # drop(cx);
/// ```
pub trait Delivery {
    /// The messaging system that delivered it (`messaging.system` of its process span).
    fn system(&self) -> MessagingSystem;

    /// The id the service gave the message, if known.
    fn message_id(&self) -> Option<&str>;

    /// The producer's context (an empty context when it carries none, or none that is valid).
    fn producer_context(&self) -> Context;

    /// The size of its body in bytes, where it has one (default: unknown).
    fn body_size(&self) -> Option<usize> {
        None
    }

    /// Adds what else the delivery knows of itself (time in queue, receive count, …) to its
    /// processing span. Default: nothing.
    fn delivery_facts(&self, span: MessagingSpan) -> MessagingSpan {
        span
    }

    /// Its processing span, not started: `process {destination}` with the message id, the
    /// body size and the [delivery facts](Self::delivery_facts).
    fn process_span(&self, destination: &str) -> MessagingSpan {
        let mut span = MessagingSpan::process(self.system(), destination.to_owned());
        if let Some(id) = self.message_id() {
            span = span.message_id(id.to_owned());
        }
        if let Some(bytes) = self.body_size() {
            span = span.body_size(bytes);
        }
        self.delivery_facts(span)
    }
}

impl TracerHandle {
    /// Starts the processing span of `delivery`, handled for `destination`, under `policy`,
    /// and returns its producer's context with the new span active (see
    /// [`start_process`](Self::start_process)).
    pub fn start_delivery(
        &self,
        delivery: &(impl Delivery + ?Sized),
        destination: &str,
        policy: LinkPolicy,
    ) -> Context {
        self.start_process(
            delivery.process_span(destination),
            &delivery.producer_context(),
            policy,
        )
    }
}
