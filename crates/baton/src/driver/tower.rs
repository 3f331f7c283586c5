//! The Tower form: one layer and one service for every service crate.

use std::fmt::Display;
use std::task::{Context as TaskContext, Poll};

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
    fn finish(self, result: &Result<S::Response, E>) {
        match result {
            Ok(response) => self.finish_response(response),
            Err(error) => self.fail(&service_error::<S::SdkError, E>(error)),
        }
    }
}
