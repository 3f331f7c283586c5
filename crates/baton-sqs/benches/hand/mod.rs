//! The hand-written baseline of the SQS benches: propagation written by a user without Baton,
//! as cheaply as it can be done — a PRODUCER span started and ended around SendMessage with its
//! context set by hand as `AWSTraceHeader`, and a CONSUMER `receive` span linked to each
//! received message's producer. What these add over the raw client is the least propagation
//! costs; Baton's forms are judged against it.
#![allow(dead_code)]

use aws_sdk_sqs::types::{
    MessageSystemAttributeName, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, Link, Span, SpanKind, TraceContextExt, Tracer};
use opentelemetry_sdk::trace::SdkTracer;

/// SendMessage of "hello" with a hand-made send span and `AWSTraceHeader`.
pub(crate) async fn send(
    client: &aws_sdk_sqs::Client,
    url: &str,
    caller: &Context,
    tracer: &SdkTracer,
) {
    let span = tracer
        .span_builder("send orders")
        .with_kind(SpanKind::Producer)
        .start_with_context(tracer, caller);
    let header = baton::format_header(span.span_context())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let cx = caller.with_span(span);
    let value = MessageSystemAttributeValue::builder()
        .data_type("String")
        .string_value(header)
        .build()
        .unwrap();
    client
        .send_message()
        .queue_url(url)
        .message_body("hello")
        .message_system_attributes(MessageSystemAttributeNameForSends::AwsTraceHeader, value)
        .send()
        .with_context(cx.clone())
        .await
        .unwrap();
    cx.span().end();
}

/// ReceiveMessage of up to 10, then a hand-made `receive` span linked to each producer.
pub(crate) async fn receive(
    client: &aws_sdk_sqs::Client,
    url: &str,
    caller: &Context,
    tracer: &SdkTracer,
) {
    let output = client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
        .send()
        .with_context(caller.clone())
        .await
        .unwrap();
    let links: Vec<Link> = output.messages().iter().filter_map(xray_link).collect();
    tracer
        .span_builder("receive orders")
        .with_kind(SpanKind::Consumer)
        .with_links(links)
        .start_with_context(tracer, caller)
        .end();
}

/// ReceiveMessage of up to 10 written by hand to read the carriers Baton's default receive
/// reads: it asks SQS for `AWSTraceHeader` and for the message attributes other tracers write
/// the context in (W3C `traceparent`/`tracestate`, the X-Ray header under its two spellings),
/// and links the `receive` span to each message's producer, taken from `AWSTraceHeader` or
/// else from `traceparent`. No attributes on the span: the baseline for Baton's default
/// receive, as [`receive`] is for the one `with_message_attribute_carriers(false)` makes.
pub(crate) async fn receive_carriers(
    client: &aws_sdk_sqs::Client,
    url: &str,
    caller: &Context,
    tracer: &SdkTracer,
) {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    let output = receive_with_carriers(client, url, caller).await;
    let links: Vec<Link> = output
        .messages()
        .iter()
        .filter_map(|m| {
            if let Some(link) = xray_link(m) {
                return Some(link);
            }
            let attributes = m.message_attributes()?;
            let traceparent = attributes.get("traceparent")?.string_value()?;
            let carrier = std::collections::HashMap::from([(
                "traceparent".to_owned(),
                traceparent.to_owned(),
            )]);
            let cx = TraceContextPropagator::new().extract(&carrier);
            let span_context = cx.span().span_context().clone();
            span_context
                .is_valid()
                .then(|| Link::with_context(span_context))
        })
        .collect();
    tracer
        .span_builder("receive orders")
        .with_kind(SpanKind::Consumer)
        .with_links(links)
        .start_with_context(tracer, caller)
        .end();
}

