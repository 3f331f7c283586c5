//! Unit tests: the service graph from assembled traces, filter expressions, the list's
//! query and JSON.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::api::{self, ListQuery};
use super::{Filter, MapNodeKind, ServiceGraph, Status, Summary};
use crate::{Assembler, DAEMON_HEADER, Trace};

const T0: f64 = 1_700_000_000.0;

fn datagram(document: &Value) -> Vec<u8> {
    format!("{DAEMON_HEADER}\n{document}").into_bytes()
}

fn trace_id(n: u32) -> String {
    format!("1-6553f100-{n:024x}")
}

fn id(trace: u32, n: u32) -> String {
    format!("{trace:08x}{n:08x}")
}

/// A checkout-demo trace: checkout → SNS orders → fulfilment → EventBridge shop →
/// billing, plus a DynamoDB call. `billing_fault` fails billing; `throttled` throttles the
/// DynamoDB call; `client_error` makes checkout answer 404.
fn demo_trace(n: u32, billing_fault: bool, throttled: bool, client_error: bool) -> Vec<Vec<u8>> {
    let t = trace_id(n);
    let start = T0 + f64::from(n);
    let mut checkout = json!({
        "name": "checkout", "id": id(n, 1), "trace_id": t,
        "start_time": start, "end_time": start + 0.030,
        "http": {"request": {"method": "POST", "url": "http://shop.local/checkout"},
                 "response": {"status": if client_error { 404 } else { 200 }}},
        "annotations": {"order_id": format!("{}", 40 + n), "vip": n.is_multiple_of(2), "items": n},
        "subsegments": [
            {"name": "DynamoDB", "id": id(n, 2), "start_time": start + 0.001, "end_time": start + 0.005,
             "namespace": "aws", "aws": {"operation": "GetItem", "table_name": "prices"}},
            {"name": "SNS", "id": id(n, 3), "start_time": start + 0.010, "end_time": start + 0.020,
             "namespace": "aws",
             "aws": {"operation": "Publish", "topic_arn": "arn:aws:sns:eu-west-1:123456789012:orders"}}
        ]
    });
    if client_error {
        checkout["error"] = json!(true);
    }
    if throttled {
        checkout["subsegments"][0]["throttle"] = json!(true);
        checkout["subsegments"][0]["error"] = json!(true);
    }
    let fulfilment = json!({
        "name": "fulfilment", "id": id(n, 4), "trace_id": t, "parent_id": id(n, 3),
        "start_time": start + 0.040, "end_time": start + 0.060,
        "subsegments": [
            {"name": "EventBridge", "id": id(n, 5), "start_time": start + 0.045, "end_time": start + 0.055,
             "namespace": "aws", "aws": {"operation": "PutEvents", "event_bus_name": "shop"}}
        ]
    });
    let mut billing = json!({
        "name": "billing", "id": id(n, 6), "trace_id": t, "parent_id": id(n, 5),
        "start_time": start + 0.070, "end_time": start + 0.110,
        "links": [{"trace_id": trace_id(999), "id": id(999, 1)}]
    });
    if billing_fault {
        billing["fault"] = json!(true);
        billing["cause"] =
            json!({"exceptions": [{"type": "PaymentDeclined", "message": "issuer down"}]});
    }
    vec![
        datagram(&checkout),
        datagram(&fulfilment),
        datagram(&billing),
    ]
}

fn assemble(datagrams: impl IntoIterator<Item = Vec<u8>>) -> Assembler {
    let mut assembler = Assembler::new();
    for d in datagrams {
        assembler.ingest(&d, Instant::now()).expect("well formed");
    }
    assembler
}

fn demo_set() -> Assembler {
    // Four traces: one plain, one with a billing fault, one throttled, one client error.
    assemble(
        [
            demo_trace(1, false, false, false),
            demo_trace(2, true, false, false),
            demo_trace(3, false, true, false),
            demo_trace(4, false, false, true),
        ]
        .into_iter()
        .flatten(),
    )
}

