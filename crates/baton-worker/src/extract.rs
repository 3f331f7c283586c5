//! Where the worker finds a message's producer context.
//!
//! 1. The SQS carriers, in `baton_sqs`'s order: the `AWSTraceHeader` system attribute, then the
//!    `traceparent` / `X-Amzn-Trace-Id` message attributes.
//! 2. Failing those, the body, if it is an envelope another AWS service wrapped the message in:
//!    an EventBridge event (`detail.traceHeader`; EventBridge rule targets get no
//!    `AWSTraceHeader`) or an SNS notification (its `MessageAttributes`).
//!
//! The body is looked at only when it starts with `{` and no SQS carrier was found.

use aws_sdk_sqs::types::Message;
use baton_eventbridge::EventEnvelope;
use baton_sns::Notification;
use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;

/// Where a producer context was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    Sqs,
    EventBridge,
    Sns,
    Nothing,
}

pub(crate) fn producer_context(message: &Message, envelopes: bool) -> (Context, Found) {
    let (cx, carrier) = baton_sqs::extract_with_carrier(message);
    if carrier.is_some() {
        return (cx, Found::Sqs);
    }
    if envelopes
        && let Some(body) = message.body.as_deref()
        && body.trim_start().starts_with('{')
    {
        return from_envelope(body);
    }
    (cx, Found::Nothing)
}

fn valid(cx: &Context) -> bool {
    cx.span().span_context().is_valid()
}

fn from_envelope(body: &str) -> (Context, Found) {
    // Cheap checks first: most JSON bodies are neither envelope.
    if body.contains("\"detail-type\"")
        && let Ok(event) = EventEnvelope::parse(body)
    {
        let cx = event.producer_context();
        if valid(&cx) {
            return (cx, Found::EventBridge);
        }
    } else if body.contains("\"TopicArn\"")
        && let Ok(notification) = Notification::parse(body)
    {
        let cx = notification.producer_context();
        if valid(&cx) {
            return (cx, Found::Sns);
        }
    }
    (Context::new(), Found::Nothing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::types::MessageSystemAttributeName;

    const HEADER: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    fn parent(cx: &Context) -> String {
        cx.span().span_context().span_id().to_string()
    }

    #[test]
    fn sqs_carrier_wins_over_the_body() {
        let body = r#"{"detail-type":"x","source":"s","detail":{"traceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=1111111111111111;Sampled=1"}}"#;
        let message = Message::builder()
            .body(body)
            .attributes(MessageSystemAttributeName::AwsTraceHeader, HEADER)
            .build();
        let (cx, found) = producer_context(&message, true);
        assert_eq!(found, Found::Sqs);
        assert_eq!(parent(&cx), "53995c3f42cd8ad8");
    }

    #[test]
    fn eventbridge_envelope_in_the_body() {
        let body = format!(
            r#"{{"version":"0","id":"1","detail-type":"OrderPlaced","source":"shop","detail":{{"order":1,"traceHeader":"{HEADER}"}}}}"#
        );
        let message = Message::builder().body(body).build();
        let (cx, found) = producer_context(&message, true);
        assert_eq!(found, Found::EventBridge);
        assert_eq!(parent(&cx), "53995c3f42cd8ad8");
        // Turned off: a new trace.
        let (cx, found) = producer_context(&message, false);
        assert_eq!(found, Found::Nothing);
        assert!(!valid(&cx));
    }

    #[test]
    fn sns_envelope_in_the_body() {
        let body = format!(
            r#"{{"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:0:t","Message":"hi","MessageAttributes":{{"X-Amzn-Trace-Id":{{"Type":"String","Value":"{HEADER}"}}}}}}"#
        );
        let message = Message::builder().body(body).build();
        let (cx, found) = producer_context(&message, true);
        assert_eq!(found, Found::Sns);
        assert_eq!(parent(&cx), "53995c3f42cd8ad8");
    }

    #[test]
    fn other_bodies_start_a_new_trace() {
        for body in [
            "plain text",
            "{not json",
            r#"{"detail-type": 5}"#,
            r#"{"detail-type":"x","detail":"a string"}"#,
            r#"{"TopicArn":"t","MessageAttributes":{"traceparent":{"Type":"String","Value":"garbage"}}}"#,
            "",
        ] {
            let message = Message::builder().body(body).build();
            let (cx, found) = producer_context(&message, true);
            assert_eq!(found, Found::Nothing, "{body}");
            assert!(!valid(&cx), "{body}");
        }
    }
}
