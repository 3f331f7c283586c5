//! Invoke, shared by the Tower layer and the SDK interceptor: the CLIENT span, the trace in
//! `ClientContext.custom`, and the request header.

use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::operation::invoke::{InvokeInput, InvokeOutput};
use aws_sdk_lambda::types::InvocationType;
use aws_smithy_types::base64;
use baton::driver::Start;
use baton::{CallError, aws_header_for_context};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use serde_json::{Map, Value};

use crate::config::LambdaPropagation;

/// The longest `ClientContext` Lambda accepts: 3,583 bytes, base64-encoded.
pub const MAX_CLIENT_CONTEXT_BYTES: usize = 3583;

/// The member of `ClientContext.custom` that carries the trace header (X-Ray format), under the
/// name of the HTTP header.
pub const CLIENT_CONTEXT_KEY: &str = "X-Amzn-Trace-Id";

/// Keys in `custom` that mean the caller put a trace there already (any letter case).
const TRACE_KEYS: [&str; 3] = [CLIENT_CONTEXT_KEY, "traceparent", "AWSTraceHeader"];

/// Why the trace was not put into a `ClientContext`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    /// The caller's own trace is there already: its X-Ray header, for the request header to
    /// say the same (`None` if it does not parse).
    Kept(Option<String>),
    /// The caller's `ClientContext` is not base64 of a JSON object (with an object `custom`).
    Unreadable(&'static str),
    /// With the trace it would be longer than Lambda takes.
    TooLarge(usize),
}

/// `existing` (the caller's base64 `ClientContext`, if any) with `header` added to its
/// `custom` map: a new `{"custom":{…}}` when there is none. Everything else the caller put in
/// stays (re-encoded: member order may change, values do not).
pub(crate) fn client_context_with(existing: Option<&str>, header: &str) -> Result<String, Skip> {
    let mut document = match existing {
        // The common case, written straight out.
        None => {
            let mut json = String::with_capacity(header.len() + 40);
            json.push_str(r#"{"custom":{""#);
            json.push_str(CLIENT_CONTEXT_KEY);
            json.push_str(r#"":"#);
            json.push_str(&Value::String(header.to_owned()).to_string());
            json.push_str("}}");
            let encoded = base64::encode(json);
            if encoded.len() > MAX_CLIENT_CONTEXT_BYTES {
                return Err(Skip::TooLarge(encoded.len()));
            }
            return Ok(encoded);
        }
        Some(encoded) => {
            let bytes = base64::decode(encoded.trim())
                .map_err(|_| Skip::Unreadable("the ClientContext is not base64"))?;
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(object)) => object,
                Ok(_) => return Err(Skip::Unreadable("the ClientContext is not a JSON object")),
                Err(_) => return Err(Skip::Unreadable("the ClientContext is not JSON")),
            }
        }
    };
    let custom = document
        .entry("custom")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(custom) = custom else {
        return Err(Skip::Unreadable(
            "the ClientContext's custom is not an object",
        ));
    };
    if custom
        .keys()
        .any(|key| TRACE_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k)))
    {
        // Read as the function's side reads it.
        let strings: std::collections::HashMap<String, String> = custom
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
        let theirs = baton::carrier::extract_from_attributes(&strings)
            .and_then(|(cx, _)| aws_header_for_context(&cx, None));
        return Err(Skip::Kept(theirs));
    }
    custom.insert(
        CLIENT_CONTEXT_KEY.to_owned(),
        Value::String(header.to_owned()),
    );
    let json = serde_json::to_vec(&document).map_err(|_| Skip::Unreadable("unserializable"))?;
    let encoded = base64::encode(json);
    if encoded.len() > MAX_CLIENT_CONTEXT_BYTES {
        return Err(Skip::TooLarge(encoded.len()));
    }
    Ok(encoded)
}

/// The function's name and region in a `FunctionName` (a name, `name:qualifier`, a partial ARN
/// `123456789012:function:name`, or a full ARN, which also names the region).
pub(crate) fn function_of(function_name: Option<&str>) -> (String, Option<String>) {
    let function = function_name.unwrap_or("unknown");
    let (name, region) = match function.split_once(":function:") {
        Some((head, tail)) => {
            // arn:aws:lambda:{region}:{account}:function:{name}[:{qualifier}]
            let region = head
                .strip_prefix("arn:")
                .and_then(|arn| arn.split(':').nth(2))
                .filter(|r| !r.is_empty());
            (tail, region)
        }
        None => (function, None),
    };
    let name = name
        .split(':')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("unknown");
    (name.to_owned(), region.map(str::to_owned))
}

