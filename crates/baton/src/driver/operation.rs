//! A service's description: its settings, its table of operations, and a call in flight.

use std::any::Any;
use std::fmt::{self, Debug};

use aws_smithy_runtime_api::client::interceptors::context::{
    FinalizerInterceptorContextRef, Input,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use opentelemetry::Context;

use super::Common;
use crate::CallError;
use crate::sdk::{InFlight, call_outcome};

/// Where a call starts: the caller's context and the client's region.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Start<'a> {
    /// The caller's context ([`current_context`](crate::current_context) when the call was
    /// made): the parent of the call's spans.
    pub parent: &'a Context,
    /// The region recorded as `cloud.region`, if known.
    pub region: Option<&'a str>,
}

impl<'a> Start<'a> {
    /// A call made in `parent`, to `region`.
    pub fn new(parent: &'a Context, region: Option<&'a str>) -> Self {
        Start { parent, region }
    }
}

/// An AWS service as Baton's driver sees it, implemented by the service's settings type
/// (`SqsPropagation`, …): the shared settings, the operations it traces, and the few things a
/// service does its own way. See the [module documentation](super) for an example.
pub trait TracedService: Clone + Debug + Send + Sync + 'static {
    /// The interceptor's name (what the SDK reports in its errors).
    const INTERCEPTOR_NAME: &'static str;

    /// The operations traced: one [`Operation::of`] per operation input. Inputs not listed
    /// pass through untouched.
    const OPERATIONS: &'static [Operation<Self>];

    /// The spans of one call in flight, whatever the operation.
    type Call: Debug + Send + Sync + 'static;

    /// The request of the service's Tower form (an enum of operation inputs, usually).
    type Request;

    /// The response of the service's Tower form.
    type Response;

    /// The SDK's error for the whole service (`aws_sdk_sqs::Error`), read from the errors of
    /// Tower services below the layer.
    type SdkError: ProvideErrorMetadata + std::error::Error + 'static;

    /// The shared settings.
    fn common(&self) -> &Common;

    /// The context to keep current while the call runs (the send span's, so the SDK's own
    /// spans nest under it); `None` keeps the caller's.
    fn active_context(call: &Self::Call) -> Option<&Context>;

    /// The operation input inside a Tower request.
    fn request_input(request: &mut Self::Request) -> &mut dyn Any;

    /// The operation output inside a Tower response.
    fn response_output(response: &Self::Response) -> &dyn Any;

    /// The `X-Amzn-Trace-Id` request header the call sends, for services that read the trace
    /// from the HTTP request (SNS, Step Functions). The interceptor sets it just before
    /// signing, on every attempt. Default: none, and the interceptor skips that hook.
    fn request_header(&self, call: &mut Self::Call) -> Option<String> {
        let _ = call;
        None
    }

    /// Records where the call went (`server.address`, and `server.port` when not the scheme's
    /// default) on its spans and metrics. Default: on the active span of [`active_context`]
    /// and on the [`measure`](Self::measure); a service whose span starts later (a receive)
    /// keeps them for it.
    ///
    /// [`active_context`]: Self::active_context
    fn record_server(call: &mut Self::Call, address: &str, port: Option<u16>) {
        if let Some(cx) = Self::active_context(call) {
            set_server(cx, address, port);
        }
        if let Some(measure) = Self::measure(call) {
            measure.set_server(address, port);
        }
    }

    /// Where a call made through the Tower form went, given the client's endpoint as its
    /// [`ServerProbe`](super::ServerProbe) learned it: the same host by default. A service
    /// whose operations change the host (a host prefix, a per-call endpoint) says so here,
    /// or answers `None` when it cannot tell: no address rather than a wrong one.
    fn probed_server(
        call: &Self::Call,
        endpoint: (&str, Option<u16>),
    ) -> Option<(String, Option<u16>)> {
        let _ = call;
        Some((endpoint.0.to_owned(), endpoint.1))
    }

    /// The call's metrics in progress (see [`Common::with_meter`]), for the default
    /// [`record_server`](Self::record_server) to add where the call went. Default: none.
    fn measure(call: &mut Self::Call) -> Option<&mut crate::metrics::Measure> {
        let _ = call;
        None
    }

    /// Whether [`request_header`](Self::request_header) may return a header (default: no).
    const SETS_REQUEST_HEADER: bool = false;

    /// Whether an operation of the service may go to a host with a prefix the SDK adds (its
    /// `EndpointPrefix`, as Step Functions' `sync-`), which `server.address` then includes.
    /// Default: yes; a service with no such operation says no, and its interceptor skips the
    /// look-up on every call.
    const HOST_PREFIXES: bool = true;

    /// Lets the Tower form put into `request` what the interceptor sets on the HTTP request
    /// (the request header, for SNS). Called once the call has started. Default: nothing.
    fn prepare_request(&self, request: &mut Self::Request, call: &mut Self::Call) {
        let _ = (request, call);
    }
}

