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
    let links: Vec<Link> = output
        .messages()
        .iter()
        .filter_map(|m| {
            let header = m
                .attributes()?
                .get(&MessageSystemAttributeName::AwsTraceHeader)?;
            let parsed = baton::TraceHeader::parse(header).ok()?;
            Some(Link::with_context(baton::remote_span_context(&parsed)))
        })
        .collect();
    tracer
        .span_builder("receive orders")
        .with_kind(SpanKind::Consumer)
        .with_links(links)
        .start_with_context(tracer, caller)
        .end();
}
