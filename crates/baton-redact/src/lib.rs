//! Keep secrets, personal data and message bodies out of exported traces.
//!
//! Spans pick up more than their authors intend: an HTTP instrumentation records the
//! `Authorization` header, a log line in an event quotes a customer's e-mail address, a
//! debugging session leaves the message body on the send span. Once exported, that data
//! sits in X-Ray or another backend, readable by everyone with access to traces. This crate
//! removes it at the last moment, before export, whatever produced the span and wherever it
//! goes (the X-Ray daemon through `baton-xray`, OTLP to an ADOT collector, anything else):
//!
//! - [`RedactingExporter`] wraps any OpenTelemetry [`SpanExporter`] and redacts each span
//!   before passing the batch on.
//! - [`Redactor`] holds the policy and works on its own too: [`Redactor::redact`] on a
//!   [`SpanData`], [`Redactor::redact_attributes`] on a list of attributes,
//!   [`Redactor::mask_text`] on a string.
//!
//! The default policy:
//! - **Secret keys** — attributes whose key contains the word `authorization`, `cookie`,
//!   `set-cookie`, `x-api-key`, `password`, `secret` or `token` — and also `api-key`, `apikey`,
//!   `passwd`, `credential(s)` and `private-key` (any ASCII case, inside
//!   dotted and header-style keys: `http.request.header.authorization`, `db.password`,
//!   `aws.secret_access_key`, `refresh_token`, but not `tokens_used`) keep their key and get
//!   the value `[REDACTED]`. The exact rule, and how to add, remove, exempt keys or drop
//!   them instead, is in [`Redactor`]'s documentation.
//! - **Personal data in values** — e-mail addresses and payment card numbers (Luhn-checked)
//!   inside string values and string arrays become `[EMAIL]` and `[CARD]`; the rest of the
//!   text stays. Hand-written scanners do this, no regular expressions; add your own
//!   maskers with [`Redactor::with_masker`], or regular expressions with
//!   `Redactor::with_regex` (feature `regex`).
//! - **Message bodies** — `messaging.message.body`, `messaging.message.payload` and every
//!   other attribute under `messaging.` whose last segment is `body` or `payload` are
//!   removed, unless the span's `messaging.destination.name` is one you allowed with
//!   [`Redactor::with_bodies_for`].
//!
//! Nothing else changes: ids, names, times, kind, status, scope, other attributes and
//! their order stay as they were. A span with nothing to redact costs a scan of its keys
//! and string values and no allocation.
//!
//! Span names, event names and status messages are not scanned: keep personal data out of
//! them at the source.
//!
//! # Example
//!
//! ```
//! use opentelemetry::KeyValue;
//! use opentelemetry::trace::{Span, Tracer, TracerProvider};
//! use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
//! use baton_redact::{RedactingExporter, Redactor};
//!
//! let memory = InMemorySpanExporter::default();
//! let redactor = Redactor::new().with_bodies_for(["orders"]);
//! let provider = SdkTracerProvider::builder()
//!     .with_simple_exporter(RedactingExporter::with_redactor(memory.clone(), redactor))
//!     .build();
//!
//! let mut span = provider.tracer("example").start("send orders");
//! span.set_attributes([
//!     KeyValue::new("messaging.destination.name", "orders"),
//!     KeyValue::new("messaging.message.body", r#"{"email":"jane@example.com","qty":2}"#),
//!     KeyValue::new("http.request.header.authorization", "Bearer eyJhbGciOi"),
//!     KeyValue::new("note", "card 4111 1111 1111 1111 declined"),
//!     KeyValue::new("messaging.batch.message_count", 1),
//! ]);
//! span.end();
//!
//! let spans = memory.get_finished_spans().unwrap();
//! let value = |key: &str| {
//!     spans[0].attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
//! };
//! assert_eq!(value("messaging.message.body").unwrap(), r#"{"email":"[EMAIL]","qty":2}"#);
//! assert_eq!(value("http.request.header.authorization").unwrap(), "[REDACTED]");
//! assert_eq!(value("note").unwrap(), "card [CARD] declined");
//! assert_eq!(value("messaging.batch.message_count").unwrap(), "1");
//! ```
//!
//! Without `with_bodies_for(["orders"])`, the body attribute would be gone.
//!
//! # Features
//!
//! | feature | adds |
//! |---|---|
//! | `regex` | `Redactor::with_regex`: custom value patterns as regular expressions (the `regex` crate) |
//!
//! [`SpanExporter`]: opentelemetry_sdk::trace::SpanExporter
//! [`SpanData`]: opentelemetry_sdk::trace::SpanData

mod exporter;
mod keys;
mod redactor;
mod scan;

pub use exporter::RedactingExporter;
pub use redactor::{CARD_MASK, DEFAULT_MASK, EMAIL_MASK, KeyAction, Pattern, Redactor, Summary};