/// One traced operation of service `S`, implemented for the SDK's operation input
/// (`SendMessageInput`, …): what starting the call does to the input, and how its spans end.
/// Both forms of the driver call these, so each is written once.
pub trait TracedOperation<S: TracedService>: Debug + Send + Sync + 'static {
    /// The SDK's output of the operation.
    type Output: Debug + Send + Sync + 'static;

    /// The SDK's error of the operation (`SendMessageError`).
    type Error: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static;

    /// Whether to trace this call at all (default: yes). An operation that only makes sense
    /// inside a trace (a delete, say) can decline calls made outside any span, so that they do
    /// not each start a trace of their own.
    fn traced(&self, service: &S, start: &Start<'_>) -> bool {
        let _ = (service, start);
        true
    }

    /// Starts the call's spans and writes their context into the input. Never fails: what
    /// cannot be written is skipped, with a `tracing` event.
    fn start(&mut self, service: &S, start: &Start<'_>) -> S::Call;

    /// Ends the call's spans with its output or error.
    fn finish(call: S::Call, result: Result<&Self::Output, &CallError>);
}

/// One row of a service's table of operations: a [`TracedOperation`] with its types erased, as
/// both forms call it. Made with [`Operation::of`].
pub struct Operation<S: TracedService> {
    start_sdk: fn(&S, &mut Input, &Start<'_>) -> Option<S::Call>,
    start_any: fn(&S, &mut dyn Any, &Start<'_>) -> Option<S::Call>,
    finish_sdk: fn(S::Call, &FinalizerInterceptorContextRef<'_>),
    finish_any: fn(S::Call, &dyn Any),
    fail: fn(S::Call, &CallError),
    name: fn() -> &'static str,
}

impl<S: TracedService> Operation<S> {
    /// The row of operation input `T`.
    pub const fn of<T: TracedOperation<S>>() -> Self {
        Operation {
            start_sdk: start_sdk::<S, T>,
            start_any: start_any::<S, T>,
            finish_sdk: finish_sdk::<S, T>,
            finish_any: finish_any::<S, T>,
            fail: fail::<S, T>,
            name: std::any::type_name::<T>,
        }
    }

    /// Starts a call if `input` is this row's operation.
    pub(crate) fn start_input(
        &'static self,
        service: &S,
        input: &mut Input,
        start: &Start<'_>,
    ) -> Option<Call<S>> {
        let call = (self.start_sdk)(service, input, start)?;
        Some(Call {
            call,
            operation: self,
            probe: None,
        })
    }

    /// Starts a call if `request` (a Tower request's input) is this row's operation.
    pub(crate) fn start_request(
        &'static self,
        service: &S,
        input: &mut dyn Any,
        start: &Start<'_>,
    ) -> Option<Call<S>> {
        let call = (self.start_any)(service, input, start)?;
        Some(Call {
            call,
            operation: self,
            probe: None,
        })
    }
}

impl<S: TracedService> Debug for Operation<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Operation").field(&(self.name)()).finish()
    }
}

fn start_sdk<S: TracedService, T: TracedOperation<S>>(
    service: &S,
    input: &mut Input,
    start: &Start<'_>,
) -> Option<S::Call> {
    let input = input.downcast_mut::<T>()?;
    input
        .traced(service, start)
        .then(|| input.start(service, start))
}

fn start_any<S: TracedService, T: TracedOperation<S>>(
    service: &S,
    input: &mut dyn Any,
    start: &Start<'_>,
) -> Option<S::Call> {
    let input = input.downcast_mut::<T>()?;
    input
        .traced(service, start)
        .then(|| input.start(service, start))
}

fn finish_sdk<S: TracedService, T: TracedOperation<S>>(
    call: S::Call,
    context: &FinalizerInterceptorContextRef<'_>,
) {
    T::finish(
        call,
        call_outcome::<T::Output, T::Error>(context)
            .as_ref()
            .copied(),
    );
}

fn finish_any<S: TracedService, T: TracedOperation<S>>(call: S::Call, output: &dyn Any) {
    match output.downcast_ref::<T::Output>() {
        Some(output) => T::finish(call, Ok(output)),
        // An inner service answered with another operation's output: end the spans rather
        // than leave them open.
        None => T::finish(
            call,
            Err(&CallError::new(
                "the inner service answered with another operation's output",
            )),
        ),
    }
}

fn fail<S: TracedService, T: TracedOperation<S>>(call: S::Call, error: &CallError) {
    T::finish(call, Err(error));
}

/// A call in flight: its spans and the operation that ends them. Whatever happens to the call,
/// they end: with its outcome, or as cancelled when it is dropped first (see
/// [`Pending`](crate::sdk::Pending)).
pub struct Call<S: TracedService> {
    call: S::Call,
    operation: &'static Operation<S>,
    /// Where the Tower form learns the call's server once it has been sent.
    pub(crate) probe: Option<super::ServerProbe>,
}

impl<S: TracedService> Call<S> {
    /// The service's call state.
    pub fn get(&self) -> &S::Call {
        &self.call
    }

