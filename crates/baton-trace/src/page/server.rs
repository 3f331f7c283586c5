//! The page's HTTP side: HTTP/1.1 over hyper on its own TCP port, one task per connection,
//! all stopped with the collector.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, oneshot, watch};

use super::api::{self, ListQuery, Refusal};
use super::graph::ServiceGraph;
use crate::collector::Shared;
use crate::html::render_html;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// Connections served at once; more are closed as soon as they are accepted.
const MAX_CONNECTIONS: usize = 128;
/// The page's own scripts and styles only; nothing from elsewhere, nothing inline.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";
/// The static trace page has its styles inline and no script.
const STATIC_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// What every connection shares.
#[derive(Debug)]
pub(crate) struct Page {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    /// The last map drawn, and the update count it was drawn at.
    map: Mutex<Option<(u64, Bytes)>>,
    /// The page's thread, which makes the answers (`None` if it could not be started).
    answers: Option<mpsc::Sender<Job>>,
}

/// One answer to make on the page's thread.
type Job = Box<dyn FnOnce() + Send>;

impl Page {
    /// The page's state, and its thread: it ends once the page is dropped.
    pub(crate) fn new(shared: Arc<Shared>, local_addr: SocketAddr) -> Self {
        let (answers, jobs) = mpsc::channel::<Job>();
        let started = std::thread::Builder::new()
            .name("baton-trace-page".into())
            .spawn(move || {
                for job in jobs {
                    // A panic fails its own request only (a 500), not the thread.
                    let _ = catch_unwind(AssertUnwindSafe(job));
                }
            });
        if let Err(error) = &started {
            tracing::warn!(target: "baton_trace", %error, "no thread for the page; answering on tokio's blocking threads");
        }
        Page {
            shared,
            local_addr,
            map: Mutex::new(None),
            answers: started.is_ok().then_some(answers),
        }
    }

    /// Answers `request` off the runtime's threads: reading thousands of traces takes the
    /// collector's lock and some CPU, and receiving goes on meanwhile. `None` if answering
    /// panicked.
    ///
    /// On one thread of the page's own rather than tokio's blocking threads, because the
    /// summaries a list makes are kept as long as their traces: made on whichever blocking
    /// thread answered, they would spread over the allocator's per-thread arenas, where what
    /// forgotten ones leave is reused by that thread only, and the process would hold more
    /// than the budget counts for them (measured with 10,000 traces held and 20,000 more
    /// forgotten: up to 38 MiB more, the summaries counted being 31 MiB).
    async fn answer_off_runtime(
        self: Arc<Self>,
        request: Request<Incoming>,
    ) -> Option<Response<Full<Bytes>>> {
        let Some(answers) = self.answers.clone() else {
            return tokio::task::spawn_blocking(move || answer(&self, &request))
                .await
                .ok();
        };
        let (answered, answer_made) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answered.send(answer(&self, &request));
        });
        answers.send(job).ok()?;
        answer_made.await.ok()
    }
}

/// Accepts connections until `stop` changes (or its sender is gone); then every connection
/// still open is dropped with the set that holds it.
pub(crate) async fn serve(listener: TcpListener, page: Arc<Page>, stop: watch::Receiver<bool>) {
    // Answers are written whole; waiting to fill a segment only adds delay (nodelay).
    crate::accept::accept_loop(
        listener,
        stop,
        MAX_CONNECTIONS,
        "page",
        true,
        move |stream, from, slot| connection(stream, from, Arc::clone(&page), slot),
    )
    .await;
}

async fn connection(
    stream: TcpStream,
    from: SocketAddr,
    page: Arc<Page>,
    _slot: OwnedSemaphorePermit,
) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let page = Arc::clone(&page);
        async move {
            let answer = page.answer_off_runtime(request).await;
            Ok::<_, Infallible>(answer.unwrap_or_else(|| {
                text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the request could not be answered",
                )
            }))
        }
    });
    crate::accept::serve_http1(stream, from, "page", service).await;
}

