//! The page's endpoints with 10,000 traces held: how long the trace list (and the map) take
//! to answer over HTTP on loopback, as the page asks for them every two seconds.
//!
//! `cargo bench -p baton-trace --bench page`
//!
//! Before the timed runs it prints, once: the time to ingest the traces, the first list
//! (which makes every trace's summary), and the process's resident memory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use baton_trace::{Assembler, Collector, DAEMON_HEADER};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

const TRACES: u32 = 10_000;

/// One checkout-like trace of five services' segments (eight nodes), as datagrams;
/// every 50th billing run fails, every 70th DynamoDB call is throttled.
fn trace(n: u32) -> Vec<String> {
    let t = format!("1-6553f100-{n:024x}");
    let id = |k: u32| format!("{n:08x}{k:08x}");
    let start = 1_700_000_000.0 + f64::from(n) * 0.01;
    let documents = [
        json!({"name": "checkout", "id": id(1), "trace_id": t, "start_time": start, "end_time": start + 0.03,
               "http": {"request": {"method": "POST", "url": "/checkout"}, "response": {"status": 200}},
               "annotations": {"order_id": n.to_string()},
               "subsegments": [
                   {"name": "DynamoDB", "id": id(2), "start_time": start, "end_time": start + 0.004, "namespace": "aws",
                    "throttle": n.is_multiple_of(70), "error": n.is_multiple_of(70), "aws": {"operation": "GetItem", "table_name": "prices"}},
                   {"name": "SNS", "id": id(3), "start_time": start + 0.01, "end_time": start + 0.02, "namespace": "aws",
                    "aws": {"operation": "Publish", "topic_arn": "arn:aws:sns:eu-west-1:1:orders"}}]}),
        json!({"name": "fulfilment", "id": id(4), "trace_id": t, "parent_id": id(3), "start_time": start + 0.04, "end_time": start + 0.06,
               "subsegments": [{"name": "EventBridge", "id": id(5), "start_time": start + 0.045, "end_time": start + 0.05,
                                "namespace": "aws", "aws": {"operation": "PutEvents", "event_bus_name": "shop"}}]}),
        json!({"name": "billing", "id": id(6), "trace_id": t, "parent_id": id(5), "start_time": start + 0.07, "end_time": start + 0.09,
               "fault": n.is_multiple_of(50),
               "subsegments": [{"name": "SFN", "id": id(7), "start_time": start + 0.08, "end_time": start + 0.085,
                                "namespace": "aws", "aws": {"operation": "StartExecution", "state_machine_arn": "arn:aws:states:eu-west-1:1:stateMachine:ship"}}]}),
        json!({"name": "shipping", "id": id(8), "trace_id": t, "parent_id": id(7), "start_time": start + 0.1, "end_time": start + 0.12}),
    ];
    documents
        .iter()
        .map(|d| format!("{DAEMON_HEADER}\n{d}"))
        .collect()
}

/// One GET on a kept-alive connection; returns the body's length.
fn get(stream: &mut BufReader<TcpStream>, addr: SocketAddr, path: &str) -> usize {
    // One write, as a browser sends a request (several small ones would wait on each other).
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    stream.get_mut().write_all(request.as_bytes()).unwrap();
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        stream.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        assert!(!line.is_empty(), "connection closed");
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    length
}

fn resident_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn page(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let before = resident_mib();
    let started = Instant::now();
    let mut assembler = Assembler::new().with_max_traces(TRACES as usize);
    let now = Instant::now();
    for n in 0..TRACES {
        for datagram in trace(n) {
            assembler.ingest(datagram.as_bytes(), now).unwrap();
        }
    }
    let ingested = started.elapsed();
    assert_eq!(assembler.len(), TRACES as usize);
    let handle = Collector::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .with_assembler(assembler)
        .with_page("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .spawn();
    let addr = handle.page_addr().unwrap();
    let connection = TcpStream::connect(addr).unwrap();
    connection.set_nodelay(true).unwrap();
    let mut stream = BufReader::new(connection);
    let first = Instant::now();
    get(&mut stream, addr, "/api/traces");
    let first = first.elapsed();
    let map_first = Instant::now();
    get(&mut stream, addr, "/api/map");
    let map_first = map_first.elapsed();
    eprintln!(
        "{TRACES} traces: ingested in {ingested:?}; first list (makes every summary) {first:?}; \
         first map {map_first:?}; resident memory {before:.0} MiB before, {:.0} MiB after",
        resident_mib()
    );

    let mut group = c.benchmark_group("page");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("list newest 200 of 10000", |b| {
        b.iter(|| get(&mut stream, addr, "/api/traces"))
    });
    group.bench_function("list status=fault", |b| {
        b.iter(|| get(&mut stream, addr, "/api/traces?status=fault"))
    });
    group.bench_function("list annotation.order_id filter", |b| {
        b.iter(|| {
            get(
                &mut stream,
                addr,
                "/api/traces?q=annotation.order_id+%3D+%224242%22",
            )
        })
    });
    group.bench_function("list node=topic:orders and !ok", |b| {
        b.iter(|| get(&mut stream, addr, "/api/traces?node=topic%3Aorders&q=%21ok"))
    });
    group.bench_function("map (unchanged since drawn)", |b| {
        b.iter(|| get(&mut stream, addr, "/api/map"))
    });
    group.finish();
    drop(handle);
}

criterion_group!(benches, page);
criterion_main!(benches);
