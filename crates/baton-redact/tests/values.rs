//! Value masking: e-mail addresses and payment card numbers inside strings and string
//! arrays, and custom maskers.

use baton_redact::{Pattern, Redactor};
use opentelemetry::{Array, KeyValue, StringValue, Value};

fn mask(text: &str) -> String {
    Redactor::new()
        .mask_text(text)
        .unwrap_or_else(|| text.to_string())
}

#[rustfmt::skip]
const EMAILS: &[(&str, &str)] = &[
    ("jane@example.com", "[EMAIL]"),
    ("order for jane@example.com", "order for [EMAIL]"),
    ("jane+orders@example.com", "[EMAIL]"),
    ("first.last@mail.eu.example.co.uk", "[EMAIL]"),
    ("JANE_DOE-99%x@Example.COM", "[EMAIL]"),
    ("to: <jane@example.com>, bob@example.org.", "to: <[EMAIL]>, [EMAIL]."),
    ("mailto:jane@example.com?subject=hi", "mailto:[EMAIL]?subject=hi"),
    (".jane@example.com", ".[EMAIL]"),
    ("a@b.co", "[EMAIL]"),
    ("jane@example.com-", "[EMAIL]-"),
    ("x@y.com@z.org", "[EMAIL]@z.org"),
    ("é jane@example.com é", "é [EMAIL] é"),
    // not addresses
    ("a@b", "a@b"),
    ("@mention and @jane.doe", "@mention and @jane.doe"),
    ("jane@", "jane@"),
    ("jane@localhost", "jane@localhost"),
    ("root@10.0.0.1", "root@10.0.0.1"),
    ("jane@example.c", "jane@example.c"),
    ("jane@example.c0m", "jane@example.c0m"),
    ("jane@.com", "jane@.com"),
    ("price @ 3.50", "price @ 3.50"),
    ("no at sign here", "no at sign here"),
];

#[test]
fn emails() {
    for &(input, expected) in EMAILS {
        assert_eq!(mask(input), expected, "{input:?}");
    }
}

#[rustfmt::skip]
const CARDS: &[(&str, &str)] = &[
    ("4111111111111111", "[CARD]"),
    ("card 4111 1111 1111 1111 declined", "card [CARD] declined"),
    ("card 4111-1111-1111-1111.", "card [CARD]."),
    ("5500 0000 0000 0004", "[CARD]"),
    ("amex 378282246310005", "amex [CARD]"),
    ("amex 3782 822463 10005", "amex [CARD]"),
    ("4222222222222", "[CARD]"),                       // 13-digit Visa
    ("6011000990139424", "[CARD]"),                    // Discover
    ("(4111111111111111)", "([CARD])"),
    ("cards: 4111111111111111, 5500000000000004", "cards: [CARD], [CARD]"),
    ("qty 12 4111 1111 1111 1111", "qty 12 [CARD]"),   // a group before the number
    ("4111 1111 1111 1111 2", "[CARD] 2"),             // a group after it
    // left alone
    ("4111111111111112", "4111111111111112"),          // Luhn fails
    ("4111 1111 1111 1112", "4111 1111 1111 1112"),
    ("order 12345678901234567890123", "order 12345678901234567890123"), // 23 digits
    ("ORD-20261125-000123456789", "ORD-20261125-000123456789"),
    ("id4111111111111111", "id4111111111111111"),      // part of an identifier
    ("4111111111111111abc", "4111111111111111abc"),
    ("4111111111111111_x", "4111111111111111_x"),
    ("0.4111111111111111", "0.4111111111111111"),      // a decimal
    ("4111111111111111.5", "4111111111111111.5"),
    ("1732560000000", "1732560000000"),                // epoch milliseconds: starts with 1
    ("1732560000000000000", "1732560000000000000"),    // epoch nanoseconds
    ("0000 0000 0000 0000", "0000 0000 0000 0000"),
    ("4111 1111-1111 1111", "4111 1111-1111 1111"),    // mixed separators
    ("4111  1111  1111  1111", "4111  1111  1111  1111"), // double spaces
    ("123456789012", "123456789012"),                  // an account id, 12 digits
    ("+1 555 123 4567", "+1 555 123 4567"),
    ("2026-11-25", "2026-11-25"),
];

