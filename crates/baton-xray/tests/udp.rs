//! The exporter on the wire: a UDP listener stands in for the daemon.

mod common;

use std::net::UdpSocket;
use std::thread;
use std::time::{Duration, Instant};

use baton_xray::{BuildError, XrayExporter};
use common::*;
use opentelemetry::trace::{Span, SpanKind, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

fn listener() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket
}

fn exporter_to(daemon: &UdpSocket) -> XrayExporter {
    XrayExporter::builder()
        .with_daemon_address(daemon.local_addr().unwrap().to_string())
        .with_service_name("orders")
        .build()
        .unwrap()
}

/// Receives datagrams on a thread (so the socket's buffer never fills) until `expected`
/// spans have arrived or nothing comes for a while.
fn receive_spans(daemon: UdpSocket, expected: usize) -> thread::JoinHandle<Vec<Vec<u8>>> {
    thread::spawn(move || {
        daemon
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut datagrams = Vec::new();
        let mut spans = 0;
        let mut buf = vec![0u8; 70_000];
        while spans < expected {
            let Ok(len) = daemon.recv(&mut buf) else {
                break;
            };
            let datagram = buf[..len].to_vec();
            let doc = parse_datagram(std::str::from_utf8(&datagram).unwrap());
            let mut ids = Vec::new();
            ids_in(&doc, &mut ids);
            spans += ids.len();
            datagrams.push(datagram);
        }
        datagrams
    })
}

#[test]
fn datagrams_carry_the_daemon_header_and_one_document() {
    let daemon = listener();
    let exporter = exporter_to(&daemon);
    let stats = exporter.stats();
    let provider = SdkTracerProvider::builder()
        .with_id_generator(baton::XrayIdGenerator::default())
        .with_simple_exporter(exporter)
        .build();
    let tracer = provider.tracer("udp-test");
    let mut span = tracer
        .span_builder("handle")
        .with_kind(SpanKind::Server)
        .start(&tracer);
    span.set_attribute(KeyValue::new("aws.xray.annotation.tenant", "t1"));
    let trace_id = span.span_context().trace_id();
    span.end();

    let mut buf = vec![0u8; 70_000];
    let len = daemon.recv(&mut buf).unwrap();
    let datagram = std::str::from_utf8(&buf[..len]).unwrap();
    assert!(datagram.starts_with("{\"format\":\"json\",\"version\":1}\n{"));
    let doc = parse_datagram(datagram);
    assert_eq!(doc["name"], "orders");
    assert_eq!(doc["trace_id"], xray_trace_id(trace_id).as_str());
    assert_eq!(doc["annotations"]["tenant"], "t1");
    assert_eq!(stats.exported(), 1);
    assert_eq!(stats.datagrams_sent(), 1);
    assert_eq!(stats.dropped(), 0);
    provider.shutdown().unwrap();
}

#[test]
fn a_root_call_counts_as_one_span() {
    // Sent as a segment and a subsegment, but it is one span.
    let daemon = listener();
    let exporter = exporter_to(&daemon);
    let stats = exporter.stats();
    let spans = capture(|tracer| {
        tracer
            .span_builder("send orders")
            .with_kind(SpanKind::Producer)
            .with_attributes([KeyValue::new("messaging.system", "aws_sqs")])
            .start(tracer)
            .end();
    });
    futures_ready(exporter.export(spans)).unwrap();
    let mut buf = vec![0u8; 70_000];
    let len = daemon.recv(&mut buf).unwrap();
    let doc = parse_datagram(std::str::from_utf8(&buf[..len]).unwrap());
    assert_eq!(doc["subsegments"][0]["name"], "SQS");
    assert_eq!(stats.exported(), 1);
    assert_eq!(stats.datagrams_sent(), 1);
}

#[test]
fn the_environment_names_the_daemon() {
    let exporter = XrayExporter::builder()
        .with_env(|name| {
            (name == "AWS_XRAY_DAEMON_ADDRESS")
                .then(|| "tcp:127.0.0.1:2000 udp:127.0.0.3:2011".to_owned())
        })
        .build()
        .unwrap();
    assert_eq!(exporter.daemon_address(), "127.0.0.3:2011".parse().unwrap());

    let default = XrayExporter::builder().with_env(|_| None).build().unwrap();
    assert_eq!(default.daemon_address(), "127.0.0.1:2000".parse().unwrap());

    // The builder's address wins over the environment.
    let explicit = XrayExporter::builder()
        .with_env(|_| Some("127.0.0.3:2011".to_owned()))
        .with_daemon_address("127.0.0.4:2012")
        .build()
        .unwrap();
    assert_eq!(explicit.daemon_address(), "127.0.0.4:2012".parse().unwrap());

    let invalid = XrayExporter::builder()
        .with_env(|_| Some("udp:127.0.0.1".to_owned()))
        .build();
    assert!(matches!(invalid, Err(BuildError::InvalidAddress { .. })));
}

