//! The sampling endpoints: a real `XraySampler` polling a spawned collector, the HTTP side
//! spoken by hand, and junk on the TCP port.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use baton_sampling::{ManualClock, RuleSource, SamplingRule, SamplingRules, XraySampler};
use baton_trace::{ClientCounts, Collector, CollectorHandle, RuleCounts};
use common::*;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, TraceId, Tracer, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: u64 = 1_700_000_000;
const EXAMPLE_RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sampling-rules.json");

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn spawn(rules: SamplingRules, clock: &ManualClock) -> CollectorHandle {
    Collector::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .with_sampling_rules(rules)
        .with_sampling_clock(clock.clone())
        .spawn()
}

/// A sampler polling `collector` every 20 ms for targets, whose own rules never sample: any
/// span sampled shows the served rules at work.
fn sampler(collector: &CollectorHandle, clock: &ManualClock) -> XraySampler {
    let never = SamplingRules::new([SamplingRule::new("local", 1, 0, 0.0)]).unwrap();
    XraySampler::builder()
        .with_local_rules(never)
        .with_centralized_rules(format!("http://{}", collector.sampling_addr().unwrap()))
        .with_clock(clock.clone())
        .with_rules_interval(Duration::from_secs(3600))
        .with_targets_interval(Duration::from_millis(20))
        .build()
        .unwrap()
}

fn request(method: &str, path: &str) -> [KeyValue; 2] {
    [
        KeyValue::new("http.request.method", method.to_owned()),
        KeyValue::new("url.path", path.to_owned()),
    ]
}

/// Trace ids that any fixed rate above 0 samples.
fn low_id(n: u64) -> TraceId {
    TraceId::from((u128::from(T) << 96) | (u128::from(n) << 64))
}