/// Routes one request. Never fails: every problem is a status.
pub(crate) fn answer<B>(page: &Page, request: &Request<B>) -> Response<Full<Bytes>> {
    if !host_allowed(page.local_addr, request) {
        // A page on the loopback address answers only to loopback names, so that a web page
        // elsewhere cannot reach it by pointing its own domain at 127.0.0.1.
        return text(
            StatusCode::FORBIDDEN,
            "this server answers only to a loopback host name",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "use GET");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let path = request.uri().path();
    let query = request.uri().query().unwrap_or("");
    match path {
        "/" | "/index.html" => asset(INDEX_HTML, "text/html; charset=utf-8", Some(PAGE_POLICY)),
        "/app.js" => asset(APP_JS, "text/javascript; charset=utf-8", None),
        "/style.css" => asset(STYLE_CSS, "text/css; charset=utf-8", None),
        "/api/traces" => match ListQuery::parse(query) {
            Ok(query) => {
                let (summaries, stats) = {
                    let mut assembler = page.shared.assembler();
                    (assembler.summaries(), assembler.stats())
                };
                json(StatusCode::OK, api::list(&summaries, &query, stats))
            }
            Err(refusal) => refused(&refusal),
        },
        "/api/map" => json_bytes(StatusCode::OK, map(page)),
        _ => {
            if let Some(id) = path.strip_prefix("/api/traces/") {
                if !valid_trace_id(id) {
                    return refused(&Refusal {
                        message: format!("{id:?} is not a trace id"),
                        column: None,
                    });
                }
                let found = {
                    let assembler = page.shared.assembler();
                    assembler
                        .trace(id)
                        .map(|trace| api::trace(&trace, |linked| assembler.contains(linked)))
                };
                return match found {
                    Some(body) => json(StatusCode::OK, body),
                    None => json(
                        StatusCode::NOT_FOUND,
                        Refusal {
                            message: format!(
                                "trace {id} is not held (never received, or forgotten to stay within the limits)"
                            ),
                            column: None,
                        }
                        .to_json(),
                    ),
                };
            }
            if let Some(id) = path
                .strip_prefix("/trace/")
                .and_then(|rest| rest.strip_suffix(".html"))
                && valid_trace_id(id)
            {
                let trace = page.shared.assembler().trace(id);
                return match trace {
                    Some(trace) => asset_owned(
                        render_html(&trace),
                        "text/html; charset=utf-8",
                        Some(STATIC_POLICY),
                    ),
                    None => text(StatusCode::NOT_FOUND, &format!("trace {id} is not held")),
                };
            }
            text(
                StatusCode::NOT_FOUND,
                &format!("nothing is served at {path}"),
            )
        }
    }
}

/// The map's JSON, drawn again only when something arrived since it was last drawn.
fn map(page: &Page) -> Bytes {
    let version = *page.shared.updates.borrow();
    let mut cached = page.map.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((drawn, body)) = cached.as_ref()
        && *drawn == version
    {
        return body.clone();
    }
    let summaries = page.shared.assembler().summaries();
    let graph = ServiceGraph::from_parts(summaries.iter().map(|s| &s.graph));
    let body = Bytes::from(api::map(&graph));
    *cached = Some((version, body.clone()));
    body
}

/// Letters, digits and dashes, as trace ids are checked on arrival.
fn valid_trace_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn host_allowed<B>(local: SocketAddr, request: &Request<B>) -> bool {
    if !local.ip().is_loopback() {
        return true;
    }
    let Some(host) = request.headers().get(HOST) else {
        // HTTP/1.0 clients may send none; a browser always does.
        return true;
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    // Drop the port: `name:port`, `[v6]:port`.
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn with_headers(
    mut response: Response<Full<Bytes>>,
    status: StatusCode,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn asset(
    body: &'static str,
    content_type: &'static str,
    policy: Option<&'static str>,
) -> Response<Full<Bytes>> {
    let mut response = with_headers(
        Response::new(Full::new(Bytes::from_static(body.as_bytes()))),
        StatusCode::OK,
        content_type,
    );
    if let Some(policy) = policy {
        response
            .headers_mut()
            .insert("content-security-policy", HeaderValue::from_static(policy));
    }
    response
}

fn asset_owned(
    body: String,
    content_type: &'static str,
    policy: Option<&'static str>,
) -> Response<Full<Bytes>> {
    let mut response = with_headers(
        Response::new(Full::new(Bytes::from(body))),
        StatusCode::OK,
        content_type,
    );
    if let Some(policy) = policy {
        response
            .headers_mut()
            .insert("content-security-policy", HeaderValue::from_static(policy));
    }
    response
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    json_bytes(status, Bytes::from(body))
}

fn json_bytes(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    with_headers(Response::new(Full::new(body)), status, "application/json")
}

fn refused(refusal: &Refusal) -> Response<Full<Bytes>> {
    json(StatusCode::BAD_REQUEST, refusal.to_json())
}

fn text(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    with_headers(
        Response::new(Full::new(Bytes::from(format!("{message}\n")))),
        status,
        "text/plain; charset=utf-8",
    )
}
