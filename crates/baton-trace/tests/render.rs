//! The views of a small fixed trace, checked as exact text.

mod common;

use baton_trace::{
    Edge, WaterfallOptions, render_html, render_service_map, render_waterfall,
    render_waterfall_with, service_map, write_html,
};
use common::*;
use serde_json::json;

#[test]
fn the_waterfall_of_the_fixed_trace() {
    let expected = "\
trace 1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2b  5 nodes, 2 services, 250.0 ms, FAULT
  started 2020-10-12 21:16:17.000 UTC
                            |0                              250.0 ms|
[checkout]                  |███████████████████████████████████████|   250.0 ms
├─ price order              |██                                     |     6.0 ms
└─ SQS SendMessage (orders) | █████                                 |    25.0 ms
   └─ [fulfilment]          |               █████████████████       |   100.0 ms  FAULT
      └─ save order         |                  ████                 |    20.0 ms  FAULT: DbError: disk full
";
    let got = render_waterfall(&fixed_trace(), 80);
    assert_eq!(got, expected, "got:\n{got}");
    // Every row is exactly as wide as asked, flags aside.
    for line in got.lines().skip(3) {
        let end = line.find(" ms").unwrap() + 3;
        assert_eq!(line[..end].chars().count(), 80, "{line}");
    }
}

