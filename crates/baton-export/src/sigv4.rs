//! SigV4 signing of OTLP requests for X-Ray's OTLP endpoint, with credentials from the AWS
//! SDK's provider, cached until shortly before they expire.

use std::fmt;
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
        let credentials = self
            .provider
            .provide_credentials()
            .await
            .map_err(|error| format!("no AWS credentials to sign with: {error}"))?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }
}

#[async_trait::async_trait]
impl Sign for SigV4 {
    async fn sign(&self, request: &mut Request<Bytes>) -> Result<(), HttpError> {
        let credentials = self.credentials().await?;
        sign_request(request, credentials, &self.region, SystemTime::now())
    }
}

/// Signs `request` (every header it has, and its body) for X-Ray in `region` at `time`,
/// adding `x-amz-date`, `authorization` and, for temporary credentials,
/// `x-amz-security-token`.
pub(crate) fn sign_request(
    request: &mut Request<Bytes>,
    credentials: Credentials,
    region: &str,
    time: SystemTime,
) -> Result<(), HttpError> {
    let identity = Identity::from(credentials);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SIGNING_NAME)
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
