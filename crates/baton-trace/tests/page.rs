//! The web page's HTTP endpoints, served by a real collector fed over UDP.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use baton_trace::{Collector, CollectorHandle};
use common::{TRACE, datagram, fixed_datagrams};
use serde_json::{Value, json};

struct Answer {
    status: u16,
    headers: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One request on a connection of its own, as raw HTTP/1.1.
fn request(addr: SocketAddr, method: &str, path: &str, host: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    Answer {
        status: status_line.split(' ').nth(1).unwrap().parse().unwrap(),
        headers: headers.to_owned(),
        body: body.to_owned(),
    }
}

fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, &addr.to_string())
}

/// A collector with the page, and the fixed trace (checkout → SQS orders → fulfilment,
/// with a fault) sent to it over UDP.
async fn serving() -> (CollectorHandle, SocketAddr) {
    let handle = Collector::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .with_page("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .spawn();
    let page = handle.page_addr().expect("the page is served");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in fixed_datagrams() {
        socket.send_to(&d, handle.local_addr()).unwrap();
    }
    handle
        .wait_for_nodes(TRACE, 5, Duration::from_secs(10))
        .await
        .expect("the fixed trace arrives");
    (handle, page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_assets_are_served_from_the_binary() {
    let (_handle, page) = serving().await;
    let index = get(page, "/");
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        index
            .body
            .contains("<script src=\"/app.js\" defer></script>")
    );
    assert!(index.body.contains("<svg id=\"map\""));
    let policy = index.header("content-security-policy").unwrap();
    assert!(policy.contains("script-src 'self'") && policy.contains("default-src 'none'"));
    // Nothing is fetched from anywhere else.
    assert!(!index.body.contains("https://"), "{}", index.body);
    let script = get(page, "/app.js");
    assert_eq!(script.status, 200);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(script.body.contains("function renderMap"));
    assert!(!script.body.contains("https://"));
    let style = get(page, "/style.css");
    assert_eq!(
        style.header("content-type"),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(get(page, "/index.html").status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_and_refuses_bad_filters_with_a_message() {
    let (handle, page) = serving().await;
    let list = get(page, "/api/traces").json();
    assert_eq!(list["held"], 1);
    assert_eq!(list["matched"], 1);
    assert_eq!(list["services"], json!(["checkout", "fulfilment"]));
    let row = &list["traces"][0];
    assert_eq!(row["id"], TRACE);
    assert_eq!(row["root"], "checkout");
    assert_eq!(row["status"], "fault");
    assert_eq!(row["spans"], 5);
    assert_eq!(list["stats"]["datagrams"], 3);

    let ids = |path: &str| -> Vec<String> {
        let answer = get(page, path);
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        answer.json()["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids("/api/traces?q=annotation.order_id+%3D+%22o-42%22"),
        [TRACE]
    );
    assert_eq!(
        ids("/api/traces?q=annotation.order_id%20%3D%20%2242%22"),
        Vec::<String>::new()
    );
    assert_eq!(ids("/api/traces?status=fault&service=fulfilment"), [TRACE]);
    assert_eq!(ids("/api/traces?status=ok"), Vec::<String>::new());
    assert_eq!(ids("/api/traces?node=queue%3Aorders"), [TRACE]);
    assert_eq!(
        ids("/api/traces?q=service(%22checkout%22)+AND+fault"),
        [TRACE]
    );

    let bad = get(page, "/api/traces?q=annotation.order_id+%3D");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.header("content-type"), Some("application/json"));
    let body = bad.json();
    assert_eq!(body["column"], 22);
    assert_eq!(
        body["error"],
        "filter expression at character 22: expected a value after `=` (a \"string\", a number, true or false), found the end"
    );
    let unknown = get(page, "/api/traces?q=user+%3D+%22alice%22").json();
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("`user` is an X-Ray keyword that this local view does not support"),
        "{unknown}"
    );
    assert_eq!(get(page, "/api/traces?status=purple").status, 400);
    assert_eq!(get(page, "/api/traces?limit=0").status, 400);
    assert_eq!(get(page, "/api/traces?q=%E2%28").status, 400);

    // A trace that arrives later is listed, newest first.
    let later = "1-5f84c7a2-000000000000000000000002";
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let segment = json!({"name": "billing", "id": "5000000000000001", "trace_id": later,
        "start_time": common::T0 + 10.0, "end_time": common::T0 + 10.5,
        "http": {"response": {"status": 429}}, "throttle": true, "error": true});
    socket
        .send_to(&datagram(&segment), handle.local_addr())
        .unwrap();
    handle
        .wait_for_nodes(later, 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(ids("/api/traces"), [later, TRACE]);
    assert_eq!(ids("/api/traces?status=throttle"), [later]);
    assert_eq!(ids("/api/traces?limit=1"), [later]);
    assert_eq!(ids("/api/traces?q=http.status+%3D+429"), [later]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_its_static_page_and_the_map() {
    let (_handle, page) = serving().await;
    let trace = get(page, &format!("/api/traces/{TRACE}"));
    assert_eq!(trace.status, 200);
    let trace = trace.json();
    assert_eq!(trace["spans"], 5);
    let labels: Vec<&str> = trace["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "[checkout]",
            "price order",
            "SQS SendMessage (orders)",
            "[fulfilment]",
            "save order"
        ]
    );
    let fulfilment = &trace["nodes"][3];
    assert_eq!(fulfilment["status"], "fault");
    assert_eq!(
        fulfilment["links"][0]["trace_id"],
        "1-5f84c7a0-aaaaaaaaaaaaaaaaaaaaaaaa"
    );
    assert_eq!(fulfilment["links"][0]["held"], false);
    assert_eq!(trace["nodes"][0]["annotations"]["order_id"], "o-42");

    let missing = get(page, "/api/traces/1-5f84c7a1-000000000000000000000000");
    assert_eq!(missing.status, 404);
    assert!(
        missing.json()["error"]
            .as_str()
            .unwrap()
            .contains("is not held")
    );
    assert_eq!(get(page, "/api/traces/..%2Fetc").status, 400);

    let html = get(page, &format!("/trace/{TRACE}.html"));
    assert_eq!(html.status, 200);
    assert!(html.body.starts_with("<!DOCTYPE html>"));
    assert!(
        html.body
            .contains("checkout --SQS SendMessage--&gt; orders --&gt; fulfilment")
    );
    assert_eq!(get(page, "/trace/nope.html").status, 404);

    let map = get(page, "/api/map").json();
    assert_eq!(map["traces"], 1);
    let node = |id: &str| {
        map["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap_or_else(|| panic!("no node {id} in {map}"))
            .clone()
    };
    let fulfilment = node("service:fulfilment");
    assert_eq!(
        (
            fulfilment["requests"].as_u64(),
            fulfilment["fault"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(fulfilment["layer"], 2);
    assert_eq!(node("queue:orders")["kind"], "queue");
    assert_eq!(node("service:checkout")["ok"], 1);
    let edges: Vec<(String, String, u64)> = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_owned(),
                e["to"].as_str().unwrap().to_owned(),
                e["calls"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        edges,
        [
            ("service:checkout".into(), "queue:orders".into(), 1),
            ("queue:orders".into(), "service:fulfilment".into(), 1),
        ]
    );
    // The SQS call took 25 ms; fulfilment's segment 100 ms.
    let average = |i: usize| map["edges"][i]["average_ms"].as_f64().unwrap();
    assert!((average(0) - 25.0).abs() < 0.01 && (average(1) - 100.0).abs() < 0.01);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_get_from_a_loopback_host_is_answered() {
    let (_handle, page) = serving().await;
    let post = request(page, "POST", "/api/traces", &page.to_string());
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(get(page, "/nothing/here").status, 404);
    assert_eq!(request(page, "GET", "/", "evil.example").status, 403);
    assert_eq!(
        request(page, "GET", "/api/traces", "evil.example:80").status,
        403
    );
    assert_eq!(request(page, "GET", "/", "localhost").status, 200);
    assert_eq!(
        request(page, "GET", "/", &format!("localhost:{}", page.port())).status,
        200
    );
    assert_eq!(request(page, "GET", "/", "[::1]:2080").status, 200);
    let head = request(page, "HEAD", "/api/traces", &page.to_string());
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_the_page() {
    let (mut handle, page) = serving().await;
    assert_eq!(get(page, "/api/map").status, 200);
    handle.shutdown().await;
    assert!(
        TcpStream::connect_timeout(&page, Duration::from_secs(2)).is_err() || {
            // The port may still accept until the listener is dropped: then nothing answers.
            let mut s = TcpStream::connect(page).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = write!(s, "GET / HTTP/1.1\r\nhost: {page}\r\n\r\n");
            let mut buf = [0u8; 16];
            !matches!(s.read(&mut buf), Ok(n) if n > 0)
        }
    );
}
