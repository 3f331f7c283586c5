//! Parts into traces: embedded and independent subsegments, any arrival order, services
//! continuing each other's traces, orphans, duplicates, limits.

mod common;

use std::time::{Duration, Instant};

use baton_trace::{Assembler, NodeKind};
use common::*;
use serde_json::json;

fn s(v: &str) -> String {
    v.to_owned()
}

#[test]
fn embedded_and_independent_subsegments_form_one_tree() {
    let trace = fixed_trace();
    assert_eq!(trace.id(), TRACE);
    assert_eq!(
        shape(&trace),
        [
            (0, s(CHECKOUT), false),
            (1, s(PRICE), false),
            (1, s(SEND), false),
            (2, s(FULFILMENT), false),
            (3, s(SAVE), false),
        ]
    );
    let checkout = trace.node(CHECKOUT).unwrap();
    assert_eq!(checkout.kind, NodeKind::Segment);
    assert_eq!(checkout.parent_id, None);
    assert_eq!(checkout.origin.as_deref(), Some("AWS::ECS::Container"));
    assert_eq!(checkout.annotations["order_id"], "o-42");
    assert_eq!(checkout.http_status, Some(200));
    let children: Vec<&str> = trace.children(checkout).map(|n| n.id.as_str()).collect();
    assert_eq!(children, [PRICE, SEND], "siblings by start time");

    let send = trace.node(SEND).unwrap();
    assert_eq!(send.kind, NodeKind::Subsegment);
    assert_eq!(
        send.parent_id.as_deref(),
        Some(CHECKOUT),
        "embedded: the holder"
    );
    assert_eq!(send.namespace.as_deref(), Some("aws"));
    assert_eq!(send.aws_str("operation"), Some("SendMessage"));
    assert_eq!(send.aws_str("region"), Some("eu-west-1"));
    assert!((send.duration_ms().unwrap() - 25.0).abs() < 1e-3);
    assert_eq!(send.service.as_deref(), Some("checkout"));

    let price = trace.node(PRICE).unwrap();
    assert_eq!(price.kind, NodeKind::Subsegment);
    assert_eq!(trace.parent(price).map(|p| p.id.as_str()), Some(CHECKOUT));

    assert_eq!(trace.orphans().count(), 0);
    assert_eq!(trace.roots().count(), 1);
    assert!((trace.duration_ms() - 250.0).abs() < 1e-3);
}

#[test]
fn a_consumer_segment_hangs_under_the_producer_call_of_another_service() {
    let trace = fixed_trace();
    let fulfilment = trace.node(FULFILMENT).unwrap();
    assert_eq!(fulfilment.kind, NodeKind::Segment);
    assert_eq!(trace.parent(fulfilment).unwrap().id, SEND);
    assert_eq!(fulfilment.service.as_deref(), Some("fulfilment"));
    assert!(fulfilment.fault);
    assert_eq!(fulfilment.links.len(), 1);
    assert_eq!(fulfilment.links[0].id, "3000000000000001");
    assert_eq!(fulfilment.links[0].attributes["kind"], "batch");

    let save = trace.node(SAVE).unwrap();
    assert_eq!(save.service.as_deref(), Some("fulfilment"));
    assert_eq!(save.exceptions, ["DbError: disk full"]);
    assert_eq!(trace.services(), ["checkout", "fulfilment"]);
    assert!(trace.failed());
}

/// Every order of `items`.
fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut all = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first.clone());
            all.push(tail);
        }
    }
    all
}

#[test]
fn arrival_order_does_not_matter() {
    // Four datagrams: save order is also sent on its own, as a resend would.
    let mut datagrams = fixed_datagrams();
    datagrams.push(datagram(&json!({
        "type": "subsegment", "trace_id": TRACE, "parent_id": FULFILMENT,
        "name": "notify", "id": "2000000000000003", "start_time": T0 + 0.150, "end_time": T0 + 0.160
    })));
    let expected = assemble(&datagrams).trace(TRACE).unwrap();
    assert_eq!(expected.len(), 6);
    let orders = permutations(&datagrams);
    assert_eq!(orders.len(), 24);
    for order in orders {
        let got = assemble(&order).trace(TRACE).unwrap();
        assert_eq!(got, expected);
    }
}

#[test]
fn orphans_are_shown_at_the_root_until_their_parent_arrives() {
    let mut assembler = Assembler::new();
    let now = Instant::now();
    // The consumer's segment and an independent subsegment of checkout come first.
    assembler
        .ingest(&datagram(&fulfilment_segment()), now)
        .unwrap();
    assembler
        .ingest(&datagram(&price_subsegment()), now)
        .unwrap();
    let early = assembler.trace(TRACE).unwrap();
    assert_eq!(
        shape(&early),
        [
            (0, s(PRICE), true),
            (0, s(FULFILMENT), true),
            (1, s(SAVE), false),
        ]
    );
    let price = early.node(PRICE).unwrap();
    assert_eq!(price.service, None, "its segment is not known yet");
    assert_eq!(early.orphans().count(), 2);
    assert_eq!(early.roots().count(), 2);

    assembler
        .ingest(&datagram(&checkout_segment()), now)
        .unwrap();
    let complete = assembler.trace(TRACE).unwrap();
    assert_eq!(complete.orphans().count(), 0);
    assert_eq!(complete, fixed_trace());
}

