//! The accept loop the trace view's two HTTP servers (the page, the sampling endpoints) share.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

/// Accepts connections on `listener` until `stop` changes (or its sender is gone), each served
/// by `serve` with a slot of `max`: a connection beyond `max` open ones is closed at once. On
/// stop, every connection still open is dropped with the set that holds it. `what` names the
/// server in `tracing` events; `nodelay` turns Nagle's delay off (for servers that write each
/// answer whole).
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    max: usize,
    what: &'static str,
    nodelay: bool,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr, OwnedSemaphorePermit) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    let slots = Arc::new(Semaphore::new(max));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, from)) => {
                    if nodelay {
                        let _ = stream.set_nodelay(true);
                    }
                    while connections.try_join_next().is_some() {}
                    match Arc::clone(&slots).try_acquire_owned() {
                        Ok(slot) => {
                            connections.spawn(serve(stream, from, slot));
                        }
                        Err(_) => {
                            tracing::debug!(target: "baton_trace", %from, server = what, "too many connections; closed");
                        }
                    }
                }
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a moment so a lasting error cannot spin.
                    tracing::debug!(target: "baton_trace", %error, server = what, "accept error");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

/// How long a client may take to send a request's headers (and, for the sampling server, its
/// body) before its connection is closed.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves HTTP/1.1 on one accepted connection with `service`, closing it when a client is
/// slower than [`READ_TIMEOUT`] to send its headers; `what` names the server in `tracing`.
pub(crate) async fn serve_http1<S>(
    stream: TcpStream,
    from: SocketAddr,
    what: &'static str,
    service: S,
) where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let served = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(READ_TIMEOUT)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
    if let Err(error) = served {
        tracing::debug!(target: "baton_trace", %from, %error, server = what, "connection ended");
    }
}
