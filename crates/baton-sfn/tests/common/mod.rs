//! Test support: an HTTP client that records what the SDK sends and answers StartExecution and
//! StartSyncExecution as Step Functions does.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region, RuntimeComponents};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde_json::json;

pub const EXECUTION: &str = "arn:aws:states:eu-west-1:123456789012:execution:orders:e-1";

/// A request as the stub saw it: its `x-amzn-trace-id` header and its JSON body.
pub type Recorded = (Option<String>, String);

/// Records every request and answers like Step Functions.
#[derive(Clone, Debug, Default)]
pub struct Stub {
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    /// Answer this many requests with a 500 first (the SDK retries those).
    pub fail_first: Arc<Mutex<usize>>,
    /// StartSyncExecution answers that the execution failed (else that it succeeded).
    pub sync_fails: Arc<Mutex<bool>>,
}

fn json_response(status: u16, body: String) -> HttpConnectorFuture {
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    response.headers_mut().insert("x-amzn-requestid", "req-1");
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    HttpConnectorFuture::ready(Ok(response))
}

impl HttpConnector for Stub {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let sync = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with("StartSyncExecution"));
        let header = request.headers().get("x-amzn-trace-id").map(str::to_owned);
        let body = String::from_utf8(request.body().bytes().unwrap().to_vec()).unwrap();
        self.requests.lock().unwrap().push((header, body));
        {
            let mut fail = self.fail_first.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return json_response(
                    500,
                    r#"{"__type":"InternalFailure","message":"try again"}"#.to_owned(),
                );
            }
        }
        let response = match (sync, *self.sync_fails.lock().unwrap()) {
            (true, true) => json!({"executionArn": EXECUTION, "startDate": 1764000000,
                "stopDate": 1764000001, "status": "FAILED", "error": "States.TaskFailed",
                "cause": "the task failed"}),
            (true, false) => json!({"executionArn": EXECUTION, "startDate": 1764000000,
                "stopDate": 1764000001, "status": "SUCCEEDED", "output": "{}"}),
            _ => json!({"executionArn": EXECUTION, "startDate": 1764000000}),
        };
        json_response(200, response.to_string())
    }
}

impl HttpClient for Stub {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl Stub {
    /// A Step Functions client configuration that sends to this stub.
    pub fn config(&self) -> aws_sdk_sfn::config::Builder {
        aws_sdk_sfn::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "stub"))
            .endpoint_url("http://stub.invalid")
            .http_client(self.clone())
    }

    /// Every request so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The body of request `index`.
    pub fn body(&self, index: usize) -> String {
        self.requests.lock().unwrap()[index].1.clone()
    }

    /// The `x-amzn-trace-id` header of request `index`.
    pub fn header(&self, index: usize) -> Option<String> {
        self.requests.lock().unwrap()[index].0.clone()
    }
}
