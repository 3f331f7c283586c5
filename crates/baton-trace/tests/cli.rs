//! The `baton-trace` binary itself, run as a user runs it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the collector however the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The address after `marker` on a line the binary prints (`… on udp 127.0.0.1:40123 …`).
fn address_after(line: &str, marker: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(marker)? + marker.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn a_stalled_stdout_does_not_stall_the_receiver_or_the_sampling_endpoint() {
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sampling-rules.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_baton-trace"))
        .args(["--listen", "127.0.0.1:0", "--sampling-rules", rules])
        .args(["--quiet-ms", "20", "--width", "200", "--color", "never"])
        // Piped and never read, like a paused pager: once the pipe is full, every write blocks.
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _running = Running(child);
    // Its stderr lines, read on a thread of their own so that waiting for them has a limit.
    let (lines, stderr_lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let (mut udp, mut tcp) = (None, None);
    let started = Instant::now();
    while udp.is_none() || tcp.is_none() {
        let left = Duration::from_secs(30).saturating_sub(started.elapsed());
        let line = stderr_lines
            .recv_timeout(left)
            .expect("the binary said where it listens within 30 s");
        assert!(!line.contains("not serving"), "{line}");
        udp = udp.or_else(|| address_after(&line, "listening on udp "));
        tcp = tcp.or_else(|| address_after(&line, " on tcp "));
    }
    let (udp, tcp) = (udp.unwrap(), tcp.unwrap());

    // Far more traces than a pipe holds once printed (each is several lines).
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for n in 0..1500u64 {
        let datagram = format!(
            "{{\"format\":\"json\",\"version\":1}}\n{{\"name\":\"svc\",\"id\":\"{:016x}\",\
             \"trace_id\":\"1-5f84c7a1-{:024x}\",\"start_time\":1.0,\"end_time\":2.0}}",
            n + 1,
            n + 1
        );
        socket.send_to(datagram.as_bytes(), udp).unwrap();
        if n % 100 == 99 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Time to print what fits and block on the rest.
    std::thread::sleep(Duration::from_millis(1000));

    // The sampling endpoint still answers, promptly.
    let started = Instant::now();
    let mut stream = TcpStream::connect(tcp).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let body = "{}";
    write!(
        stream,
        "POST /GetSamplingRules HTTP/1.1\r\nhost: {tcp}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let read = stream.read_to_string(&mut answer);
    assert!(
        read.is_ok() && answer.starts_with("HTTP/1.1 200"),
        "no answer while stdout is stalled ({:?} after {:?}): {answer:?}",
        read.err(),
        started.elapsed()
    );
    assert!(answer.contains("SamplingRuleRecords"), "{answer}");
}

#[test]
fn spans_posted_over_otlp_are_printed_as_a_trace() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_baton-trace"))
        .args(["print", "--listen", "127.0.0.1:0", "--otlp", "127.0.0.1:0"])
        .args(["--quiet-ms", "50", "--width", "120", "--color", "never"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    let mut stderr = BufReader::new(stderr).lines();
    let otlp = loop {
        let line = stderr
            .next()
            .expect("the binary says where it receives OTLP")
            .unwrap();
        if let Some(addr) = line
            .split("receiving OTLP/HTTP at http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
        {
            break addr.parse::<SocketAddr>().unwrap();
        }
    };
    let body = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"billing"}}]},"scopeSpans":[{"spans":[{"traceId":"5f84c7a11f0a3c1e9d2b7c6a5e4f3a2b","spanId":"1000000000000001","name":"charge","kind":2,"startTimeUnixNano":"1602537377000000000","endTimeUnixNano":"1602537377250000000"}]}]}]}"#;
    let mut stream = TcpStream::connect(otlp).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /v1/traces HTTP/1.1\r\nhost: {otlp}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // The trace is printed once it has been quiet for 50 ms.
    let (lines, printed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.contains("[billing]") && l.contains("250.0 ms"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match printed.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no trace printed; got {seen:#?}"),
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.starts_with("trace 1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2b")),
        "{seen:#?}"
    );
}
