//! OTLP straight to X-Ray: every request SigV4-signed for service `xray`. A receiver on
//! 127.0.0.1 stands in for X-Ray's endpoint and verifies each signature by computing it again
//! with `aws-sigv4` from the test credentials, refusing (403) what does not match, as X-Ray
//! would.

#![cfg(feature = "xray-direct")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use baton_export::{Exporter, Setup, SetupError, Telemetry};
use common::{Received, Receiver};
use opentelemetry::trace::Tracer;
use opentelemetry_sdk::trace::Sampler;

const REGION: &str = "us-east-1";

/// The secret (and session token) of each access key the receiver knows.
fn secret_of(access_key: &str) -> Option<(&'static str, Option<&'static str>)> {
    match access_key {
        "AKIDSTATIC" => Some(("static-secret", None)),
        "AKIDTEMP1" => Some(("temp-secret-1", Some("token-1"))),
        "AKIDTEMP2" => Some(("temp-secret-2", Some("token-2"))),
        "AKIDTEMP3" => Some(("temp-secret-3", Some("token-3"))),
        _ => None,
    }
}

/// `20261206T125300Z` as a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let n = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (hh, mm, ss) = (n(9..11)?, n(11..13)?, n(13..15)?);
    // Days from the civil date (proleptic Gregorian), as in Howard Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Why a request's signature is not X-Ray's for [`REGION`], or `Ok` if it is.
fn verify(request: &Received) -> Result<(), String> {
    let authorization = request.header("authorization").ok_or("no authorization")?;
    let rest = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not SigV4")?;
    let field = |name: &str| {
        rest.split(", ")
            .find_map(|part| part.strip_prefix(name))
            .ok_or(format!("no {name}"))
    };
    let credential = field("Credential=")?;
    let signed_headers = field("SignedHeaders=")?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, _date, region, service, "aws4_request"] = scope[..] else {
        return Err(format!("bad credential scope {credential}"));
    };
    if region != REGION || service != "xray" {
        return Err(format!("scope {region}/{service} is not {REGION}/xray"));
    }
    let (secret, token) = secret_of(access_key).ok_or("unknown access key")?;
    if request.header("x-amz-security-token") != token {
        return Err("wrong session token".into());
    }
    let time = parse_amz_date(request.header("x-amz-date").ok_or("no x-amz-date")?)
        .ok_or("bad x-amz-date")?;

    // Sign the same request again: the headers it signed (but those the signer adds), its
    // method, URL and body, at its time, with the known secret.
    let headers: Vec<(&str, &str)> = signed_headers
        .split(';')
        .filter(|name| !matches!(*name, "x-amz-date" | "x-amz-security-token"))
        .map(|name| Ok((name, request.header(name).ok_or(format!("no {name}"))?)))
        .collect::<Result<_, String>>()?;
    let host = request.header("host").ok_or("no host")?;
    let credentials = Credentials::new(access_key, secret, token.map(str::to_owned), None, "test");
    let identity = Identity::from(credentials);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("xray")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let url = format!("http://{host}{}", request.path);
    let signable = SignableRequest::new(
        &request.method,
        url,
        headers.into_iter(),
        SignableBody::Bytes(&request.body),
    )
    .map_err(|e| e.to_string())?;
    let (_, signature) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let expected = format!(
        "AWS4-HMAC-SHA256 Credential={access_key}/{}/{REGION}/xray/aws4_request, SignedHeaders={signed_headers}, Signature={signature}",
        &request.header("x-amz-date").unwrap()[..8]
    );
    if expected == authorization {
        Ok(())
    } else {
        Err(format!(
            "signature mismatch:\n {expected}\n {authorization}"
        ))
    }
}

/// X-Ray's endpoint, as far as signatures go.
async fn xray() -> Receiver {
    Receiver::judging(Arc::new(|request| match verify(request) {
        Ok(()) => 200,
        Err(_) => 403,
    }))
    .await
}

/// Hands out temporary credentials that expire in a minute (inside the signer's five-minute
/// margin, so each export asks again), a new key each time; counts the calls.
#[derive(Debug, Default)]
struct Rotating {
    calls: AtomicUsize,
}

impl ProvideCredentials for Rotating {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let key = format!("AKIDTEMP{}", n.min(3));
        let (secret, token) = secret_of(&key).unwrap();
        future::ProvideCredentials::ready(Ok(Credentials::new(
            key,
            secret,
            token.map(str::to_owned),
            Some(SystemTime::now() + Duration::from_secs(60)),
            "rotating",
        )))
    }
}

fn setup(exporter: Exporter) -> Result<Telemetry, SetupError> {
    Setup::new()
        .with_service_name("checkout")
        .with_aws_detection(false)
        .with_sampler(Sampler::AlwaysOn)
        .with_exporter(exporter)
        .build()
}