#[test]
fn the_graph_has_services_and_resources_as_nodes_and_calls_as_edges() {
    let traces = demo_set().traces();
    let graph = ServiceGraph::from_traces(&traces);
    let mut nodes: Vec<(&str, MapNodeKind, u64)> = graph
        .nodes()
        .iter()
        .map(|n| (n.id.as_str(), n.kind, n.health.total()))
        .collect();
    nodes.sort_by_key(|n| n.0);
    assert_eq!(
        nodes,
        [
            ("bus:shop", MapNodeKind::Bus, 4),
            ("service:billing", MapNodeKind::Service, 4),
            ("service:checkout", MapNodeKind::Service, 4),
            ("service:fulfilment", MapNodeKind::Service, 4),
            ("table:prices", MapNodeKind::Table, 4),
            ("topic:orders", MapNodeKind::Topic, 4),
        ]
    );
    let edges: Vec<(&str, &str, u64)> = graph
        .edges()
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str(), e.calls()))
        .collect();
    assert_eq!(
        edges,
        [
            ("service:checkout", "table:prices", 4),
            ("service:checkout", "topic:orders", 4),
            ("topic:orders", "service:fulfilment", 4),
            ("service:fulfilment", "bus:shop", 4),
            ("bus:shop", "service:billing", 4),
        ]
    );
    assert_eq!(graph.traces(), 4);
    assert_eq!(graph.node("service:checkout").unwrap().traces, 4);
}

#[test]
fn health_shares_count_each_request_by_outcome() {
    let traces = demo_set().traces();
    let graph = ServiceGraph::from_traces(&traces);
    let billing = &graph.node("service:billing").unwrap().health;
    assert_eq!(
        (billing.ok, billing.fault, billing.error, billing.throttle),
        (3, 1, 0, 0)
    );
    assert_eq!(billing.share(Status::Fault), 0.25);
    assert_eq!(billing.share(Status::Ok), 0.75);
    // A throttle is also marked error by X-Ray; it counts as a throttle only.
    let table = &graph.node("table:prices").unwrap().health;
    assert_eq!((table.ok, table.throttle, table.error), (3, 1, 0));
    let checkout = &graph.node("service:checkout").unwrap().health;
    assert_eq!((checkout.ok, checkout.error), (3, 1));
    assert_eq!(checkout.share(Status::Error), 0.25);
    // The edge into billing carries billing's outcome; the one into the table, the call's.
    let edge = |from: &str, to: &str| {
        graph
            .edges()
            .iter()
            .find(|e| e.from == from && e.to == to)
            .unwrap()
    };
    assert_eq!(edge("bus:shop", "service:billing").health.fault, 1);
    assert_eq!(edge("service:checkout", "table:prices").health.throttle, 1);
    let shares: f64 = Status::ALL.iter().map(|s| billing.share(*s)).sum();
    assert!((shares - 1.0).abs() < 1e-12);
}

#[test]
fn edge_latency_is_the_average_of_the_calls_or_of_the_continuing_segments() {
    let traces = demo_set().traces();
    let graph = ServiceGraph::from_traces(&traces);
    let edge = |from: &str, to: &str| {
        graph
            .edges()
            .iter()
            .find(|e| e.from == from && e.to == to)
            .unwrap()
            .average_ms()
            .unwrap()
    };
    // The SNS publish took 10 ms; fulfilment's segment 20 ms; billing's 40 ms.
    assert!((edge("service:checkout", "topic:orders") - 10.0).abs() < 1e-3);
    assert!((edge("topic:orders", "service:fulfilment") - 20.0).abs() < 1e-3);
    assert!((edge("bus:shop", "service:billing") - 40.0).abs() < 1e-3);
    let checkout = graph.node("service:checkout").unwrap();
    assert!((checkout.average_ms().unwrap() - 30.0).abs() < 1e-3);
}

