//! Whatever a caller starts, Baton never breaks the start: generated executions (no input,
//! JSON objects with and without the configured field, JSON that is not an object, text that
//! is not JSON, objects cut short, objects right at the 256 KiB input limit; a caller
//! `traceHeader` absent, well-formed or garbage; the input field on or off; a named execution
//! now and then; StartExecution or StartSyncExecution) go through the SDK interceptor or the
//! Tower form against a stub HTTP client. The request that leaves is checked against the
//! rules: one request, every field the caller set as they set it, `traceHeader` added only
//! when the caller had none (then naming the send span), and the input either byte for byte
//! the caller's or, only where the rules allow, the same object plus exactly the one field
//! holding the trace header that was sent.

mod common;

use aws_sdk_sfn::operation::start_execution::StartExecutionInput;
use aws_sdk_sfn::operation::start_sync_execution::StartSyncExecutionInput;
use baton::TraceHeader;
use baton_sfn::{SfnPropagation, SfnRequest, SfnService};
use baton_test_support::{Request, Spans, sdk_config};
use common::Stub;
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, SpanId, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::trace::SpanData;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};
use tower::{Layer, Service, ServiceExt};

const ARN: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:orders";

/// Step Functions' limit on the execution input.
const LIMIT: usize = 256 * 1024;

/// A well-formed X-Ray header of a caller's own.
const VALID: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

/// A stand-in as long as every header Baton writes in these tests (no `Lineage` outside
/// Lambda), for sizing inputs before the real header exists.
const BATONS_LENGTH: &str =
    "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=1";

/// An execution input, described so that a failing case prints short: the text is made from
/// the description once the configured field and the caller's header are known.
#[derive(Clone, Debug)]
enum Input {
    /// No input at all.
    Absent,
    /// A JSON object, compact or pretty; `own_field` puts the configured field in it first.
    Object {
        members: Map<String, Value>,
        pretty: bool,
        own_field: Option<Value>,
    },
    /// JSON that is not an object.
    NotObject(Value),
    /// Any text (rarely valid JSON).
    Text(String),
    /// A compact object cut short after `at` of its bytes (moved back to a character
    /// boundary).
    CutShort {
        members: Map<String, Value>,
        at: prop::sample::Index,
    },
    /// `{"blob":"xxx…"}` sized so that with the field added it would be `spare` bytes under
    /// the limit (negative: over it).
    NearLimit { spare: i64 },
}

/// The settings a case runs with (the input field, if configured) and the caller's other
/// choices: their own `traceHeader`, an execution name, the operation and the form.
#[derive(Clone, Debug)]
struct Setting {
    field: Option<String>,
    caller_header: Option<String>,
    name: Option<String>,
    sync: bool,
    tower: bool,
    caller_span: bool,
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,20}".prop_map(Value::String),
        proptest::collection::vec(any::<char>(), 0..12)
            .prop_map(|chars| Value::String(chars.into_iter().collect())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z]{1,8}|\\PC{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn members() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map("[a-zA-Z_]{1,8}|\\PC{0,8}", json_value(), 0..6)
        .prop_map(|m| m.into_iter().collect())
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        2 => Just(Input::Absent),
        6 => (
            members(),
            any::<bool>(),
            prop_oneof![
                3 => Just(None),
                1 => Just(Some(json!(VALID))),
                1 => Just(Some(json!("not a header"))),
                1 => json_value().prop_map(Some),
            ],
        )
            .prop_map(|(members, pretty, own_field)| Input::Object {
                members,
                pretty,
                own_field,
            }),
        2 => json_value()
            .prop_filter("not an object", |v| !v.is_object())
            .prop_map(Input::NotObject),
        1 => prop_oneof![
            Just("{}".to_owned()),
            Just(" \n{ \t}\r\n".to_owned()),
            Just("{\"a\":1,\"a\":2}".to_owned()),
            Just("\u{feff}{}".to_owned()),
            "\\PC{0,40}",
            proptest::collection::vec(any::<char>(), 0..40)
                .prop_map(|chars| chars.into_iter().collect::<String>()),
        ]
        .prop_map(Input::Text),
        2 => (members(), any::<prop::sample::Index>())
            .prop_map(|(members, at)| Input::CutShort { members, at }),
        3 => prop_oneof![
            // Right where the field just fits, or just does not.
            3 => Just(0i64),
            3 => -3..=3i64,
            2 => -300..=300i64,
        ]
        .prop_map(|spare| Input::NearLimit { spare }),
    ]
}

