//! What the service crates' middleware shares (feature `smithy`): a call in flight whose spans
//! always end, its place in an SDK operation's config bag, the Tower response future that ends
//! it, and SDK errors read into [`CallError`].

use std::fmt::{self, Debug, Display};
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context as TaskContext, Poll};

use aws_smithy_runtime_api::client::interceptors::context::{
    Error, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use opentelemetry::Context;
use pin_project_lite::pin_project;

use crate::CallError;

/// The spans of a call in flight, which must end even if the call never finishes.
pub trait InFlight: Debug + Send + 'static {
    /// Ends the spans with `error`.
    fn fail(self, error: &CallError);
}

/// A call whose spans are still open. Taking the call out hands the duty of ending them to the
/// taker; if it is never taken (the caller dropped the future — a timeout, a cancelled task —
/// or the SDK gave up before its last hook), dropping this ends them as cancelled.
#[derive(Debug)]
pub struct Pending<T: InFlight>(Option<T>);

impl<T: InFlight> Pending<T> {
    /// Holds `call`.
    pub fn new(call: T) -> Self {
        Pending(Some(call))
    }

    /// The call, if not taken yet.
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }

    /// The call, mutably, if not taken yet.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.0.as_mut()
    }

    /// Takes the call out; its spans are then the taker's to end.
    pub fn take(&mut self) -> Option<T> {
        self.0.take()
    }
}

impl<T: InFlight> Drop for Pending<T> {
    fn drop(&mut self) {
        if let Some(call) = self.0.take() {
            call.fail(&CallError::cancelled());
        }
    }
}

impl<T: InFlight + Sync> Storable for Pending<T> {
    type Storer = StoreReplace<Self>;
}

// A call lives in the operation's interceptor state: the config bag's own top layer, made for
// each operation and never cloned or frozen while it runs. Looking only there costs one hash
// look-up, where `ConfigBag::load` walks every layer of the client's and the operation's
// configuration (and a miss, the common case for the double-installation check, walks them
// all). It also needs no `Clone`, so the call is stored as it is, without a shared lock.

/// Keeps `call` in the operation's interceptor state until [`take_call`]; if nothing takes it,
/// it ends as cancelled when the operation is dropped.
pub fn put_call<T: InFlight + Sync>(cfg: &mut ConfigBag, call: T) {
    cfg.interceptor_state().store_put(Pending::new(call));
}

/// Whether a call of type `T` was put into this operation (by a second interceptor of the
/// same kind installed on the same operation, say), taken since or not.
pub fn has_call<T: InFlight + Sync>(cfg: &mut ConfigBag) -> bool {
    cfg.get_mut_from_interceptor_state::<Pending<T>>().is_some()
}

/// The operation's call of type `T`, if it has one not taken yet.
pub fn call_mut<T: InFlight + Sync>(cfg: &mut ConfigBag) -> Option<&mut T> {
    cfg.get_mut_from_interceptor_state::<Pending<T>>()?
        .get_mut()
}

/// Takes the operation's call of type `T` out; its spans are then the caller's to end.
pub fn take_call<T: InFlight + Sync>(cfg: &mut ConfigBag) -> Option<T> {
    cfg.get_mut_from_interceptor_state::<Pending<T>>()?.take()
}

/// How an SDK operation ended, as an interceptor's last hook (`read_after_execution`) sees it:
/// its output `O`, or its error, read as the operation's own error `E` when it is one (see
/// [`operation_error`]) and with the HTTP status of the response if there was one. A missing
/// or unexpected output is an error too, so every call's span ends with an outcome.
pub fn call_outcome<'a, O, E>(
    context: &'a FinalizerInterceptorContextRef<'_>,
) -> Result<&'a O, CallError>
where
    O: Debug + Send + Sync + 'static,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match context.output_or_error() {
        Some(Ok(output)) => output
            .downcast_ref::<O>()
            .ok_or_else(|| CallError::new("unexpected output type")),
        Some(Err(error)) => {
            let error = operation_error::<E>(error);
            Err(match context.response() {
                Some(response) => error.with_status(response.status().as_u16()),
                None => error,
            })
        }
        None => Err(CallError::new("no response")),
    }
}

/// The error of a failed SDK operation, as an interceptor's last hook sees it: the operation's
/// own error `E` with its code and request id when it is one, else its text.
pub fn operation_error<E>(error: &OrchestratorError<Error>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match error
        .as_operation_error()
        .and_then(|e| e.downcast_ref::<E>())
    {
        Some(operation_error) => CallError::from_metadata(operation_error),
        None => CallError::from_display(error),
    }
}

/// A call in flight that a Tower response future can end with the inner service's result.
pub trait Finish<R, E>: InFlight {
    /// Ends the spans with the outcome of the call.
    fn finish(self, result: &Result<R, E>);
}