fn rule<'a>(counts: &'a [RuleCounts], name: &str) -> &'a RuleCounts {
    counts
        .iter()
        .find(|c| c.rule == name)
        .unwrap_or_else(|| panic!("no rule {name} in {counts:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_follow_the_served_rules_file_and_their_counts_are_shown() {
    let clock = ManualClock::new(SystemTime::now());
    let mut collector = spawn(SamplingRules::from_path(EXAMPLE_RULES).unwrap(), &clock);
    let sampler = sampler(&collector, &clock);
    eventually("the served rules", || {
        sampler.source() == RuleSource::Centralized
    })
    .await;

    let exporter = baton_xray::XrayExporter::builder()
        .with_daemon_address(collector.local_addr().to_string())
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_id_generator(baton::XrayIdGenerator::default())
        .with_resource(Resource::builder_empty().with_service_name("shop").build())
        .with_sampler(sampler.clone().parent_based())
        .with_simple_exporter(exporter)
        .build();
    let tracer = provider.tracer("sampling");
    let serve = |method: &str, path: &str| {
        tracer
            .span_builder(format!("{method} {path}"))
            .with_kind(SpanKind::Server)
            .with_attributes(request(method, path))
            .start(&tracer)
    };
    // "health checks": no reservoir, rate 0: dropped. "checkout": rate 1: all kept.
    for _ in 0..4 {
        drop(serve("GET", "/health"));
    }
    for _ in 0..3 {
        drop(serve("POST", "/checkout"));
    }
    eventually("the three checkout traces", || {
        collector.traces().len() >= 3
    })
    .await;
    // The health checks were sent first: had any been sampled, it would be here by now.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let traces = collector.traces();
    assert_eq!(traces.len(), 3, "{traces:#?}");
    for trace in &traces {
        assert_eq!(trace.services(), ["shop"]);
    }

    // The sampler's first report is due 10 s after it got the rules.
    clock.advance(Duration::from_secs(10));
    eventually("a statistics report", || {
        rule(&collector.sampling_stats(), "checkout").requests > 0
    })
    .await;
    let stats = collector.sampling_stats();
    let names: Vec<&str> = stats.iter().map(|c| c.rule.as_str()).collect();
    assert_eq!(names, ["checkout", "health checks", "Default"]);
    let counts = |name: &str| {
        let c = rule(&stats, name);
        (c.requests, c.sampled, c.borrowed, c.clients.len())
    };
    // checkout has a reservoir of 1 but no target yet: the first span is borrowed.
    assert_eq!(counts("checkout"), (3, 3, 1, 1));
    assert_eq!(counts("health checks"), (4, 0, 0, 1));
    assert_eq!(counts("Default"), (0, 0, 0, 0));

    provider.shutdown().unwrap();
    collector.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_samplers_reports_add_up_per_rule_and_client_and_targets_set_their_quota() {
    // The X-Ray API's format this time.
    let rules = SamplingRules::from_json(
        &json!({"SamplingRuleRecords": [
            {"SamplingRule": {"RuleName": "orders", "Priority": 1, "ReservoirSize": 3,
             "FixedRate": 0.0, "ServiceName": "*", "ServiceType": "*", "Host": "*",
             "HTTPMethod": "*", "URLPath": "/orders*", "ResourceARN": "*", "Version": 1}},
            {"SamplingRule": {"RuleName": "health", "Priority": 2, "ReservoirSize": 0,
             "FixedRate": 0.0, "ServiceName": "*", "ServiceType": "*", "Host": "*",
             "HTTPMethod": "*", "URLPath": "/health", "ResourceARN": "*", "Version": 1}},
        ]})
        .to_string(),
    )
    .unwrap();
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(T));
    let collector = spawn(rules, &clock);
    let a = sampler(&collector, &clock);
    let b = sampler(&collector, &clock);
    eventually("the served rules", || {
        a.source() == RuleSource::Centralized && b.source() == RuleSource::Centralized
    })
    .await;
    let mut n = 0;
    let mut decide = |sampler: &XraySampler, path: &str, count: usize| {
        (0..count)
            .filter(|_| {
                n += 1;
                sampler.sample(low_id(n), &request("GET", path))
            })
            .count()
    };

    // No targets yet: "orders" borrows one span a second in each process.
    assert_eq!(decide(&a, "/orders/1", 10), 1);
    assert_eq!(decide(&b, "/orders/2", 4), 1);
    assert_eq!(decide(&a, "/health", 2), 0);

    clock.set(UNIX_EPOCH + Duration::from_secs(T + 10));
    eventually("both samplers' reports", || {
        let stats = collector.sampling_stats();
        rule(&stats, "orders").clients.len() == 2 && rule(&stats, "health").requests == 2
    })
    .await;
    let stats = collector.sampling_stats();
    let mut orders = rule(&stats, "orders").clone();
    orders
        .clients
        .sort_by_key(|c| std::cmp::Reverse(c.requests));
    let client_a = orders.clients[0].client_id.clone();
    let client_b = orders.clients[1].client_id.clone();
    assert_ne!(client_a, client_b);
    for id in [&client_a, &client_b] {
        assert!(
            id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
    }
    let client = |id: &str, requests, sampled, borrowed| {
        let mut counts = ClientCounts::default();
        counts.client_id = id.to_owned();
        counts.requests = requests;
        counts.sampled = sampled;
        counts.borrowed = borrowed;
        counts
    };
    assert_eq!(
        (orders.requests, orders.sampled, orders.borrowed),
        (14, 2, 2)
    );
    assert_eq!(
        orders.clients,
        [client(&client_a, 10, 1, 1), client(&client_b, 4, 1, 1)]
    );
    let health = rule(&stats, "health");
    assert_eq!(
        (health.requests, health.sampled, health.borrowed),
        (2, 0, 0)
    );
    assert_eq!(health.clients, [client(&client_a, 2, 0, 0)]);
    assert_eq!(rule(&stats, "Default"), &{
        let mut untouched = RuleCounts::default();
        untouched.rule = "Default".into();
        untouched
    });

    // The processes share the rule's reservoir of 3 a second. The first to report was the only
    // one known then and got all 3; the second, reporting next to it, got its share of
    // the two: 1 or 2, depending on which of the two random ids sorts first. (The sampler
    // applies an answer as soon as it arrives; the margin is for a busy machine.)
    tokio::time::sleep(Duration::from_millis(1000)).await;
    clock.set(UNIX_EPOCH + Duration::from_secs(T + 11));
    let first_a = decide(&a, "/orders/3", 10);
    let first_b = decide(&b, "/orders/4", 10);
    let mut firsts = [first_a, first_b];
    firsts.sort_unstable();
    assert!(firsts == [1, 3] || firsts == [2, 3], "{firsts:?}");

    // The next reports, at the 10 s interval the answers asked for, add to the sums.
    clock.set(UNIX_EPOCH + Duration::from_secs(T + 20));
    eventually("the second reports", || {
        rule(&collector.sampling_stats(), "orders").requests == 34
    })
    .await;
    let orders = rule(&collector.sampling_stats(), "orders").clone();
    assert_eq!(
        (orders.requests, orders.sampled, orders.borrowed),
        (34, 2 + first_a as u64 + first_b as u64, 2)
    );
    let a_counts = orders
        .clients
        .iter()
        .find(|c| c.client_id == client_a)
        .unwrap();
    assert_eq!(
        (a_counts.requests, a_counts.sampled),
        (20, 1 + first_a as u64)
    );

    // Both are known now: their shares add up to the reservoir, 1 and 2.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    clock.set(UNIX_EPOCH + Duration::from_secs(T + 21));
    let mut shares = [decide(&a, "/orders/5", 10), decide(&b, "/orders/6", 10)];
    shares.sort_unstable();
    assert_eq!(shares, [1, 2]);
}

/// Sends `raw` on one connection and reads until the server closes it.
async fn exchange(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .expect("the connection is read to its end");
    answer
}

fn post(path: &str, body: &str, close: bool) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!(
        "POST {path} HTTP/1.1\r\nHost: daemon\r\nContent-Type: application/json\r\n\
         {connection}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// One HTTP/1.1 response: status, lower-cased headers, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits a connection's bytes into its responses (bodies sized by `Content-Length`).
fn read_answers(mut raw: &[u8]) -> Vec<Answer> {
    let mut answers = Vec::new();
    while !raw.is_empty() {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(raw)));
        let head = std::str::from_utf8(&raw[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.trim().to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let body = String::from_utf8(raw[end + 4..end + 4 + length].to_vec()).unwrap();
        raw = &raw[end + 4 + length..];
        answers.push(Answer {
            status,
            headers,
            body,
        });
    }
    answers
}

fn example_collector() -> (CollectorHandle, SamplingRules) {
    let rules = SamplingRules::from_path(EXAMPLE_RULES).unwrap();
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(T));
    (spawn(rules.clone(), &clock), rules)
}

#[tokio::test]
async fn both_endpoints_answer_on_one_kept_alive_connection_in_the_x_ray_api_shapes() {
    let (collector, rules) = example_collector();
    let statistics = json!({"SamplingStatisticsDocuments": [
        {"RuleName": "checkout", "ClientID": "0123456789abcdef01234567", "RequestCount": 7,
         "SampledCount": 5, "BorrowCount": 1, "Timestamp": T as f64},
        {"RuleName": "gone", "ClientID": "0123456789abcdef01234567", "RequestCount": 1,
         "SampledCount": 0, "BorrowCount": 0, "Timestamp": T as f64},
    ]});
    let raw = [
        post("/GetSamplingRules", r#"{"NextToken":null}"#, false),
        post("/SamplingTargets", &statistics.to_string(), false),
        post("/GetSamplingRules", "", true),
    ]
    .concat();
    let answers = read_answers(&exchange(collector.sampling_addr().unwrap(), raw.as_bytes()).await);
    assert_eq!(answers.len(), 3, "{answers:#?}");
    assert!(answers.iter().all(|a| a.status == 200), "{answers:#?}");
    assert_eq!(answers[0].header("content-type"), Some("application/json"));

    // The rules, read back, are the file's.
    let served = SamplingRules::from_json(&answers[0].body).unwrap();
    assert_eq!(served, rules);
    assert_eq!(
        answers[0].json()["SamplingRuleRecords"][0],
        json!({
            "SamplingRule": {
                "RuleName": "checkout", "Priority": 1, "FixedRate": 1.0, "ReservoirSize": 1,
                "ServiceName": "*", "ServiceType": "*", "Host": "*", "HTTPMethod": "POST",
                "URLPath": "/checkout", "ResourceARN": "*", "Version": 1, "Attributes": {}
            },
            "CreatedAt": T as f64, "ModifiedAt": T as f64
        })
    );
    assert_eq!(answers[2].body, answers[0].body);

    assert_eq!(
        answers[1].json(),
        json!({
            "SamplingTargetDocuments": [{
                "RuleName": "checkout", "FixedRate": 1.0, "ReservoirQuota": 1,
                "ReservoirQuotaTTL": (T + 60) as f64, "Interval": 10
            }],
            "LastRuleModification": T as f64,
            "UnprocessedStatistics": [{
                "RuleName": "gone", "ErrorCode": "400",
                "Message": "no rule of this name is served here"
            }]
        })
    );
    let checkout = rule(&collector.sampling_stats(), "checkout").clone();
    assert_eq!(
        (checkout.requests, checkout.sampled, checkout.borrowed),
        (7, 5, 1)
    );
}

#[tokio::test]
async fn other_paths_are_404_other_methods_405_and_bad_bodies_400() {
    let (collector, _) = example_collector();
    let addr = collector.sampling_addr().unwrap();
    let raw = [
        post("/GetSamplingTargets", "{}", false),
        "GET /GetSamplingRules HTTP/1.1\r\nHost: daemon\r\n\r\n".to_owned(),
        post("/SamplingTargets", "{not json", false),
        post(
            "/SamplingTargets",
            r#"{"SamplingStatisticsDocuments":[{"RuleName":1}]}"#,
            false,
        ),
        post("/GetSamplingRules", "[]", false),
        post("/GetSamplingRules", "{}", true),
    ]
    .concat();
    let answers = read_answers(&exchange(addr, raw.as_bytes()).await);
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    // Refused requests do not end the connection: the last one is still answered.
    assert_eq!(statuses, [404, 405, 400, 400, 400, 200]);
    assert_eq!(answers[1].header("allow"), Some("POST"));
    assert!(
        answers[2].json()["message"]
            .as_str()
            .unwrap()
            .contains("not JSON"),
        "{:?}",
        answers[2]
    );
    assert!(
        collector.sampling_stats().iter().all(|c| c.requests == 0),
        "a refused report counts nothing"
    );

    // A body declared over 1 MiB is refused without being read.
    let raw = "POST /SamplingTargets HTTP/1.1\r\nHost: daemon\r\nContent-Length: 2000000\r\n\r\n";
    let answers = read_answers(&exchange(addr, raw.as_bytes()).await);
    assert_eq!(answers[0].status, 413);
}

/// A fixed sequence of pseudo-random bytes (xorshift), the same on every run.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Sends `raw`, then reads whatever comes back until the server closes or `wait` passes;
/// a reset connection is fine too. Only the collector's health matters.
async fn throw(addr: SocketAddr, raw: &[u8], wait: Duration) {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        panic!("the sampling port stopped accepting connections");
    };
    let _ = stream.write_all(raw).await;
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut sink)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_on_the_tcp_port_changes_nothing_and_udp_keeps_working() {
    let (mut collector, _) = example_collector();
    let addr = collector.sampling_addr().unwrap();
    let short = Duration::from_millis(200);
    for seed in 1..=20 {
        throw(addr, &noise(seed, 64 * seed as usize), short).await;
    }
    #[rustfmt::skip]
    let junk: Vec<Vec<u8>> = vec![
        b"\r\n\r\n".to_vec(),
        b"POST /SamplingTargets HTTP/1.1\r\nContent-Length: abc\r\n\r\n{}".to_vec(),
        b"POST /SamplingTargets HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}".to_vec(), // cut short
        b"POST /SamplingTargets HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        b"POST /SamplingTargets HTTP/9.9\r\n\r\n".to_vec(),
        format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(200_000)).into_bytes(),
        format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "b".repeat(600_000)).into_bytes(),
        [&b"POST /GetSamplingRules HTTP/1.1\r\nContent-Length: 4\r\n\r\n"[..], &[0xff, 0xfe, 0, 1]]
            .concat(),
    ];
    for raw in &junk {
        throw(addr, raw, short).await;
    }
    // A connection opened and left silent does not block the others.
    let _idle = TcpStream::connect(addr).await.unwrap();

    // Still answering...
    let answers =
        read_answers(&exchange(addr, post("/GetSamplingRules", "{}", true).as_bytes()).await);
    assert_eq!(answers[0].status, 200);
    assert!(collector.sampling_stats().iter().all(|c| c.requests == 0));

    // ...and still receiving traces.
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for datagram in fixed_datagrams() {
        sender.send_to(&datagram, collector.local_addr()).unwrap();
    }
    let trace = collector
        .wait_for_nodes(TRACE, 5, Duration::from_secs(5))
        .await
        .expect("the datagrams arrive");
    assert_eq!(trace, fixed_trace());
    assert_eq!(collector.shutdown().await.malformed, 0);

    // Shut down: the port is closed.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn when_the_tcp_port_is_taken_the_udp_side_still_works() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut collector = Collector::bind(addr)
        .expect("the same port number, free for UDP")
        .with_sampling_rules(SamplingRules::default())
        .spawn();
    assert_eq!(collector.sampling_addr(), None);
    // The rules are still known, so the view can list them.
    let names: Vec<String> = collector
        .sampling_stats()
        .into_iter()
        .map(|c| c.rule)
        .collect();
    assert_eq!(names, ["Default"]);

    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for datagram in fixed_datagrams() {
        sender.send_to(&datagram, addr).unwrap();
    }
    collector
        .wait_for_nodes(TRACE, 5, Duration::from_secs(5))
        .await
        .expect("the datagrams arrive");
    collector.shutdown().await;
}

#[tokio::test]
async fn without_rules_nothing_listens_on_tcp() {
    let collector = Collector::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .spawn();
    assert_eq!(collector.sampling_addr(), None);
    assert!(collector.sampling_stats().is_empty());
}