/// One span, flushed: one signed request.
async fn one_batch(telemetry: &Telemetry, name: &'static str) {
    telemetry.tracer("test").in_span(name, |_| {});
    let provider = telemetry.provider().clone();
    tokio::task::spawn_blocking(move || provider.force_flush())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_signed_for_xray_with_the_sdk_config_s_credentials() {
    let xray = xray().await;
    let config = aws_types::SdkConfig::builder()
        .region(aws_types::region::Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDSTATIC",
            "static-secret",
            None,
            None,
            "static",
        )))
        .build();
    let telemetry = setup(Exporter::xray(&config).with_endpoint(xray.url())).unwrap();
    let stats = telemetry.stats();
    one_batch(&telemetry, "first").await;
    one_batch(&telemetry, "second").await;
    telemetry.shutdown_async().await.unwrap();

    let requests = xray.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.status, 200, "{:?}", verify(request));
        assert_eq!(
            request.header("content-type"),
            Some("application/x-protobuf")
        );
        let signed = request.header("authorization").unwrap();
        assert!(signed.contains("/us-east-1/xray/aws4_request"), "{signed}");
        assert!(
            signed.contains("SignedHeaders=content-type;host;x-amz-date"),
            "{signed}"
        );
    }
    let names: Vec<String> = xray.spans().into_iter().map(|(_, s)| s.name).collect();
    assert_eq!(names, ["first", "second"]);
    assert_eq!((stats.exported(), stats.failed()), (2, 0));

    // The receiver does refuse what does not match: one byte of the body changed, the
    // signature no longer holds.
    let mut tampered = requests[0].clone();
    let mut body = tampered.body.to_vec();
    let last = body.len() - 1;
    body[last] ^= 1;
    tampered.body = body.into();
    let refused = verify(&tampered).unwrap_err();
    assert!(refused.contains("signature mismatch"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_credentials_are_fetched_again_and_each_request_carries_its_token() {
    let xray = xray().await;
    let rotating = Arc::new(Rotating::default());
    #[derive(Debug)]
    struct Shared(Arc<Rotating>);
    impl ProvideCredentials for Shared {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.0.provide_credentials()
        }
    }
    let telemetry =
        setup(Exporter::xray_with(REGION, Shared(Arc::clone(&rotating))).with_endpoint(xray.url()))
            .unwrap();
    one_batch(&telemetry, "first").await;
    one_batch(&telemetry, "second").await;
    telemetry.shutdown_async().await.unwrap();

    let requests = xray.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        rotating.calls.load(Ordering::SeqCst),
        2,
        "one fetch per export"
    );
    let keys: Vec<&str> = requests
        .iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{:?}", verify(r));
            r.header("authorization")
                .unwrap()
                .split("Credential=")
                .nth(1)
                .unwrap()
                .split('/')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(keys, ["AKIDTEMP1", "AKIDTEMP2"]);
    assert_eq!(requests[1].header("x-amz-security-token"), Some("token-2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_signed_for_another_region_is_refused_and_counted() {
    let xray = xray().await;
    let credentials = Credentials::new("AKIDSTATIC", "static-secret", None, None, "static");
    let telemetry =
        setup(Exporter::xray_with("eu-west-1", credentials).with_endpoint(xray.url())).unwrap();
    let stats = telemetry.stats();
    telemetry.tracer("test").in_span("wrong region", |_| {});
    telemetry.shutdown_async().await.ok();
    let requests = xray.requests();
    assert_eq!(requests.len(), 1, "a 403 is not retried");
    assert_eq!(requests[0].status, 403);
    assert!(verify(&requests[0]).unwrap_err().contains("eu-west-1/xray"));
    assert_eq!((stats.exported(), stats.failed()), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_nothing_is_sent_nor_retried_and_the_spans_are_counted() {
    #[derive(Debug, Default)]
    struct NoCredentials {
        calls: AtomicUsize,
    }
    impl ProvideCredentials for NoCredentials {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.calls.fetch_add(1, Ordering::SeqCst);
            future::ProvideCredentials::ready(Err(
                aws_credential_types::provider::error::CredentialsError::not_loaded("no profile"),
            ))
        }
    }
    #[derive(Debug)]
    struct Shared(Arc<NoCredentials>);
    impl ProvideCredentials for Shared {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.0.provide_credentials()
        }
    }
    let provider = Arc::new(NoCredentials::default());
    let xray = xray().await;
    let telemetry =
        setup(Exporter::xray_with(REGION, Shared(Arc::clone(&provider))).with_endpoint(xray.url()))
            .unwrap();
    let stats = telemetry.stats();
    telemetry.tracer("test").in_span("unsigned", |_| {});
    telemetry.shutdown_async().await.ok();
    assert!(xray.requests().is_empty());
    assert_eq!(stats.failed(), 1);
    // Asked once: a missing credential is not a network blip to retry.
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_config_without_region_or_credentials_is_refused_at_build() {
    let no_region = aws_types::SdkConfig::builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "a", "b", None, None, "t",
        )))
        .build();
    let error = setup(Exporter::xray(&no_region)).unwrap_err().to_string();
    assert!(error.contains("needs a region"), "{error}");
    let no_credentials = aws_types::SdkConfig::builder()
        .region(aws_types::region::Region::new(REGION))
        .build();
    let error = setup(Exporter::xray(&no_credentials))
        .unwrap_err()
        .to_string();
    assert!(error.contains("needs credentials"), "{error}");
}

/// Kept for the receiver's sake: the signing time is the request's own.
#[test]
fn amz_dates_parse() {
    assert_eq!(
        parse_amz_date("19700101T000001Z"),
        Some(UNIX_EPOCH + Duration::from_secs(1))
    );
    assert_eq!(
        parse_amz_date("20261206T125300Z"),
        Some(UNIX_EPOCH + Duration::from_secs(1_796_561_580))
    );
}
