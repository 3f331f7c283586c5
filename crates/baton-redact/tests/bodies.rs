//! Message bodies: dropped by default, kept (and still masked) for allowed destinations.

mod support;

use baton_redact::Redactor;
use opentelemetry::KeyValue;
use support::{span, text, value};

fn send_attributes(destination: &'static str) -> Vec<KeyValue> {
    vec![
        KeyValue::new("messaging.system", "aws_sqs"),
        KeyValue::new("messaging.destination.name", destination),
        KeyValue::new("messaging.message.body", "hello jane@example.com"),
        KeyValue::new("messaging.message.payload", "{\"n\":1}"),
        KeyValue::new("Messaging.SQS.Body", "raw"),
        KeyValue::new("messaging.message.body.size", 22_i64),
        KeyValue::new(
            "messaging.message.id",
            "5fea7756-0ea4-451a-a703-a558b933e274",
        ),
    ]
}

const BODY_KEYS: [&str; 3] = [
    "messaging.message.body",
    "messaging.message.payload",
    "Messaging.SQS.Body",
];

#[test]
fn bodies_are_dropped_by_default() {
    let mut attributes = send_attributes("orders");
    let summary = Redactor::new().redact_attributes(&mut attributes);
    assert_eq!(summary.dropped, 3);
    for key in BODY_KEYS {
        assert!(value(&attributes, key).is_none(), "{key}");
    }
    assert_eq!(
        text(&attributes, "messaging.message.body.size").as_deref(),
        Some("22")
    );
    assert_eq!(attributes.len(), 4);
}

#[test]
fn bodies_are_kept_and_masked_for_allowed_destinations() {
    let redactor = Redactor::new().with_bodies_for(["orders"]);
    let mut attributes = send_attributes("orders");
    let summary = redactor.redact_attributes(&mut attributes);
    assert_eq!(summary.dropped, 0);
    assert_eq!(summary.masked_values, 1);
    assert_eq!(
        text(&attributes, "messaging.message.body").as_deref(),
        Some("hello [EMAIL]")
    );
    assert_eq!(
        text(&attributes, "messaging.message.payload").as_deref(),
        Some("{\"n\":1}")
    );
    assert_eq!(
        text(&attributes, "Messaging.SQS.Body").as_deref(),
        Some("raw")
    );
}

#[test]
fn other_destinations_still_lose_their_bodies() {
    let redactor = Redactor::new().with_bodies_for(["orders", "audit"]);
    for destination in ["payments", "Orders", "orders.fifo", ""] {
        let mut attributes = send_attributes(destination);
        assert_eq!(
            redactor.redact_attributes(&mut attributes).dropped,
            3,
            "{destination:?}"
        );
    }
    let mut attributes = send_attributes("audit");
    assert_eq!(redactor.redact_attributes(&mut attributes).dropped, 0);
}

#[test]
fn no_destination_means_no_body() {
    let redactor = Redactor::new().with_bodies_for(["orders"]);
    let mut attributes = vec![
        KeyValue::new("messaging.message.body", "x"),
        // a destination that is not a string does not count
        KeyValue::new("messaging.destination.name", 7_i64),
    ];
    redactor.redact_attributes(&mut attributes);
    assert_eq!(
        attributes,
        vec![KeyValue::new("messaging.destination.name", 7_i64)]
    );
}

#[test]
fn extra_body_keys() {
    let redactor = Redactor::new().with_body_key("app.event.payload");
    let mut attributes = vec![
        KeyValue::new("App.Event.Payload", "{}"),
        KeyValue::new("app.event.name", "created"),
    ];
    redactor.redact_attributes(&mut attributes);
    assert_eq!(attributes, vec![KeyValue::new("app.event.name", "created")]);
    assert!(!Redactor::new().is_body_key("app.event.payload"));
}

#[test]
fn the_span_destination_governs_events_and_links() {
    let body = || {
        vec![
            KeyValue::new("messaging.message.body", "b"),
            KeyValue::new("k", "v"),
        ]
    };
    let mut attributes = body();
    attributes.push(KeyValue::new("messaging.destination.name", "orders"));

    let mut denied = span(attributes.clone(), body(), body());
    Redactor::new().redact(&mut denied);
    assert_eq!(
        denied.events.events[0].attributes,
        vec![KeyValue::new("k", "v")]
    );
    assert_eq!(
        denied.links.links[0].attributes,
        vec![KeyValue::new("k", "v")]
    );
    assert!(value(&denied.attributes, "messaging.message.body").is_none());

    let mut allowed = span(attributes, body(), body());
    Redactor::new()
        .with_bodies_for(["orders"])
        .redact(&mut allowed);
    assert_eq!(allowed.events.events[0].attributes, body());
    assert_eq!(allowed.links.links[0].attributes, body());
}
