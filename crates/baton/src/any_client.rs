//! The trace header on any AWS SDK client (feature `smithy`): [`TraceHeaderInterceptor`].

use std::fmt;
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::{Intercept, OverriddenHooks};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};

use crate::sdk::{InFlight, call_mut, has_call, put_call, take_call};
use crate::{CallError, TracerHandle, attr};

/// The HTTP header that carries the trace, in its wire form.
const HEADER: &str = "x-amzn-trace-id";

/// Sets `X-Amzn-Trace-Id` on every request of any AWS SDK client (S3, DynamoDB, Kinesis, …)
/// from the span current when the call is made, so that where AWS hands the header on (an S3
/// event notification, a Lambda invocation, API Gateway) the trace goes on too. Inside Lambda
/// the invocation's `Lineage` is merged in, as Baton's SNS and Step Functions crates do, so
/// Lambda's recursive-loop detection keeps working.
///
/// By default it opens no span: the caller (or the SDK's own instrumentation) has one, and the
/// header names it. [`with_client_spans(true)`](Self::with_client_spans) makes it open a CLIENT
/// span per call, `{Service}.{Operation}` (`S3.PutObject`, as the OpenTelemetry AWS SDK
/// instrumentations of other languages name them), with `rpc.system` `aws-api`,
/// `rpc.service`, `rpc.method`, `cloud.region`, `server.address`, `aws.request_id` and, for a
/// failed call, `error.type` and `http.response.status_code`; the header then names that span.
///
/// A header already on the request (set by the caller, or by Baton's SNS or Step Functions
/// interceptor, which know better) is kept; inside Lambda, the copy of the invocation's own
/// header that the SDK puts on every request is replaced. Outside any valid span nothing is set
/// and no span is opened (a background call would otherwise start a trace of its own). With
/// Baton's SNS or Step Functions interceptor on the same client and client spans on, a call has
/// both their send span and this CLIENT span. The call itself never fails because of it.
///
/// ```ignore
/// // (Not compiled here: the core depends on no service's SDK.)
/// use baton::TraceHeaderInterceptor;
///
/// let s3 = aws_sdk_s3::Client::from_conf(
///     aws_sdk_s3::config::Builder::from(&sdk_config)
///         .interceptor(TraceHeaderInterceptor::new())
///         .build(),
/// );
/// // Every call now carries `X-Amzn-Trace-Id` naming the span it was made in.
/// s3.put_object().bucket("orders").key("42.json").body(body).send().with_current_context().await?;
/// ```
#[derive(Clone, Default)]
pub struct TraceHeaderInterceptor {
    spans: bool,
    tracer: TracerHandle,
    env: Option<fn(&str) -> Option<String>>,
    server: Arc<crate::sdk::ServerMemo>,
}

impl TraceHeaderInterceptor {
    /// The header on every request, no span of its own.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether each call gets a CLIENT span of its own (default: no).
    #[must_use]
    pub fn with_client_spans(mut self, enabled: bool) -> Self {
        self.spans = enabled;
        self
    }

    /// Spans from `tracer` instead of the global tracer provider's.
    #[must_use]
    pub fn with_tracer(mut self, tracer: TracerHandle) -> Self {
        self.tracer = tracer;
        self
    }

    /// Environment variables read with `env` instead of from the process (for tests): Baton
    /// reads `AWS_LAMBDA_FUNCTION_NAME` and `_X_AMZN_TRACE_ID` for the invocation's `Lineage`.
    #[must_use]
    pub fn with_environment(mut self, env: fn(&str) -> Option<String>) -> Self {
        self.env = Some(env);
        self
    }

    fn env(&self) -> fn(&str) -> Option<String> {
        self.env.unwrap_or(crate::process_env)
    }

    /// Whether `header` is the invocation's own trace header, which the SDK's recursion
    /// detection copies from `_X_AMZN_TRACE_ID` onto every request inside Lambda (before any
    /// interceptor of the client's configuration runs): it names Lambda's segment, not the
    /// span the call is made in, so Baton's header replaces it.
    fn is_lambdas_own(&self, header: &str) -> bool {
        let env = self.env();
        env("AWS_LAMBDA_FUNCTION_NAME").is_some()
            && env("_X_AMZN_TRACE_ID").is_some_and(|own| own.trim() == header.trim())
    }
}

impl fmt::Debug for TraceHeaderInterceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceHeaderInterceptor")
            .field("spans", &self.spans)
            .finish_non_exhaustive()
    }
}

/// A call's CLIENT span, while the call runs.
#[derive(Debug)]
struct ClientCall {
    cx: Context,
}

impl InFlight for ClientCall {
    fn fail(self, error: &CallError) {
        let span = self.cx.span();
        error.record(&span);
        span.end();
    }
}

