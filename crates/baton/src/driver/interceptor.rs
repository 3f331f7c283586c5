//! The SDK interceptor form.

use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::{Intercept, OverriddenHooks, SharedInterceptor};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::region::Region;

use super::{Call, Start, TracedService};
use crate::sdk::{self, ServerMemo};

/// A service's propagation as an AWS SDK interceptor: install it once on the client's
/// configuration and every unchanged fluent call site (`client.send_message()….send()`)
/// propagates. Each service crate names it (`SqsInterceptor`, `SnsInterceptor`, …) and
/// documents what its operations do.
///
/// **Where the caller's context comes from.** The SDK runs the hooks inside the future that
/// `send()` returns, so the spans are parented on the context current while that future is
/// polled: attach it with `.with_context(cx)` (`opentelemetry::trace::FutureExt`) or
/// `.instrument(span)` (`tracing`, with the `tracing` feature of `baton`). A call made outside
/// any span starts a new trace; it never fails because of Baton.
///
/// The spans start as the SDK is about to serialize the request: a call the SDK gives up on
/// before that (an earlier hook of another interceptor failing, a configuration error) sent
/// nothing and gets no span. From there on every call's spans end, with the outcome, or as
/// cancelled if the call's future is dropped first. Installed twice on one operation (client
/// configuration and an operation override, say), the first one traces the call and the
/// second does nothing.
#[derive(Clone, Debug, Default)]
pub struct Interceptor<S> {
    service: S,
    /// Where the client's calls go, taken apart once.
    server: Arc<ServerMemo>,
}

impl<S: TracedService> Interceptor<S> {
    /// An interceptor with `settings`.
    pub fn new(settings: S) -> Self {
        Interceptor {
            service: settings,
            server: Arc::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &S {
        &self.service
    }

    /// This interceptor as the SDK keeps it, installed for good: for the configuration
    /// builder's `push_interceptor`, in place of `.interceptor(…)`.
    ///
    /// The SDK asks, before each hook of an interceptor installed with `.interceptor(…)`,
    /// whether the operation disabled it (`disable_interceptor`), a look-up in the
    /// configuration bag; one installed this way is never disabled and skips the look-ups
    /// (500 to 1,000 instructions a call, see `docs/BENCHMARKS.md`). Disabling it anyway is a
    /// mistake the SDK reports with a panic in debug builds.
    ///
    /// ```
    /// # use baton::driver::{Common, Interceptor, Operation, Start, TracedService};
    /// # #[derive(Clone, Debug, Default)] struct Settings { common: Common }
    /// # impl TracedService for Settings {
    /// #     const INTERCEPTOR_NAME: &'static str = "Example";
    /// #     const OPERATIONS: &'static [Operation<Self>] = &[];
    /// #     type Call = ();
    /// #     type Request = ();
    /// #     type Response = ();
    /// #     type SdkError = aws_smithy_types::error::ErrorMetadata;
    /// #     fn common(&self) -> &Common { &self.common }
    /// #     fn active_context(_: &()) -> Option<&opentelemetry::Context> { None }
    /// #     fn request_input(r: &mut ()) -> &mut dyn std::any::Any { r }
    /// #     fn response_output(r: &()) -> &dyn std::any::Any { r }
    /// # }
    /// let shared = Interceptor::new(Settings::default()).into_shared();
    /// // With an SDK client's configuration builder (`aws_sdk_sqs::config::Builder`, …):
    /// // builder.push_interceptor(shared);
    /// # let _ = shared;
    /// ```
    pub fn into_shared(self) -> SharedInterceptor {
        SharedInterceptor::permanent(self)
    }
}

impl<S: TracedService> Intercept for Interceptor<S> {
    fn name(&self) -> &'static str {
        S::INTERCEPTOR_NAME
    }

    /// Only the hooks that do something: the SDK skips the others on every call (each hook it
    /// runs costs a look-up in the configuration bag, so the spans are started and the input
    /// changed in one).
    fn overridden_hooks(&self) -> OverriddenHooks {
        let hooks =
            OverriddenHooks::MODIFY_BEFORE_SERIALIZATION | OverriddenHooks::READ_AFTER_EXECUTION;
        if S::SETS_REQUEST_HEADER {
            hooks | OverriddenHooks::MODIFY_BEFORE_SIGNING
        } else {
            hooks
        }
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Installed twice: the first one traces the call; a second span and a second
        // injection would only confuse.
        if sdk::has_call::<Call<S>>(cfg) {
            return Ok(());
        }
        let common = self.service.common();
        let region = match common.region() {
            Some(region) => Some(region),
            None => cfg.load::<Region>().map(|r| r.as_ref()),
        };
        let parent = crate::current_context();
        let start = Start::new(&parent, region);
        let input = context.input_mut();
        let call = S::OPERATIONS
            .iter()
            .find_map(|operation| operation.start_input(&self.service, input, &start));
        if let Some(call) = call {
            sdk::put_call(cfg, call);
        }
        Ok(())
    }

    /// Runs before every attempt (the request is rebuilt each time).
    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let header = sdk::call_mut::<Call<S>>(cfg)
            .and_then(|call| self.service.request_header(call.get_mut()));
        if let Some(header) = header {
            sdk::set_trace_header(context.request_mut(), header);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(call) = sdk::take_call::<Call<S>>(cfg) {
            call.finish_sdk(context, cfg, &self.server);
        }
        Ok(())
    }
}
