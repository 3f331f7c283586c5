//! Many checkout-like traces, for the page's benchmark (`benches/page.rs`) and the memory
//! test (`tests/memory.rs`): included by path, so both measure the same traces.

#![allow(dead_code, unreachable_pub)]

use baton_trace::DAEMON_HEADER;
use serde_json::json;

/// Trace `n` as the datagrams its four services send: checkout (with a DynamoDB call and
/// an SNS publish), fulfilment (an EventBridge put), billing (a Step Functions start),
/// shipping; eight nodes in four datagrams, about 1.75 KB. Every 50th billing run fails,
/// every 70th DynamoDB call is throttled.
pub fn checkout_like(n: u32) -> Vec<String> {
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

/// The process's resident memory (`VmRSS` of `/proc/self/status`), in bytes.
pub fn resident_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("a VmRSS line in kB");
    kib * 1024
}

/// Bytes as MiB, for messages.
pub fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
