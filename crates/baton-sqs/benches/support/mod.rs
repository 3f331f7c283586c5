//! Shared by the benchmarks: an in-process HTTP/1.1 server on loopback that answers like SQS,
//! and the three clients compared (raw SDK, interceptor, Tower form).
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use baton::TracerHandle;
use baton_sqs::{SqsPropagation, SqsService, TracedSqs};
use baton_test_support::{Reply, Request, Responder, Stub, sdk_config};
use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const QUEUE_PATH: &str = "/000000000000/bench";

fn receive_body() -> String {
    let messages: Vec<String> = (0..10)
        .map(|i| {
            format!(
                r#"{{"MessageId":"m-{i}","ReceiptHandle":"rh-{i}","MD5OfBody":"5d41402abc4b2a76b9719d911017c592","Body":"hello","Attributes":{{"AWSTraceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8a{i:02x};Sampled=1"}}}}"#
            )
        })
        .collect();
    format!(r#"{{"Messages":[{}]}}"#, messages.join(","))
}

/// Starts the stub on a thread of its own (its own runtime), so the client side's measurements
/// do not share a scheduler with it. Returns its address.
pub fn start_stub() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let receive = receive_body();
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let receive = receive.clone();
                tokio::spawn(async move { serve(socket, receive).await });
            }
        });
    });
    rx.recv().unwrap()
}

/// Keep-alive HTTP/1.1: read a request (headers, then Content-Length bytes), answer by the
/// `X-Amz-Target` operation, repeat.
async fn serve(mut socket: tokio::net::TcpStream, receive: String) {
    let mut buffer = Vec::with_capacity(16 * 1024);
    let mut chunk = [0u8; 8192];
    loop {
        let header_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..header_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap_or(0));
        let receive_call = head.contains("amazonsqs.receivemessage");
        while buffer.len() < header_end + length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        buffer.drain(..header_end + length);
        let body = if receive_call {
            receive.as_str()
        } else {
            r#"{"MessageId":"m-1","MD5OfMessageBody":"5d41402abc4b2a76b9719d911017c592"}"#
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-requestid: req-1\r\ncontent-length: {}\r\n\r\n{}",
            body.len(),
            body
        );
        if socket.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// An HTTP client that never leaves the process: it answers each request from memory and
/// keeps no copy of it, so the SDK's own work is all that is left to compare against.
pub type InMemory = Stub<Answers>;

/// SQS's answers for [`InMemory`]: ten messages to a receive, one message id to anything else.
#[derive(Clone, Debug)]
pub struct Answers {
    receive: String,
}

impl Responder for Answers {
    fn respond(&self, request: &Request<'_>) -> Reply {
        let receive = request
            .target()
            .is_some_and(|t| t.ends_with("ReceiveMessage"));
        Reply::ok(if receive {
            self.receive.clone()
        } else {
            r#"{"MessageId":"m-1","MD5OfMessageBody":"5d41402abc4b2a76b9719d911017c592"}"#
                .to_string()
        })
    }

    fn headers(&self) -> &[(&'static str, &'static str)] {
        &[
            ("x-amzn-requestid", "req-1"),
            ("content-type", "application/x-amz-json-1.0"),
        ]
    }
}

/// A new [`InMemory`] client.
pub fn in_memory() -> InMemory {
    Stub::unrecorded(Answers {
        receive: receive_body(),
    })
}

/// An interceptor that does nothing: what any interceptor costs the SDK, for reference.
#[derive(Debug)]
pub struct Noop;

impl aws_sdk_sqs::config::Intercept for Noop {
    fn name(&self) -> &'static str {
        "noop"
    }
}

/// The propagation every Baton variant of the benches uses.
///
/// `BATON_BENCH_CARRIERS=aws` leaves the message attribute carriers out of ReceiveMessage
/// ([`SqsPropagation::with_message_attribute_carriers`]): Baton's receive then asks SQS for
/// what the hand-written baseline asks for, `AWSTraceHeader` alone.
pub fn propagation(provider: &SdkTracerProvider) -> SqsPropagation {
    let propagation =
        SqsPropagation::new().with_tracer(TracerHandle::new(provider.tracer("bench")));
    match std::env::var("BATON_BENCH_CARRIERS").as_deref() {
        Ok("aws") => propagation.with_message_attribute_carriers(false),
        Ok(other) => panic!("BATON_BENCH_CARRIERS={other}: only `aws` is known"),
        Err(_) => propagation,
    }
}

/// `raw` with Baton's interceptor installed for good (`into_shared`: no per-hook "disabled?"
/// look-up in the SDK).
pub fn shared_interceptor_client(
    raw: &aws_sdk_sqs::Client,
    provider: &SdkTracerProvider,
) -> aws_sdk_sqs::Client {
    let mut builder = raw.config().to_builder();
    builder.push_interceptor(propagation(provider).interceptor().into_shared());
    aws_sdk_sqs::Client::from_conf(builder.build())
}

/// Clients whose HTTP client is [`InMemory`].
pub fn in_memory_clients(provider: &SdkTracerProvider) -> Clients {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let propagation = propagation(provider);
    let base = || config(addr).http_client(in_memory());
    let raw = aws_sdk_sqs::Client::from_conf(base().build());
    let intercepted =
        aws_sdk_sqs::Client::from_conf(base().interceptor(propagation.interceptor()).build());
    let tower = tower::Layer::layer(&propagation.layer(), SqsService::new(raw.clone()));
    Clients {
        raw,
        intercepted,
        tower,
        url: queue_url(addr),
    }
}

pub fn config(addr: SocketAddr) -> aws_sdk_sqs::config::Builder {
    sdk_config!(aws_sdk_sqs).endpoint_url(format!("http://{addr}"))
}

pub fn queue_url(addr: SocketAddr) -> String {
    format!("http://{addr}{QUEUE_PATH}")
}

/// Spans are sampled and recorded, then dropped (no exporter): what is measured is the
/// middleware's own work, not an exporter's.
///
/// `BATON_BENCH_SAMPLER=off` drops every span at the sampler instead, to show how much of the
/// added time is the OpenTelemetry SDK recording spans rather than Baton's own work.
pub fn tracer_provider() -> SdkTracerProvider {
    let builder = SdkTracerProvider::builder().with_id_generator(baton::XrayIdGenerator::default());
    match std::env::var("BATON_BENCH_SAMPLER").as_deref() {
        Ok("off") => builder
            .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff)
            .build(),
        _ => builder.build(),
    }
}

pub struct Clients {
    pub raw: aws_sdk_sqs::Client,
    pub intercepted: aws_sdk_sqs::Client,
    pub tower: TracedSqs<SqsService>,
    pub url: String,
}

pub fn clients(addr: SocketAddr, provider: &SdkTracerProvider) -> Clients {
    let propagation = propagation(provider);
    let raw = aws_sdk_sqs::Client::from_conf(config(addr).build());
    let intercepted =
        aws_sdk_sqs::Client::from_conf(config(addr).interceptor(propagation.interceptor()).build());
    let tower = tower::Layer::layer(&propagation.layer(), SqsService::new(raw.clone()));
    Clients {
        raw,
        intercepted,
        tower,
        url: queue_url(addr),
    }
}
