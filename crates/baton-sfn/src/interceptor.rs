//! The SDK interceptor: unchanged `start_execution()` / `start_sync_execution()` call sites
//! propagate.

use aws_sdk_sfn::config::interceptors::{
    BeforeSerializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef,
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

type SharedPending = baton::sdk::SharedPending<StartCall>;

/// The HTTP header Step Functions reads the trace from (preferred over the body's).
const TRACE_HEADER: &str = "x-amzn-trace-id";

impl Intercept for SfnInterceptor {
    fn name(&self) -> &'static str {
        "BatonSfnInterceptor"
    }

    fn overridden_hooks(&self) -> OverriddenHooks {
        OverriddenHooks::READ_BEFORE_EXECUTION
            | OverriddenHooks::MODIFY_BEFORE_SERIALIZATION
            | OverriddenHooks::MODIFY_BEFORE_SIGNING
            | OverriddenHooks::READ_AFTER_EXECUTION
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Installed twice (client config and an operation override, say): the first one
        // traces the call; a second span and a second injection would only confuse.
        if cfg.load::<SharedPending>().is_some() {
            return Ok(());
        }
        let input = context.input();
        let (operation, arn) = if let Some(i) = input.downcast_ref::<StartExecutionInput>() {
            ("StartExecution", i.state_machine_arn.as_deref())
        } else if let Some(i) = input.downcast_ref::<StartSyncExecutionInput>() {
            ("StartSyncExecution", i.state_machine_arn.as_deref())
        } else {
            return Ok(());
        };
        let region = cfg.load::<Region>().map(|r| r.as_ref());
        let call = StartCall::start(
            &self.config,
            operation,
            arn,
            region,
            &baton::current_context(),
        );
        cfg.interceptor_state().store_put(SharedPending::new(call));
        Ok(())
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(shared) = cfg.load::<SharedPending>() else {
            return Ok(());
        };
        let mut pending = shared.lock();
        let Some(call) = pending.get_mut() else {
            return Ok(());
        };
        let input = context.input_mut();
        if let Some(i) = input.downcast_mut::<StartExecutionInput>() {
            call.inject(
                &self.config,
                i.name.as_deref(),
                &mut i.trace_header,
                &mut i.input,
            );
        } else if let Some(i) = input.downcast_mut::<StartSyncExecutionInput>() {
            call.inject(
                &self.config,
                i.name.as_deref(),
                &mut i.trace_header,
                &mut i.input,
            );
        }
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
        let header = cfg
            .load::<SharedPending>()
            .and_then(|shared| shared.lock().get().and_then(|call| call.header.clone()));
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
        let Some(call) = cfg.load::<SharedPending>().and_then(|s| s.lock().take()) else {
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
                call.finish(Err(&info));
            }
            None => call.finish(Err(&CallError::new("no response"))),
        }
        Ok(())
    }
}