/// The same SendMessage propagation written by hand, but with the span Baton records: the
/// attributes the messaging conventions require and recommend (system, operation, destination,
/// region, queue URL, server, message id, request id; the body size is opt-in, and Baton
/// records it only when asked to). What the hand-written
/// baseline costs once it records what Baton's span does.
pub(crate) async fn send_conventions(
    client: &aws_sdk_sqs::Client,
    url: &str,
    caller: &Context,
    tracer: &SdkTracer,
) {
    use aws_sdk_sqs::operation::RequestId;
    use opentelemetry::KeyValue;

    let queue = url.rsplit_once('/').map_or(url, |(_, name)| name);
    let body = "hello";
    let mut attributes = vec![
        KeyValue::new("messaging.system", "aws_sqs"),
        KeyValue::new("messaging.operation.type", "send"),
        KeyValue::new("messaging.operation.name", "SendMessage"),
        KeyValue::new("messaging.destination.name", queue.to_owned()),
        KeyValue::new("aws.sqs.queue_url", url.to_owned()),
    ];
    if let Some(region) = client.config().region() {
        attributes.push(KeyValue::new("cloud.region", region.to_string()));
    }
    let span = tracer
        .span_builder(format!("send {queue}"))
        .with_kind(SpanKind::Producer)
        .with_attributes(attributes)
        .start_with_context(tracer, caller);
    let header = baton::format_header(span.span_context())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let cx = caller.with_span(span);
    let value = MessageSystemAttributeValue::builder()
        .data_type("String")
        .string_value(header)
        .build()
        .unwrap();
    let output = client
        .send_message()
        .queue_url(url)
        .message_body(body)
        .message_system_attributes(MessageSystemAttributeNameForSends::AwsTraceHeader, value)
        .send()
        .with_context(cx.clone())
        .await
        .unwrap();
    let span = cx.span();
    span.set_attribute(KeyValue::new("server.address", "127.0.0.1"));
    if let Some(id) = output.message_id() {
        span.set_attribute(KeyValue::new("messaging.message.id", id.to_owned()));
    }
    if let Some(id) = output.request_id() {
        span.set_attribute(KeyValue::new("aws.request_id", id.to_owned()));
    }
    span.end();
}

/// The same ReceiveMessage propagation written by hand, with Baton's span and carriers: it asks
/// for the message attributes Baton reads producers' contexts from (W3C and X-Ray spellings),
/// and records the `receive` span with the conventions' attributes, linked to each producer.
pub(crate) async fn receive_conventions(
    client: &aws_sdk_sqs::Client,
    url: &str,
    caller: &Context,
    tracer: &SdkTracer,
) {
    use aws_sdk_sqs::operation::RequestId;
    use opentelemetry::KeyValue;

    let started = std::time::SystemTime::now();
    let output = receive_with_carriers(client, url, caller).await;
    let links: Vec<Link> = output.messages().iter().filter_map(xray_link).collect();
    let queue = url.rsplit_once('/').map_or(url, |(_, name)| name);
    let mut attributes = vec![
        KeyValue::new("messaging.system", "aws_sqs"),
        KeyValue::new("messaging.operation.type", "receive"),
        KeyValue::new("messaging.operation.name", "ReceiveMessage"),
        KeyValue::new("messaging.destination.name", queue.to_owned()),
        KeyValue::new("aws.sqs.queue_url", url.to_owned()),
        KeyValue::new("server.address", "127.0.0.1"),
        KeyValue::new(
            "messaging.batch.message_count",
            output.messages().len() as i64,
        ),
    ];
    if let Some(region) = client.config().region() {
        attributes.push(KeyValue::new("cloud.region", region.to_string()));
    }
    if let Some(id) = output.request_id() {
        attributes.push(KeyValue::new("aws.request_id", id.to_owned()));
    }
    tracer
        .span_builder(format!("receive {queue}"))
        .with_kind(SpanKind::Client)
        .with_start_time(started)
        .with_attributes(attributes)
        .with_links(links)
        .start_with_context(tracer, caller)
        .end();
}

/// ReceiveMessage of up to 10 asking for `AWSTraceHeader` and for the message attributes
/// other tracers write the context in (the names Baton's default receive asks for).
async fn receive_with_carriers(
    client: &aws_sdk_sqs::Client,
    url: &str,
    caller: &Context,
) -> aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput {
    client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
        .set_message_attribute_names(Some(
            baton_sqs::TRACE_ATTRIBUTE_NAMES
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
        ))
        .send()
        .with_context(caller.clone())
        .await
        .unwrap()
}

/// A link to the producer named by a message's `AWSTraceHeader`, if it has a valid one.
fn xray_link(message: &aws_sdk_sqs::types::Message) -> Option<Link> {
    let header = message
        .attributes()?
        .get(&MessageSystemAttributeName::AwsTraceHeader)?;
    let parsed = baton::TraceHeader::parse(header).ok()?;
    Some(Link::with_context(baton::remote_span_context(&parsed)))
}
