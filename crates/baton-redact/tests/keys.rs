//! Denied keys: every default entry, dotted, header-style and case variants, and a table
//! of keys that must be left alone.

use baton_redact::{DEFAULT_MASK, KeyAction, Redactor};
use opentelemetry::{Array, KeyValue, Value};

/// Redacts one string attribute and returns what is left of it.
fn redact_one(redactor: &Redactor, key: &'static str) -> Option<Value> {
    let mut attributes = vec![KeyValue::new(key, "s3cr3t-value")];
    redactor.redact_attributes(&mut attributes);
    attributes.pop().map(|kv| {
        assert_eq!(kv.key.as_str(), key, "the key is kept");
        kv.value
    })
}

#[rustfmt::skip]
const DENIED: &[&str] = &[
    // every default entry, bare
    "authorization", "cookie", "set-cookie", "x-api-key", "password", "secret", "token",
    // case variants
    "Authorization", "AUTHORIZATION", "Cookie", "Set-Cookie", "X-Api-Key", "X-API-KEY", "PASSWORD",
    "HTTP.REQUEST.HEADER.AUTHORIZATION",
    // dotted and header-style
    "http.request.header.authorization", "http.request.header.cookie",
    "http.response.header.set-cookie", "http.request.header.x-api-key",
    "rpc.grpc.request.metadata.authorization",
    "db.password", "user.Password", "aws.secret_access_key", "app.client_secret",
    "auth.token", "refresh_token", "http.request.header.x-csrf-token", "oauth.token.expiry",
    // other separators and camelCase
    "x_api_key", "X_API_KEY", "xApiKey", "set_cookie", "accessToken", "clientSecret",
    "userPassword", "db.connection.Password", "sessionCookie", "s3Token",
];

#[test]
fn default_keys_are_masked_and_kept() {
    let redactor = Redactor::new();
    for &key in DENIED {
        assert!(redactor.is_denied_key(key), "{key} should be denied");
        assert_eq!(
            redact_one(&redactor, key),
            Some(Value::from(DEFAULT_MASK)),
            "{key}"
        );
    }
}

#[rustfmt::skip]
const ALLOWED: &[&str] = &[
    // a different word that begins like a denied one
    "tokens_used", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "tokenizer.name",
    "cookies_enabled", "passwords_checked", "secretary.name", "aws.secretsmanager.arn",
    "authorizer.type", "api_gateway.authorizer",
    // ordinary semantic-convention keys
    "messaging.batch.message_count", "messaging.destination.name", "messaging.message.id",
    "messaging.message.body.size", "messaging.system", "http.request.method",
    "http.request.header.content-type", "http.response.status_code", "url.full", "url.query",
    "server.address", "db.system.name", "db.query.text", "aws.request_id", "cloud.region",
    "user_agent.original", "enduser.id", "session.id", "error.type",
    // exempt by default
    "gen_ai.token.type", "GEN_AI.TOKEN.TYPE",
    // one lower-case word: not split, so not matched unless listed (documented; `apikey` is)
    "accesstoken", "xapikey",
    // the words of `x-api-key` / `api-key` spread over segments, or only part of them
    "x.api.key", "x-api",
    // `set-cookie` needs both words together
    "set", "settings.cookie_policy_version",
];

#[test]
fn other_keys_are_left_alone() {
    let redactor = Redactor::new();
    for &key in ALLOWED {
        // `settings.cookie_policy_version` contains the word `cookie`: denied, as documented.
        if key == "settings.cookie_policy_version" {
            assert!(redactor.is_denied_key(key));
            continue;
        }
        assert!(!redactor.is_denied_key(key), "{key} should not be denied");
        assert_eq!(
            redact_one(&redactor, key),
            Some(Value::from("s3cr3t-value")),
            "{key}"
        );
    }
}

#[test]
fn non_string_values_of_denied_keys_become_the_mask() {
    let mut attributes = vec![
        KeyValue::new("pin.password", 1234_i64),
        KeyValue::new("token.valid", true),
        KeyValue::new(
            "cookies.cookie",
            Value::Array(Array::String(vec!["a".into(), "b".into()])),
        ),
    ];
    let summary = Redactor::new().redact_attributes(&mut attributes);
    assert_eq!(summary.masked_keys, 3);
    for kv in &attributes {
        assert_eq!(kv.value, Value::from(DEFAULT_MASK), "{}", kv.key);
    }
}

#[test]
fn keys_can_be_added_removed_and_exempted() {
    let redactor = Redactor::new()
        .with_denied_key("api-key")
        .with_denied_key("enduser.id")
        .without_denied_key("Set_Cookie")
        .with_exempt_key("auth.token_type");
    assert!(redactor.is_denied_key("http.request.header.api_key"));
    assert!(redactor.is_denied_key("ENDUSER.ID"));
    assert!(
        !redactor.is_denied_key("app.enduser.id"),
        "a dotted entry is a whole key"
    );
    assert!(
        redactor.is_denied_key("http.response.header.set-cookie"),
        "`cookie` alone still matches"
    );
    let no_cookies = redactor.clone().without_denied_key("COOKIE");
    assert!(!no_cookies.is_denied_key("http.response.header.set-cookie"));
    assert!(!no_cookies.is_denied_key("http.request.header.cookie"));
    assert!(!redactor.is_denied_key("auth.token_type"));
    assert!(redactor.is_denied_key("auth.token"));

    let none = Redactor::new().without_denied_keys();
    for &key in DENIED {
        assert!(!none.is_denied_key(key), "{key}");
    }
    let ignored = Redactor::new()
        .without_denied_keys()
        .with_denied_key("--")
        .with_denied_key("");
    assert!(!ignored.is_denied_key("anything"));
}

#[test]
fn drop_action_removes_denied_attributes() {
    let redactor = Redactor::new().with_key_action(KeyAction::Drop);
    let mut attributes = vec![
        KeyValue::new("http.request.method", "POST"),
        KeyValue::new("http.request.header.authorization", "Bearer x"),
        KeyValue::new("url.path", "/orders"),
        KeyValue::new("db.password", "hunter2"),
    ];
    let summary = redactor.redact_attributes(&mut attributes);
    assert_eq!(summary.dropped, 2);
    assert_eq!(
        attributes,
        vec![
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("url.path", "/orders"),
        ]
    );
}

#[test]
fn custom_mask_text() {
    let redactor = Redactor::new().with_mask(String::from("***"));
    assert_eq!(
        redact_one(&redactor, "db.password"),
        Some(Value::from("***"))
    );
    let redactor = Redactor::new().with_mask("<secret>");
    assert_eq!(
        redact_one(&redactor, "db.password"),
        Some(Value::from("<secret>"))
    );
}