/// An Invoke call in flight (opaque): the CLIENT span, active in its context.
#[derive(Clone, Debug)]
pub struct InvokeCall {
    cx: Context,
    on_send: Option<baton::OnSend>,
    /// The trace header the request carries (the `X-Amzn-Trace-Id` request header too).
    pub(crate) header: Option<String>,
}

impl InvokeCall {
    /// Starts the `Lambda.Invoke` CLIENT span and writes its context into the input's
    /// `ClientContext`.
    pub(crate) fn start(
        config: &LambdaPropagation,
        input: &mut InvokeInput,
        start: &Start<'_>,
    ) -> Self {
        let (function, function_region) = function_of(input.function_name.as_deref());
        let mut attributes = vec![
            KeyValue::new("rpc.system", "aws-api"),
            KeyValue::new("rpc.service", "Lambda"),
            KeyValue::new("rpc.method", "Invoke"),
            KeyValue::new("faas.invoked_name", function),
            KeyValue::new("faas.invoked_provider", "aws"),
        ];
        if let Some(region) = function_region.as_deref().or(start.region) {
            attributes.push(KeyValue::new("faas.invoked_region", region.to_owned()));
        }
        if let Some(region) = start.region {
            attributes.push(KeyValue::new(baton::attr::CLOUD_REGION, region.to_owned()));
        }
        let span = config.common.tracer().with(|tracer| {
            tracer
                .span_builder("Lambda.Invoke")
                .with_kind(SpanKind::Client)
                .with_attributes(attributes)
                .start_with_context(tracer, start.parent)
        });
        let mut call = InvokeCall {
            cx: start.parent.with_span(span),
            on_send: config.common.on_send().cloned(),
            header: None,
        };
        call.inject(config, input);
        call
    }

    /// The caller's context with the invoke span active.
    pub(crate) fn cx(&self) -> &Context {
        &self.cx
    }

    fn inject(&mut self, config: &LambdaPropagation, input: &mut InvokeInput) {
        let lineage = config.common.lineage_in(&self.cx);
        let Some(header) = aws_header_for_context(&self.cx, lineage.as_deref()) else {
            return;
        };
        // Lambda hands the `ClientContext` only to synchronous invocations.
        let synchronous = matches!(
            input.invocation_type,
            None | Some(InvocationType::RequestResponse)
        );
        let mut header = header;
        if config.client_context && synchronous {
            match client_context_with(input.client_context.as_deref(), &header) {
                Ok(encoded) => input.client_context = Some(encoded),
                Err(Skip::Kept(theirs)) => {
                    tracing::debug!(
                        target: "baton::lambda",
                        "the ClientContext carries the caller's own trace; it is kept, and the \
                         request header says the same"
                    );
                    if let Some(theirs) = theirs {
                        header = theirs;
                    }
                }
                Err(Skip::Unreadable(reason)) => tracing::warn!(
                    target: "baton::lambda",
                    reason,
                    "trace context not added to the ClientContext; it is sent as given"
                ),
                Err(Skip::TooLarge(len)) => tracing::warn!(
                    target: "baton::lambda",
                    len,
                    max = MAX_CLIENT_CONTEXT_BYTES,
                    "trace context not added: the ClientContext would be over Lambda's limit; \
                     it is sent as given"
                ),
            }
        }
        self.header = Some(header);
    }

