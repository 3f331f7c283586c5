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
