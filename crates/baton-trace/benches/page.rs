//! The page's endpoints with 10,000 traces held: how long the trace list (and the map) take
//! to answer over HTTP on loopback, as the page asks for them every two seconds.
//!
//! `cargo bench -p baton-trace --bench page`
//!
//! Before the timed runs it prints, once: the time to ingest the traces, the first list
//! (which makes every trace's summary), the bytes counted against the byte budget, and the
//! process's resident memory before, once the traces are ingested and once listed
//! (`tests/memory.rs` checks the two against each other).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use baton_trace::{Assembler, Collector};
use criterion::{Criterion, criterion_group, criterion_main};

#[path = "../tests/common/load.rs"]
mod load;

use load::{checkout_like, mib, resident_bytes};

const TRACES: u32 = 10_000;

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

fn page(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let before = resident_bytes();
    let started = Instant::now();
    let mut assembler = Assembler::new().with_max_traces(TRACES as usize);
    let now = Instant::now();
    for n in 0..TRACES {
        for datagram in checkout_like(n) {
            assembler.ingest(datagram.as_bytes(), now).unwrap();
        }
    }
    let ingested = started.elapsed();
    let parsed = resident_bytes();
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
         first map {map_first:?}; counted against the byte budget {:.1} MiB; resident memory \
         {:.0} MiB before, {:.0} MiB once ingested, {:.0} MiB once listed",
        mib(handle.held_bytes()),
        mib(before),
        mib(parsed),
        mib(resident_bytes())
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
