//! The SDK interceptor: one line on the client configuration and every unchanged fluent call
//! site (`client.send_message()….send().await`) propagates.

use aws_sdk_sqs::config::interceptors::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_sdk_sqs::config::{ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_sqs::operation::receive_message::{
    ReceiveMessageError, ReceiveMessageInput, ReceiveMessageOutput,
};
use aws_sdk_sqs::operation::send_message::{SendMessageError, SendMessageInput, SendMessageOutput};
use aws_sdk_sqs::operation::send_message_batch::{
    SendMessageBatchError, SendMessageBatchInput, SendMessageBatchOutput,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::OverriddenHooks;
use baton::sdk::call_outcome;

use crate::call::{Call, CallState};
use crate::config::SqsPropagation;
use crate::receive::ReceiveCall;
use crate::send::SendCall;

/// Baton's SQS propagation as an AWS SDK interceptor.
///
/// Install it once on the client configuration:
///
/// ```
/// # async fn example() {
/// let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let config = aws_sdk_sqs::config::Builder::from(&sdk_config)
///     .interceptor(baton_sqs::SqsInterceptor::default())
///     .build();
/// let client = aws_sdk_sqs::Client::from_conf(config);
/// # drop(client);
/// # }
/// ```
///
/// Then SendMessage and SendMessageBatch open a PRODUCER span and write its context into every
/// message, and ReceiveMessage asks for the trace carriers and records a `receive` span linked
/// to each producer. Other operations are untouched.
///
/// **Where the caller's context comes from.** The SDK runs the hooks inside the future that
/// `send()` returns, so the span is parented on the context current while that future is
/// polled: attach it with `.with_context(cx)` (`opentelemetry::trace::FutureExt`) or
/// `.instrument(span)` (`tracing`, with the `tracing` feature of `baton`). A call made outside
/// any span starts a new trace; it never fails because of Baton.
///
/// With `tracing-opentelemetry` installed and the SDK's own `debug` spans enabled, the context
/// current inside the hooks is the SDK's operation span (a child of the caller's), so the
/// PRODUCER span appears one level deeper, still in the caller's trace. The Tower form reads
/// the caller's context before the SDK runs and has no such extra level.
///
/// To give each entry of a batch the context of a different request, see
/// [`SqsPropagation::inject_entry_context`].
///
/// The span starts as the SDK is about to serialize the request: a call the SDK gives up
/// on before that (an earlier hook of another interceptor failing, a configuration error)
/// sent nothing and gets no span. From there on every call's span ends, with the outcome,
/// or as cancelled if the call's future is dropped first.
#[derive(Clone, Debug, Default)]
pub struct SqsInterceptor {
    config: SqsPropagation,
}

impl SqsInterceptor {
    /// An interceptor with `config`.
    pub fn new(config: SqsPropagation) -> Self {
        SqsInterceptor { config }
    }
}

impl Intercept for SqsInterceptor {
    fn name(&self) -> &'static str {
        "BatonSqsInterceptor"
    }

    /// Only two hooks do anything; saying so lets the SDK skip the other seventeen on every
    /// call. (Each hook the SDK runs costs a look-up in the configuration bag, so the span is
    /// started and the input changed in one.)
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
        if baton::sdk::has_call::<CallState>(cfg) {
            return Ok(());
        }
        let region = match &self.config.region {
            Some(region) => Some(region.as_str()),
            None => cfg.load::<Region>().map(|r| r.as_ref()),
        };
        let parent = baton::current_context();
        let input = context.input_mut();
        let call = if let Some(input) = input.downcast_mut::<SendMessageInput>() {
            let call = SendCall::start(
                &self.config,
                "SendMessage",
                input.queue_url.as_deref(),
                None,
                region,
                &parent,
            );
            call.inject_message(&self.config, input);
            Call::Send(call)
        } else if let Some(input) = input.downcast_mut::<SendMessageBatchInput>() {
            let mut call = SendCall::start(
                &self.config,
                "SendMessageBatch",
                input.queue_url.as_deref(),
                Some(input.entries.as_ref().map_or(0, Vec::len)),
                region,
                &parent,
            );
            call.inject_batch(&self.config, input);
            Call::Batch(call)
        } else if let Some(input) = input.downcast_mut::<ReceiveMessageInput>() {
            let call =
                ReceiveCall::start(&self.config, input.queue_url.as_deref(), region, &parent);
            ReceiveCall::request_carriers(input);
            Call::Receive(call)
        } else {
            return Ok(());
        };
        baton::sdk::put_call(cfg, CallState(call));
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
        match state.0 {
            Call::Send(call) => call.finish_message(
                call_outcome::<SendMessageOutput, SendMessageError>(context)
                    .as_ref()
                    .copied(),
            ),
            Call::Batch(call) => call.finish_batch(
                call_outcome::<SendMessageBatchOutput, SendMessageBatchError>(context)
                    .as_ref()
                    .copied(),
            ),
            Call::Receive(call) => call.finish(
                call_outcome::<ReceiveMessageOutput, ReceiveMessageError>(context)
                    .as_ref()
                    .copied(),
            ),
        }
        Ok(())
    }
}
