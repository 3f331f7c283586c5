//! Publish through a stub HTTP client: the request header and message attribute Baton adds,
//! and the spans.

mod common;

use aws_sdk_sns::operation::publish::PublishInput;
use aws_sdk_sns::types::MessageAttributeValue;
use baton::attr;
use baton_sns::{SnsPropagation, SnsService};
use baton_test_support::{Spans, header_of, sdk_config};
use common::{Stub, sent};
use opentelemetry::trace::{FutureExt, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use tower::{Service, ServiceExt};

/// The value of the message attribute named `name` in a Publish form body.
fn attribute(form: &[(String, String)], name: &str) -> Option<String> {
    let key = form
        .iter()
        .find(|(_, v)| v == name)?
        .0
        .strip_suffix(".Name")?
        .to_owned();
    form.iter()
        .find(|(k, _)| *k == format!("{key}.Value.StringValue"))
        .map(|(_, v)| v.clone())
}

/// Baton's SNS propagation, recording into `spans`, with the (opt-in) body size.
fn propagation(spans: &Spans) -> SnsPropagation {
    SnsPropagation::new()
        .with_tracer(spans.handle())
        .with_body_size(true)
}

const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:orders";

#[tokio::test]
async fn publish_carries_the_send_span_in_header_and_attribute() {
    let stub = Stub::default();
    let spans = Spans::new();
    let client = aws_sdk_sns::Client::from_conf(
        sdk_config!(aws_sdk_sns, stub)
            .interceptor(propagation(&spans).interceptor())
            .build(),
    );
    let root = Context::new().with_span(spans.provider.tracer("app").start("checkout"));
    client
        .publish()
        .topic_arn(TOPIC)
        .message("hello")
        .send()
        .with_context(root.clone())
        .await
        .unwrap();
    root.span().end();

    let send = spans.one("send orders");
    let (header, form) = sent(&stub, 0);
    assert_eq!(header.as_deref(), Some(header_of(&send).as_str()));
    assert_eq!(attribute(&form, "X-Amzn-Trace-Id"), Some(header_of(&send)));
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_eq!(
        send.parent_span_id,
        spans.one("checkout").span_context.span_id()
    );
    assert!(
        send.attributes
            .contains(&KeyValue::new(attr::MESSAGING_SYSTEM, "aws.sns"))
    );
    assert!(
        send.attributes
            .contains(&KeyValue::new(attr::MESSAGING_MESSAGE_ID, "m-1"))
    );
    // The conventions' SNS and server attributes.
    for expected in [
        KeyValue::new(attr::AWS_SNS_TOPIC_ARN, TOPIC),
        KeyValue::new(attr::MESSAGING_MESSAGE_BODY_SIZE, 5),
        KeyValue::new(attr::SERVER_ADDRESS, "stub.invalid"),
    ] {
        assert!(
            send.attributes.contains(&expected),
            "{expected:?} in {:?}",
            send.attributes
        );
    }
}

#[tokio::test]
async fn inside_lambda_the_lineage_is_kept_and_ten_attributes_are_respected() {
    fn lambda_env(name: &str) -> Option<String> {
        match name {
            "AWS_LAMBDA_FUNCTION_NAME" => Some("checkout".into()),
            "_X_AMZN_TRACE_ID" => Some(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:a87bd80c:2".into(),
            ),
            _ => None,
        }
    }
    let stub = Stub::default();
    let spans = Spans::new();
    let client = aws_sdk_sns::Client::from_conf(
        sdk_config!(aws_sdk_sns, stub)
            .interceptor(
                propagation(&spans)
                    .with_environment(lambda_env)
                    .interceptor(),
            )
            .build(),
    );
    let mut publish = client.publish().topic_arn(TOPIC).message("full");
    for i in 0..10 {
        publish = publish.message_attributes(
            format!("a{i}"),
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("v")
                .build()
                .unwrap(),
        );
    }
    publish.send().await.unwrap();
    let send = spans.one("send orders");
    let (header, form) = sent(&stub, 0);
    assert_eq!(
        header,
        Some(format!("{};Lineage=1:a87bd80c:2", header_of(&send)))
    );
    assert_eq!(
        attribute(&form, "X-Amzn-Trace-Id"),
        None,
        "no 11th attribute"
    );
    assert_eq!(
        form.iter().filter(|(k, _)| k.ends_with(".Name")).count(),
        10
    );
}

#[tokio::test]
async fn the_tower_form_sets_the_same_header() {
    let stub = Stub::default();
    let spans = Spans::new();
    let client = aws_sdk_sns::Client::from_conf(sdk_config!(aws_sdk_sns, stub).build());
    let mut service = tower::ServiceBuilder::new()
        .layer(propagation(&spans).layer())
        .service(SnsService::new(client));
    let input = PublishInput::builder()
        .topic_arn(TOPIC)
        .message("hello")
        .build()
        .unwrap();
    service
        .ready()
        .await
        .unwrap()
        .call(input.into())
        .await
        .unwrap();
    let send = spans.one("send orders");
    let (header, form) = sent(&stub, 0);
    assert_eq!(header.as_deref(), Some(header_of(&send).as_str()));
    assert_eq!(attribute(&form, "X-Amzn-Trace-Id"), Some(header_of(&send)));
}

/// A layer that runs the client on another task (`tower::buffer`) between the propagation
/// layer and the client: the header travels in the request, so it still names the send span.
/// The message attribute is off, so the header cannot have come from it.
#[tokio::test]
async fn the_header_survives_a_buffer_between_layer_and_client() {
    let stub = Stub::default();
    let spans = Spans::new();
    let client = aws_sdk_sns::Client::from_conf(sdk_config!(aws_sdk_sns, stub).build());
    let mut service = tower::ServiceBuilder::new()
        .layer(propagation(&spans).with_message_attribute(false).layer())
        .buffer(4)
        .service(SnsService::new(client));
    for _ in 0..2 {
        let input = PublishInput::builder()
            .topic_arn(TOPIC)
            .message("hello")
            .build()
            .unwrap();
        service
            .ready()
            .await
            .unwrap()
            .call(input.into())
            .await
            .unwrap();
    }
    let sends = spans.named("send orders");
    assert_eq!(sends.len(), 2);
    assert_ne!(
        sends[0].span_context.trace_id(),
        sends[1].span_context.trace_id()
    );
    for index in 0..2 {
        let (header, form) = sent(&stub, index);
        let header = header.expect("every request carries the header");
        assert!(
            sends.iter().any(|s| header_of(s) == header),
            "{header} names neither send span"
        );
        assert_eq!(attribute(&form, "X-Amzn-Trace-Id"), None);
    }
    assert_ne!(sent(&stub, 0).0, sent(&stub, 1).0);
}

/// A header the caller put into the request is sent as it is; the propagation layer still
/// traces the call.
#[tokio::test]
async fn a_header_set_on_the_request_is_kept() {
    let stub = Stub::default();
    let spans = Spans::new();
    let client = aws_sdk_sns::Client::from_conf(sdk_config!(aws_sdk_sns, stub).build());
    let mut service = tower::ServiceBuilder::new()
        .layer(propagation(&spans).layer())
        .service(SnsService::new(client));
    let mine = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let input = PublishInput::builder()
        .topic_arn(TOPIC)
        .message("hello")
        .build()
        .unwrap();
    let request = baton_sns::SnsRequest::from(input).with_trace_header(Some(mine.to_owned()));
    assert_eq!(request.trace_header(), Some(mine));
    service.ready().await.unwrap().call(request).await.unwrap();
    let send = spans.one("send orders");
    let (header, form) = sent(&stub, 0);
    assert_eq!(header.as_deref(), Some(mine));
    assert_eq!(attribute(&form, "X-Amzn-Trace-Id"), Some(header_of(&send)));
}

/// A header that cannot go on the wire (a line break in it) does not cost the trace or the
/// publish: the layer sends the send span's header instead; the client alone, given such a
/// header, publishes without one.
#[tokio::test]
async fn a_header_that_cannot_be_sent_is_replaced_or_dropped() {
    let stub = Stub::default();
    let spans = Spans::new();
    let client = aws_sdk_sns::Client::from_conf(sdk_config!(aws_sdk_sns, stub).build());
    let bad = "Root=1-5759e988-bd862e3fe1be46a994272793\r\nX-Injected: yes".to_owned();
    let input = || {
        PublishInput::builder()
            .topic_arn(TOPIC)
            .message("hello")
            .build()
            .unwrap()
    };
    let mut layered = tower::ServiceBuilder::new()
        .layer(propagation(&spans).layer())
        .service(SnsService::new(client.clone()));
    let request = baton_sns::SnsRequest::from(input()).with_trace_header(Some(bad.clone()));
    layered.ready().await.unwrap().call(request).await.unwrap();
    let send = spans.one("send orders");
    assert_eq!(sent(&stub, 0).0, Some(header_of(&send)));

    let mut bare = SnsService::new(client);
    let request = baton_sns::SnsRequest::from(input()).with_trace_header(Some(bad));
    bare.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(sent(&stub, 1).0, None);
    assert_eq!(stub.requests().len(), 2, "both were published");
}

/// The Tower form retried by the SDK: the client service hands the header to the SDK while
/// the call is polled, and every attempt (each after a back-off sleep, so a later poll) carries
/// it.
#[tokio::test]
async fn a_retried_tower_publish_carries_the_header_on_every_attempt() {
    let stub = Stub::default();
    stub.fail_first(2);
    let spans = Spans::new();
    let client = aws_sdk_sns::Client::from_conf(
        sdk_config!(aws_sdk_sns, stub)
            .retry_config(
                aws_sdk_sns::config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(1)),
            )
            .build(),
    );
    let mut service = tower::ServiceBuilder::new()
        .layer(propagation(&spans).layer())
        .service(SnsService::new(client));
    let input = PublishInput::builder()
        .topic_arn(TOPIC)
        .message("hello")
        .build()
        .unwrap();
    service
        .ready()
        .await
        .unwrap()
        .call(input.into())
        .await
        .unwrap();
    let send = spans.one("send orders");
    assert_eq!(stub.requests().len(), 3);
    for attempt in 0..3 {
        assert_eq!(
            sent(&stub, attempt).0,
            Some(header_of(&send)),
            "attempt {attempt}"
        );
    }
}

