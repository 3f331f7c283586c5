//! A small fixed trace, as the datagrams two services would send.

#![allow(dead_code, unreachable_pub)]

use std::time::Instant;

use baton_trace::{Assembler, DAEMON_HEADER, Trace};
use serde_json::{Value, json};

pub const TRACE: &str = "1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2b";
pub const T0: f64 = 1_602_537_377.0;

pub const CHECKOUT: &str = "1000000000000001";
pub const SEND: &str = "1000000000000002";
pub const PRICE: &str = "1000000000000003";
pub const FULFILMENT: &str = "2000000000000001";
pub const SAVE: &str = "2000000000000002";

/// The daemon header, a newline, and `document`.
pub fn datagram(document: &Value) -> Vec<u8> {
    format!("{DAEMON_HEADER}\n{document}").into_bytes()
}

/// checkout's segment, with the SQS call embedded.
pub fn checkout_segment() -> Value {
    json!({
        "name": "checkout", "id": CHECKOUT, "trace_id": TRACE,
        "start_time": T0, "end_time": T0 + 0.250,
        "origin": "AWS::ECS::Container",
        "http": {"request": {"method": "POST", "url": "/checkout"}, "response": {"status": 200}},
        "annotations": {"order_id": "o-42"},
        "subsegments": [{
            "name": "SQS", "id": SEND, "start_time": T0 + 0.010, "end_time": T0 + 0.035,
            "namespace": "aws",
            "aws": {"operation": "SendMessage", "region": "eu-west-1",
                    "queue_url": "http://localhost:4566/000000000000/orders"}
        }]
    })
}

/// A step of checkout's, sent on its own (as the exporter does when it does not fit).
pub fn price_subsegment() -> Value {
    json!({
        "type": "subsegment", "trace_id": TRACE, "parent_id": CHECKOUT,
        "name": "price order", "id": PRICE, "start_time": T0 + 0.002, "end_time": T0 + 0.008
    })
}

/// fulfilment's segment, continuing the trace from the message, with a failed step.
pub fn fulfilment_segment() -> Value {
    json!({
        "name": "fulfilment", "id": FULFILMENT, "trace_id": TRACE, "parent_id": SEND,
        "start_time": T0 + 0.100, "end_time": T0 + 0.200, "fault": true,
        "links": [{"trace_id": "1-5f84c7a0-aaaaaaaaaaaaaaaaaaaaaaaa", "id": "3000000000000001",
                   "attributes": {"kind": "batch"}}],
        "subsegments": [{
            "name": "save order", "id": SAVE, "start_time": T0 + 0.120, "end_time": T0 + 0.140,
            "fault": true,
            "cause": {"exceptions": [{"id": "abcdef0123456789", "type": "DbError", "message": "disk full"}]}
        }]
    })
}

/// The three datagrams of the fixed trace, in the order they were sent.
pub fn fixed_datagrams() -> Vec<Vec<u8>> {
    vec![
        datagram(&price_subsegment()),
        datagram(&checkout_segment()),
        datagram(&fulfilment_segment()),
    ]
}

/// Assembles `datagrams` (all must be well formed).
pub fn assemble(datagrams: &[Vec<u8>]) -> Assembler {
    let mut assembler = Assembler::new();
    let now = Instant::now();
    for d in datagrams {
        assembler.ingest(d, now).expect("a well-formed datagram");
    }
    assembler
}

/// The fixed trace, assembled.
pub fn fixed_trace() -> Trace {
    assemble(&fixed_datagrams())
        .trace(TRACE)
        .expect("the trace")
}

/// `(depth, id, parent index by id, orphan)` for each node, in tree order.
pub fn shape(trace: &Trace) -> Vec<(usize, String, bool)> {
    trace
        .nodes()
        .iter()
        .map(|n| (n.depth, n.id.clone(), n.orphan))
        .collect()
}
