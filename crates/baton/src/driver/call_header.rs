//! The `X-Amzn-Trace-Id` request header of one call, set by an interceptor installed once on the
//! client instead of a per-call `customize()`: what the client services of the Tower forms use
//! (SNS, Step Functions, Lambda), where the header travels in the request.
//!
//! A per-call `customize().mutate_request(..)` builds a runtime plugin and a configuration layer
//! on every call: 5,000 to 7,000 instructions more a call (SNS Publish, Step Functions
//! StartExecution, Lambda Invoke). Here the client service keeps a copy of its client with
//! [`call_header_interceptor`] on it, and wraps each call in [`with_call_header`]: while the
//! call is polled the header is this thread's, and the interceptor, which the SDK runs inside
//! that poll, puts it on every attempt's request.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::{Intercept, OverriddenHooks, SharedInterceptor};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use pin_project_lite::pin_project;

use super::TRACE_HEADER;

thread_local! {
    /// The header of the call being polled on this thread (see [`WithCallHeader`]).
    static CALL_HEADER: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The interceptor that puts the header of the call being polled (see [`with_call_header`]) on
/// each attempt's request, before it is signed, replacing any there; a call with no header is
/// left alone. Permanent: install it with `push_interceptor` on the copy of the client the
/// client service calls.
///
/// ```ignore
/// // In a service crate (here SNS; the core depends on no service SDK):
/// use baton::driver::{call_header_interceptor, with_call_header};
///
/// let mut config = client.config().to_builder();
/// config.push_interceptor(call_header_interceptor());
/// let client = aws_sdk_sns::Client::from_conf(config.build());
/// // For each call:
/// let output = with_call_header(header, client.publish().topic_arn(topic).send()).await?;
/// ```
///
/// A header that cannot go on the wire (a control character in it) is left out, with a
/// `tracing` warning; the call goes on without it.
pub fn call_header_interceptor() -> SharedInterceptor {
    SharedInterceptor::permanent(CallHeaderInterceptor)
}

/// `call` (an SDK call through a client carrying [`call_header_interceptor`]) sent with `header`
/// as its `X-Amzn-Trace-Id` (none: sent without one).
///
/// Every request the interceptor sees while `call` is polled gets the header: the SDK runs its
/// hooks inside the poll of the call's own future, retries and their back-off included. Work
/// `call` hands to another task (`tokio::spawn`) is polled outside it and gets none.
pub fn with_call_header<F: Future>(header: Option<String>, call: F) -> WithCallHeader<F> {
    WithCallHeader { header, call }
}

pin_project! {
    /// A call sent with its header (see [`with_call_header`]). The header is this thread's
    /// while the call is polled and goes back into the future in between, so calls polled in
    /// turn on one thread, or moved between threads, each see their own.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct WithCallHeader<F> {
        header: Option<String>,
        #[pin]
        call: F,
    }
}

impl<F: Future> Future for WithCallHeader<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let outer = CALL_HEADER.with(|slot| slot.replace(this.header.take()));
        // Put back even if the call panics: a later call on this thread must not see it.
        let restore = Restore(outer);
        let result = this.call.poll(cx);
        *this.header = restore.finish();
        result
    }
}

/// Puts the header of an enclosing call back into the thread's slot when dropped.
struct Restore(Option<String>);

impl Restore {
    /// Puts the enclosing header back and returns this call's.
    fn finish(mut self) -> Option<String> {
        let outer = self.0.take();
        let own = CALL_HEADER.with(|slot| slot.replace(outer));
        std::mem::forget(self);
        own
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        let outer = self.0.take();
        CALL_HEADER.with(|slot| slot.replace(outer));
    }
}

#[derive(Debug)]
struct CallHeaderInterceptor;

impl Intercept for CallHeaderInterceptor {
    fn name(&self) -> &'static str {
        "BatonCallHeader"
    }

    fn overridden_hooks(&self) -> OverriddenHooks {
        OverriddenHooks::MODIFY_BEFORE_SIGNING
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Copied out, so that nothing below (a `tracing` subscriber, say) runs with the slot
        // borrowed.
        let Some(header) = CALL_HEADER.with(|slot| slot.borrow().clone()) else {
            return Ok(());
        };
        if let Err(error) = context
            .request_mut()
            .headers_mut()
            .try_insert(TRACE_HEADER, header)
        {
            tracing::warn!(
                target: "baton",
                %error,
                "X-Amzn-Trace-Id not set: not a valid header value; sending without it"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    fn current() -> Option<String> {
        CALL_HEADER.with(|slot| slot.borrow().clone())
    }

    /// Polls `future` once with a waker that does nothing.
    fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut TaskContext::from_waker(Waker::noop()))
    }

    #[test]
    fn the_header_is_the_threads_only_while_the_call_is_polled() {
        let mut polls = 0;
        let call = std::future::poll_fn(|_| {
            polls += 1;
            assert_eq!(current().as_deref(), Some("a"), "poll {polls}");
            if polls < 2 {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        });
        let mut call = std::pin::pin!(with_call_header(Some("a".to_owned()), call));
        assert!(poll_once(call.as_mut()).is_pending());
        assert_eq!(current(), None);
        assert!(poll_once(call.as_mut()).is_ready());
        assert_eq!(current(), None);
    }

    #[test]
    fn a_call_polled_inside_another_sees_its_own_and_gives_the_outer_back() {
        let inner = std::future::poll_fn(|_| {
            assert_eq!(current().as_deref(), Some("inner"));
            Poll::Ready(())
        });
        let mut inner = std::pin::pin!(with_call_header(Some("inner".to_owned()), inner));
        let outer = std::future::poll_fn(|cx| {
            assert_eq!(current().as_deref(), Some("outer"));
            assert!(inner.as_mut().poll(cx).is_ready());
            assert_eq!(current().as_deref(), Some("outer"));
            Poll::Ready(())
        });
        let mut outer = std::pin::pin!(with_call_header(Some("outer".to_owned()), outer));
        assert!(poll_once(outer.as_mut()).is_ready());
        assert_eq!(current(), None);
    }

    #[test]
    fn a_call_that_panics_leaves_no_header_behind() {
        let result = std::panic::catch_unwind(|| {
            let call = std::future::poll_fn(|_| -> Poll<()> { panic!("handler failed") });
            let mut call = std::pin::pin!(with_call_header(Some("a".to_owned()), call));
            let _ = poll_once(call.as_mut());
        });
        assert!(result.is_err());
        assert_eq!(current(), None);
    }
}
