//! A recording stub HTTP client for any AWS SDK client.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;

/// The request header carrying the X-Ray trace header (recorded as
/// [`Request::trace_header`]).
pub const TRACE_HEADER: &str = "x-amzn-trace-id";

/// The request header naming the operation in the JSON protocols (`AmazonSQS.SendMessage`),
/// recorded as [`Request::target`].
pub const TARGET_HEADER: &str = "x-amz-target";

/// A request as the stub saw it: the two headers the tests look at, and the body.
///
/// A [`Responder`] gets one that reads the SDK's request in place (nothing is copied unless
/// asked for); [`Stub::requests`] returns kept copies (`Request<'static>`).
#[derive(Clone)]
pub struct Request<'a> {
    source: Source<'a>,
}

#[derive(Clone)]
enum Source<'a> {
    Sent(&'a HttpRequest),
    Kept {
        trace_header: Option<String>,
        target: Option<String>,
        /// Every header, names in lower case.
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
}

impl<'a> Request<'a> {
    fn sent(request: &'a HttpRequest) -> Self {
        Request {
            source: Source::Sent(request),
        }
    }

    fn keep(&self) -> Request<'static> {
        Request {
            source: Source::Kept {
                trace_header: self.trace_header().map(str::to_owned),
                target: self.target().map(str::to_owned),
                headers: match &self.source {
                    Source::Sent(request) => request
                        .headers()
                        .iter()
                        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
                        .collect(),
                    Source::Kept { headers, .. } => headers.clone(),
                },
                body: self.body_bytes().to_vec(),
            },
        }
    }

    /// The `x-amzn-trace-id` header, if the request had one.
    pub fn trace_header(&self) -> Option<&str> {
        match &self.source {
            Source::Sent(request) => request.headers().get(TRACE_HEADER),
            Source::Kept { trace_header, .. } => trace_header.as_deref(),
        }
    }

    /// The `x-amz-target` header, if the request had one (JSON protocols: SQS, EventBridge,
    /// Step Functions).
    pub fn target(&self) -> Option<&str> {
        match &self.source {
            Source::Sent(request) => request.headers().get(TARGET_HEADER),
            Source::Kept { target, .. } => target.as_deref(),
        }
    }

    /// The request header `name` (any letter case), if the request had it.
    pub fn header(&self, name: &str) -> Option<&str> {
        match &self.source {
            Source::Sent(request) => request.headers().get(name),
            Source::Kept { headers, .. } => headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str()),
        }
    }

    /// The body's bytes (empty for a streaming body, which the SDKs Baton covers never send).
    pub fn body_bytes(&self) -> &[u8] {
        match &self.source {
            Source::Sent(request) => request.body().bytes().unwrap_or_default(),
            Source::Kept { body, .. } => body,
        }
    }

    /// The body as text.
    ///
    /// # Panics
    /// When the body is not UTF-8 (read [`body_bytes`](Self::body_bytes) instead).
    pub fn body(&self) -> &str {
        std::str::from_utf8(self.body_bytes())
            .expect("the request body is not UTF-8: read body_bytes() instead")
    }

    /// The operation's name: what follows the last `.` of `x-amz-target` (`SendMessage`), or,
    /// without that header, the `Action` field of a form body (the query protocol of SNS).
    /// Empty when the request names neither.
    pub fn operation(&self) -> &str {
        match self.target() {
            Some(target) => target.rsplit('.').next().unwrap_or(target),
            None => std::str::from_utf8(self.body_bytes())
                .unwrap_or_default()
                .split('&')
                .find_map(|field| field.strip_prefix("Action="))
                .unwrap_or_default(),
        }
    }
}

impl PartialEq for Request<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.trace_header() == other.trace_header()
            && self.target() == other.target()
            && self.body_bytes() == other.body_bytes()
    }
}

impl Eq for Request<'_> {}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("trace_header", &self.trace_header())
            .field("target", &self.target())
            .field("body", &String::from_utf8_lossy(self.body_bytes()))
            .finish()
    }
}

/// What the stub answers: a status, a body and headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    status: u16,
    body: Bytes,
    headers: Vec<(&'static str, Cow<'static, str>)>,
}

