//! The Tower form: one layer and one service for every service crate.

use std::fmt::Display;
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::{Intercept, OverriddenHooks};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::endpoint::Endpoint;

use super::{Call, Start, TracedService};
use crate::sdk::{Finish, InFlight, TracedFuture, service_error};

/// A [`tower::Layer`] that wraps a service in [`Traced`] with the settings `S`. Each service
/// crate names it (`SqsLayer`, `SnsLayer`, …); its settings type makes one with `layer()`.
#[derive(Clone, Debug, Default)]
pub struct PropagationLayer<S> {
    settings: S,
}

impl<S: TracedService> PropagationLayer<S> {
    /// A layer with `settings`.
    pub fn new(settings: S) -> Self {
        PropagationLayer { settings }
    }

    /// The settings.
    pub fn settings(&self) -> &S {
        &self.settings
    }
}

impl<S: TracedService, Inner> tower::Layer<Inner> for PropagationLayer<S> {
    type Service = Traced<S, Inner>;

    fn layer(&self, inner: Inner) -> Self::Service {
        Traced::new(inner, self.settings.clone())
    }
}

/// Propagates trace context through an inner Tower service of one AWS service: each traced
/// operation gets its spans and its input the context, as the interceptor does; other
/// operations pass through. Each service crate names it (`TracedSqs<S>`, …).
///
/// The caller's context is taken when [`call`](tower::Service::call) is made (see
/// [`current_context`](crate::current_context)) and kept current while the inner service is
/// called and its future polled. Readiness and errors of the inner service pass through
/// unchanged; the spans end when the response future completes (or as cancelled if it is
/// dropped first).
#[derive(Clone, Debug)]
pub struct Traced<S, Inner> {
    inner: Inner,
    settings: S,
}

impl<S: TracedService, Inner> Traced<S, Inner> {
    /// Wraps `inner` with `settings`.
    pub fn new(inner: Inner, settings: S) -> Self {
        Traced { inner, settings }
    }

    /// A layer that wraps services with `settings`.
    pub fn layer(settings: S) -> PropagationLayer<S> {
        PropagationLayer::new(settings)
    }

    /// The settings.
    pub fn settings(&self) -> &S {
        &self.settings
    }

    /// The inner service.
    pub fn get_ref(&self) -> &Inner {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut Inner {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> Inner {
        self.inner
    }
}

/// The response future of [`Traced`]: keeps the call's context current while the inner future
/// runs, then ends the call's spans with its outcome. The response or error passes through
/// unchanged.
pub type ResponseFuture<F, S> = TracedFuture<F, Call<S>>;

impl<S, Inner> tower::Service<S::Request> for Traced<S, Inner>
where
    S: TracedService,
    Inner: tower::Service<S::Request, Response = S::Response>,
    Inner::Error: Display + 'static,
{
    type Response = S::Response;
    type Error = Inner::Error;
    type Future = ResponseFuture<Inner::Future, S>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: S::Request) -> Self::Future {
        let parent = crate::current_context();
        let start = Start::new(&parent, self.settings.common().region());
        let input = S::request_input(&mut request);
        let mut call = S::OPERATIONS
            .iter()
            .find_map(|operation| operation.start_request(&self.settings, input, &start));
        if let Some(call) = &mut call {
            self.settings.prepare_request(&mut request, call.get_mut());
            if let Some((address, port)) = self.settings.common().server_address() {
                S::record_server(call.get_mut(), address, port);
            } else if let Some(probe) = self.settings.common().server_probe() {
                // Known already: recorded now, so that a call cancelled later still has it;
                // else learned by the time the call ends.
                call.probe = Some(probe.clone());
                if probe.learned() {
                    call.record_probed_server();
                }
            }
        }
        let active = call
            .as_ref()
            .and_then(|call| S::active_context(call.get()))
            .cloned()
            .unwrap_or(parent);
        let future = {
            let _guard = active.clone().attach();
            self.inner.call(request)
        };
        TracedFuture::new(future, call, active)
    }
}

impl<S, E> Finish<S::Response, E> for Call<S>
where
    S: TracedService,
    E: Display + 'static,
{
    fn finish(mut self, result: &Result<S::Response, E>) {
        self.record_probed_server();
        match result {
            Ok(response) => self.finish_response(response),
            Err(error) => self.fail(&service_error::<S::SdkError, E>(error)),
        }
    }
}

/// Learns where a client sends its requests, for the Tower form's `server.address` and
/// `server.port`: a Tower layer cannot see the client below it, and an SDK configuration
/// exposes no endpoint. It is an interceptor that reads the endpoint the SDK resolved for a call;
/// the first one it sees is kept. Each service crate's `service(client)` puts one on a copy of the
/// client and wraps both in [`Probed`], so only the first call pays for it; the layer records what
/// was learned when each call ends. An address set with `with_server_address` wins.
#[derive(Clone, Default)]
pub struct ServerProbe {
    learned: Arc<OnceLock<Server>>,
    /// Which calls to learn from (default: all).
    filter: Option<fn(&ConfigBag) -> bool>,
}

impl std::fmt::Debug for ServerProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ServerProbe").field(&self.get()).finish()
    }
}