/// `service(client)`: the first call (through the copy that learns the endpoint) and the
/// later ones (through the client service's own copy) each carry their send span's header.
#[tokio::test]
async fn service_of_a_client_sets_the_header_before_and_after_learning_the_server() {
    let stub = Stub::default();
    let spans = Spans::new();
    let client = aws_sdk_sns::Client::from_conf(sdk_config!(aws_sdk_sns, stub).build());
    let mut service = propagation(&spans)
        .with_message_attribute(false)
        .service(client);
    for _ in 0..3 {
        let input = PublishInput::builder()
            .topic_arn(TOPIC)
            .message("hello")
            .build()
            .unwrap();
        service
            .ready()
            .await
            .unwrap()
            .call(input.into())
            .await
            .unwrap();
    }
    let sends = spans.named("send orders");
    assert_eq!(sends.len(), 3);
    for (index, send) in sends.iter().enumerate() {
        assert_eq!(sent(&stub, index).0, Some(header_of(send)), "call {index}");
    }
}

/// Two calls of one client service polled in turn on one thread, each retried once after a
/// back-off: each attempt carries its own call's header, never the other's.
#[tokio::test]
async fn calls_polled_in_turn_each_send_their_own_header() {
    let stub = Stub::default();
    stub.fail_first(2);
    let client = aws_sdk_sns::Client::from_conf(
        sdk_config!(aws_sdk_sns, stub)
            .retry_config(
                aws_sdk_sns::config::retry::RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(std::time::Duration::from_millis(1)),
            )
            .build(),
    );
    let service = SnsService::new(client);
    let call = |header: &str| {
        let input = PublishInput::builder()
            .topic_arn(TOPIC)
            .message("hello")
            .build()
            .unwrap();
        let request = baton_sns::SnsRequest::from(input).with_trace_header(Some(header.to_owned()));
        service.clone().call(request)
    };
    let first = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let second = "Root=1-5759e988-bd862e3fe1be46a994272794;Parent=53995c3f42cd8ad9;Sampled=1";
    let (a, b) = tokio::join!(call(first), call(second));
    a.unwrap();
    b.unwrap();
    let headers: Vec<String> = (0..4).map(|i| sent(&stub, i).0.unwrap()).collect();
    // Both first attempts fail before either retries: the calls interleave.
    let mut firsts = headers[..2].to_vec();
    firsts.sort();
    assert_eq!(firsts, [first, second]);
    let mut retries = headers[2..].to_vec();
    retries.sort();
    assert_eq!(retries, [first, second]);
}

