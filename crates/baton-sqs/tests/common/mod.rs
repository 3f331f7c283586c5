//! Test support: an HTTP client that captures what the SDK sends and answers like SQS, and a
//! tracer whose finished spans a test can read.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region, RuntimeComponents};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use baton::{TracerHandle, XrayIdGenerator};
use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, InMemorySpanExporterBuilder, SdkTracerProvider, SpanData,
};

/// One captured request: the SQS operation (from `X-Amz-Target`) and the JSON body.
#[derive(Clone, Debug)]
pub struct Captured {
    pub operation: String,
    pub body: String,
}

/// Answers each SQS operation with a canned JSON response and records every request.
#[derive(Clone, Debug, Default)]
pub struct StubSqs {
    pub requests: Arc<Mutex<Vec<Captured>>>,
    /// Overrides the response body of `ReceiveMessage`.
    pub receive_body: Arc<Mutex<Option<String>>>,
    /// Answer every call with this status and body instead (an error).
    pub fail_with: Arc<Mutex<Option<(u16, String)>>>,
    /// A SendMessageBatch entry id to report as failed.
    pub fail_entry: Arc<Mutex<Option<String>>>,
    /// Never answer (to test calls that are dropped before a response).
    pub hang: Arc<Mutex<bool>>,
    /// The `x-amzn-query-error` header SQS sends with errors (`Code;Sender`).
    pub query_error: Arc<Mutex<Option<String>>>,
}

pub const REQUEST_ID: &str = "6fbbc2d8-0000-4000-8000-000000000001";

fn batch_response(body: &str, fail: Option<&str>) -> String {
    let request: serde_like::Value = serde_like::parse(body);
    let ids = request.entry_ids();
    let failed: Vec<String> = ids
        .iter()
        .filter(|id| Some(id.as_str()) == fail)
        .map(|id| {
            format!(r#"{{"Id":"{id}","SenderFault":true,"Code":"InvalidParameterValue","Message":"bad entry"}}"#)
        })
        .collect();
    let successful: Vec<String> = ids
        .iter()
        .filter(|id| Some(id.as_str()) != fail)
        .map(|id| {
            format!(
                r#"{{"Id":"{id}","MessageId":"msg-{id}","MD5OfMessageBody":"d41d8cd98f00b204e9800998ecf8427e"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"Successful":[{}],"Failed":[{}]}}"#,
        successful.join(","),
        failed.join(",")
    )
}

impl StubSqs {
    pub fn captured(&self) -> Vec<Captured> {
        self.requests.lock().unwrap().clone()
    }

    pub fn client(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::from_conf(self.config().build())
    }

    pub fn config(&self) -> aws_sdk_sqs::config::Builder {
        aws_sdk_sqs::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "stub"))
            .endpoint_url("http://stub.invalid")
            .http_client(self.clone())
    }

    fn respond(&self, operation: &str, body: &str) -> (u16, String) {
        if let Some(failure) = self.fail_with.lock().unwrap().clone() {
            return failure;
        }
        let body = match operation {
            "SendMessage" => {
                r#"{"MessageId":"msg-1","MD5OfMessageBody":"d41d8cd98f00b204e9800998ecf8427e"}"#
                    .to_string()
            }
            "SendMessageBatch" => batch_response(body, self.fail_entry.lock().unwrap().as_deref()),
            "ReceiveMessage" => self
                .receive_body
                .lock()
                .unwrap()
                .clone()
                .unwrap_or_else(|| r#"{"Messages":[]}"#.to_string()),
            _ => "{}".to_string(),
        };
        (200, body)
    }
}

impl HttpConnector for StubSqs {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .trim_start_matches("AmazonSQS.")
            .to_string();
        let body = String::from_utf8(request.body().bytes().unwrap_or_default().to_vec()).unwrap();
        if *self.hang.lock().unwrap() {
            return HttpConnectorFuture::new(std::future::pending());
        }
        let (status, response) = self.respond(&operation, &body);
        self.requests
            .lock()
            .unwrap()
            .push(Captured { operation, body });
        let mut response = HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from(response),
        );
        response
            .headers_mut()
            .insert("x-amzn-requestid", REQUEST_ID);
        if let Some(query_error) = self.query_error.lock().unwrap().clone() {
            response
                .headers_mut()
                .insert("x-amzn-query-error", query_error);
        }
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for StubSqs {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// A tracer provider with X-Ray ids and an in-memory exporter.
pub struct Spans {
    pub provider: SdkTracerProvider,
    pub exporter: InMemorySpanExporter,
}

impl Spans {
    pub fn new() -> Self {
        let exporter = InMemorySpanExporterBuilder::new().build();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_id_generator(XrayIdGenerator::default())
            .build();
        Spans { provider, exporter }
    }

    pub fn handle(&self) -> TracerHandle {
        TracerHandle::new(self.provider.tracer("baton-sqs-test"))
    }

    pub fn tracer(&self) -> opentelemetry_sdk::trace::SdkTracer {
        self.provider.tracer("test")
    }

    pub fn finished(&self) -> Vec<SpanData> {
        self.provider.force_flush().unwrap();
        self.exporter.get_finished_spans().unwrap()
    }

    pub fn named(&self, name: &str) -> Vec<SpanData> {
        self.finished()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }

    pub fn one(&self, name: &str) -> SpanData {
        let mut spans = self.named(name);
        assert_eq!(
            spans.len(),
            1,
            "expected one span named {name}, got {spans:?}"
        );
        spans.remove(0)
    }
}

/// Just enough JSON reading for the stub (no serde in this crate's dependencies).
mod serde_like {
    pub struct Value(String);
    pub fn parse(body: &str) -> Value {
        Value(body.to_string())
    }
    impl Value {
        /// The `"Id":"…"` values of a SendMessageBatch request, in order.
        pub fn entry_ids(&self) -> Vec<String> {
            self.0
                .split("\"Id\":\"")
                .skip(1)
                .filter_map(|rest| rest.split('"').next().map(str::to_string))
                .collect()
        }
    }
}
