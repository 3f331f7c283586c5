//! Shared by the integration benchmarks: an in-process HTTP client that answers from memory,
//! an SDK configuration pointing at it, a span exporter that drops what it gets, and the
//! process's peak RSS.
#![allow(dead_code, unreachable_pub)]

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// Answers every request with `body` (the response of the one operation benchmarked).
#[derive(Clone, Debug)]
pub struct Canned {
    pub body: &'static str,
    pub content_type: &'static str,
}

impl HttpConnector for Canned {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let mut response =
            HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::from(self.body));
        response.headers_mut().insert("x-amzn-requestid", "req-1");
        response
            .headers_mut()
            .insert("content-type", self.content_type);
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for Canned {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// What SNS answers to Publish.
pub const SNS_PUBLISH: &str = "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></PublishResponse>";

/// Static credentials, one region, an endpoint that is never dialled.
pub fn sdk_config() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("test", "test", None, None, "bench"),
            ),
        )
        .endpoint_url("http://stub.invalid")
        .build()
}

/// Takes every span and drops it: the cost of recording spans stays in a measurement, the cost
/// of any particular export does not.
#[derive(Debug)]
pub struct Discard;

impl opentelemetry_sdk::trace::SpanExporter for Discard {
    async fn export(
        &self,
        _batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}

/// This process's peak resident set size in KiB (`VmHWM`), 0 where `/proc` has none.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
