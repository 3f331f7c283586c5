//! The SDK interceptor: unchanged `start_execution()` / `start_sync_execution()` call sites
//! propagate.

use aws_sdk_sfn::config::interceptors::{
    BeforeSerializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
    FinalizerInterceptorContextRef,
};
use aws_sdk_sfn::config::{ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_sfn::operation::start_execution::{
    StartExecutionError, StartExecutionInput, StartExecutionOutput,
};
use aws_sdk_sfn::operation::start_sync_execution::{
    StartSyncExecutionError, StartSyncExecutionInput, StartSyncExecutionOutput,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::OverriddenHooks;
use baton::CallError;
use baton::sdk::operation_error;

use crate::config::SfnPropagation;
use crate::start::{StartCall, Started};

/// Baton's Step Functions propagation as an AWS SDK interceptor.
///
/// ```
/// # async fn example() {
/// let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let config = aws_sdk_sfn::config::Builder::from(&sdk_config)
///     .interceptor(baton_sfn::SfnInterceptor::default())
///     .build();
/// let client = aws_sdk_sfn::Client::from_conf(config);
/// # drop(client);
/// # }
/// ```
///
/// StartExecution and StartSyncExecution then open a PRODUCER span whose context goes into
/// `traceHeader` (see [`SfnPropagation`]); other operations are untouched. The caller's context
/// is the one current while the `send()` future runs.
///
/// The span starts as the SDK is about to serialize the request: a call the SDK gives up
/// on before that (an earlier hook of another interceptor failing, a configuration error)
/// sent nothing and gets no span. From there on every call's span ends, with the outcome,
/// or as cancelled if the call's future is dropped first.
#[derive(Clone, Debug, Default)]
pub struct SfnInterceptor {
    config: SfnPropagation,
}

impl SfnInterceptor {
    /// An interceptor with `config`.
    pub fn new(config: SfnPropagation) -> Self {
        SfnInterceptor { config }
    }
}

/// The HTTP header Step Functions reads the trace from (preferred over the body's).
const TRACE_HEADER: &str = "x-amzn-trace-id";

impl Intercept for SfnInterceptor {
    fn name(&self) -> &'static str {
        "BatonSfnInterceptor"
    }

    fn overridden_hooks(&self) -> OverriddenHooks {
        OverriddenHooks::MODIFY_BEFORE_SERIALIZATION
            | OverriddenHooks::MODIFY_BEFORE_SIGNING
            | OverriddenHooks::READ_AFTER_EXECUTION
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Installed twice (client config and an operation override, say): the first one
        // traces the call; a second span and a second injection would only confuse.
        if baton::sdk::has_call::<StartCall>(cfg) {
            return Ok(());
        }
        let region = cfg.load::<Region>().map(|r| r.as_ref());
        let input = context.input_mut();
        let (operation, arn, name, trace_header, execution_input) =
            if let Some(i) = input.downcast_mut::<StartExecutionInput>() {
                let StartExecutionInput {
                    state_machine_arn,
                    name,
                    input,
                    trace_header,
                    ..
                } = i;
                (
                    "StartExecution",
                    state_machine_arn,
                    name,
                    trace_header,
                    input,
                )
            } else if let Some(i) = input.downcast_mut::<StartSyncExecutionInput>() {
                let StartSyncExecutionInput {
                    state_machine_arn,
                    name,
                    input,
                    trace_header,
                    ..
                } = i;
                (
                    "StartSyncExecution",
                    state_machine_arn,
                    name,
                    trace_header,
                    input,
                )
            } else {
                return Ok(());
            };
        let mut call = StartCall::start(
            &self.config,
            operation,
            arn.as_deref(),
            region,
            &baton::current_context(),
        );
        call.inject(&self.config, name.as_deref(), trace_header, execution_input);
        baton::sdk::put_call(cfg, call);
        Ok(())
    }

    /// Step Functions prefers an `X-Amzn-Trace-Id` request header over the body's
    /// `traceHeader`, and inside Lambda the SDK sets that header to the invocation's trace: it
    /// must say the same as the body. (Runs before every attempt; the request is rebuilt each
    /// time.)
    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let header = baton::sdk::call_mut::<StartCall>(cfg).and_then(|call| call.header.clone());
        if let Some(header) = header
            && let Err(error) = context
                .request_mut()
                .headers_mut()
                .try_insert(TRACE_HEADER, header)
        {
            tracing::debug!(target: "baton::sfn", %error, "trace header not set on the request");
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(call) = baton::sdk::take_call::<StartCall>(cfg) else {
            return Ok(());
        };
        match context.output_or_error() {
            Some(Ok(output)) => {
                if let Some(o) = output.downcast_ref::<StartExecutionOutput>() {
                    call.finish(Ok(Started::from(o)));
                } else if let Some(o) = output.downcast_ref::<StartSyncExecutionOutput>() {
                    call.finish(Ok(Started::from(o)));
                } else {
                    call.finish(Err(&CallError::new("unexpected output type")));
                }
            }
            Some(Err(error)) => {
                let info = if error
                    .as_operation_error()
                    .is_some_and(|e| e.downcast_ref::<StartSyncExecutionError>().is_some())
                {
                    operation_error::<StartSyncExecutionError>(error)
                } else {
                    operation_error::<StartExecutionError>(error)
                };
                let info = match context.response() {
                    Some(response) => info.with_status(response.status().as_u16()),
                    None => info,
                };
                call.finish(Err(&info));
            }
            None => call.finish(Err(&CallError::new("no response"))),
        }
        Ok(())
    }
}