fn setting() -> impl Strategy<Value = Setting> {
    (
        prop_oneof![
            1 => Just(None),
            2 => Just(Some("traceHeader".to_owned())),
            1 => "[a-zA-Z_]{1,12}".prop_map(Some),
            1 => prop_oneof![Just("trace \"header\"\n"), Just("é"), Just("")]
                .prop_map(|f| Some(f.to_owned())),
        ],
        prop_oneof![
            3 => Just(None),
            1 => Just(Some(VALID.to_owned())),
            1 => "\\PC{0,30}".prop_map(Some),
            1 => proptest::collection::vec(any::<char>(), 0..30)
                .prop_map(|chars| Some(chars.into_iter().collect())),
            1 => "[ -~]{250,300}".prop_map(Some),
        ],
        prop_oneof![4 => Just(None), 1 => Just(Some("order-42".to_owned()))],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(field, caller_header, name, sync, tower, caller_span)| Setting {
                field,
                caller_header,
                name,
                sync,
                tower,
                caller_span,
            },
        )
}

/// `text` as a JSON string literal.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// How many bytes adding `"field":"header"` to an object makes it longer (with the comma
/// that separates it from the members already there).
fn member_len(field: &str, header: &str, empty: bool) -> usize {
    quoted(field).len() + 1 + quoted(header).len() + usize::from(!empty)
}

