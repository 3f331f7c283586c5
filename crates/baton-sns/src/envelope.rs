//! The consumer side: the SNS notification envelope (what SQS and HTTP subscribers receive
//! without raw delivery) and the trace context in its `MessageAttributes`.
//!
//! With raw delivery to SQS there is no envelope: the message attributes are the SQS
//! message's own, and SNS also sets its `AWSTraceHeader`; read those with `baton-sqs`.

use std::collections::HashMap;

use baton::carrier::{ReadMap, extract_from_attributes};
use baton::{Delivery, MessagingSpan, MessagingSystem};
use opentelemetry::Context;
use serde::Deserialize;

/// One message attribute in the envelope (`{"Type": "String", "Value": "…"}`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvelopeAttribute {
    /// `String`, `Number`, `Binary` or `String.Array`.
    #[serde(rename = "Type")]
    pub data_type: String,
    /// The value, as text.
    #[serde(rename = "Value")]
    pub value: String,
}

/// An SNS notification envelope.
///
/// ```
/// use baton_sns::Notification;
/// use opentelemetry::trace::TraceContextExt;
///
/// let notification = Notification::parse(r#"{
///   "Type": "Notification", "MessageId": "m-1",
///   "TopicArn": "arn:aws:sns:eu-west-1:111122223333:orders", "Message": "hello",
///   "MessageAttributes": {"X-Amzn-Trace-Id": {"Type": "String",
///     "Value": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}}
/// }"#)?;
/// assert_eq!(notification.message.as_deref(), Some("hello"));
/// assert_eq!(
///     notification.producer_context().span().span_context().span_id().to_string(),
///     "53995c3f42cd8ad8"
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notification {
    /// `Notification`.
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    /// The SNS message id.
    #[serde(rename = "MessageId")]
    pub message_id: Option<String>,
    /// The topic.
    #[serde(rename = "TopicArn")]
    pub topic_arn: Option<String>,
    /// The subject, if the publisher gave one.
    #[serde(rename = "Subject")]
    pub subject: Option<String>,
    /// The message as published.
    #[serde(rename = "Message")]
    pub message: Option<String>,
    /// When SNS accepted it.
    #[serde(rename = "Timestamp")]
    pub timestamp: Option<String>,
    /// The message attributes.
    #[serde(rename = "MessageAttributes", default)]
    pub message_attributes: HashMap<String, EnvelopeAttribute>,
}

struct Attributes<'a>(&'a HashMap<String, EnvelopeAttribute>);

impl ReadMap for Attributes<'_> {
    fn get_exact(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|a| a.value.as_str())
    }
    fn key_list(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

impl Notification {
    /// Parses a notification envelope (JSON).
    pub fn parse(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The producer's context from the message attributes — `traceparent` (W3C), then
    /// `X-Amzn-Trace-Id` or `AWSTraceHeader` (X-Ray), names in any letter case, the first valid
    /// one winning (malformed ones are reported with a `tracing` event); an empty context (a
    /// new trace) if none.
    pub fn producer_context(&self) -> Context {
        extract_from_attributes(&Attributes(&self.message_attributes))
            .map_or_else(Context::new, |(cx, _)| cx)
    }
}

impl Delivery for Notification {
    fn system(&self) -> MessagingSystem {
        MessagingSystem::Sns
    }

    fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    /// The context in the notification's trace attribute (see
    /// [`Notification::producer_context`]).
    fn producer_context(&self) -> Context {
        Notification::producer_context(self)
    }

    fn body_size(&self) -> Option<usize> {
        self.message.as_deref().map(str::len)
    }

    /// How long the notification waited since SNS accepted it (its `Timestamp`), as
    /// `baton.messaging.time_in_queue_ms`; nothing when the timestamp is missing or does not
    /// parse. The envelope carries it, so it costs no request.
    fn delivery_facts(&self, span: MessagingSpan) -> MessagingSpan {
        span.time_in_queue_since(self.timestamp.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TraceContextExt;

    use super::*;

    /// Two spellings of one carrier, the exact one malformed: the other is read.
    #[test]
    fn every_spelling_of_a_carrier_is_tried() {
        let notification = Notification::parse(
            r#"{"Type":"Notification","TopicArn":"arn:aws:sns:us-east-1:0:t","MessageAttributes":{
                "traceparent":{"Type":"String","Value":"00-garbage"},
                "TraceParent":{"Type":"String","Value":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                "X-Amzn-Trace-Id":{"Type":"String","Value":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}}}"#,
        )
        .unwrap();
        let cx = notification.producer_context();
        assert_eq!(
            cx.span().span_context().span_id().to_string(),
            "b7ad6b7169203331"
        );

        // Only malformed W3C spellings: the X-Ray attribute, in any of its spellings.
        let notification = Notification::parse(
            r#"{"Type":"Notification","TopicArn":"arn:aws:sns:us-east-1:0:t","MessageAttributes":{
                "traceparent":{"Type":"String","Value":"00-garbage"},
                "X-Amzn-Trace-Id":{"Type":"String","Value":"Root=1-garbage"},
                "x-amzn-trace-id":{"Type":"String","Value":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}}}"#,
        )
        .unwrap();
        let cx = notification.producer_context();
        assert_eq!(
            cx.span().span_context().span_id().to_string(),
            "53995c3f42cd8ad8"
        );
    }
}