    /// Ends the span: the request id, the status code, and a function error as the span's
    /// error (`error.type` = Lambda's `FunctionError`, `Unhandled` or `Handled`).
    pub(crate) fn finish(self, result: Result<&InvokeOutput, &CallError>) {
        let span = self.cx.span();
        match result {
            Ok(output) => {
                if let Some(id) = output.request_id() {
                    span.set_attribute(KeyValue::new(baton::attr::AWS_REQUEST_ID, id.to_owned()));
                }
                span.set_attribute(KeyValue::new(
                    "http.response.status_code",
                    i64::from(output.status_code),
                ));
                if let Some(error) = &output.function_error {
                    span.set_attribute(KeyValue::new(baton::attr::ERROR_TYPE, error.clone()));
                    span.set_status(Status::error(format!("the function failed ({error})")));
                }
            }
            Err(error) => error.record(&span),
        }
        if let Some(hook) = &self.on_send {
            let _current = self.cx.clone().attach();
            hook.call(&span);
        }
        span.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    fn decoded(encoded: &str) -> Value {
        serde_json::from_slice(&base64::decode(encoded).unwrap()).unwrap()
    }

    #[test]
    fn a_new_client_context_holds_only_the_trace() {
        let encoded = client_context_with(None, HEADER).unwrap();
        assert_eq!(
            decoded(&encoded),
            serde_json::json!({"custom": {"X-Amzn-Trace-Id": HEADER}})
        );
    }

    #[test]
    fn the_callers_client_context_is_merged_into() {
        let theirs = base64::encode(
            r#"{"client":{"app_title":"shop"},"custom":{"tenant":"acme","n":1},"env":{"locale":"fr"}}"#,
        );
        let merged = decoded(&client_context_with(Some(&theirs), HEADER).unwrap());
        assert_eq!(
            merged,
            serde_json::json!({
                "client": {"app_title": "shop"},
                "custom": {"tenant": "acme", "n": 1, "X-Amzn-Trace-Id": HEADER},
                "env": {"locale": "fr"}
            })
        );
        let no_custom = base64::encode(r#"{"env":{}}"#);
        assert_eq!(
            decoded(&client_context_with(Some(&no_custom), HEADER).unwrap())["custom"],
            serde_json::json!({"X-Amzn-Trace-Id": HEADER})
        );
    }

    #[test]
    fn what_cannot_take_the_trace_is_left_alone() {
        for (theirs, skip) in [
            (
                "not base64!".to_owned(),
                Skip::Unreadable("the ClientContext is not base64"),
            ),
            (
                base64::encode("[1]"),
                Skip::Unreadable("the ClientContext is not a JSON object"),
            ),
            (
                base64::encode("{"),
                Skip::Unreadable("the ClientContext is not JSON"),
            ),
            (
                base64::encode(r#"{"custom":"x"}"#),
                Skip::Unreadable("the ClientContext's custom is not an object"),
            ),
            (
                base64::encode(r#"{"custom":{"traceparent":"00-…"}}"#),
                Skip::Kept(None),
            ),
            (
                base64::encode(format!(r#"{{"custom":{{"x-amzn-trace-id":"{HEADER}"}}}}"#)),
                Skip::Kept(Some(HEADER.to_owned())),
            ),
        ] {
            assert_eq!(
                client_context_with(Some(&theirs), HEADER),
                Err(skip),
                "{theirs}"
            );
        }
    }

    #[test]
    fn the_encoded_size_limit_is_lambdas() {
        // The largest `custom` value that still fits, and one byte more.
        let fits = |pad: usize| {
            let theirs = base64::encode(format!(r#"{{"custom":{{"p":"{}"}}}}"#, "x".repeat(pad)));
            client_context_with(Some(&theirs), HEADER)
        };
        let mut pad = 2000;
        while fits(pad + 1).is_ok() {
            pad += 1;
        }
        // Base64 grows in steps of 4: the largest that fits is within one step of the limit.
        let largest = fits(pad).unwrap().len();
        assert!(largest <= MAX_CLIENT_CONTEXT_BYTES && largest + 4 > MAX_CLIENT_CONTEXT_BYTES);
        assert!(
            matches!(fits(pad + 3), Err(Skip::TooLarge(len)) if len > MAX_CLIENT_CONTEXT_BYTES)
        );
    }

    #[test]
    fn the_function_named() {
        for (function, name, region) in [
            ("orders", "orders", None),
            ("orders:live", "orders", None),
            ("123456789012:function:orders", "orders", None),
            (
                "arn:aws:lambda:eu-west-1:123456789012:function:orders",
                "orders",
                Some("eu-west-1"),
            ),
            (
                "arn:aws:lambda:eu-west-1:123456789012:function:orders:7",
                "orders",
                Some("eu-west-1"),
            ),
            ("", "unknown", None),
        ] {
            assert_eq!(
                function_of(Some(function)),
                (name.to_owned(), region.map(str::to_owned)),
                "{function}"
            );
        }
    }
}
