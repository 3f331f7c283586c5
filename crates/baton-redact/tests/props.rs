//! Property tests: no input panics, and redaction is idempotent.

use baton_redact::Redactor;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use proptest::prelude::*;

/// Text built from the pieces that matter to the scanners, plus any characters.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => prop::sample::select(vec![
            "@", ".", "-", " ", "_", "+", ",", "4111", "1111", "5500", "0004", "3782", "822463",
            "10005", "jane", "example", "com", "co", "[EMAIL]", "[CARD]", "é", "日", "a", "Z", "9",
        ])
        .prop_map(str::to_string),
        1 => any::<String>(),
        1 => "[0-9 -]{0,24}",
        1 => "[a-z.+]{1,6}@[a-z.-]{1,12}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[a-zA-Z_.-]{0,30}",
        1 => any::<String>(),
        1 => prop::sample::select(vec![
            "messaging.message.body", "http.request.header.authorization", "x_api_key",
            "tokens_used", "messaging.destination.name", "Messaging.X.Payload",
        ])
        .prop_map(str::to_string),
    ]
}

fn attribute() -> impl Strategy<Value = KeyValue> {
    let value = prop_oneof![
        3 => text().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => prop::collection::vec(text(), 0..4).prop_map(|items| {
            Value::Array(Array::String(items.into_iter().map(StringValue::from).collect()))
        }),
        1 => prop::sample::select(vec!["orders", "payments"]).prop_map(Value::from),
    ];
    (key(), value).prop_map(|(key, value)| KeyValue::new(key, value))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn masking_text_is_idempotent(text in text()) {
        let redactor = Redactor::new();
        if let Some(once) = redactor.mask_text(&text) {
            prop_assert_eq!(redactor.mask_text(&once), None, "{:?} -> {:?}", text, once);
        }
    }

    #[test]
    fn redacting_attributes_is_idempotent(
        attributes in prop::collection::vec(attribute(), 0..12),
        keys in prop::collection::vec(key(), 0..3),
    ) {
        let mut redactor = Redactor::new().with_bodies_for(["orders"]);
        for key in &keys {
            redactor = redactor.with_denied_key(key).with_body_key(key).with_exempt_key(key);
        }
        let mut once = attributes;
        redactor.redact_attributes(&mut once);
        let mut twice = once.clone();
        let summary = redactor.redact_attributes(&mut twice);
        prop_assert!(summary.is_empty(), "{:?}", summary);
        prop_assert_eq!(twice, once);
    }

    #[test]
    fn any_key_is_safe(key in any::<String>(), entry in any::<String>()) {
        let redactor = Redactor::new().with_denied_key(&entry).without_denied_key(&key);
        let _ = redactor.is_denied_key(&key);
        let _ = redactor.is_body_key(&key);
    }
}
