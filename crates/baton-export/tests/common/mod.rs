//! A stand-in for an OTLP/HTTP receiver (a collector, or X-Ray's endpoint) on 127.0.0.1 that
//! keeps every request it gets and answers as told.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Bytes,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The body decoded as its content encoding and type say.
    pub fn export(&self) -> ExportTraceServiceRequest {
        let body = match self.header("content-encoding") {
            Some("gzip") => {
                let mut out = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(&self.body[..]),
                    &mut out,
                )
                .unwrap();
                Bytes::from(out)
            }
            _ => self.body.clone(),
        };
        match self.header("content-type") {
            Some("application/json") => serde_json::from_slice(&body).unwrap(),
            _ => ExportTraceServiceRequest::decode(&body[..]).unwrap(),
        }
    }
}

/// Decides the status of each request (200 unless it says otherwise).
pub type Judge = Arc<dyn Fn(&Received) -> u16 + Send + Sync>;

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Answers every request 200.
    pub async fn start() -> Receiver {
        Receiver::judging(Arc::new(|_| 200)).await
    }

    /// Answers each request with what `judge` says.
    pub async fn judging(judge: Judge) -> Receiver {
        Self::serve(judge, false).await
    }

    /// Accepts connections and reads requests, and never answers.
    pub async fn black_hole() -> Receiver {
        Self::serve(Arc::new(|_| 200), true).await
    }

    async fn serve(judge: Judge, silent: bool) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&received);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let kept = Arc::clone(&kept);
                let judge = Arc::clone(&judge);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let kept = Arc::clone(&kept);
                        let judge = Arc::clone(&judge);
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            let mut received = Received {
                                method: parts.method.to_string(),
                                path: parts.uri.path().to_owned(),
                                headers: parts
                                    .headers
                                    .iter()
                                    .map(|(k, v)| {
                                        (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                                    })
                                    .collect(),
                                body,
                                status: 0,
                            };
                            if silent {
                                kept.lock().unwrap().push(received.clone());
                                std::future::pending::<()>().await;
                            }
                            received.status = judge(&received);
                            let status = received.status;
                            kept.lock().unwrap().push(received);
                            let mut response = Response::new(Full::new(Bytes::new()));
                            *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            response.headers_mut().insert(
                                "content-type",
                                hyper::header::HeaderValue::from_static("application/x-protobuf"),
                            );
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver { addr, received }
    }

    pub fn url(&self) -> String {
        format!("http://{}/v1/traces", self.addr)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Every span of the requests answered 200, with its resource's attributes.
    pub fn spans(&self) -> Vec<(HashMap<String, String>, Span)> {
        let mut out = Vec::new();
        for request in self.requests().into_iter().filter(|r| r.status == 200) {
            for resource_spans in request.export().resource_spans {
                let resource: HashMap<String, String> = resource_spans
                    .resource
                    .map(|r| r.attributes)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|kv| Some((kv.key, text(kv.value?.value?))))
                    .collect();
                for scope in resource_spans.scope_spans {
                    for span in scope.spans {
                        out.push((resource.clone(), span));
                    }
                }
            }
        }
        out
    }

    /// Waits until `n` spans were accepted.
    pub async fn wait_for_spans(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Vec<(HashMap<String, String>, Span)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if spans.len() >= n || tokio::time::Instant::now() > deadline {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An attribute value as text.
pub fn text(value: Value) -> String {
    match value {
        Value::StringValue(s) => s,
        Value::IntValue(i) => i.to_string(),
        Value::BoolValue(b) => b.to_string(),
        Value::DoubleValue(d) => d.to_string(),
        other => format!("{other:?}"),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
