//! The SDK interceptor: unchanged `publish()` / `publish_batch()` call sites propagate.

use aws_sdk_sns::config::interceptors::{
    BeforeSerializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
    FinalizerInterceptorContextRef,
};
use aws_sdk_sns::config::{ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_sns::operation::publish::{PublishError, PublishInput, PublishOutput};
use aws_sdk_sns::operation::publish_batch::{
    PublishBatchError, PublishBatchInput, PublishBatchOutput,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::OverriddenHooks;
use baton::sdk::call_outcome;

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
///
/// The span starts as the SDK is about to serialize the request: a call the SDK gives up
/// on before that (an earlier hook of another interceptor failing, a configuration error)
/// sent nothing and gets no span. From there on every call's span ends, with the outcome,
/// or as cancelled if the call's future is dropped first.
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

impl Intercept for SnsInterceptor {
    fn name(&self) -> &'static str {
        "BatonSnsInterceptor"
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
        if baton::sdk::has_call::<CallState>(cfg) {
            return Ok(());
        }
        let region = cfg.load::<Region>().map(|r| r.as_ref());
        let parent = baton::current_context();
        let input = context.input_mut();
        let state = if let Some(i) = input.downcast_mut::<PublishInput>() {
            let topic = i
                .topic_arn
                .as_deref()
                .or(i.target_arn.as_deref())
                .or(i.phone_number.as_ref().map(|_| "sms"));
            let mut call =
                PublishCall::start(&self.config, "Publish", topic, None, region, &parent);
            call.inject_publish(&self.config, i);
            CallState::Publish(call)
        } else if let Some(i) = input.downcast_mut::<PublishBatchInput>() {
            let mut call = PublishCall::start(
                &self.config,
                "PublishBatch",
                i.topic_arn.as_deref(),
                Some(i.publish_batch_request_entries.as_ref().map_or(0, Vec::len)),
                region,
                &parent,
            );
            call.inject_batch(&self.config, i);
            CallState::Batch(call)
        } else {
            return Ok(());
        };
        baton::sdk::put_call(cfg, state);
        Ok(())
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let header = baton::sdk::call_mut::<CallState>(cfg)
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
        let Some(state) = baton::sdk::take_call::<CallState>(cfg) else {
            return Ok(());
        };
        match state {
            CallState::Publish(call) => call.finish_publish(
                call_outcome::<PublishOutput, PublishError>(context)
                    .as_ref()
                    .copied(),
            ),
            CallState::Batch(call) => call.finish_batch(
                call_outcome::<PublishBatchOutput, PublishBatchError>(context)
                    .as_ref()
                    .copied(),
            ),
        }
        Ok(())
    }
}