#[test]
fn duplicates_are_ignored_and_a_finished_part_replaces_its_in_progress_version() {
    let mut assembler = Assembler::new();
    let now = Instant::now();
    let mut running = checkout_segment();
    running["end_time"] = serde_json::Value::Null;
    running["in_progress"] = json!(true);
    running["subsegments"] = json!([]);
    assert_eq!(assembler.ingest(&datagram(&running), now), Ok(1));
    assert!(assembler.trace(TRACE).unwrap().nodes()[0].in_progress);

    // The finished segment replaces it (and brings its subsegment).
    assert_eq!(assembler.ingest(&datagram(&checkout_segment()), now), Ok(1));
    let trace = assembler.trace(TRACE).unwrap();
    assert!(!trace.nodes()[0].in_progress);
    assert_eq!(trace.nodes()[0].end, Some(T0 + 0.250));
    assert_eq!(assembler.stats().duplicates, 0);

    // Resent: nothing changes, both parts count as duplicates.
    assert_eq!(assembler.ingest(&datagram(&checkout_segment()), now), Ok(0));
    // A late in-progress version never replaces the finished one.
    assert_eq!(assembler.ingest(&datagram(&running), now), Ok(0));
    let stats = assembler.stats();
    assert_eq!(stats.duplicates, 3);
    assert_eq!(stats.nodes, 2);
    assert_eq!(stats.datagrams, 4);
    assert_eq!(assembler.trace(TRACE).unwrap(), trace);
}

#[test]
fn parent_loops_are_cut_open_and_every_node_is_shown_once() {
    let part = |id: &str, parent: &str, start: f64| {
        datagram(&json!({
            "type": "subsegment", "trace_id": TRACE, "parent_id": parent,
            "name": id, "id": id, "start_time": start, "end_time": start + 1.0
        }))
    };
    let datagrams = [
        part("a1", "c3", 3.0),
        part("b2", "a1", 1.0),
        part("c3", "b2", 2.0),
        part("d4", "c3", 4.0),
        part("e5", "e5", 5.0),
    ];
    let trace = assemble(&datagrams).trace(TRACE).unwrap();
    assert_eq!(
        shape(&trace),
        [
            (0, s("b2"), true),
            (1, s("c3"), false),
            (2, s("a1"), false),
            (2, s("d4"), false),
            (0, s("e5"), true),
        ]
    );
}

#[test]
fn traces_are_kept_apart_and_listed_in_arrival_order() {
    let mut other = checkout_segment();
    other["trace_id"] = json!("1-5f84c7a2-000000000000000000000002");
    let assembler = assemble(&[datagram(&other), datagram(&checkout_segment())]);
    let traces = assembler.traces();
    let ids: Vec<&str> = traces.iter().map(|t| t.id()).collect();
    assert_eq!(ids, ["1-5f84c7a2-000000000000000000000002", TRACE]);
    assert!(traces.iter().all(|t| t.len() == 2));
}

#[test]
fn settled_traces_are_taken_once_quiet_and_again_when_more_arrives() {
    let mut assembler = Assembler::new();
    let t = Instant::now();
    let quiet = Duration::from_millis(1500);
    assembler.ingest(&datagram(&checkout_segment()), t).unwrap();
    assert!(
        assembler
            .take_settled(t + Duration::from_millis(1000), quiet)
            .is_empty()
    );
    let first = assembler.take_settled(t + quiet, quiet);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].len(), 2);
    assert!(
        assembler.take_settled(t + quiet * 3, quiet).is_empty(),
        "taken"
    );

    // More of it arrives: it is quiet again 1.5 s later, and comes back whole.
    let later = t + quiet * 4;
    assembler
        .ingest(&datagram(&fulfilment_segment()), later)
        .unwrap();
    assert!(
        assembler
            .take_settled(later + Duration::from_millis(10), quiet)
            .is_empty()
    );
    let again = assembler.take_settled(later + quiet, quiet);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].len(), 4);

    // A duplicate is no news.
    assembler
        .ingest(&datagram(&fulfilment_segment()), later + quiet * 2)
        .unwrap();
    assert!(assembler.take_settled(later + quiet * 5, quiet).is_empty());
}