/// A host, and its port when not the scheme's default.
type Server = (String, Option<u16>);

impl ServerProbe {
    /// A probe that has seen no call yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns only from calls `filter` accepts (looking at the operation's configuration bag:
    /// its endpoint parameters, say), for services where some calls go to a host of their own
    /// (EventBridge's global endpoints).
    #[must_use]
    pub fn learning_from(mut self, filter: fn(&ConfigBag) -> bool) -> Self {
        self.filter = Some(filter);
        self
    }

    /// The client's endpoint: the host and the port (when not the scheme's default) that the
    /// first call it learned from was resolved to, before any per-operation host prefix.
    pub fn get(&self) -> Option<(&str, Option<u16>)> {
        self.learned
            .get()
            .map(|(host, port)| (host.as_str(), *port))
    }

    /// Whether it has learned the endpoint.
    pub fn learned(&self) -> bool {
        self.learned.get().is_some()
    }

    fn see(&self, uri: &str) {
        if self.learned() {
            return;
        }
        if let Some((host, port)) = crate::sdk::server_of(uri) {
            // A race between two first calls: either's answer is the client's endpoint.
            let _ = self.learned.set((host.to_owned(), port));
        }
    }
}

impl Intercept for ServerProbe {
    fn name(&self) -> &'static str {
        "BatonServerProbe"
    }

    fn overridden_hooks(&self) -> OverriddenHooks {
        OverriddenHooks::READ_AFTER_EXECUTION
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.filter.is_some_and(|accept| !accept(cfg)) {
            return Ok(());
        }
        // The resolved endpoint, without the host prefix some operations add: the client's
        // own, which the service's `TracedService::probed_server` adapts per operation.
        if let Some(endpoint) = cfg.load::<Endpoint>() {
            self.see(endpoint.url());
        }
        Ok(())
    }
}

/// The client service below a Tower form that `service(client)` built: calls go to `learning`
/// (the service over a copy of the client that carries a [`ServerProbe`]) until the probe has
/// seen where they go, then to `plain` (the service over the client as given, or over the copy
/// a client service that sets a request header makes of it), so the probe's hook costs nothing
/// after the first call. Readiness is asked of both, so that either may take the call. Made by
/// the service crates; only its type shows in theirs.
#[derive(Clone, Debug)]
pub struct Probed<S> {
    learning: Option<(S, ServerProbe)>,
    plain: S,
}

impl<S> Probed<S> {
    /// `plain`, and `learning` until `probe` has learned.
    pub fn new(plain: S, learning: S, probe: ServerProbe) -> Self {
        Probed {
            learning: Some((learning, probe)),
            plain,
        }
    }

    /// `plain` alone (the server address is known already).
    pub fn plain(plain: S) -> Self {
        Probed {
            learning: None,
            plain,
        }
    }

    /// The service over the client as given.
    pub fn get_ref(&self) -> &S {
        &self.plain
    }
}

impl<S, R> tower::Service<R> for Probed<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        let learning = match &mut self.learning {
            Some((learning, _)) => learning.poll_ready(cx)?.is_ready(),
            None => true,
        };
        let plain = self.plain.poll_ready(cx)?.is_ready();
        if learning && plain {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, request: R) -> Self::Future {
        match &mut self.learning {
            Some((learning, probe)) if !probe.learned() => learning.call(request),
            _ => {
                // Learned: the copy is no longer needed.
                self.learning = None;
                self.plain.call(request)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tower::{Service, ServiceExt};

    use super::*;

    fn counting(calls: &Arc<AtomicUsize>) -> tower::util::BoxCloneSyncService<(), (), ()> {
        let calls = calls.clone();
        tower::util::BoxCloneSyncService::new(tower::service_fn(move |()| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, ()>(()) }
        }))
    }

    #[tokio::test]
    async fn calls_take_the_probed_copy_only_until_it_has_learned() {
        let (plain, learning) = (Arc::default(), Arc::default());
        let probe = ServerProbe::new();
        let mut service = Probed::new(counting(&plain), counting(&learning), probe.clone());
        service.ready().await.unwrap().call(()).await.unwrap();
        service.ready().await.unwrap().call(()).await.unwrap();
        assert_eq!(
            (
                plain.load(Ordering::SeqCst),
                learning.load(Ordering::SeqCst)
            ),
            (0, 2)
        );

        probe.see("http://127.0.0.1:4566/000000000000/orders");
        // The first endpoint seen is kept.
        probe.see("https://sqs.eu-west-1.amazonaws.com/");
        assert_eq!(probe.get(), Some(("127.0.0.1", Some(4566))));
        service.ready().await.unwrap().call(()).await.unwrap();
        service.ready().await.unwrap().call(()).await.unwrap();
        assert_eq!(
            (
                plain.load(Ordering::SeqCst),
                learning.load(Ordering::SeqCst)
            ),
            (2, 2)
        );

        let mut known = Probed::plain(counting(&plain));
        known.ready().await.unwrap().call(()).await.unwrap();
        assert_eq!(plain.load(Ordering::SeqCst), 3);
        // A URI it cannot read teaches it nothing.
        let blank = ServerProbe::new();
        blank.see("not a uri");
        assert!(!blank.learned());
    }
}