/// The input text the caller sends.
fn input_text(input: &Input, setting: &Setting) -> Option<String> {
    // The field the caller may have set themselves: the configured one (any name will do when
    // none is configured).
    let field = setting.field.as_deref().unwrap_or("traceHeader");
    match input {
        Input::Absent => None,
        Input::Object {
            members,
            pretty,
            own_field,
        } => {
            let mut object = Map::new();
            if let Some(value) = own_field {
                object.insert(field.to_owned(), value.clone());
            }
            object.extend(members.clone());
            let object = Value::Object(object);
            Some(if *pretty {
                serde_json::to_string_pretty(&object).unwrap()
            } else {
                object.to_string()
            })
        }
        Input::NotObject(value) => Some(value.to_string()),
        Input::Text(text) => Some(text.clone()),
        Input::CutShort { members, at } => {
            let text = Value::Object(members.clone()).to_string();
            // Strictly shorter than the whole: no cut object is valid JSON.
            let mut at = at.index(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            Some(text[..at].to_owned())
        }
        Input::NearLimit { spare } => {
            let header = setting.caller_header.as_deref().unwrap_or(BATONS_LENGTH);
            let shell = r#"{"blob":""}"#.len();
            let target = LIMIT as i64 - spare - member_len(field, header, false) as i64;
            let blob = usize::try_from(target).unwrap_or(0).saturating_sub(shell);
            Some(format!(r#"{{"blob":"{}"}}"#, "x".repeat(blob)))
        }
    }
}

/// Baton's Step Functions propagation for `setting`, recording into `spans`.
fn propagation(spans: &Spans, setting: &Setting) -> SfnPropagation {
    let config = SfnPropagation::new().with_tracer(spans.handle());
    match &setting.field {
        Some(field) => config.with_input_field(field.clone()),
        None => config,
    }
}

/// Whether `value` can go on the wire as an HTTP header value as it is: visible ASCII, space
/// and tab only.
fn plain_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// `text` for a failure message: in full if short, else its length and both ends.
fn shown(text: Option<&str>) -> String {
    match text {
        None => "no input".to_owned(),
        Some(text) if text.len() <= 200 => format!("{text:?}"),
        Some(text) => {
            let head: String = text.chars().take(60).collect();
            let tail: String = text
                .chars()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("{} bytes: {head:?} … {tail:?}", text.len())
        }
    }
}

/// Checks the request that left against what the caller gave.
fn check_request(
    recorded: &[Request<'static>],
    given_input: Option<&str>,
    setting: &Setting,
    send: &SpanData,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(recorded.len(), 1, "one request leaves");
    let http_header = recorded[0].trace_header().map(str::to_owned);
    let body: Value = serde_json::from_str(recorded[0].body()).unwrap();
    let body = body.as_object().unwrap();

    // No field the caller did not set, besides `traceHeader` and `input`.
    for key in body.keys() {
        prop_assert!(
            ["stateMachineArn", "name", "input", "traceHeader"].contains(&key.as_str()),
            "unexpected field {key:?}"
        );
    }
    prop_assert_eq!(
        body.get("stateMachineArn").and_then(Value::as_str),
        Some(ARN)
    );
    prop_assert_eq!(
        body.get("name").and_then(Value::as_str),
        setting.name.as_deref()
    );

    // `traceHeader`: the caller's as they set it, else Baton's, naming the send span.
    let sent_header = body.get("traceHeader").and_then(Value::as_str);
    prop_assert!(sent_header.is_some(), "no traceHeader sent");
    let sent_header = sent_header.unwrap();
    match &setting.caller_header {
        Some(theirs) => prop_assert_eq!(sent_header, theirs.as_str(), "the caller's changed"),
        None => {
            let parsed = TraceHeader::parse(sent_header);
            prop_assert!(parsed.is_ok(), "{sent_header:?} does not parse");
            let parsed = parsed.unwrap();
            prop_assert_eq!(parsed.trace_id(), send.span_context.trace_id());
            prop_assert_eq!(parsed.parent_id(), Some(send.span_context.span_id()));
        }
    }

    // The request header says the same as the body, whenever it can be sent at all.
    if plain_header_value(sent_header) {
        prop_assert_eq!(http_header.as_deref(), Some(sent_header), "request header");
    } else {
        prop_assert!(
            http_header.is_none() || http_header.as_deref() == Some(sent_header),
            "request header {http_header:?} differs from traceHeader {sent_header:?}"
        );
    }

    // The input: as given, or (only where the rules allow) the same object plus the field.
    let sent_input = body.get("input").map(|v| v.as_str().unwrap());
    let document = given_input.unwrap_or("{}");
    let object = match serde_json::from_str::<Value>(document) {
        Ok(Value::Object(object)) => Some(object),
        _ => None,
    };
    let expected = match (&setting.field, &object) {
        (Some(field), Some(object))
            if setting.name.is_none()
                && !object.contains_key(field)
                && document.len() + member_len(field, sent_header, object.is_empty()) <= LIMIT =>
        {
            let mut with_field = object.clone();
            with_field.insert(field.clone(), json!(sent_header));
            Some((Value::Object(with_field), field))
        }
        _ => None,
    };
    match expected {
        Some((with_field, field)) => {
            prop_assert!(sent_input.is_some(), "no input sent");
            let sent_input = sent_input.unwrap();
            let parsed = serde_json::from_str::<Value>(sent_input);
            prop_assert!(
                parsed.is_ok(),
                "the sent input does not parse: {}",
                shown(Some(sent_input))
            );
            prop_assert!(
                parsed.unwrap() == with_field,
                "not the object plus the field: {} sent for {}",
                shown(Some(sent_input)),
                shown(given_input)
            );
            // Exactly the one member added: nothing else rewritten.
            prop_assert_eq!(
                sent_input.len(),
                document.len() + member_len(field, sent_header, object.unwrap().is_empty())
            );
            prop_assert!(sent_input.len() <= LIMIT);
        }
        None => prop_assert!(
            sent_input == given_input,
            "the input changed: {} sent for {}",
            shown(sent_input),
            shown(given_input)
        ),
    }
    Ok(())
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Starts the execution through the interceptor or the Tower form, as `setting` says.
async fn start(
    stub: &Stub,
    config: &SfnPropagation,
    setting: &Setting,
    input: Option<String>,
) -> Result<(), String> {
    let name = setting.name.clone();
    let trace_header = setting.caller_header.clone();
    if setting.tower {
        let client = aws_sdk_sfn::Client::from_conf(sdk_config!(aws_sdk_sfn, stub).build());
        let mut service = config.layer().layer(SfnService::new(client));
        let request = if setting.sync {
            SfnRequest::from(
                StartSyncExecutionInput::builder()
                    .state_machine_arn(ARN)
                    .set_name(name)
                    .set_input(input)
                    .set_trace_header(trace_header)
                    .build()
                    .unwrap(),
            )
        } else {
            SfnRequest::from(
                StartExecutionInput::builder()
                    .state_machine_arn(ARN)
                    .set_name(name)
                    .set_input(input)
                    .set_trace_header(trace_header)
                    .build()
                    .unwrap(),
            )
        };
        let service = service.ready().await.map_err(|e| e.to_string())?;
        service
            .call(request)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    } else {
        let client = aws_sdk_sfn::Client::from_conf(
            sdk_config!(aws_sdk_sfn, stub)
                .interceptor(config.interceptor())
                .build(),
        );
        if setting.sync {
            client
                .start_sync_execution()
                .state_machine_arn(ARN)
                .set_name(name)
                .set_input(input)
                .set_trace_header(trace_header)
                .send()
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        } else {
            client
                .start_execution()
                .state_machine_arn(ARN)
                .set_name(name)
                .set_input(input)
                .set_trace_header(trace_header)
                .send()
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
    }
}

#[test]
fn any_start_goes_out_as_the_caller_made_it_plus_the_trace() {
    let runtime = runtime();
    let spans = Spans::new();
    runner()
        .run(&(input(), setting()), |(input, setting)| {
            let stub = Stub::default();
            spans.exporter.reset();
            let config = propagation(&spans, &setting);
            let text = input_text(&input, &setting);
            let cx = if setting.caller_span {
                Context::new().with_span(spans.provider.tracer("app").start("caller"))
            } else {
                Context::new()
            };
            let result = runtime
                .block_on(start(&stub, &config, &setting, text.clone()).with_context(cx.clone()));
            prop_assert!(result.is_ok(), "the start failed: {result:?}");
            let sends = spans.named("send orders");
            prop_assert_eq!(sends.len(), 1);
            let send = &sends[0];
            if setting.caller_span {
                prop_assert_eq!(send.parent_span_id, cx.span().span_context().span_id());
            } else {
                prop_assert_eq!(send.parent_span_id, SpanId::INVALID);
            }
            let recorded = stub.requests();
            check_request(&recorded, text.as_deref(), &setting, send)
        })
        .unwrap();
}