#[test]
fn the_layout_puts_callers_left_of_what_they_call() {
    let traces = demo_set().traces();
    let graph = ServiceGraph::from_traces(&traces);
    let layer = |id: &str| graph.node(id).unwrap().layer;
    assert_eq!(layer("service:checkout"), 0);
    assert_eq!(layer("topic:orders"), 1);
    assert_eq!(layer("table:prices"), 1);
    assert_eq!(layer("service:fulfilment"), 2);
    assert_eq!(layer("bus:shop"), 3);
    assert_eq!(layer("service:billing"), 4);
    for edge in graph.edges() {
        assert!(layer(&edge.from) < layer(&edge.to), "{edge:?}");
    }
    // Two nodes in one column have different rows.
    assert_ne!(
        graph.node("topic:orders").unwrap().row,
        graph.node("table:prices").unwrap().row
    );
}

#[test]
fn loops_and_empty_input_do_not_stop_the_layout() {
    assert!(ServiceGraph::from_traces(&[]).nodes().is_empty());
    // a calls b over HTTP (a remote call b continued), b calls a back the same way.
    let t = trace_id(7);
    let a = json!({"name": "a", "id": id(7, 1), "trace_id": t, "start_time": T0, "end_time": T0 + 1.0,
        "subsegments": [{"name": "b", "id": id(7, 2), "namespace": "remote", "start_time": T0, "end_time": T0 + 0.9}]});
    let b = json!({"name": "b", "id": id(7, 3), "trace_id": t, "parent_id": id(7, 2), "start_time": T0 + 0.1, "end_time": T0 + 0.8,
        "subsegments": [{"name": "a", "id": id(7, 4), "namespace": "remote", "start_time": T0 + 0.2, "end_time": T0 + 0.7}]});
    let a2 = json!({"name": "a", "id": id(7, 5), "trace_id": t, "parent_id": id(7, 4), "start_time": T0 + 0.3, "end_time": T0 + 0.6});
    let traces = assemble([datagram(&a), datagram(&b), datagram(&a2)]).traces();
    let graph = ServiceGraph::from_traces(&traces);
    let edges: Vec<(&str, &str)> = graph
        .edges()
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .collect();
    assert_eq!(
        edges,
        [("service:a", "service:b"), ("service:b", "service:a")]
    );
    assert_eq!(graph.nodes().len(), 2);
    assert_eq!(graph.node("service:a").unwrap().health.total(), 2);
}

#[test]
fn an_uncontinued_remote_call_is_a_remote_node() {
    let t = trace_id(8);
    let a = json!({"name": "a", "id": id(8, 1), "trace_id": t, "start_time": T0, "end_time": T0 + 1.0,
        "subsegments": [{"name": "api.example.com", "id": id(8, 2), "namespace": "remote", "fault": true,
                         "start_time": T0, "end_time": T0 + 0.5}]});
    let traces = assemble([datagram(&a)]).traces();
    let graph = ServiceGraph::from_traces(&traces);
    let remote = graph.node("remote:api.example.com").unwrap();
    assert_eq!(remote.kind, MapNodeKind::Remote);
    assert_eq!(remote.health.fault, 1);
    assert_eq!(graph.edges()[0].from, "service:a");
}

fn summary_of(trace: &Trace) -> Summary {
    Summary::of(trace, 0)
}