impl Reply {
    /// A reply with this status and body, and no headers of its own.
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        Reply {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// A `200 OK` reply with this body.
    pub fn ok(body: impl Into<Bytes>) -> Self {
        Self::new(200, body)
    }

    /// Adds a response header. It wins over the responder's [`headers`](Responder::headers)
    /// of the same name.
    pub fn with_header(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// How one service answers: its canned reply to each operation.
///
/// Any `Fn(&Request<'_>) -> Reply` closure is a responder (annotate its argument's type, or
/// the compiler cannot tell it takes any lifetime). A type of its own is the way to hold
/// settings a test changes (which entry of a batch fails, what a receive returns) and to give
/// the failure and the headers every reply shares.
pub trait Responder: Send + Sync + 'static {
    /// The reply to `request`.
    fn respond(&self, request: &Request<'_>) -> Reply;

    /// The reply to a request the stub was told to fail ([`Stub::fail_first`]). It should be
    /// one the SDK retries: by default a `500` with an empty body.
    fn failure(&self, request: &Request<'_>) -> Reply {
        let _ = request;
        Reply::new(500, Bytes::new())
    }

    /// Headers every reply carries, failures included (`content-type`, a request id). None by
    /// default.
    fn headers(&self) -> &[(&'static str, &'static str)] {
        &[]
    }
}

impl<F> Responder for F
where
    F: Fn(&Request<'_>) -> Reply + Send + Sync + 'static,
{
    fn respond(&self, request: &Request<'_>) -> Reply {
        self(request)
    }
}

/// An HTTP client for any `aws-sdk-*` client that never leaves the process: it records each
/// request and answers with what its [`Responder`] computes.
///
/// Clones share everything (the responder, the record, the failure count), so a test keeps one
/// clone and gives another to the SDK ([`sdk_config!`](crate::sdk_config) does that).
pub struct Stub<R> {
    shared: Arc<Shared<R>>,
}

struct Shared<R> {
    responder: R,
    record: bool,
    requests: Mutex<Vec<Request<'static>>>,
    fail_first: AtomicUsize,
    hang: AtomicBool,
}

impl<R: Responder> Stub<R> {
    /// A stub answering with `responder` that records every request.
    pub fn new(responder: R) -> Self {
        Self::build(responder, true)
    }

    /// A stub answering with `responder` that keeps nothing, for benchmarks: no copy of each
    /// request, and memory stays flat over millions of calls. [`requests`](Self::requests) is
    /// always empty.
    pub fn unrecorded(responder: R) -> Self {
        Self::build(responder, false)
    }

    fn build(responder: R, record: bool) -> Self {
        Stub {
            shared: Arc::new(Shared {
                responder,
                record,
                requests: Mutex::new(Vec::new()),
                fail_first: AtomicUsize::new(0),
                hang: AtomicBool::new(false),
            }),
        }
    }

    /// The responder, to change its settings between calls.
    pub fn responder(&self) -> &R {
        &self.shared.responder
    }

    /// Answers the next `count` requests with the responder's
    /// [`failure`](Responder::failure) (they are still recorded). Replaces any count left.
    pub fn fail_first(&self, count: usize) {
        self.shared.fail_first.store(count, Ordering::SeqCst);
    }

    /// From now on, never answers: each call's future stays pending until the caller drops it
    /// (to test calls cancelled before a response). The requests are still recorded.
    pub fn hang(&self) {
        self.shared.hang.store(true, Ordering::SeqCst);
    }

    /// Every request so far, oldest first (retries included).
    pub fn requests(&self) -> Vec<Request<'static>> {
        self.recorded().clone()
    }

    /// Request `index` (0 is the first).
    ///
    /// # Panics
    /// When fewer requests were made.
    pub fn request(&self, index: usize) -> Request<'static> {
        let requests = self.recorded();
        match requests.get(index) {
            Some(request) => request.clone(),
            None => panic!(
                "no request {index}: the stub saw {} request(s)",
                requests.len()
            ),
        }
    }

    fn recorded(&self) -> MutexGuard<'_, Vec<Request<'static>>> {
        // A test that panicked while holding the lock left a whole record behind.
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn response(&self, reply: Reply) -> HttpResponse {
        let status = StatusCode::try_from(reply.status)
            .unwrap_or_else(|_| panic!("{} is not an HTTP status", reply.status));
        let mut response = HttpResponse::new(status, SdkBody::from(reply.body));
        let headers = response.headers_mut();
        for &(name, value) in self.shared.responder.headers() {
            headers.insert(name, value);
        }
        for (name, value) in reply.headers {
            headers.insert(name, value);
        }
        response
    }
}

impl<R: Responder + Default> Default for Stub<R> {
    fn default() -> Self {
        Self::new(R::default())
    }
}

impl<R> Clone for Stub<R> {
    fn clone(&self) -> Self {
        Stub {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<R> fmt::Debug for Stub<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared;
        f.debug_struct("Stub")
            .field("record", &shared.record)
            .field("fail_first", &shared.fail_first.load(Ordering::SeqCst))
            .field("hang", &shared.hang.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl<R: Responder> HttpConnector for Stub<R> {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let seen = Request::sent(&request);
        if self.shared.record {
            self.recorded().push(seen.keep());
        }
        if self.shared.hang.load(Ordering::SeqCst) {
            return HttpConnectorFuture::new(std::future::pending());
        }
        let fail = self
            .shared
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        let reply = if fail {
            self.shared.responder.failure(&seen)
        } else {
            self.shared.responder.respond(&seen)
        };
        HttpConnectorFuture::ready(Ok(self.response(reply)))
    }
}

impl<R: Responder> HttpClient for Stub<R> {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn request(target: Option<&'static str>, body: &'static str) -> HttpRequest {
        let mut request = HttpRequest::new(SdkBody::from(body));
        request
            .headers_mut()
            .insert(TRACE_HEADER, "Root=1-5759e988-bd862e3fe1be46a994272793");
        if let Some(target) = target {
            request.headers_mut().insert(TARGET_HEADER, target);
        }
        request
    }

    #[derive(Debug, Default)]
    struct Echo;

    impl Responder for Echo {
        fn respond(&self, request: &Request<'_>) -> Reply {
            Reply::ok(request.operation().to_owned()).with_header("x-op", "mine")
        }
        fn failure(&self, _: &Request<'_>) -> Reply {
            Reply::new(503, "later")
        }
        fn headers(&self) -> &[(&'static str, &'static str)] {
            &[("content-type", "text/plain"), ("x-op", "shared")]
        }
    }

    fn body_of(response: &HttpResponse) -> &[u8] {
        response.body().bytes().unwrap()
    }

    #[tokio::test]
    async fn records_and_answers_by_operation() {
        let stub = Stub::<Echo>::default();
        let response = stub
            .call(request(Some("AmazonSQS.SendMessage"), "{}"))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(body_of(&response), b"SendMessage");
        assert_eq!(response.headers().get("content-type"), Some("text/plain"));
        assert_eq!(response.headers().get("x-op"), Some("mine"));

        stub.call(request(None, "Action=Publish&TopicArn=t"))
            .await
            .unwrap();
        let requests = stub.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].target(), Some("AmazonSQS.SendMessage"));
        assert_eq!(requests[0].body(), "{}");
        assert_eq!(
            requests[1].trace_header(),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793")
        );
        assert_eq!(requests[1].operation(), "Publish");
        assert_eq!(stub.request(1), requests[1]);
    }

    #[tokio::test]
    async fn fails_the_first_requests_then_answers() {
        let stub = Stub::new(|_: &Request<'_>| Reply::ok("fine"));
        stub.fail_first(2);
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let response = stub.call(request(None, "")).await.unwrap();
            statuses.push(response.status().as_u16());
        }
        assert_eq!(statuses, [500, 500, 200]);
        assert_eq!(stub.requests().len(), 3);

        let echo = Stub::new(Echo);
        echo.fail_first(1);
        let response = echo.call(request(None, "")).await.unwrap();
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(body_of(&response), b"later");
        assert_eq!(response.headers().get("x-op"), Some("shared"));
    }

    #[tokio::test]
    async fn a_hanging_stub_never_answers_but_records() {
        let stub = Stub::<Echo>::default();
        stub.hang();
        let call = stub.call(request(Some("AWSEvents.PutEvents"), "{}"));
        assert!(
            tokio::time::timeout(Duration::from_millis(20), call)
                .await
                .is_err()
        );
        assert_eq!(stub.requests()[0].operation(), "PutEvents");
    }

    #[tokio::test]
    async fn an_unrecorded_stub_keeps_nothing() {
        let stub = Stub::unrecorded(Echo);
        let response = stub
            .call(request(Some("AWSStepFunctions.StartExecution"), "{}"))
            .await
            .unwrap();
        assert_eq!(body_of(&response), b"StartExecution");
        assert!(stub.requests().is_empty());
    }

    #[test]
    #[should_panic(expected = "no request 0")]
    fn asking_for_a_request_never_made_panics_clearly() {
        Stub::<Echo>::default().request(0);
    }
}
