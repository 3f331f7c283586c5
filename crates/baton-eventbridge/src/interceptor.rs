//! The SDK interceptor: one line on the client configuration and unchanged `put_events()`
//! call sites propagate.

use aws_sdk_eventbridge::config::interceptors::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_sdk_eventbridge::config::{ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsInput, PutEventsOutput};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::OverriddenHooks;
use baton::sdk::call_outcome;

use crate::config::EventBridgePropagation;
use crate::put::PutCall;

/// Baton's EventBridge propagation as an AWS SDK interceptor.
///
/// ```
/// # async fn example() {
/// let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let config = aws_sdk_eventbridge::config::Builder::from(&sdk_config)
///     .interceptor(baton_eventbridge::EventBridgeInterceptor::default())
///     .build();
/// let client = aws_sdk_eventbridge::Client::from_conf(config);
/// # drop(client);
/// # }
/// ```
///
/// PutEvents then opens a PRODUCER span and writes its context into every entry (see the crate
/// documentation); other operations are untouched. As with any SDK interceptor, the caller's
/// context is the one current while the `send()` future runs (attach it with
/// `.with_context(cx)` or `tracing`'s `.instrument(span)`).
///
/// The span starts as the SDK is about to serialize the request: a call the SDK gives up
/// on before that (an earlier hook of another interceptor failing, a configuration error)
/// sent nothing and gets no span. From there on every call's span ends, with the outcome,
/// or as cancelled if the call's future is dropped first.
#[derive(Clone, Debug, Default)]
pub struct EventBridgeInterceptor {
    config: EventBridgePropagation,
}

impl EventBridgeInterceptor {
    /// An interceptor with `config`.
    pub fn new(config: EventBridgePropagation) -> Self {
        EventBridgeInterceptor { config }
    }
}

impl Intercept for EventBridgeInterceptor {
    fn name(&self) -> &'static str {
        "BatonEventBridgeInterceptor"
    }

    fn overridden_hooks(&self) -> OverriddenHooks {
        OverriddenHooks::MODIFY_BEFORE_SERIALIZATION | OverriddenHooks::READ_AFTER_EXECUTION
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Installed twice (client config and an operation override, say): the first one
        // traces the call; a second span and a second injection would only confuse.
        if baton::sdk::has_call::<PutCall>(cfg) {
            return Ok(());
        }
        let Some(input) = context.input_mut().downcast_mut::<PutEventsInput>() else {
            return Ok(());
        };
        let region = cfg.load::<Region>().map(|r| r.as_ref());
        let mut call = PutCall::start(&self.config, input, region, &baton::current_context());
        call.inject(&self.config, input);
        baton::sdk::put_call(cfg, call);
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(call) = baton::sdk::take_call::<PutCall>(cfg) else {
            return Ok(());
        };
        call.finish(
            call_outcome::<PutEventsOutput, PutEventsError>(context)
                .as_ref()
                .copied(),
        );
        Ok(())
    }
}