    /// The service's call state, mutably.
    pub fn get_mut(&mut self) -> &mut S::Call {
        &mut self.call
    }

    /// Ends the spans with the output of an SDK interceptor's last hook, recording where the
    /// request went (see [`with_server`](crate::sdk::with_server)).
    pub(crate) fn finish_sdk(
        mut self,
        context: &FinalizerInterceptorContextRef<'_>,
        cfg: &aws_smithy_types::config_bag::ConfigBag,
        server: &crate::sdk::ServerMemo,
    ) {
        crate::sdk::with_server(cfg, server, S::HOST_PREFIXES, |address, port| {
            S::record_server(&mut self.call, address, port);
        });
        (self.operation.finish_sdk)(self.call, context);
    }

    /// Records where the call went, from the endpoint the probe learned, if it has (once).
    pub(crate) fn record_probed_server(&mut self) {
        if let Some(probe) = self.probe.take()
            && let Some(endpoint) = probe.get()
            && let Some((address, port)) = S::probed_server(&self.call, endpoint)
        {
            S::record_server(&mut self.call, &address, port);
        }
    }

    /// Ends the spans with a Tower response.
    pub(crate) fn finish_response(self, response: &S::Response) {
        (self.operation.finish_any)(self.call, S::response_output(response));
    }
}

impl<S: TracedService> Debug for Call<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("operation", self.operation)
            .field("call", &self.call)
            .finish()
    }
}

impl<S: TracedService> InFlight for Call<S> {
    fn fail(self, error: &CallError) {
        (self.operation.fail)(self.call, error);
    }
}

/// Sets `server.address` (and `server.port`, if given) on the active span of `cx`.
pub fn set_server(cx: &Context, address: &str, port: Option<u16>) {
    crate::send::set_server_attributes(cx, address, port);
}

#[cfg(test)]
mod tests {
    use crate::sdk::server_of;

    type Server = Option<(&'static str, Option<u16>)>;

    #[rustfmt::skip]
    const CASES: &[(&str, Server)] = &[
        ("https://sqs.eu-west-1.amazonaws.com/", Some(("sqs.eu-west-1.amazonaws.com", None))),
        ("https://sqs.eu-west-1.amazonaws.com:443/q", Some(("sqs.eu-west-1.amazonaws.com", None))),
        ("http://127.0.0.1:4566/000000000000/orders", Some(("127.0.0.1", Some(4566)))),
        ("http://localhost", Some(("localhost", None))),
        ("http://localhost:80?x", Some(("localhost", None))),
        ("https://[::1]:4566/", Some(("::1", Some(4566)))),
        ("https://user@host.example:8443", Some(("host.example", Some(8443)))),
        ("not a uri", None),
        ("https:///path", None),
    ];

    #[test]
    fn host_and_port_of_a_request_uri() {
        for (uri, expected) in CASES {
            assert_eq!(server_of(uri), *expected, "{uri}");
        }
    }
}
