//! The TCP side: HTTP/1.1 over hyper, one task per connection, all stopped with the collector.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, watch};

use super::api::Book;

/// The daemon's two sampling paths.
pub(crate) const RULES_PATH: &str = "/GetSamplingRules";
pub(crate) const TARGETS_PATH: &str = "/SamplingTargets";

/// The largest request body read; samplers send a few hundred bytes.
pub(crate) const MAX_BODY_BYTES: usize = 1 << 20;
/// Connections served at once; more are closed as soon as they are accepted.
const MAX_CONNECTIONS: usize = 256;
/// Binds a TCP listener at `addr`, reusing the address as the daemon would after a restart
/// (connections still in `TIME_WAIT` do not block it).
pub(crate) fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // On Windows the same option would let another process take the port over.
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Accepts connections until `stop` changes (or its sender is gone); then every connection
/// still open is dropped with the set that holds it.
pub(crate) async fn serve(listener: TcpListener, book: Arc<Book>, stop: watch::Receiver<bool>) {
    crate::accept::accept_loop(
        listener,
        stop,
        MAX_CONNECTIONS,
        "sampling",
        false,
        move |stream, from, slot| connection(stream, from, Arc::clone(&book), slot),
    )
    .await;
}

async fn connection(
    stream: TcpStream,
    from: SocketAddr,
    book: Arc<Book>,
    _slot: OwnedSemaphorePermit,
) {
    let service = hyper::service::service_fn(move |request| {
        let book = Arc::clone(&book);
        async move { Ok::<_, Infallible>(answer(&book, request).await) }
    });
    crate::accept::serve_http1(stream, from, "sampling", service).await;
}

/// Reads one request's body and routes it. Never fails: every problem is a status. The body
/// is read even when the answer does not need it, so that the connection can carry the next
/// request.
pub(crate) async fn answer(book: &Book, request: Request<Incoming>) -> Response<Full<Bytes>> {
    // A declared length over the limit is refused before any of it is read (which also
    // ends the connection).
    if request.body().size_hint().lower() > MAX_BODY_BYTES as u64 {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_BODY_BYTES).collect();
    let body = match tokio::time::timeout(crate::accept::READ_TIMEOUT, body).await {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(failure)) if failure.is::<http_body_util::LengthLimitError>() => {
            return too_large();
        }
        Ok(Err(failure)) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the body: {failure}"),
            );
        }
        Err(_) => return error(StatusCode::REQUEST_TIMEOUT, "the body took too long"),
    };
    let endpoint: fn(&Book, &[u8]) -> Result<Bytes, String> = match parts.uri.path() {
        RULES_PATH => Book::get_rules,
        TARGETS_PATH => Book::sampling_targets,
        path => {
            return error(
                StatusCode::NOT_FOUND,
                &format!("nothing is served at {path}"),
            );
        }
    };
    if parts.method != Method::POST {
        let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "use POST");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    match endpoint(book, &body) {
        Ok(json) => json_response(StatusCode::OK, json),
        Err(message) => error(StatusCode::BAD_REQUEST, &message),
    }
}

fn too_large() -> Response<Full<Bytes>> {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
    )
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// An error answer, with the message in a JSON body as the X-Ray API gives it.
fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "message": message }).to_string();
    json_response(status, Bytes::from(body))
}