/// The error of a Tower service below Baton's layer: the SDK's service error `S` (looked for in
/// the error itself and behind a `BoxError`) with its code and request id, else its text.
pub fn service_error<S, E>(error: &E) -> CallError
where
    S: ProvideErrorMetadata + std::error::Error + 'static,
    E: Display + 'static,
{
    let any: &dyn std::any::Any = error;
    if let Some(sdk) = any.downcast_ref::<S>() {
        return CallError::from_metadata(sdk);
    }
    if let Some(boxed) = any.downcast_ref::<Box<dyn std::error::Error + Send + Sync>>() {
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(boxed.as_ref());
        while let Some(e) = current {
            if let Some(sdk) = e.downcast_ref::<S>() {
                return CallError::from_metadata(sdk);
            }
            current = e.source();
        }
    }
    CallError::from_display(error)
}

pin_project! {
    /// The response future of Baton's Tower layers: keeps the call's context current while the
    /// inner future runs, then ends the call's spans with its outcome (or as cancelled, if
    /// dropped first). The response or error passes through unchanged.
    pub struct TracedFuture<F, T: InFlight> {
        #[pin]
        inner: F,
        pending: Option<Pending<T>>,
        active: Context,
    }
}

impl<F, T: InFlight> TracedFuture<F, T> {
    /// Wraps `inner`, keeping `active` current while it runs; `call` (if any) is ended when it
    /// completes.
    pub fn new(inner: F, call: Option<T>, active: Context) -> Self {
        TracedFuture {
            inner,
            pending: call.map(Pending::new),
            active,
        }
    }
}

impl<F, T: InFlight> Debug for TracedFuture<F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedFuture")
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl<F, T, R, E> Future for TracedFuture<F, T>
where
    F: Future<Output = Result<R, E>>,
    T: Finish<R, E>,
{
    type Output = Result<R, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _guard = this.active.clone().attach();
            match this.inner.poll(cx) {
                Poll::Ready(result) => result,
                Poll::Pending => return Poll::Pending,
            }
        };
        if let Some(call) = this.pending.as_mut().and_then(Pending::take) {
            call.finish(&result);
        }
        Poll::Ready(result)
    }
}

/// The host and the port (`None` when it is the scheme's default) of a request URI.
pub(crate) fn server_of(uri: &str) -> Option<(&str, Option<u16>)> {
    // A one-character search: a string pattern would set up a substring searcher every call.
    let colon = uri.find(':')?;
    let (scheme, rest) = (&uri[..colon], uri[colon + 1..].strip_prefix("//")?);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        // An IPv6 address: `[::1]:4566`.
        let (host, after) = bracketed.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let default = match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    let port = port
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| Some(*p) != default);
    Some((host, port))
}

/// Calls `record` with where an operation's request went: the endpoint the SDK resolved for it
/// (kept in the configuration bag for interceptors), with the operation's host prefix as the
/// SDK applied it (Step Functions' `sync-`). Nothing when no endpoint was resolved.
pub(crate) fn with_server(
    cfg: &ConfigBag,
    memo: &ServerMemo,
    host_prefixes: bool,
    record: impl FnOnce(&str, Option<u16>),
) {
    use aws_smithy_runtime_api::client::endpoint::EndpointPrefix;
    use aws_smithy_types::endpoint::Endpoint;

    let Some((address, port)) = cfg.load::<Endpoint>().and_then(|e| memo.server_of(e.url())) else {
        return;
    };
    let prefix = if host_prefixes {
        cfg.load::<EndpointPrefix>()
    } else {
        None
    };
    match prefix.map(EndpointPrefix::as_str).filter(|p| !p.is_empty()) {
        Some(prefix) => record(&format!("{prefix}{address}"), port),
        None => record(address, port),
    }
}

/// The host and port of the first endpoint an interceptor saw, kept: a client sends nearly
/// every call to the same endpoint, so most calls compare the endpoint's URL with the one kept
/// instead of taking it apart again. Another endpoint is taken apart each time.
#[derive(Debug, Default)]
pub(crate) struct ServerMemo(OnceLock<(Box<str>, Box<str>, Option<u16>)>);

impl ServerMemo {
    /// [`server_of`] `uri`, remembered for the first URI seen.
    pub(crate) fn server_of<'a>(&'a self, uri: &'a str) -> Option<(&'a str, Option<u16>)> {
        if let Some((seen, host, port)) = self.0.get() {
            return if **seen == *uri {
                Some((host, *port))
            } else {
                server_of(uri)
            };
        }
        let (host, port) = server_of(uri)?;
        let _ = self.0.set((uri.into(), host.into(), port));
        Some((host, port))
    }
}

/// Puts `header` on `request` as its `X-Amzn-Trace-Id` (a value that cannot go on the wire is
/// left out, with a `tracing` event).
pub(crate) fn set_trace_header(
    request: &mut aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    header: String,
) {
    if let Err(error) = request.headers_mut().try_insert("x-amzn-trace-id", header) {
        tracing::debug!(target: "baton", %error, "trace header not set on the request");
    }
}