impl Intercept for TraceHeaderInterceptor {
    fn name(&self) -> &'static str {
        "BatonTraceHeaderInterceptor"
    }

    fn overridden_hooks(&self) -> OverriddenHooks {
        if self.spans {
            OverriddenHooks::MODIFY_BEFORE_SERIALIZATION
                | OverriddenHooks::MODIFY_BEFORE_SIGNING
                | OverriddenHooks::READ_AFTER_EXECUTION
        } else {
            OverriddenHooks::MODIFY_BEFORE_SIGNING
        }
    }

    fn modify_before_serialization(
        &self,
        _context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !self.spans || has_call::<ClientCall>(cfg) {
            return Ok(());
        }
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_owned(), m.name().to_owned()))
            .unwrap_or_else(|| ("AWS".to_owned(), "call".to_owned()));
        let mut attributes = vec![
            KeyValue::new("rpc.system", "aws-api"),
            KeyValue::new("rpc.service", service.clone()),
            KeyValue::new("rpc.method", operation.clone()),
        ];
        if let Some(region) = cfg.load::<aws_types::region::Region>() {
            attributes.push(KeyValue::new(attr::CLOUD_REGION, region.to_string()));
        }
        let parent = crate::current_context();
        if !parent.span().span_context().is_valid() {
            // Outside any trace: no span (each background call would start a trace of its
            // own), and no header.
            return Ok(());
        }
        let cx = self.tracer.with(|tracer| {
            let span = tracer
                .span_builder(format!("{service}.{operation}"))
                .with_kind(SpanKind::Client)
                .with_attributes(attributes)
                .start_with_context(tracer, &parent);
            parent.with_span(span)
        });
        put_call(cfg, ClientCall { cx });
        Ok(())
    }

    /// Runs before every attempt: the request is rebuilt each time.
    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(existing) = context.request().headers().get(HEADER)
            && !self.is_lambdas_own(existing)
        {
            // Set by the caller (or a Baton service interceptor): theirs.
            return Ok(());
        }
        let cx = match call_mut::<ClientCall>(cfg) {
            Some(call) => call.cx.clone(),
            None => crate::current_context(),
        };
        let lineage = crate::invocation_lineage(&cx, self.env());
        let Some(header) = crate::aws_header_for_context(&cx, lineage.as_deref()) else {
            return Ok(());
        };
        crate::sdk::set_trace_header(context.request_mut(), header);
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(call) = take_call::<ClientCall>(cfg) else {
            return Ok(());
        };
        let span = call.cx.span();
        crate::sdk::with_server(cfg, &self.server, true, |address, port| {
            crate::send::set_server_attributes(&call.cx, address, port);
        });
        let response = context.response();
        let header = |name: &str| response.and_then(|r| r.headers().get(name));
        let request_id = header("x-amzn-requestid").or_else(|| header("x-amz-request-id"));
        if let Some(id) = request_id {
            span.set_attribute(KeyValue::new(attr::AWS_REQUEST_ID, id.to_owned()));
        }
        match context.output_or_error() {
            Some(Ok(_)) => {}
            outcome => {
                let status = response.map(|r| r.status().as_u16());
                let mut error = match outcome {
                    Some(Err(error)) => match error.as_operation_error() {
                        Some(operation) => CallError::from_display(operation),
                        None => CallError::from_display(error),
                    },
                    _ => CallError::new("the call ended without an answer"),
                };
                let code = error_code(header("x-amzn-errortype"), header("x-amzn-query-error"));
                let kind = match outcome {
                    Some(Err(error)) if error.is_timeout_error() => Some("timeout"),
                    _ => None,
                };
                if let Some(code) = code {
                    error = error.with_code(code);
                } else if let Some(status) = status.filter(|s| *s >= 400) {
                    error = error.with_code(status.to_string());
                } else if let Some(kind) = kind {
                    error = error.with_code(kind);
                }
                if let Some(status) = status.filter(|s| *s >= 400) {
                    error = error.with_status(status);
                }
                error.record(&span);
            }
        }
        span.end();
        Ok(())
    }
}

/// The service's error code where its protocol puts one in a header: `x-amzn-ErrorType` (JSON
/// and REST-JSON services: `[namespace#]Code[:documentation URL]`) or `x-amzn-query-error`
/// (query-compatible services such as SQS: `Code;Sender`).
fn error_code<'a>(error_type: Option<&'a str>, query_error: Option<&'a str>) -> Option<&'a str> {
    let usable = |code: &'a str| Some(code.trim()).filter(|c| !c.is_empty());
    error_type
        .and_then(|t| t.split(':').next())
        .and_then(|t| t.rsplit('#').next())
        .and_then(usable)
        .or_else(|| {
            query_error
                .and_then(|q| q.split(';').next())
                .and_then(usable)
        })
}

#[cfg(test)]
mod tests {
    use super::error_code;

    #[rustfmt::skip]
    const CASES: &[(Option<&str>, Option<&str>, Option<&str>)] = &[
        (Some("ResourceNotFoundException"), None, Some("ResourceNotFoundException")),
        (Some("aws.protocoltests.restjson#FooError:http://internal.amazon.com/coral/com.amazon.coral.validate/"), None, Some("FooError")),
        (Some("com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"), None, Some("ProvisionedThroughputExceededException")),
        (None, Some("AWS.SimpleQueueService.NonExistentQueue;Sender"), Some("AWS.SimpleQueueService.NonExistentQueue")),
        (Some(""), None, None),
        (Some(":http://x"), Some("Throttling;Receiver"), Some("Throttling")),
        (None, None, None),
    ];

    #[test]
    fn error_codes_from_headers() {
        for (error_type, query, expected) in CASES {
            assert_eq!(
                error_code(*error_type, *query),
                *expected,
                "{error_type:?} {query:?}"
            );
        }
    }
}
