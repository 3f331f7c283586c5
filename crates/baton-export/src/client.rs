//! The HTTP client the OTLP/HTTP exporter sends with: hyper with rustls, run on a tokio
//! runtime, bounded by a timeout, signing each request with SigV4 when sending to X-Ray.
//!
//! The SDK's batch processor exports from a thread of its own with a plain `block_on`, where
//! no tokio reactor runs; hyper needs one. So each request is spawned onto the runtime the
//! set-up was given (or found, or started) and its task awaited from that thread.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_http::HttpError;
use tokio::runtime::Handle;

use crate::error::SetupError;

/// The most of an answer body read: OTLP answers are a few bytes (a partial success at most).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Signs a request before it is sent (SigV4 for X-Ray).
#[async_trait::async_trait]
pub(crate) trait Sign: fmt::Debug + Send + Sync {
    async fn sign(&self, request: &mut Request<Bytes>) -> Result<(), HttpError>;
}

#[derive(Clone)]
pub(crate) struct OtlpHttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    runtime: Handle,
    timeout: Duration,
    signer: Option<Arc<dyn Sign>>,
}

impl fmt::Debug for OtlpHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpHttpClient")
            .field("timeout", &self.timeout)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl OtlpHttpClient {
    pub(crate) fn new(
        runtime: Handle,
        timeout: Duration,
        signer: Option<Arc<dyn Sign>>,
    ) -> Result<Self, SetupError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = match hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(Arc::clone(&provider))
        {
            Ok(builder) => builder,
            Err(error) => {
                // No CA certificates on this machine: plain HTTP (a local collector) still
                // works; HTTPS fails per request, and this says why.
                tracing::warn!(
                    target: "baton_export",
                    %error,
                    "no CA certificates found; HTTPS endpoints will be refused"
                );
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|error| SetupError::Invalid(format!("TLS set-up: {error}")))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
            }
        };
        let connector = builder.https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(OtlpHttpClient {
            client,
            runtime,
            timeout,
            signer,
        })
    }

    /// Signs and sends `request`, all of it bounded by the timeout.
    async fn send(self, mut request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let timeout = self.timeout;
        let work = async move {
            if let Some(signer) = &self.signer
                && let Err(error) = signer.sign(&mut request).await
            {
                // Not the network's fault: a retry would fail the same way, and an `Err` here
                // would be retried. A refusal is not.
                return Ok(refused(&format!(
                    "not sent: cannot sign the request: {error}"
                )));
            }
            let response = self.client.request(request.map(Full::new)).await?;
            let (parts, body) = response.into_parts();
            let body = match Limited::new(body, MAX_ANSWER_BYTES).collect().await {
                Ok(body) => body.to_bytes(),
                // The status is what counts; an answer that long is not an OTLP one anyway.
                Err(error) if error.is::<http_body_util::LengthLimitError>() => Bytes::new(),
                Err(error) => return Err(error),
            };
            Ok::<_, HttpError>(Response::from_parts(parts, body))
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {timeout:?}").into()),
        }
    }
}

/// An answer made here for a request that was not sent (401: the exporter does not retry it).
fn refused(message: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(message.to_owned()));
    *response.status_mut() = http::StatusCode::UNAUTHORIZED;
    response
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpHttpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let this = self.clone();
        match self.runtime.spawn(this.send(request)).await {
            Ok(result) => result,
            Err(error) => Err(format!("the export task ended early: {error}").into()),
        }
    }
}