#[test]
fn cards() {
    for &(input, expected) in CARDS {
        assert_eq!(mask(input), expected, "{input:?}");
    }
}

#[test]
fn both_patterns_in_one_value() {
    assert_eq!(
        mask("jane@example.com paid with 4111 1111 1111 1111"),
        "[EMAIL] paid with [CARD]"
    );
}

#[test]
fn clean_text_is_not_copied() {
    let redactor = Redactor::new();
    for text in [
        "",
        "plain",
        "order 42 for customer 7",
        "a@b",
        "2026-11-25T20:00:00Z",
    ] {
        assert_eq!(redactor.mask_text(text), None, "{text:?}");
    }
}

#[test]
fn patterns_can_be_turned_off() {
    let text = "jane@example.com 4111111111111111";
    let no_email = Redactor::new().without_pattern(Pattern::Email);
    assert_eq!(
        no_email.mask_text(text).as_deref(),
        Some("jane@example.com [CARD]")
    );
    let no_card = Redactor::new().without_pattern(Pattern::PaymentCard);
    assert_eq!(
        no_card.mask_text(text).as_deref(),
        Some("[EMAIL] 4111111111111111")
    );
    let neither = no_card.without_pattern(Pattern::Email);
    assert_eq!(neither.mask_text(text), None);
    let back = neither.with_pattern(Pattern::Email);
    assert_eq!(
        back.mask_text(text).as_deref(),
        Some("[EMAIL] 4111111111111111")
    );
}

#[test]
fn string_values_and_arrays_are_masked_in_place() {
    let mut attributes = vec![
        KeyValue::new("note", "order for jane@example.com"),
        KeyValue::new(
            "recipients",
            Value::Array(Array::String(vec![
                StringValue::from("ops"),
                StringValue::from("bob@example.org"),
                StringValue::from("card 4111111111111111"),
            ])),
        ),
        KeyValue::new("count", 4111111111111111_i64),
        KeyValue::new("ratio", 0.5),
        KeyValue::new("jane@example.com", "key names are not scanned"),
    ];
    let summary = Redactor::new().redact_attributes(&mut attributes);
    assert_eq!(summary.masked_values, 2);
    assert_eq!(summary.masked_keys + summary.dropped, 0);
    assert_eq!(
        attributes,
        vec![
            KeyValue::new("note", "order for [EMAIL]"),
            KeyValue::new(
                "recipients",
                Value::Array(Array::String(vec![
                    StringValue::from("ops"),
                    StringValue::from("[EMAIL]"),
                    StringValue::from("card [CARD]"),
                ])),
            ),
            KeyValue::new("count", 4111111111111111_i64),
            KeyValue::new("ratio", 0.5),
            KeyValue::new("jane@example.com", "key names are not scanned"),
        ]
    );
}

#[test]
fn custom_maskers_run_after_the_built_in_patterns() {
    let redactor = Redactor::new()
        .with_masker(|text: &str| text.contains("EMAIL").then(|| text.replace("EMAIL", "E")))
        .with_masker(|text: &str| {
            text.contains("acct-")
                .then(|| text.replace("acct-", "acct-#"))
        });
    assert_eq!(
        redactor.mask_text("jane@example.com acct-7").as_deref(),
        Some("[E] acct-#7")
    );
    assert_eq!(redactor.mask_text("nothing"), None);
}

#[cfg(feature = "regex")]
#[test]
fn regex_patterns() {
    let redactor =
        Redactor::new().with_regex(regex::Regex::new(r"\bAKIA[0-9A-Z]{16}\b").unwrap(), "[$0]");
    assert_eq!(
        redactor
            .mask_text("key AKIAIOSFODNN7EXAMPLE, mail a@example.com")
            .as_deref(),
        Some("key [$0], mail [EMAIL]")
    );
    assert_eq!(redactor.mask_text("key AKIA short"), None);
}
