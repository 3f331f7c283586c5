//! SigV4 signing of OTLP requests for X-Ray's OTLP endpoint, with credentials from the AWS
//! SDK's provider, cached until shortly before they expire.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::Request;
use opentelemetry_http::HttpError;
use tokio::sync::Mutex;

use crate::client::Sign;

/// The signing name of X-Ray's OTLP endpoint.
pub(crate) const SIGNING_NAME: &str = "xray";

/// Credentials are fetched again this long before they expire, so that a request signed
/// just before expiry is not refused on arrival.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

pub(crate) struct SigV4 {
    region: String,
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<Credentials>>,
    /// Whether the last fetch of credentials failed: logged once per outage.
    failing: AtomicBool,
}

impl fmt::Debug for SigV4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4")
            .field("region", &self.region)
            .field("service", &SIGNING_NAME)
            .finish_non_exhaustive()
    }
}

impl SigV4 {
    pub(crate) fn new(region: String, provider: SharedCredentialsProvider) -> Self {
        SigV4 {
            region,
            provider,
            cached: Mutex::new(None),
            failing: AtomicBool::new(false),
        }
    }

    /// The cached credentials while they are good for a while yet, else fresh ones.
    async fn credentials(&self) -> Result<Credentials, HttpError> {
        let mut cached = self.cached.lock().await;
        if let Some(credentials) = &*cached {
            let fresh = credentials
                .expiry()
                .is_none_or(|expiry| SystemTime::now() + REFRESH_BEFORE_EXPIRY < expiry);
            if fresh {
                return Ok(credentials.clone());
            }
        }
        match self.provider.provide_credentials().await {
            Ok(credentials) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(target: "baton_export", "AWS credentials for X-Ray are back");
                }
                *cached = Some(credentials.clone());
                Ok(credentials)
            }
            Err(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        target: "baton_export",
                        error = %error_chain(&error),
                        "no AWS credentials to sign spans for X-Ray with; spans are dropped until there are"
                    );
                }
                Err(format!("no AWS credentials: {}", error_chain(&error)).into())
            }
        }
    }
}

#[async_trait::async_trait]
impl Sign for SigV4 {
    async fn sign(&self, request: &mut Request<Bytes>) -> Result<(), HttpError> {
        let credentials = self.credentials().await?;
        sign_request(
            request,
            credentials,
            &self.region,
            SIGNING_NAME,
            SystemTime::now(),
        )
    }
}

/// A credentials error with its causes, as one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Signs `request` (every header it has, and its body) for service `name` (`xray`) in `region`
/// at `time`, adding `x-amz-date`, `authorization` and, for temporary credentials,
/// `x-amz-security-token`.
fn sign_request(
    request: &mut Request<Bytes>,
    credentials: Credentials,
    region: &str,
    name: &str,
    time: SystemTime,
) -> Result<(), HttpError> {
    let identity = Identity::from(credentials);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(name)
        .time(time)
        .settings(SigningSettings::default())
        .build()?
        .into();
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let signable = SignableRequest::new(
        request.method().as_str(),
        request.uri().to_string(),
        headers.into_iter(),
        SignableBody::Bytes(request.body()),
    )?;
    let (instructions, _signature) = sign(signable, &params)?.into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    /// AWS's own SigV4 test vector `post-vanilla`: the same request, credentials and time must
    /// give the published signature, whatever this code's receiver-side tests agree with.
    #[test]
    fn the_published_post_vanilla_vector() {
        let mut request = Request::builder()
            .method("POST")
            .uri("https://example.amazonaws.com/")
            .header("host", "example.amazonaws.com")
            .body(Bytes::new())
            .unwrap();
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test-vector",
        );
        // 2015-08-30T12:36:00Z
        let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        sign_request(&mut request, credentials, "us-east-1", "service", time).unwrap();
        assert_eq!(request.headers()["x-amz-date"], "20150830T123600Z");
        assert_eq!(
            request.headers()["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
    }
}