/// With no header on the request and no span current, the client service publishes without
/// `X-Amzn-Trace-Id`.
#[tokio::test]
async fn the_client_service_alone_outside_a_trace_sends_no_header() {
    let stub = Stub::default();
    let client = aws_sdk_sns::Client::from_conf(sdk_config!(aws_sdk_sns, stub).build());
    let input = PublishInput::builder()
        .topic_arn(TOPIC)
        .message("hello")
        .build()
        .unwrap();
    SnsService::new(client)
        .ready()
        .await
        .unwrap()
        .call(input.into())
        .await
        .unwrap();
    assert_eq!(sent(&stub, 0).0, None);
}

/// A publish the SDK retries (a 500, then a 200) is one send span: every attempt carries
/// its header, and the message attribute was written once, before the first attempt.
#[tokio::test]
async fn a_retried_publish_carries_the_same_trace_on_every_attempt() {
    let stub = Stub::default();
    stub.fail_first(2);
    let spans = Spans::new();
    let client = aws_sdk_sns::Client::from_conf(
        sdk_config!(aws_sdk_sns, stub)
            .retry_config(
                aws_sdk_sns::config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(1)),
            )
            .interceptor(propagation(&spans).interceptor())
            .build(),
    );
    client
        .publish()
        .topic_arn(TOPIC)
        .message("hello")
        .send()
        .await
        .unwrap();
    let send = spans.one("send orders");
    assert_eq!(stub.requests().len(), 3);
    for attempt in 0..3 {
        let (header, form) = sent(&stub, attempt);
        assert_eq!(header, Some(header_of(&send)), "attempt {attempt}");
        assert_eq!(attribute(&form, "X-Amzn-Trace-Id"), Some(header_of(&send)));
        let attributes = form.iter().filter(|(k, _)| k.ends_with(".Name")).count();
        assert_eq!(attributes, 1, "attempt {attempt}: {form:?}");
    }
}

