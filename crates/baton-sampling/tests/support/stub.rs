//! A stand-in for the X-Ray daemon / ADOT collector's sampling API: a tokio listener and a
//! hyper server answering `/GetSamplingRules` and `/SamplingTargets` from memory, recording
//! every request. Shared by the tests and the benchmark.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// What the stub serves and what it was sent.
#[derive(Default)]
pub(crate) struct StubState {
    rules: Value,
    targets: VecDeque<Value>,
    requests: Vec<(String, Value)>,
}

/// A tiny HTTP server that answers `/GetSamplingRules` and `/SamplingTargets`.
pub(crate) struct Stub {
    addr: SocketAddr,
    state: Arc<Mutex<StubState>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

async fn answer(
    state: Arc<Mutex<StubState>>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut state = state.lock().unwrap();
    state.requests.push((path.clone(), body));
    let answer = match path.as_str() {
        "/GetSamplingRules" => state.rules.clone(),
        "/SamplingTargets" => state
            .targets
            .pop_front()
            .unwrap_or_else(|| json!({"SamplingTargetDocuments": [], "UnprocessedStatistics": []})),
        _ => {
            return Ok(Response::builder()
                .status(404)
                .body(Full::default())
                .unwrap());
        }
    };
    Ok(Response::new(Full::new(Bytes::from(answer.to_string()))))
}

impl Stub {
    pub(crate) async fn start(rules: Value) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut stub = Stub {
            addr: listener.local_addr().unwrap(),
            state: Arc::new(Mutex::new(StubState {
                rules,
                ..StubState::default()
            })),
            server: None,
        };
        stub.serve(listener);
        stub
    }

    fn serve(&mut self, listener: TcpListener) {
        let state = Arc::clone(&self.state);
        self.server = Some(tokio::spawn(async move {
            // Connections live in the set, so stopping the server closes them too.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let state = Arc::clone(&state);
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        answer(Arc::clone(&state), request)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }));
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    pub(crate) async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    pub(crate) fn set_rules(&self, rules: Value) {
        self.state.lock().unwrap().rules = rules;
    }

    pub(crate) fn push_targets(&self, targets: Value) {
        self.state.lock().unwrap().targets.push_back(targets);
    }

    pub(crate) fn requests_to(&self, path: &str) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        state
            .requests
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, body)| body.clone())
            .collect()
    }
}

/// One `SamplingRuleRecords` entry matching every service, host and method.
pub(crate) fn rule(name: &str, priority: u32, reservoir: u32, rate: f64, path: &str) -> Value {
    json!({"SamplingRule": {
        "RuleName": name, "RuleARN": format!("arn:aws:xray:us-east-1:1:sampling-rule/{name}"),
        "ResourceARN": "*", "Priority": priority, "FixedRate": rate, "ReservoirSize": reservoir,
        "ServiceName": "*", "ServiceType": "*", "Host": "*", "HTTPMethod": "*",
        "URLPath": path, "Version": 1, "Attributes": {}
    }, "CreatedAt": 0.0, "ModifiedAt": 0.0})
}

/// A `GetSamplingRules` answer.
pub(crate) fn rules(records: Vec<Value>) -> Value {
    json!({ "SamplingRuleRecords": records })
}