#[test]
fn limits_forget_the_stalest_trace_and_drop_extra_nodes() {
    let mut assembler = Assembler::new()
        .with_max_traces(2)
        .with_max_nodes_per_trace(3);
    let t = Instant::now();
    let trace = |n: u32| {
        let mut doc = checkout_segment();
        doc["trace_id"] = json!(format!("1-5f84c7a1-00000000000000000000000{n}"));
        datagram(&doc)
    };
    assembler.ingest(&trace(1), t).unwrap();
    assembler
        .ingest(&trace(2), t + Duration::from_secs(1))
        .unwrap();
    // Trace 1 is touched again (a duplicate does not count as news, a new node does).
    assembler
        .ingest(
            &datagram(&json!({
                "type": "subsegment", "trace_id": "1-5f84c7a1-000000000000000000000001",
                "parent_id": CHECKOUT, "name": "x", "id": "9", "start_time": T0, "end_time": T0
            })),
            t + Duration::from_secs(2),
        )
        .unwrap();
    assembler
        .ingest(&trace(3), t + Duration::from_secs(3))
        .unwrap();
    let ids: Vec<String> = assembler
        .traces()
        .iter()
        .map(|t| t.id().to_owned())
        .collect();
    assert_eq!(
        ids,
        [
            "1-5f84c7a1-000000000000000000000001",
            "1-5f84c7a1-000000000000000000000003"
        ]
    );
    assert_eq!(assembler.stats().evicted, 1);

    // Trace 1 holds 3 nodes: a fourth is dropped.
    let mut more = price_subsegment();
    more["trace_id"] = json!("1-5f84c7a1-000000000000000000000001");
    assert_eq!(
        assembler.ingest(&datagram(&more), t + Duration::from_secs(4)),
        Ok(0)
    );
    assert_eq!(assembler.stats().over_limit, 1);
    assert_eq!(
        assembler
            .trace("1-5f84c7a1-000000000000000000000001")
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn the_byte_budget_forgets_the_stalest_traces_and_caps_a_single_one() {
    let trace_id = |n: u32| format!("1-5f84c7a1-{n:024x}");
    // A segment padded to about 2 KiB.
    let big = |trace: &str, id: u64| {
        let mut doc = checkout_segment();
        doc["trace_id"] = json!(trace);
        doc["id"] = json!(format!("{id:016x}"));
        doc["metadata"] = json!({"pad": "x".repeat(2000)});
        datagram(&doc)
    };
    let size = big(&trace_id(0), 1).len();
    let mut assembler = Assembler::new().with_max_bytes(5 * size);
    let t = Instant::now();
    for n in 1..=8u32 {
        assembler
            .ingest(&big(&trace_id(n), 1), t + Duration::from_secs(n.into()))
            .unwrap();
    }
    // Five fit; the three updated longest ago were forgotten.
    let ids: Vec<String> = assembler
        .traces()
        .iter()
        .map(|t| t.id().to_owned())
        .collect();
    assert_eq!(ids, (4..=8).map(trace_id).collect::<Vec<_>>());
    assert_eq!(assembler.stats().evicted, 3);

    // One trace alone cannot pass the budget: it evicts the others, then takes no more.
    let one = trace_id(100);
    for id in 1..=7u64 {
        let _ = assembler.ingest(&big(&one, id), t + Duration::from_secs(100));
    }
    let traces = assembler.traces();
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].id(), one);
    // Five segments, and the SQS call embedded in each (one id, so held once).
    assert_eq!(traces[0].len(), 5 + 1);
    assert_eq!(assembler.stats().over_limit, 2);
}

#[test]
fn finished_parts_do_not_carry_a_trace_past_the_byte_budget() {
    let trace = "1-5f84c7a1-000000000000000000000042";
    let part = |id: u64, in_progress: bool, pad: usize| {
        let mut doc = json!({
            "name": "step", "id": format!("{id:016x}"), "trace_id": trace, "start_time": T0,
            "metadata": {"pad": "x".repeat(pad)}
        });
        if in_progress {
            doc["in_progress"] = json!(true);
        } else {
            doc["end_time"] = json!(T0 + 1.0);
        }
        datagram(&doc)
    };
    let small = part(1, true, 0).len();
    let mut assembler = Assembler::new().with_max_bytes(4 * small + 3000);
    let t = Instant::now();
    for id in 1..=4 {
        assembler.ingest(&part(id, true, 0), t).unwrap();
    }
    // The first finished version (about 2 KiB) fits; the next would pass the budget.
    assembler.ingest(&part(1, false, 2000), t).unwrap();
    assembler.ingest(&part(2, false, 2000), t).unwrap();
    let held = assembler.traces().remove(0);
    let running = held.nodes().iter().filter(|n| n.in_progress).count();
    assert_eq!(running, 3, "only one finished version taken");
    assert_eq!(assembler.stats().over_limit, 1);

    // A datagram larger than the whole budget is refused without forgetting anything.
    let huge = {
        let mut doc = checkout_segment();
        doc["metadata"] = json!({"pad": "x".repeat(8000)});
        datagram(&doc)
    };
    assert_eq!(assembler.ingest(&huge, t).unwrap(), 0);
    assert_eq!(assembler.traces().len(), 1);
    assert_eq!(assembler.stats().evicted, 0);
}
