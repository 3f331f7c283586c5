//! Bad input is counted and skipped, never a panic: fixed cases, the collector on a real
//! socket, and properties over arbitrary bytes and arbitrary JSON.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use baton_trace::{
    Assembler, Collector, DAEMON_HEADER, MAX_DATAGRAM_BYTES, Malformed, WaterfallOptions,
    render_html, render_service_map, render_waterfall_with, service_map,
};
use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};

#[test]
fn malformed_datagrams_are_counted_and_change_nothing() {
    let mut assembler = Assembler::new();
    let now = Instant::now();
    let header = DAEMON_HEADER;
    #[rustfmt::skip]
    let bad: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\n".to_vec(),
        checkout_segment().to_string().into_bytes(),                      // no header
        format!("{header}\n{{\"name\":\"x\"").into_bytes(),               // cut short
        format!("{header}\n{{}}").into_bytes(),                           // an empty object
        format!("{header}\n\"a string\"").into_bytes(),
        format!("{header}\n{} trailing", checkout_segment()).into_bytes(), // two values
        vec![0xc3, 0x28, b'\n', b'{', b'}'],                              // not UTF-8
        vec![b' '; MAX_DATAGRAM_BYTES + 1],                               // too long
    ];
    for datagram in &bad {
        assert!(assembler.ingest(datagram, now).is_err(), "{datagram:?}");
    }
    assert!(matches!(
        assembler.ingest(&bad[2], now),
        Err(Malformed::NoHeader)
    ));
    let stats = assembler.stats();
    assert_eq!(stats.malformed, bad.len() as u64 + 1);
    assert_eq!(stats.datagrams, stats.malformed);
    assert_eq!(stats.nodes, 0);
    assert!(assembler.traces().is_empty());

    // A subsegment with a broken child spoils its whole document, not the trace.
    let mut broken = checkout_segment();
    broken["subsegments"][0]["start_time"] = json!("later");
    assert_eq!(
        assembler.ingest(&datagram(&broken), now),
        Err(Malformed::Shape("start_time"))
    );
    assembler
        .ingest(&datagram(&price_subsegment()), now)
        .unwrap();
    assert_eq!(assembler.trace(TRACE).unwrap().len(), 1);
}

#[tokio::test]
async fn the_collector_skips_junk_on_the_wire_and_keeps_receiving() {
    let mut handle = Collector::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .spawn();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = handle.local_addr();
    sender.send_to(b"hello", to).unwrap();
    sender.send_to(&[0xff; 2000], to).unwrap();
    sender
        .send_to(format!("{DAEMON_HEADER}\n[]").as_bytes(), to)
        .unwrap();
    for datagram in fixed_datagrams() {
        sender.send_to(&datagram, to).unwrap();
    }
    let trace = handle
        .wait_for_nodes(TRACE, 5, Duration::from_secs(5))
        .await
        .expect("the good datagrams arrive");
    assert_eq!(trace, fixed_trace());
    let stats = handle.shutdown().await;
    assert_eq!(stats.datagrams, 6);
    assert_eq!(stats.malformed, 3);
    assert_eq!(stats.nodes, 5);
    // Still readable after shutdown.
    assert_eq!(handle.traces().len(), 1);
}

#[test]
fn extreme_times_render_without_panicking() {
    let parts = [
        json!({"name": "a", "id": "1", "trace_id": TRACE, "start_time": -1e308, "end_time": 1e308}),
        json!({"type": "subsegment", "name": "b", "id": "2", "parent_id": "1", "trace_id": TRACE,
               "start_time": 1e308, "end_time": 1.7e308}),
        json!({"type": "subsegment", "name": "c", "id": "3", "parent_id": "1", "trace_id": TRACE,
               "start_time": 0, "end_time": 0}),
    ];
    let assembler = assemble(&parts.iter().map(datagram).collect::<Vec<_>>());
    render_all(&assembler);
    let text = baton_trace::render_waterfall(&assembler.trace(TRACE).unwrap(), 80);
    assert!(text.contains("inf ms"), "{text}");
}

/// Renders every trace every way: none of it may panic.
fn render_all(assembler: &Assembler) {
    for trace in assembler.traces() {
        for width in [0, 48, 120, usize::MAX] {
            for (colors, ascii) in [(false, false), (true, true)] {
                let options = WaterfallOptions::new(width)
                    .with_colors(colors)
                    .with_ascii(ascii);
                let text = render_waterfall_with(&trace, &options);
                assert!(!text.contains('\x07'));
            }
        }
        let _ = render_service_map(&trace);
        let _ = service_map(&trace);
        let html = render_html(&trace);
        assert!(html.ends_with("</html>\n"));
    }
}

/// JSON values built from the words segment documents use, so that random documents get
/// past the first checks often enough to reach the deeper ones.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "name",
        "id",
        "trace_id",
        "parent_id",
        "type",
        "start_time",
        "end_time",
        "in_progress",
        "subsegments",
        "namespace",
        "aws",
        "operation",
        "queue_url",
        "fault",
        "error",
        "throttle",
        "links",
        "cause",
        "exceptions",
        "annotations",
        "metadata",
        "http",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1e10f64..1e10).prop_map(|f| json!(f)),
        Just(json!(1.7e9)),
        Just(json!("subsegment")),
        Just(json!("1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2b")),
        Just(json!("1000000000000001")),
        Just(json!("aws")),
        "[a-z0-9\\-\\x00-\\x1f\u{1F600}]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut assembler = Assembler::new();
        let _ = assembler.ingest(&bytes, Instant::now());
        let mut with_header = format!("{DAEMON_HEADER}\n").into_bytes();
        with_header.extend_from_slice(&bytes);
        let _ = assembler.ingest(&with_header, Instant::now());
        prop_assert_eq!(assembler.stats().datagrams, 2);
        render_all(&assembler);
    }

    #[test]
    fn arbitrary_documents_never_panic(documents in prop::collection::vec(json_value(), 1..6)) {
        let mut assembler = Assembler::new();
        let mut accepted = 0;
        for document in &documents {
            if assembler.ingest(&datagram(document), Instant::now()).is_ok() {
                accepted += 1;
            }
        }
        let stats = assembler.stats();
        prop_assert_eq!(stats.malformed + accepted, documents.len() as u64);
        // Every accepted node is shown exactly once.
        let shown: usize = assembler.traces().iter().map(|t| t.len()).sum();
        prop_assert_eq!(shown as u64, stats.nodes);
        render_all(&assembler);
    }

    #[test]
    fn well_formed_trees_survive_any_mutation_of_one_field(
        field in prop::sample::select(vec!["id", "parent_id", "start_time", "end_time", "name", "subsegments", "type"]),
        value in json_value(),
    ) {
        let mut document = fulfilment_segment();
        document[field] = value;
        let mut assembler = Assembler::new();
        let _ = assembler.ingest(&datagram(&document), Instant::now());
        for d in fixed_datagrams() {
            let _ = assembler.ingest(&d, Instant::now());
        }
        render_all(&assembler);
    }
}