/// A root with `n` children, each carrying some attributes.
fn wide_trace(n: usize) -> Vec<SpanData> {
    capture(|tracer| {
        let root = tracer
            .span_builder("process batch")
            .with_kind(SpanKind::Consumer)
            .start(tracer);
        let cx = Context::new().with_span(root);
        for i in 0..n {
            let mut child = tracer
                .span_builder("send orders")
                .with_kind(SpanKind::Producer)
                .with_attributes([
                    KeyValue::new("messaging.system", "aws_sqs"),
                    KeyValue::new("messaging.operation.name", "SendMessage"),
                    KeyValue::new("messaging.destination.name", "orders"),
                    KeyValue::new("cloud.region", "eu-west-1"),
                    KeyValue::new("aws.xray.annotation.index", i as i64),
                ])
                .start_with_context(tracer, &cx);
            child.set_attribute(KeyValue::new("aws.request_id", format!("request-{i:08}")));
            child.end();
        }
        cx.span().end();
    })
}

#[test]
fn a_huge_trace_is_split_into_datagrams_under_64_kib_and_all_spans_arrive() {
    let spans = wide_trace(1500);
    assert_eq!(spans.len(), 1501);
    let daemon = listener();
    // Room for the whole burst (about 1 MB): the kernel drops what a full buffer cannot
    // hold, and this test is about the exporter, not the listener.
    let daemon = {
        let socket = socket2::Socket::from(daemon);
        socket.set_recv_buffer_size(4 * 1024 * 1024).unwrap();
        UdpSocket::from(socket)
    };
    let exporter = exporter_to(&daemon);
    let stats = exporter.stats();
    let receiver = receive_spans(daemon, spans.len());

    let started = Instant::now();
    futures_ready(exporter.export(spans.clone())).unwrap();
    let elapsed = started.elapsed();

    let datagrams = receiver.join().unwrap();
    assert!(datagrams.len() > 1, "split: {} datagrams", datagrams.len());
    let root_id = hex_id(span(&spans, "process batch").span_context.span_id());
    let mut ids = Vec::new();
    for (i, datagram) in datagrams.iter().enumerate() {
        assert!(
            datagram.len() < 64 * 1024,
            "datagram of {} bytes",
            datagram.len()
        );
        let doc = parse_datagram(std::str::from_utf8(datagram).unwrap());
        if doc["id"] == root_id.as_str() {
            assert!(doc.get("type").is_none(), "the segment itself");
        } else {
            assert_eq!(doc["type"], "subsegment", "datagram {i}");
            assert_eq!(doc["parent_id"], root_id.as_str());
            assert_eq!(doc["namespace"], "aws");
        }
        assert!(is_xray_trace_id(doc["trace_id"].as_str().unwrap()));
        ids_in(&doc, &mut ids);
    }
    let mut expected: Vec<String> = spans
        .iter()
        .map(|s| hex_id(s.span_context.span_id()))
        .collect();
    expected.sort();
    ids.sort();
    assert_eq!(
        ids.len(),
        expected.len(),
        "as many spans arrive as were sent"
    );
    assert!(ids == expected, "every span arrives exactly once");
    assert_eq!(stats.exported(), 1501);
    assert_eq!(stats.datagrams_sent(), datagrams.len() as u64);
    assert_eq!(stats.dropped(), 0);
    assert!(elapsed < Duration::from_secs(2), "export took {elapsed:?}");
}

/// `export` finishes without waiting: its future is ready at once.
fn futures_ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = std::task::Waker::noop();
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("export must not wait"),
    }
}

#[test]
fn an_absent_daemon_costs_nothing_and_drops_are_counted() {
    // A port that nothing listens on: bind, note the port, close.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let exporter = XrayExporter::builder()
        .with_daemon_address(format!("127.0.0.1:{port}"))
        .build()
        .unwrap();
    let stats = exporter.stats();
    let spans = capture(|tracer| tracer.start("lost").end());

    let rounds = 40;
    let mut slowest = Duration::ZERO;
    for _ in 0..rounds {
        let started = Instant::now();
        futures_ready(exporter.export(spans.clone())).expect("export reports success");
        slowest = slowest.max(started.elapsed());
        // Give the ICMP "port unreachable" time to come back before the next send.
        thread::sleep(Duration::from_millis(2));
    }
    // Generous for a loaded machine: a send that waited on the network would take far longer.
    assert!(
        slowest < Duration::from_millis(200),
        "slowest export {slowest:?}"
    );
    assert_eq!(stats.exported() + stats.dropped(), rounds);
    assert!(
        stats.dropped() >= rounds / 4,
        "the kernel reports the absent daemon: {} dropped",
        stats.dropped()
    );
    assert_eq!(stats.datagrams_dropped(), stats.dropped());
    assert_eq!(stats.daemon_unreachable(), stats.dropped());
}

#[test]
fn export_after_shutdown_is_refused() {
    let daemon = listener();
    let exporter = exporter_to(&daemon);
    let spans = capture(|tracer| tracer.start("late").end());
    exporter.shutdown().unwrap();
    assert!(matches!(
        futures_ready(exporter.export(spans)),
        Err(OTelSdkError::AlreadyShutdown)
    ));
    assert!(matches!(
        exporter.shutdown(),
        Err(OTelSdkError::AlreadyShutdown)
    ));
}

#[test]
fn the_otlp_helper_installs_xray_ids() {
    // Any exporter will do; the in-memory one lets the test read the ids back.
    let memory = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let provider = baton_xray::xray_provider_builder(memory.clone()).build();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    provider.tracer("t").start("root").end();
    provider.force_flush().unwrap();
    let spans = memory.get_finished_spans().unwrap();
    let epoch = baton::trace_id_epoch_seconds(spans[0].span_context.trace_id());
    assert!(u64::from(epoch) >= before && u64::from(epoch) <= before + 5);
    provider.shutdown().unwrap();
}
