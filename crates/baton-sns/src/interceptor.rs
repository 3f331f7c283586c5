//! The SDK interceptor: unchanged `publish()` / `publish_batch()` call sites propagate.

use aws_sdk_sns::config::interceptors::{
    BeforeSerializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_sdk_sns::config::{ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_sns::operation::publish::{PublishError, PublishInput, PublishOutput};
use aws_sdk_sns::operation::publish_batch::{
    PublishBatchError, PublishBatchInput, PublishBatchOutput,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::OverriddenHooks;
use baton::CallError;
use baton::sdk::operation_error;

use crate::config::SnsPropagation;
use crate::publish::{CallState, PublishCall};

/// The HTTP header SNS reads the trace from.
pub(crate) const TRACE_HEADER: &str = "x-amzn-trace-id";

/// Baton's SNS propagation as an AWS SDK interceptor.
///
/// ```
/// # async fn example() {
/// let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let config = aws_sdk_sns::config::Builder::from(&sdk_config)
///     .interceptor(baton_sns::SnsInterceptor::default())
///     .build();
/// let client = aws_sdk_sns::Client::from_conf(config);
/// # drop(client);
/// # }
/// ```
///
/// Publish and PublishBatch then open a PRODUCER span and carry its context (see
/// [`SnsPropagation`]). The `X-Amzn-Trace-Id` header is set just before signing, replacing the
/// one the SDK's recursion detection copies from `_X_AMZN_TRACE_ID` inside Lambda, whose
/// `Lineage` is kept.
#[derive(Clone, Debug, Default)]
pub struct SnsInterceptor {
    config: SnsPropagation,
}

impl SnsInterceptor {
    /// An interceptor with `config`.
    pub fn new(config: SnsPropagation) -> Self {
        SnsInterceptor { config }
    }
}

type SharedPending = baton::sdk::SharedPending<CallState>;

impl Intercept for SnsInterceptor {
    fn name(&self) -> &'static str {
        "BatonSnsInterceptor"
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
        let region = cfg.load::<Region>().map(|r| r.as_ref());
        let parent = baton::current_context();
        let state = if let Some(i) = input.downcast_ref::<PublishInput>() {
            let topic = i.topic_arn.as_deref().or(i.target_arn.as_deref());
            CallState::Publish(PublishCall::start(
                &self.config,
                "Publish",
                topic,
                None,
                region,
                &parent,
            ))
        } else if let Some(i) = input.downcast_ref::<PublishBatchInput>() {
            CallState::Batch(PublishCall::start(
                &self.config,
                "PublishBatch",
                i.topic_arn.as_deref(),
                Some(i.publish_batch_request_entries.as_ref().map_or(0, Vec::len)),
                region,
                &parent,
            ))
        } else {
            return Ok(());
        };
        cfg.interceptor_state().store_put(SharedPending::new(state));
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
        let input = context.input_mut();
        match pending.get_mut() {
            Some(CallState::Publish(call)) => {
                if let Some(i) = input.downcast_mut::<PublishInput>() {
                    call.inject_publish(&self.config, i);
                }
            }
            Some(CallState::Batch(call)) => {
                if let Some(i) = input.downcast_mut::<PublishBatchInput>() {
                    call.inject_batch(&self.config, i);
                }
            }
            None => {}
        }
        Ok(())
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(shared) = cfg.load::<SharedPending>() else {
            return Ok(());
        };
        let header = shared
            .lock()
            .get_mut()
            .and_then(|state| state.call_mut().http_header(&self.config));
        if let Some(header) = header
            && let Err(error) = context
                .request_mut()
                .headers_mut()
                .try_insert(TRACE_HEADER, header)
        {
            tracing::debug!(target: "baton::sns", %error, "trace header not set on the request");
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(state) = cfg.load::<SharedPending>().and_then(|s| s.lock().take()) else {
            return Ok(());
        };
        match (state, context.output_or_error()) {
            (CallState::Publish(call), Some(Ok(output))) => {
                match output.downcast_ref::<PublishOutput>() {
                    Some(o) => call.finish_publish(Ok(o)),
                    None => call.finish_publish(Err(&CallError::new("unexpected output type"))),
                }
            }
            (CallState::Batch(call), Some(Ok(output))) => {
                match output.downcast_ref::<PublishBatchOutput>() {
                    Some(o) => call.finish_batch(Ok(o)),
                    None => call.finish_batch(Err(&CallError::new("unexpected output type"))),
                }
            }
            (CallState::Publish(call), Some(Err(error))) => {
                call.finish_publish(Err(&operation_error::<PublishError>(error)))
            }
            (CallState::Batch(call), Some(Err(error))) => {
                call.finish_batch(Err(&operation_error::<PublishBatchError>(error)))
            }
            (state, None) => baton::sdk::InFlight::fail(state, &CallError::new("no response")),
        }
        Ok(())
    }
}
