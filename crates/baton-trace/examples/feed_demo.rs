//! Sends a checkout-like set of traces to a trace view, through the real X-Ray exporter, as
//! the checkout demo's services would: checkout publishes to SNS, fulfilment takes the order
//! from SQS and puts an event on EventBridge, billing starts a Step Functions execution, and
//! shipping runs it. One billing run fails (a fault), one DynamoDB call is throttled, one
//! request is a client error (404), and one batch job links to the orders it read.
//!
//! ```sh
//! cargo run -p baton-trace --example feed_demo -- 127.0.0.1:2000 [ROUNDS]
//! ```
//!
//! The browser test (`browser-test/run.sh`) feeds the page this way.

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Link, Span, SpanContext, SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// The rounds sent unless told: enough for every kind of outcome to appear.
const DEFAULT_ROUNDS: u32 = 12;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let address = args.next().ok_or("usage: feed_demo UDP-ADDRESS [ROUNDS]")?;
    let rounds: u32 = match args.next() {
        Some(n) => n
            .parse()
            .map_err(|_| format!("ROUNDS must be a number, not {n:?}"))?,
        None => DEFAULT_ROUNDS,
    };
    let provider =
        |service: &'static str| -> Result<SdkTracerProvider, Box<dyn std::error::Error>> {
            let exporter = baton_xray::XrayExporter::builder()
                .with_daemon_address(address.clone())
                .build()?;
            Ok(SdkTracerProvider::builder()
                .with_id_generator(baton::XrayIdGenerator::default())
                .with_resource(Resource::builder_empty().with_service_name(service).build())
                .with_simple_exporter(exporter)
                .build())
        };
    let services = [
        provider("checkout")?,
        provider("fulfilment")?,
        provider("billing")?,
        provider("shipping")?,
        provider("reports")?,
    ];
    let tracers: Vec<SdkTracer> = services.iter().map(|p| p.tracer("feed-demo")).collect();
    let [checkout, fulfilment, billing, shipping, reports] = &tracers[..] else {
        unreachable!("five providers")
    };

    // The rounds happened one after another, ending now.
    let now = SystemTime::now();
    let mut published: Vec<SpanContext> = Vec::new();
    for round in 0..rounds {
        let t0 = now - Duration::from_millis(u64::from(rounds - round) * 900);
        let at = |ms: u64| t0 + Duration::from_micros(ms * 1000 + u64::from(round) * 137);
        let order = format!("{}", 40 + round);

        if round == 7 {
            // A client error: an order that does not exist.
            let mut request = checkout
                .span_builder("GET /orders/{id}")
                .with_kind(SpanKind::Server)
                .with_start_time(at(0))
                .with_attributes([
                    KeyValue::new("http.request.method", "GET"),
                    KeyValue::new("url.full", format!("http://shop.local/orders/{order}")),
                    KeyValue::new("http.response.status_code", 404),
                    KeyValue::new("aws.xray.annotation.order_id", order.clone()),
                ])
                .start(checkout);
            request.end_with_timestamp(at(4));
            continue;
        }

        // checkout: the request, a price lookup, the publish.
        let request = checkout
            .span_builder("POST /checkout")
            .with_kind(SpanKind::Server)
            .with_start_time(at(0))
            .with_attributes([
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("url.full", "http://shop.local/checkout"),
                KeyValue::new("http.response.status_code", 200),
                KeyValue::new("aws.xray.annotation.order_id", order.clone()),
            ])
            .start(checkout);
        let cx = Context::new().with_span(request);
        let mut lookup = checkout
            .span_builder("DynamoDB.GetItem")
            .with_kind(SpanKind::Client)
            .with_start_time(at(2))
            .with_attributes([
                KeyValue::new("rpc.system", "aws-api"),
                KeyValue::new("rpc.service", "DynamoDB"),
                KeyValue::new("rpc.method", "GetItem"),
                KeyValue::new("cloud.region", "eu-west-1"),
            ])
            .start_with_context(checkout, &cx);
        if round == 4 {
            lookup.set_attribute(KeyValue::new("http.response.status_code", 400));
            lookup.set_attribute(KeyValue::new(
                "error.type",
                "ProvisionedThroughputExceededException",
            ));
            lookup.set_status(Status::error(
                "rate of requests exceeds the allowed throughput",
            ));
        }
        lookup.end_with_timestamp(at(9));
        let mut publish = checkout
            .span_builder("publish orders")
            .with_kind(SpanKind::Producer)
            .with_start_time(at(10))
            .with_attributes([
                KeyValue::new("messaging.system", "aws_sns"),
                KeyValue::new("messaging.operation.name", "Publish"),
                KeyValue::new("messaging.destination.name", "orders"),
                KeyValue::new("cloud.region", "eu-west-1"),
            ])
            .start_with_context(checkout, &cx);
        let message = publish.span_context().clone();
        published.push(message.clone());
        publish.end_with_timestamp(at(28));
        cx.span().end_with_timestamp(at(31));

        // fulfilment: from the SNS subscription's queue, on to EventBridge.
        let process = fulfilment
            .span_builder("process fulfilment-queue")
            .with_kind(SpanKind::Consumer)
            .with_start_time(at(45))
            .with_attributes([
                KeyValue::new("messaging.system", "aws_sqs"),
                KeyValue::new("messaging.destination.name", "fulfilment-queue"),
                KeyValue::new("aws.xray.annotation.order_id", order.clone()),
            ])
            .start_with_context(fulfilment, &carried(&message));
        let cx = Context::new().with_span(process);
        let mut put = fulfilment
            .span_builder("publish shop-bus")
            .with_kind(SpanKind::Producer)
            .with_start_time(at(50))
            .with_attributes([
                KeyValue::new("messaging.system", "aws_eventbridge"),
                KeyValue::new("messaging.operation.name", "PutEvents"),
                KeyValue::new("messaging.destination.name", "shop-bus"),
            ])
            .start_with_context(fulfilment, &cx);
        let event = put.span_context().clone();
        put.end_with_timestamp(at(61));
        cx.span().end_with_timestamp(at(63));

        // billing: from the bus's rule; fails once.
        let mut charge = billing
            .span_builder("process OrderPlaced")
            .with_kind(SpanKind::Consumer)
            .with_start_time(at(80))
            .with_attributes([
                KeyValue::new("messaging.system", "aws_eventbridge"),
                KeyValue::new("messaging.destination.name", "shop-bus"),
                KeyValue::new("aws.xray.annotation.order_id", order.clone()),
            ])
            .start_with_context(billing, &carried(&event));
        if round == 5 {
            charge.set_attribute(KeyValue::new("exception.type", "PaymentDeclined"));
            charge.set_status(Status::error("card issuer unavailable"));
            charge.end_with_timestamp(at(97));
            continue;
        }
        let cx = Context::new().with_span(charge);
        let mut start = billing
            .span_builder("start ship-order")
            .with_kind(SpanKind::Producer)
            .with_start_time(at(99))
            .with_attributes([
                KeyValue::new("messaging.system", "aws_stepfunctions"),
                KeyValue::new("messaging.operation.name", "StartExecution"),
                KeyValue::new("messaging.destination.name", "ship-order"),
            ])
            .start_with_context(billing, &cx);
        let execution = start.span_context().clone();
        start.end_with_timestamp(at(112));
        cx.span().end_with_timestamp(at(114));

        // shipping: the state machine's task.
        shipping
            .span_builder("process ship-order")
            .with_kind(SpanKind::Consumer)
            .with_start_time(at(150))
            .with_attributes([KeyValue::new("aws.xray.annotation.order_id", order)])
            .start_with_context(shipping, &carried(&execution))
            .end_with_timestamp(at(181));
    }

    // A nightly report that read the first orders: a trace of its own, linked to theirs.
    if !published.is_empty() {
        let links = published
            .iter()
            .take(2)
            .map(|cx| Link::with_context(cx.clone()))
            .collect();
        reports
            .span_builder("process orders-archive")
            .with_kind(SpanKind::Consumer)
            .with_start_time(now - Duration::from_millis(200))
            .with_links(links)
            .start(reports)
            .end_with_timestamp(now - Duration::from_millis(150));
    }

    for provider in services {
        provider.shutdown()?;
    }
    Ok(())
}

/// `cx` as the consumer sees it after the message carried it: a remote context.
fn carried(cx: &SpanContext) -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        cx.trace_id(),
        cx.span_id(),
        cx.trace_flags(),
        true,
        cx.trace_state().clone(),
    ))
}