#[tokio::test]
async fn a_message_near_the_size_limit_gets_no_attribute() {
    let stub = Stub::default();
    let spans = Spans::new();
    let client = aws_sdk_sns::Client::from_conf(
        sdk_config!(aws_sdk_sns, stub)
            .interceptor(propagation(&spans).interceptor())
            .build(),
    );
    let big = "x".repeat(256 * 1024 - 50);
    client
        .publish()
        .topic_arn(TOPIC)
        .message(big.clone())
        .send()
        .await
        .unwrap();
    let send = spans.one("send orders");
    let (header, form) = sent(&stub, 0);
    assert_eq!(
        attribute(&form, "X-Amzn-Trace-Id"),
        None,
        "no room for the attribute"
    );
    assert_eq!(
        header.as_deref(),
        Some(header_of(&send).as_str()),
        "the header still carries it"
    );
    assert!(
        form.iter()
            .any(|(k, v)| k == "Message" && v.len() == big.len())
    );

    // A topic allowed larger messages, and said so: the same message has room.
    let client = aws_sdk_sns::Client::from_conf(
        sdk_config!(aws_sdk_sns, stub)
            .interceptor(
                propagation(&spans)
                    .with_size_limit(1024 * 1024)
                    .interceptor(),
            )
            .build(),
    );
    client
        .publish()
        .topic_arn(TOPIC)
        .message(big)
        .send()
        .await
        .unwrap();
    let (_, form) = sent(&stub, 1);
    assert!(attribute(&form, "X-Amzn-Trace-Id").is_some());
}