#[test]
fn the_ascii_waterfall_at_the_narrowest_width() {
    let expected = "\
trace 1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2b  5 nodes, 2 services, 250.0 ms, FAULT
  started 2020-10-12 21:16:17.000 UTC
                    |0      250.0 ms|
[checkout]          |###############|   250.0 ms
|- price order      |#              |     6.0 ms
`- SQS SendMessage~ |###            |    25.0 ms
   `- [fulfilment]  |     ########  |   100.0 ms  FAULT
      `- save order |       ##      |    20.0 ms  FAULT: DbError: disk full
";
    let options = WaterfallOptions::new(0).with_ascii(true);
    let got = render_waterfall_with(&fixed_trace(), &options);
    assert_eq!(got, expected, "got:\n{got}");
    assert!(got.is_ascii());
}

#[test]
fn orphans_and_running_nodes_are_marked() {
    let assembler = assemble(&[
        datagram(&fulfilment_segment()),
        datagram(&json!({
            "name": "checkout", "id": CHECKOUT, "trace_id": TRACE,
            "start_time": T0, "in_progress": true
        })),
    ]);
    let expected = "\
trace 1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2b  3 nodes, 2 services, 200.0 ms, FAULT, 1 orphan (parent not received)
  started 2020-10-12 21:16:17.000 UTC
                      |0                200.0 ms|
[checkout]            |░░░░░░░░░░░░░░░░░░░░░░░░░|    running
[fulfilment] (orphan) |            █████████████|   100.0 ms  FAULT
└─ save order         |              ████       |    20.0 ms  FAULT: DbError: disk full
";
    let got = render_waterfall(&assembler.trace(TRACE).unwrap(), 60);
    assert_eq!(got, expected, "got:\n{got}");
}

#[test]
fn colours_only_when_asked_and_names_cannot_smuggle_escapes() {
    let mut evil = checkout_segment();
    evil["name"] = json!("check\u{1b}[2Jout");
    let trace = assemble(&[datagram(&evil)]).trace(TRACE).unwrap();
    let plain = render_waterfall(&trace, 80);
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
    assert!(plain.contains("[check?[2Jout]"));
    let coloured = render_waterfall_with(&trace, &WaterfallOptions::new(80).with_colors(true));
    assert!(coloured.contains("\u{1b}[36m"), "a segment bar in cyan");
    assert!(!coloured.contains("\u{1b}[2J"));
}

#[test]
fn the_service_map_of_the_fixed_trace() {
    assert_eq!(
        render_service_map(&fixed_trace()),
        "checkout --SQS SendMessage--> orders --> fulfilment\n"
    );
    let edges = service_map(&fixed_trace());
    assert_eq!(edges.len(), 1);
    let edge: &Edge = &edges[0];
    assert_eq!(edge.from, "checkout");
    assert_eq!(edge.via.as_deref(), Some("SQS SendMessage"));
    assert_eq!(edge.resource.as_deref(), Some("orders"));
    assert_eq!(edge.to.as_deref(), Some("fulfilment"));
}

#[test]
fn the_service_map_dedupes_and_shows_calls_nobody_continued() {
    // checkout publishes to a topic twice (two consumers of the same service, one
    // fulfilment batch each), and reads a table; fulfilment answers a direct HTTP call too.
    let segment = json!({
        "name": "checkout", "id": CHECKOUT, "trace_id": TRACE,
        "start_time": T0, "end_time": T0 + 1.0,
        "subsegments": [
            {"name": "SNS", "id": "1000000000000011", "start_time": T0 + 0.1, "end_time": T0 + 0.2,
             "namespace": "aws",
             "aws": {"operation": "Publish", "topic_arn": "arn:aws:sns:eu-west-1:123456789012:orders-topic"}},
            {"name": "SNS", "id": "1000000000000012", "start_time": T0 + 0.3, "end_time": T0 + 0.4,
             "namespace": "aws",
             "aws": {"operation": "Publish", "topic_arn": "arn:aws:sns:eu-west-1:123456789012:orders-topic"}},
            {"name": "DynamoDB", "id": "1000000000000013", "start_time": T0 + 0.5, "end_time": T0 + 0.6,
             "namespace": "aws", "aws": {"operation": "GetItem", "table_name": "prices"}},
            {"name": "billing", "id": "1000000000000014", "start_time": T0 + 0.7, "end_time": T0 + 0.8,
             "namespace": "remote"}
        ]
    });
    let consumer = |id: &str, parent: &str, start: f64| {
        datagram(&json!({
            "name": "fulfilment", "id": id, "trace_id": TRACE, "parent_id": parent,
            "start_time": T0 + start, "end_time": T0 + start + 0.05
        }))
    };
    // A service called without a call subsegment (its parent is checkout's segment).
    let direct = datagram(&json!({
        "name": "audit", "id": "4000000000000001", "trace_id": TRACE, "parent_id": CHECKOUT,
        "start_time": T0 + 0.05, "end_time": T0 + 0.06
    }));
    let trace = assemble(&[
        datagram(&segment),
        consumer("2000000000000011", "1000000000000011", 0.25),
        consumer("2000000000000012", "1000000000000012", 0.45),
        direct,
    ])
    .trace(TRACE)
    .unwrap();
    assert_eq!(
        render_service_map(&trace),
        "\
checkout --> audit
checkout --SNS Publish--> orders-topic --> fulfilment
checkout --DynamoDB GetItem--> prices
checkout --> billing
"
    );
}

#[test]
fn a_single_service_has_no_edges() {
    let trace = assemble(&[datagram(&price_subsegment())])
        .trace(TRACE)
        .unwrap();
    assert_eq!(render_service_map(&trace), "(no calls between services)\n");
}

#[test]
fn the_html_page_is_self_contained_and_escaped() {
    let mut segment = checkout_segment();
    segment["annotations"] = json!({"note": "<script>alert(1)</script>"});
    let trace = assemble(&[
        datagram(&segment),
        datagram(&price_subsegment()),
        datagram(&fulfilment_segment()),
    ])
    .trace(TRACE)
    .unwrap();
    let html = render_html(&trace);
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.ends_with("</html>\n"));
    assert!(html.contains("<title>Trace 1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2b</title>"));
    assert!(html.contains("<style>"));
    for outside in ["<script", "src=", "href=", "http-equiv"] {
        assert!(!html.contains(outside), "{outside} in the page");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // One row per node, the bars placed on the time axis.
    assert_eq!(html.matches("<div class=\"row ").count(), 5);
    assert!(html.contains("<div class=\"bar\" style=\"left:0.000%;width:100.000%\">"));
    assert!(html.contains("<div class=\"bar\" style=\"left:40.000%;width:40.000%\">"));
    assert!(html.contains("class=\"row seg fault\""));
    assert!(html.contains("checkout --SQS SendMessage--&gt; orders --&gt; fulfilment"));

    let path = std::env::temp_dir().join(format!("baton-trace-{}.html", std::process::id()));
    write_html(&trace, &path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), html);
    std::fs::remove_file(&path).unwrap();
}