fn matching(expression: &str) -> Vec<u32> {
    let filter = Filter::parse(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
    demo_set()
        .traces()
        .iter()
        .filter(|t| filter.matches_summary(&summary_of(t)))
        .map(|t| u32::from_str_radix(&t.id()[11..], 16).unwrap())
        .collect()
}

#[rustfmt::skip]
const MATCHES: &[(&str, &[u32])] = &[
    ("",                                          &[1, 2, 3, 4]),
    ("ok",                                        &[1]),
    ("!ok",                                       &[2, 3, 4]),
    ("NOT ok",                                    &[2, 3, 4]),
    ("ok = false",                                &[2, 3, 4]),
    ("fault",                                     &[2]),
    ("throttle",                                  &[3]),
    ("error",                                     &[3, 4]),
    ("error AND !throttle",                       &[4]),
    ("fault OR throttle",                         &[2, 3]),
    ("fault = true OR error = true AND http.status = 404", &[2, 4]),
    ("(fault OR error) AND http.status = 404",    &[4]),
    ("annotation.order_id = \"42\"",              &[2]),
    ("annotation[order_id] = \"43\"",             &[3]),
    ("annotation[\"order_id\"] != \"43\"",        &[1, 2, 4]),
    ("annotation.order_id = 41",                  &[1]),
    ("annotation.order_id > 42",                  &[3, 4]),
    ("annotation.items >= 3",                     &[3, 4]),
    ("annotation.items = \"2\"",                  &[2]),
    ("annotation.vip = true",                     &[2, 4]),
    ("annotation.vip",                            &[1, 2, 3, 4]),
    ("annotation.missing",                        &[]),
    ("annotation.order_id BEGINSWITH \"4\"",      &[1, 2, 3, 4]),
    ("annotation.order_id ENDSWITH \"4\"",        &[4]),
    ("service(\"billing\")",                      &[1, 2, 3, 4]),
    ("service(\"nobody\")",                       &[]),
    ("edge(\"checkout\", \"orders\")",            &[1, 2, 3, 4]),
    ("edge(\"orders\", \"checkout\")",            &[]),
    ("duration > 0.1",                            &[1, 2, 3, 4]),
    ("duration < 0.1",                            &[]),
    ("responsetime <= 0.03",                      &[1, 2, 3, 4]),
    ("http.url CONTAINS \"checkout\"",            &[1, 2, 3, 4]),
    ("http.method = \"GET\"",                     &[]),
    ("http.status = 200 and annotation.vip = false", &[1, 3]),
];

#[test]
fn filter_expressions_select_the_right_traces() {
    for (expression, expected) in MATCHES {
        assert_eq!(matching(expression), *expected, "{expression}");
    }
}

#[rustfmt::skip]
const REFUSED: &[(&str, usize, &str)] = &[
    ("annotation.order_id = ",          23, "expected a value after `=` (a \"string\", a number, true or false), found the end"),
    ("annotation.order_id = 42x",       25, "expected AND, OR or the end, found `x`"),
    ("annotation.order_id = abc",       23, "found the bare word `abc`: put text in quotes (\"abc\")"),
    ("annotation.order_id = \"42",      23, "this string has no closing \""),
    ("annotation. = \"1\"",             1,  "expected an annotation key after `annotation.`"),
    ("annotation.x < \"a\"",            16, "`<` does not compare with this value"),
    ("annotation.x CONTAINS 3",         23, "`CONTAINS` does not compare with this value"),
    ("user = \"alice\"",                1,  "`user` is an X-Ray keyword that this local view does not support"),
    ("colour = \"red\"",                1,  "`colour` is not a keyword this view knows"),
    ("duration > \"slow\"",             12, "`duration` compares with a number (seconds)"),
    ("duration CONTAINS 3",             10, "`duration` is a number; CONTAINS applies to strings"),
    ("duration",                        9,  "expected an operator after `duration`"),
    ("http.url > 3",                    10, "`http.url` is a string; > applies to numbers"),
    ("fault = 1",                       9,  "expected true or false"),
    ("fault > true",                    7,  "`>` does not apply to true/false keywords"),
    ("(fault",                          7,  "expected `)` to close the `(`, found the end"),
    ("fault)",                          6,  "expected AND, OR or the end, found `)`"),
    ("fault AND",                       10, "expected a condition"),
    ("AND fault",                       1,  "expected a condition before `AND`"),
    ("service(billing)",                9,  "expected a \"quoted\" name in service(\"name\")"),
    ("service(\"a\") { fault }",        14, "is not supported by this view"),
    ("edge(\"a\")",                     9,  "expected `,` between the names of edge(\"from\", \"to\")"),
    ("fault # x",                       7,  "unexpected character '#'"),
    ("1.2.3",                           1,  "`1.2.3` is not a number"),
];

#[test]
fn bad_expressions_are_refused_with_what_and_where() {
    for (expression, column, message) in REFUSED {
        let error = Filter::parse(expression).expect_err(expression);
        assert!(
            error.message().contains(message),
            "{expression}: {:?} does not contain {message:?}",
            error.message()
        );
        assert_eq!(error.column(), *column, "{expression}: {error}");
    }
}

#[test]
fn too_long_and_too_deep_expressions_are_refused() {
    let long = format!("annotation.a = \"{}\"", "x".repeat(2000));
    assert!(
        Filter::parse(&long)
            .unwrap_err()
            .message()
            .contains("at most 1000")
    );
    let deep = format!("{}fault{}", "(".repeat(40), ")".repeat(40));
    assert!(
        Filter::parse(&deep)
            .unwrap_err()
            .message()
            .contains("nest more than 32")
    );
    let nots = format!("{}fault", "!".repeat(40));
    assert!(Filter::parse(&nots).is_err());
    let fine = format!("{}fault{}", "(".repeat(20), ")".repeat(20));
    assert!(Filter::parse(&fine).is_ok());
}

#[test]
fn expressions_print_in_a_canonical_form() {
    let filter = Filter::parse(r#"fault or annotation.order_id = "42" AND NOT ok"#).unwrap();
    assert_eq!(
        filter.to_string(),
        r#"(fault = true OR (annotation["order_id"] = "42" AND !ok = true))"#
    );
}

proptest::proptest! {
    #[test]
    fn no_expression_makes_the_parser_panic(text in "\\PC{0,80}") {
        let _ = Filter::parse(&text);
    }

    #[test]
    fn no_expression_of_filter_words_makes_the_parser_panic(
        words in proptest::collection::vec(
            proptest::sample::select(vec![
                "ok", "fault", "AND", "OR", "!", "(", ")", "=", "!=", "<", "\"x\"", "42",
                "annotation.a", "annotation[", "]", "service(", "edge(", ",", "true",
                "CONTAINS", "duration", "http.status", "{",
            ]),
            0..24,
        )
    ) {
        let text = words.join(" ");
        if let Ok(filter) = Filter::parse(&text) {
            // What parses can be matched, and its canonical form parses too.
            let _ = filter.matches_summary(&summary_of(&demo_set().traces()[0]));
            proptest::prop_assert!(Filter::parse(&filter.to_string()).is_ok(), "{}", filter);
        }
    }
}

#[test]
fn the_list_query_reads_its_parameters_and_refuses_bad_ones() {
    let query = ListQuery::parse("service=checkout&status=fault&node=queue%3Aorders&limit=5&q=annotation.order_id+%3D+%2242%22&_=1").unwrap();
    assert_eq!(query.service.as_deref(), Some("checkout"));
    assert_eq!(query.status, Some(Status::Fault));
    assert_eq!(query.node.as_deref(), Some("queue:orders"));
    assert_eq!(query.limit, 5);
    assert_eq!(
        query.filter,
        Filter::parse("annotation.order_id = \"42\"").unwrap()
    );
    assert_eq!(ListQuery::parse("").unwrap().limit, api::DEFAULT_LIMIT);
    assert!(ListQuery::parse("status=").unwrap().status.is_none());

    let refused = ListQuery::parse("status=broken").unwrap_err();
    assert!(
        refused.message.contains("ok, error, fault or throttle"),
        "{refused:?}"
    );
    assert!(ListQuery::parse("limit=0").is_err());
    assert!(ListQuery::parse("limit=100000").is_err());
    assert!(ListQuery::parse("q=%zz").is_err());
    assert!(ListQuery::parse("q=%ff").is_err());
    let bad = ListQuery::parse("q=annotation.order_id+%3D").unwrap_err();
    assert_eq!(bad.column, Some(22));
    assert!(
        bad.message
            .starts_with("filter expression at character 22: expected a value"),
        "{}",
        bad.message
    );
    assert_eq!(
        serde_json::from_str::<Value>(&bad.to_json()).unwrap()["column"],
        22
    );
}

#[test]
fn the_list_is_newest_first_filtered_and_limited() {
    let mut assembler = demo_set();
    let summaries: Vec<Arc<Summary>> = assembler.summaries();
    let list = |query: &str| -> Value {
        serde_json::from_str(&api::list(
            &summaries,
            &ListQuery::parse(query).unwrap(),
            assembler.stats(),
        ))
        .unwrap()
    };
    let ids = |v: &Value| -> Vec<String> {
        v["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = list("");
    assert_eq!(all["held"], 4);
    assert_eq!(all["matched"], 4);
    assert_eq!(
        ids(&all),
        [trace_id(4), trace_id(3), trace_id(2), trace_id(1)]
    );
    assert_eq!(
        all["services"],
        json!(["billing", "checkout", "fulfilment"])
    );
    let first = &all["traces"][0];
    assert_eq!(first["root"], "checkout");
    assert_eq!(first["status"], "error");
    assert_eq!(first["spans"], 6);
    assert!((first["duration_ms"].as_f64().unwrap() - 110.0).abs() < 1e-3);

    assert_eq!(ids(&list("status=fault")), [trace_id(2)]);
    assert_eq!(ids(&list("status=throttle")), [trace_id(3)]);
    assert_eq!(ids(&list("status=ok")), [trace_id(1)]);
    let two = list("limit=2");
    assert_eq!(ids(&two), [trace_id(4), trace_id(3)]);
    assert_eq!(two["matched"], 4);
    assert_eq!(ids(&list("node=table%3Aprices&q=throttle")), [trace_id(3)]);
    assert_eq!(ids(&list("node=queue%3Anowhere")), Vec::<String>::new());
    assert_eq!(ids(&list("service=nobody")).len(), 0);
}

#[test]
fn summaries_are_made_again_only_for_traces_that_changed() {
    let mut assembler = demo_set();
    let before = assembler.summaries();
    let again = assembler.summaries();
    for a in &before {
        assert!(again.iter().any(|b| Arc::ptr_eq(a, b)), "kept: {}", a.id);
    }
    // More of trace 1 arrives: only its summary is new.
    let late = json!({"type": "subsegment", "name": "late step", "id": id(1, 9), "trace_id": trace_id(1),
                      "parent_id": id(1, 1), "start_time": T0 + 1.001, "end_time": T0 + 1.002, "fault": true});
    assembler.ingest(&datagram(&late), Instant::now()).unwrap();
    let after = assembler.summaries();
    for s in &after {
        let kept = before.iter().any(|b| Arc::ptr_eq(b, s));
        assert_eq!(kept, s.id != trace_id(1), "{}", s.id);
    }
    let one = after.iter().find(|s| s.id == trace_id(1)).unwrap();
    assert_eq!((one.status, one.spans), (Status::Fault, 7));
}

/// The bytes of trace `n`'s datagrams, as `demo_trace` makes them.
fn demo_bytes(n: u32) -> usize {
    demo_trace(n, false, false, false)
        .iter()
        .map(Vec::len)
        .sum()
}

#[test]
fn summaries_count_against_the_byte_budget_until_their_trace_changes_or_goes() {
    let mut assembler = Assembler::new().with_max_traces(3);
    let t = Instant::now();
    let at = |s: u64| t + std::time::Duration::from_secs(s);
    for n in 1..=3 {
        for d in demo_trace(n, false, false, false) {
            assembler.ingest(&d, at(n.into())).unwrap();
        }
    }
    let datagrams: usize = (1..=3).map(demo_bytes).sum();
    assert_eq!(assembler.held_bytes(), datagrams);

    let summaries = assembler.summaries();
    let sizes: usize = summaries.iter().map(|s| s.memory_bytes()).sum();
    // Each holds its id, names, annotations and the map's six nodes and edges.
    assert!(
        summaries
            .iter()
            .all(|s| (1024..4096).contains(&s.memory_bytes()))
    );
    assert_eq!(assembler.held_bytes(), datagrams + sizes);
    // Asking again makes nothing new and counts nothing twice.
    assembler.summaries();
    assert_eq!(assembler.held_bytes(), datagrams + sizes);

    // A change drops the trace's summary (and what was counted for it) until asked again.
    let one = |s: &[Arc<Summary>]| {
        s.iter()
            .find(|s| s.id == trace_id(1))
            .unwrap()
            .memory_bytes()
    };
    let late = json!({"type": "subsegment", "name": "late step", "id": id(1, 9), "trace_id": trace_id(1),
                      "parent_id": id(1, 1), "start_time": T0 + 1.001, "end_time": T0 + 1.002});
    let late = datagram(&late);
    assembler.ingest(&late, at(10)).unwrap();
    assert_eq!(
        assembler.held_bytes(),
        datagrams + late.len() + sizes - one(&summaries)
    );
    let again = assembler.summaries();
    let sizes_again: usize = again.iter().map(|s| s.memory_bytes()).sum();
    assert_eq!(assembler.held_bytes(), datagrams + late.len() + sizes_again);

    // A fourth trace forgets the one updated longest ago, summary and all.
    for d in demo_trace(4, false, false, false) {
        assembler.ingest(&d, at(11)).unwrap();
    }
    let two = Arc::clone(again.iter().find(|s| s.id == trace_id(2)).unwrap());
    assert!(assembler.trace(&trace_id(2)).is_none());
    assert_eq!(
        assembler.held_bytes(),
        datagrams + late.len() + sizes_again - demo_bytes(2) - two.memory_bytes() + demo_bytes(4)
    );
    drop(summaries);
    drop(again);
    // What the assembler held of trace 2 is gone with it: only `two` still holds its summary.
    assert_eq!(Arc::strong_count(&two), 1);
}

#[test]
fn summaries_that_pass_the_byte_budget_forget_the_stalest_traces() {
    // Room for the datagrams of four traces, and for a summary or two more: not for four.
    let budget = 4 * demo_bytes(1) + 5000;
    let mut assembler = Assembler::new().with_max_bytes(budget);
    let t = Instant::now();
    for n in 1..=4u32 {
        for d in demo_trace(n, false, false, false) {
            assembler
                .ingest(&d, t + std::time::Duration::from_secs(n.into()))
                .unwrap();
        }
    }
    assert_eq!(assembler.len(), 4);
    let summaries = assembler.summaries();
    assert!(
        assembler.held_bytes() <= budget,
        "{} > {budget}",
        assembler.held_bytes()
    );
    // The newest stay, and only theirs are listed.
    let mut ids: Vec<&str> = summaries.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    let held: Vec<String> = assembler
        .traces()
        .iter()
        .map(|t| t.id().to_owned())
        .collect();
    assert_eq!(ids, held);
    assert!(held.len() < 4 && held.contains(&trace_id(4)), "{held:?}");
    assert_eq!(assembler.stats().evicted, 4 - held.len() as u64);
}

#[test]
fn the_trace_json_has_every_node_with_its_details_and_links() {
    let assembler = demo_set();
    let trace = assembler.trace(&trace_id(2)).unwrap();
    let body: Value = serde_json::from_str(&api::trace(&trace, |id| id == trace_id(999))).unwrap();
    assert_eq!(body["id"], trace_id(2));
    assert_eq!(body["status"], "fault");
    let nodes = body["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 6);
    assert_eq!(nodes[0]["label"], "[checkout]");
    assert_eq!(nodes[0]["annotations"]["order_id"], "42");
    assert_eq!(nodes[0]["http"]["status"], 200);
    assert_eq!(nodes[0]["parent"], Value::Null);
    let billing = nodes.iter().find(|n| n["name"] == "billing").unwrap();
    assert_eq!(billing["status"], "fault");
    assert_eq!(billing["exceptions"][0], "PaymentDeclined: issuer down");
    assert_eq!(billing["links"][0]["trace_id"], trace_id(999));
    assert_eq!(billing["links"][0]["held"], true);
    let parent = billing["parent"].as_u64().unwrap() as usize;
    assert_eq!(nodes[parent]["name"], "EventBridge");
}