#[tokio::test]
async fn on_send_learns_the_publish_span() {
    let stub = Stub::default();
    let spans = Spans::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let config = {
        let seen = seen.clone();
        propagation(&spans)
            .with_on_send(move |span| seen.lock().unwrap().push(span.span_context().clone()))
    };
    let client = aws_sdk_sns::Client::from_conf(
        sdk_config!(aws_sdk_sns, stub)
            .interceptor(config.interceptor())
            .build(),
    );
    client
        .publish()
        .topic_arn(TOPIC)
        .message("hello")
        .send()
        .await
        .unwrap();
    let send = spans.one("send orders");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        std::slice::from_ref(&send.span_context)
    );
    assert_eq!(sent(&stub, 0).0.as_deref(), Some(header_of(&send).as_str()));
}

/// Both forms measure Publish and PublishBatch the same: durations and messages sent.
#[tokio::test]
async fn both_forms_record_the_messaging_metrics() {
    use aws_sdk_sns::operation::publish_batch::PublishBatchInput;
    use aws_sdk_sns::types::PublishBatchRequestEntry;
    use baton::metrics::{OPERATION_DURATION, SENT_MESSAGES};
    use baton_test_support::{Metrics, point};

    let base = |operation: &'static str| {
        vec![
            ("messaging.destination.name", "orders"),
            ("messaging.operation.name", operation),
            ("messaging.system", "aws.sns"),
            ("server.address", "stub.invalid"),
        ]
    };
    let duration = |operation| {
        let mut attributes = base(operation);
        attributes.push(("messaging.operation.type", "send"));
        point(OPERATION_DURATION, &attributes, 1)
    };
    let mut expected = vec![
        duration("Publish"),
        duration("PublishBatch"),
        point(SENT_MESSAGES, &base("Publish"), 1),
        point(SENT_MESSAGES, &base("PublishBatch"), 2),
    ];
    expected.sort();
    let entry = |id: &str| {
        PublishBatchRequestEntry::builder()
            .id(id)
            .message("hi")
            .build()
            .unwrap()
    };
    let publish = || {
        PublishInput::builder()
            .topic_arn(TOPIC)
            .message("hello")
            .build()
            .unwrap()
    };
    let batch = || {
        PublishBatchInput::builder()
            .topic_arn(TOPIC)
            .publish_batch_request_entries(entry("a"))
            .publish_batch_request_entries(entry("b"))
            .build()
            .unwrap()
    };

    // The interceptor.
    let (metrics, spans, stub) = (Metrics::new(), Spans::new(), Stub::default());
    let client = aws_sdk_sns::Client::from_conf(
        sdk_config!(aws_sdk_sns, stub)
            .interceptor(
                propagation(&spans)
                    .with_meter(&metrics.meter())
                    .interceptor(),
            )
            .build(),
    );
    client
        .publish()
        .topic_arn(TOPIC)
        .message("hello")
        .send()
        .await
        .unwrap();
    client
        .publish_batch()
        .topic_arn(TOPIC)
        .publish_batch_request_entries(entry("a"))
        .publish_batch_request_entries(entry("b"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.points(), expected);

    // The Tower form, server learned from the client.
    let (metrics, spans, stub) = (Metrics::new(), Spans::new(), Stub::default());
    let client = aws_sdk_sns::Client::from_conf(sdk_config!(aws_sdk_sns, stub).build());
    let mut service = propagation(&spans)
        .with_meter(&metrics.meter())
        .service(client);
    service
        .ready()
        .await
        .unwrap()
        .call(publish().into())
        .await
        .unwrap();
    service
        .ready()
        .await
        .unwrap()
        .call(batch().into())
        .await
        .unwrap();
    assert_eq!(metrics.points(), expected);
}
