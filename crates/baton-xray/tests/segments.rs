//! Segment documents, field by field.

mod common;

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use baton::{LinkPolicy, MessagingSpan, MessagingSystem};
use common::*;
use opentelemetry::trace::{
    Link, Span, SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, TraceState, Tracer,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{Value, json};

#[test]
fn root_span_is_a_segment_named_after_the_service() {
    let spans = capture(|tracer| {
        tracer
            .span_builder("handle request")
            .with_kind(SpanKind::Server)
            .start(tracer)
            .end();
    });
    let docs = documents(&encoder(), &spans);
    assert_eq!(docs.len(), 1);
    let doc = &docs[0];
    check_identity(doc, &spans[0]);
    assert_eq!(doc["name"], "orders");
    let trace_id = doc["trace_id"].as_str().unwrap();
    assert!(is_xray_trace_id(trace_id), "{trace_id}");
    assert_eq!(trace_id, xray_trace_id(spans[0].span_context.trace_id()));
    assert!(doc.get("parent_id").is_none(), "a root has no parent");
    assert!(doc.get("type").is_none(), "a segment has no type");
    assert!(doc.get("namespace").is_none());
    assert!(doc.get("error").is_none() && doc.get("fault").is_none());
    assert_eq!(
        doc["metadata"]["default"]["otel.span.name"],
        "handle request"
    );
}

#[test]
fn times_are_epoch_seconds_with_a_fraction() {
    let start = SystemTime::UNIX_EPOCH + Duration::new(1_764_000_000, 123_456_789);
    let spans = capture(|tracer| {
        let mut span = tracer
            .span_builder("timed")
            .with_start_time(start)
            .start(tracer);
        span.end_with_timestamp(start + Duration::from_millis(1500));
    });
    let mut raw = String::new();
    encoder().encode(&spans, |d| raw.push_str(d));
    assert!(raw.contains("\"start_time\":1764000000.123456,"), "{raw}");
    assert!(raw.contains("\"end_time\":1764000001.623456"), "{raw}");
}

#[test]
fn children_in_the_batch_are_embedded_subsegments() {
    let spans = capture(|tracer| {
        let root = tracer
            .span_builder("process orders")
            .with_kind(SpanKind::Consumer)
            .start(tracer);
        let cx = Context::new().with_span(root);
        let work = tracer.start_with_context("validate", &cx);
        let work_cx = cx.with_span(work);
        tracer
            .span_builder("lookup")
            .with_kind(SpanKind::Internal)
            .start_with_context(tracer, &work_cx)
            .end();
        work_cx.span().end();
        cx.span().end();
    });
    assert_eq!(spans.len(), 3);
    let docs = documents(&encoder(), &spans);
    assert_eq!(docs.len(), 1, "one document for the whole batch");
    let segment = &docs[0];
    check_identity(segment, span(&spans, "process orders"));
    let validate = &segment["subsegments"][0];
    check_identity(validate, span(&spans, "validate"));
    assert_eq!(validate["name"], "validate");
    assert!(
        validate.get("namespace").is_none(),
        "internal work has no namespace"
    );
    assert!(validate.get("trace_id").is_none() && validate.get("parent_id").is_none());
    let lookup = &validate["subsegments"][0];
    check_identity(lookup, span(&spans, "lookup"));
    assert!(lookup.get("subsegments").is_none());
}

#[test]
fn a_remote_parent_becomes_the_segments_parent_id() {
    let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let spans = capture(|tracer| {
        let producer = baton::extract_header(&Context::new(), header, "AWSTraceHeader");
        MessagingSpan::process(MessagingSystem::Sqs, "orders")
            .start_process(tracer, &producer, LinkPolicy::Parent)
            .end();
    });
    let doc = &documents(&encoder(), &spans)[0];
    check_identity(doc, &spans[0]);
    assert_eq!(doc["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
    assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
    assert!(doc.get("type").is_none(), "still a segment");
    assert_eq!(doc["name"], "orders");
    assert_eq!(doc["metadata"]["default"]["messaging.system"], "aws_sqs");
    // `messaging.operation.name` is the generic `process` here: no AWS API was called, so
    // it is no `aws.operation`.
    assert_eq!(
        doc["metadata"]["default"]["messaging.operation.name"],
        "process"
    );
    assert!(doc["aws"].get("operation").is_none(), "{doc}");
}

#[test]
fn a_child_without_its_parent_is_an_independent_subsegment() {
    let spans = capture(|tracer| {
        let root = tracer.start("root");
        let cx = Context::new().with_span(root);
        tracer.start_with_context("child", &cx).end();
        cx.span().end();
    });
    let child = span(&spans, "child").clone();
    let root = span(&spans, "root");
    let docs = documents(&encoder(), std::slice::from_ref(&child));
    assert_eq!(docs.len(), 1);
    let doc = &docs[0];
    check_identity(doc, &child);
    assert_eq!(doc["type"], "subsegment");
    assert_eq!(doc["parent_id"], hex_id(root.span_context.span_id()));
    assert_eq!(
        doc["trace_id"],
        xray_trace_id(root.span_context.trace_id()).as_str()
    );
}

#[test]
fn an_sqs_send_is_an_aws_subsegment() {
    let spans = capture(|tracer| {
        let root = tracer.start("checkout");
        let cx = Context::new().with_span(root);
        let mut send = MessagingSpan::send(MessagingSystem::Sqs, "orders")
            .operation_name("SendMessage")
            .region("eu-west-1")
            .attribute(
                "aws.sqs.queue.url",
                "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
            )
            .start(tracer, &cx);
        send.set_attribute(KeyValue::new(baton::attr::AWS_REQUEST_ID, "req-1"));
        send.end();
        cx.span().end();
    });
    let doc = &documents(&encoder(), &spans)[0];
    let send = &doc["subsegments"][0];
    check_identity(send, span(&spans, "send orders"));
    assert_eq!(send["namespace"], "aws");
    assert_eq!(send["name"], "SQS");
    assert_eq!(
        send["aws"],
        json!({
            "operation": "SendMessage",
            "region": "eu-west-1",
            "request_id": "req-1",
            "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
        })
    );
    assert_eq!(send["metadata"]["default"]["otel.span.name"], "send orders");
    assert_eq!(
        send["metadata"]["default"]["messaging.destination.name"],
        "orders"
    );
}

#[test]
fn an_aws_api_client_span_names_its_service() {
    let spans = capture(|tracer| {
        let root = tracer.start("root");
        let cx = Context::new().with_span(root);
        tracer
            .span_builder("DynamoDB.GetItem")
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("rpc.system", "aws-api"),
                KeyValue::new("rpc.service", "DynamoDB"),
                KeyValue::new("rpc.method", "GetItem"),
                KeyValue::new("cloud.region", "us-east-1"),
            ])
            .start_with_context(tracer, &cx)
            .end();
        cx.span().end();
    });
    let call = &documents(&encoder(), &spans)[0]["subsegments"][0];
    assert_eq!(call["namespace"], "aws");
    assert_eq!(call["name"], "DynamoDB");
    assert_eq!(call["aws"]["operation"], "GetItem");
    assert_eq!(call["aws"]["region"], "us-east-1");
}

#[test]
fn other_client_spans_are_remote() {
    let spans = capture(|tracer| {
        let root = tracer.start("root");
        let cx = Context::new().with_span(root);
        tracer
            .span_builder("GET")
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.full", "https://api.example.com/items?id=1"),
                KeyValue::new("server.address", "api.example.com"),
                KeyValue::new("http.response.status_code", 200),
            ])
            .start_with_context(tracer, &cx)
            .end();
        cx.span().end();
    });
    let call = &documents(&encoder(), &spans)[0]["subsegments"][0];
    assert_eq!(call["namespace"], "remote");
    assert_eq!(call["name"], "api.example.com");
    assert_eq!(
        call["http"],
        json!({
            "request": {"method": "GET", "url": "https://api.example.com/items?id=1"},
            "response": {"status": 200},
        })
    );
    assert!(call.get("aws").is_none());
    assert!(call.get("error").is_none() && call.get("fault").is_none());
}

/// A root span with `attributes` and `status`, and its document.
fn outcome(attributes: Vec<KeyValue>, status: Status) -> Value {
    let spans = capture(|tracer| {
        let mut span = tracer
            .span_builder("call")
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start(tracer);
        span.set_status(status);
        span.end();
    });
    documents(&encoder(), &spans).remove(0)
}

#[test]
fn error_throttle_and_fault_flags() {
    let code = |c: i64| vec![KeyValue::new("http.response.status_code", c)];
    #[rustfmt::skip]
    let cases: Vec<(Vec<KeyValue>, Status, [bool; 3])> = vec![
        // attributes                                 status                    [error, throttle, fault]
        (code(200),                                   Status::Unset,            [false, false, false]),
        (code(404),                                   Status::Unset,            [true,  false, false]),
        (code(429),                                   Status::Unset,            [true,  true,  false]),
        (code(503),                                   Status::error("down"),    [false, false, true]),
        (vec![KeyValue::new("http.status_code", 400)], Status::error("bad"),    [true,  false, false]),
        (vec![],                                      Status::error("boom"),    [false, false, true]),
        (vec![KeyValue::new("error.type", "ThrottlingException")],
                                                      Status::error("slow down"), [true, true, false]),
        (vec![],                                      Status::Ok,               [false, false, false]),
    ];
    for (attributes, status, [error, throttle, fault]) in cases {
        let label = format!("{attributes:?} {status:?}");
        let doc = outcome(attributes, status);
        assert_eq!(doc.get("error").is_some(), error, "error for {label}");
        assert_eq!(
            doc.get("throttle").is_some(),
            throttle,
            "throttle for {label}"
        );
        assert_eq!(doc.get("fault").is_some(), fault, "fault for {label}");
        for flag in ["error", "throttle", "fault"] {
            if let Some(v) = doc.get(flag) {
                assert_eq!(v, true, "flags are written only as true");
            }
        }
    }
}

#[test]
fn an_error_status_and_exception_events_become_the_cause() {
    let spans = capture(|tracer| {
        let mut span = tracer.start("fail");
        span.add_event(
            "exception",
            vec![
                KeyValue::new("exception.type", "std::io::Error"),
                KeyValue::new("exception.message", "connection reset"),
            ],
        );
        span.set_attribute(KeyValue::new("error.type", "QueueDoesNotExist"));
        span.set_status(Status::error("the queue does not exist"));
        span.end();
    });
    let doc = &documents(&encoder(), &spans)[0];
    let exceptions = doc["cause"]["exceptions"].as_array().unwrap();
    assert_eq!(exceptions.len(), 2);
    assert_eq!(exceptions[0]["message"], "connection reset");
    assert_eq!(exceptions[0]["type"], "std::io::Error");
    assert_eq!(exceptions[1]["message"], "the queue does not exist");
    assert_eq!(exceptions[1]["type"], "QueueDoesNotExist");
    let ids: Vec<&str> = exceptions
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| is_hex(id, 16)));
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn annotations_keep_allowed_types_and_send_the_rest_to_metadata() {
    let spans = capture(|tracer| {
        let mut span = tracer.start("annotated");
        for kv in [
            KeyValue::new("aws.xray.annotation.customer", "c-7"),
            KeyValue::new("aws.xray.annotation.items", 3),
            KeyValue::new("aws.xray.annotation.total", 12.5),
            KeyValue::new("aws.xray.annotation.priority", true),
            // Rejected: a dot in the key, an array, a string over 1,000 characters, NaN.
            KeyValue::new("aws.xray.annotation.bad.key", "x"),
            KeyValue::new(
                "aws.xray.annotation.list",
                opentelemetry::Value::Array(opentelemetry::Array::I64(vec![1, 2])),
            ),
            KeyValue::new("aws.xray.annotation.long", "x".repeat(1001)),
            KeyValue::new("aws.xray.annotation.nan", f64::NAN),
            KeyValue::new("plain", "attribute"),
        ] {
            span.set_attribute(kv);
        }
        span.end();
    });
    let doc = &documents(&encoder(), &spans)[0];
    assert_eq!(
        doc["annotations"],
        json!({"customer": "c-7", "items": 3, "total": 12.5, "priority": true})
    );
    for value in doc["annotations"].as_object().unwrap().values() {
        assert!(value.is_string() || value.is_number() || value.is_boolean());
    }
    let metadata = &doc["metadata"]["default"];
    assert_eq!(metadata["aws.xray.annotation.bad.key"], "x");
    assert_eq!(metadata["aws.xray.annotation.list"], json!([1, 2]));
    assert_eq!(
        metadata["aws.xray.annotation.long"].as_str().map(str::len),
        Some(1001)
    );
    assert_eq!(metadata["aws.xray.annotation.nan"], "NaN");
    assert_eq!(metadata["plain"], "attribute");
    assert!(metadata.get("aws.xray.annotation.customer").is_none());
}

#[test]
fn at_most_fifty_annotations_per_span() {
    let spans = capture(|tracer| {
        let mut span = tracer.start("many");
        for i in 0..60 {
            span.set_attribute(KeyValue::new(format!("aws.xray.annotation.k{i}"), i));
        }
        span.end();
    });
    let doc = &documents(&encoder(), &spans)[0];
    let annotations = doc["annotations"].as_object().unwrap();
    assert_eq!(annotations.len(), 50);
    assert_eq!(annotations["k49"], 49);
    let metadata = &doc["metadata"]["default"];
    assert_eq!(metadata["aws.xray.annotation.k50"], 50);
    assert_eq!(metadata["aws.xray.annotation.k59"], 59);
    assert!(metadata.get("aws.xray.annotation.k0").is_none());
}

#[test]
fn metadata_keeps_attribute_types() {
    let spans = capture(|tracer| {
        tracer
            .span_builder("typed")
            .with_attributes([
                KeyValue::new("s", "text \"quoted\"\n"),
                KeyValue::new("i", -7),
                KeyValue::new("f", 0.25),
                KeyValue::new("b", false),
                KeyValue::new(
                    "strings",
                    opentelemetry::Value::Array(opentelemetry::Array::String(vec![
                        "a".into(),
                        "b".into(),
                    ])),
                ),
            ])
            .start(tracer)
            .end();
    });
    let metadata = &documents(&encoder(), &spans)[0]["metadata"]["default"];
    assert_eq!(metadata["s"], "text \"quoted\"\n");
    assert_eq!(metadata["i"], -7);
    assert_eq!(metadata["f"], 0.25);
    assert_eq!(metadata["b"], false);
    assert_eq!(metadata["strings"], json!(["a", "b"]));
}

#[test]
fn span_links_become_xray_links() {
    let producer = SpanContext::new(
        opentelemetry::trace::TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap(),
        opentelemetry::trace::SpanId::from_hex("53995c3f42cd8ad8").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let spans = capture(|tracer| {
        tracer
            .span_builder("receive orders")
            .with_kind(SpanKind::Consumer)
            .with_links(vec![
                Link::with_context(producer.clone()),
                Link::new(
                    producer.clone(),
                    vec![KeyValue::new("messaging.message.id", "m-1")],
                    0,
                ),
            ])
            .start(tracer)
            .end();
    });
    let doc = &documents(&encoder(), &spans)[0];
    assert_eq!(
        doc["links"],
        json!([
            {"trace_id": "1-5759e988-bd862e3fe1be46a994272793", "id": "53995c3f42cd8ad8"},
            {
                "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
                "id": "53995c3f42cd8ad8",
                "attributes": {"messaging.message.id": "m-1"}
            },
        ])
    );
}

#[test]
fn names_are_sanitized_and_bounded() {
    let spans = capture(|tracer| {
        let root = tracer.start("root");
        let cx = Context::new().with_span(root);
        tracer
            .start_with_context("GET /items/{id} <script>", &cx)
            .end();
        tracer
            .start_with_context(Cow::Owned("n".repeat(300)), &cx)
            .end();
        cx.span().end();
    });
    let subs = &documents(&encoder(), &spans)[0]["subsegments"];
    assert_eq!(subs[0]["name"], "GET /items/id script");
    assert_eq!(subs[1]["name"].as_str().unwrap().len(), 200);
}

#[test]
fn segments_take_the_resource_service_name() {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    let daemon = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    daemon
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let exporter = baton_xray::XrayExporter::builder()
        .with_daemon_address(daemon.local_addr().unwrap().to_string())
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("checkout").build())
        .with_simple_exporter(exporter)
        .build();
    provider.tracer("t").start("work").end();
    let mut buf = vec![0u8; 65536];
    let len = daemon.recv(&mut buf).unwrap();
    let doc = parse_datagram(std::str::from_utf8(&buf[..len]).unwrap());
    assert_eq!(doc["name"], "checkout");
    provider.shutdown().unwrap();
}

/// A `SpanData` made by hand (for shapes a provider will not make).
fn hand_made(span_id: u64, parent: u64, name: &'static str) -> SpanData {
    let trace_id =
        opentelemetry::trace::TraceId::from_hex("6925f000bd862e3fe1be46a994272793").unwrap();
    let start = SystemTime::now();
    SpanData {
        span_context: SpanContext::new(
            trace_id,
            opentelemetry::trace::SpanId::from_bytes(span_id.to_be_bytes()),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: opentelemetry::trace::SpanId::from_bytes(parent.to_be_bytes()),
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Borrowed(name),
        start_time: start,
        end_time: start + Duration::from_millis(1),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: Default::default(),
        links: Default::default(),
        status: Status::Unset,
        instrumentation_scope: Default::default(),
    }
}

#[test]
fn a_span_too_large_for_a_datagram_is_sent_without_details() {
    let mut span = hand_made(1, 0, "huge");
    span.attributes
        .push(KeyValue::new("payload", "x".repeat(200_000)));
    let exporter = encoder();
    let mut sizes = Vec::new();
    let mut docs = Vec::new();
    exporter.encode(std::slice::from_ref(&span), |d| {
        sizes.push(d.len());
        docs.push(parse_datagram(d));
    });
    assert_eq!(docs.len(), 1);
    assert!(sizes[0] < 64 * 1024);
    assert_eq!(docs[0]["id"], "0000000000000001");
    assert_eq!(docs[0]["metadata"], json!({"baton": {"truncated": true}}));
}

#[test]
fn a_deep_chain_is_split_without_losing_spans() {
    // 3,000 spans, each the parent of the next: far more than one datagram holds.
    let spans: Vec<SpanData> = (1..=3000u64)
        .map(|i| hand_made(i, i - 1, "link in a long chain of calls"))
        .collect();
    let exporter = encoder();
    let mut ids = Vec::new();
    let mut count = 0;
    exporter.encode(&spans, |d| {
        assert!(d.len() < 64 * 1024, "datagram of {} bytes", d.len());
        let doc = parse_datagram(d);
        if count > 0 {
            assert_eq!(doc["type"], "subsegment");
            assert!(is_hex(doc["parent_id"].as_str().unwrap(), 16));
        }
        assert!(is_xray_trace_id(doc["trace_id"].as_str().unwrap()));
        ids_in(&doc, &mut ids);
        count += 1;
    });
    assert!(count > 1, "split into several datagrams");
    assert_eq!(ids.len(), 3000, "every span once");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3000, "no span twice");
}

#[test]
fn no_datagram_exceeds_the_limit_whatever_the_shape() {
    // A wide trace (a root with 400 children) and a deep one (a chain of 400), under
    // several limits: every datagram fits exactly, and every span is sent once.
    let wide: Vec<SpanData> = std::iter::once(hand_made(1, 0, "root"))
        .chain((2..=401u64).map(|i| hand_made(i, 1, "child with a fairly long name")))
        .collect();
    let deep: Vec<SpanData> = (1..=400u64).map(|i| hand_made(i, i - 1, "link")).collect();
    for spans in [&wide, &deep] {
        // Consecutive limits, so that some documents fill their datagram to the byte.
        for limit in (1024..1124).chain([1500, 4096, 9000, 64_000]) {
            let exporter = baton_xray::XrayExporter::builder()
                .with_daemon_address("127.0.0.1:9")
                .with_max_datagram_size(limit)
                .build()
                .unwrap();
            let mut ids = Vec::new();
            exporter.encode(spans, |d| {
                assert!(
                    d.len() <= limit,
                    "{} bytes over a limit of {limit}",
                    d.len()
                );
                ids_in(&parse_datagram(d), &mut ids);
            });
            ids.sort();
            let before = ids.len();
            ids.dedup();
            assert_eq!(
                (before, ids.len()),
                (spans.len(), spans.len()),
                "limit {limit}"
            );
        }
    }
}

#[test]
fn a_call_that_starts_a_trace_gets_a_segment_and_a_subsegment() {
    // A script sends a message with no span around the send.
    let spans = capture(|tracer| {
        let mut send = MessagingSpan::send(MessagingSystem::Sqs, "orders")
            .operation_name("SendMessage")
            .region("eu-west-1")
            .start(tracer, &Context::new());
        send.set_attribute(KeyValue::new("aws.xray.annotation.batch", "b-1"));
        send.set_status(Status::error("access denied"));
        send.end();
    });
    let send = &spans[0];
    let docs = documents(&encoder(), &spans);
    assert_eq!(docs.len(), 1);
    let segment = &docs[0];
    let subs = segment["subsegments"].as_array().unwrap();
    assert_eq!(subs.len(), 1);
    // The call keeps the span's id: it is the `Parent=` the message carried downstream, so
    // the consumer's segment hangs under the call. The caller's segment gets a derived id.
    check_identity(&subs[0], send);
    let segment_id = segment["id"].as_str().unwrap();
    assert!(is_hex(segment_id, 16));
    assert_ne!(segment_id, hex_id(send.span_context.span_id()));
    assert_eq!(segment["name"], "orders");
    assert!(segment.get("namespace").is_none() && segment.get("aws").is_none());
    assert_eq!(segment["annotations"]["batch"], "b-1");
    assert_eq!(segment["fault"], true);
    let call = &subs[0];
    assert_eq!(call["name"], "SQS");
    assert_eq!(call["namespace"], "aws");
    assert_eq!(call["aws"]["operation"], "SendMessage");
    assert_eq!(call["start_time"], segment["start_time"]);
    assert_eq!(call["end_time"], segment["end_time"]);
    assert_eq!(call["fault"], true);
    assert_eq!(call["cause"]["exceptions"][0]["message"], "access denied");
    assert!(call.get("annotations").is_none());
}

#[test]
fn a_batch_entry_is_no_operation_of_its_own() {
    // A SendMessageBatch of two entries under a caller's span: X-Ray should count one
    // SendMessageBatch, not three.
    let spans = capture(|tracer| {
        let handle = baton::TracerHandle::new(tracer.clone());
        let root = Context::new().with_span(tracer.start("checkout"));
        let mut call = baton::SendSpans::<u32>::start(
            &handle,
            MessagingSystem::Sqs,
            "orders".to_owned(),
            "SendMessageBatch",
            Some(2),
            Some("eu-west-1"),
            &root,
            [],
        );
        for key in 0..2 {
            let entry = call.start_entry(&handle, MessagingSystem::Sqs, "orders".to_owned());
            call.push_entry(key, entry);
        }
        call.finish(Ok(baton::SendOutcome::new(Some("req-1"))), |_| {
            baton::EntryOutcome::Sent(Some("m"))
        });
        root.span().end();
    });
    let docs = documents(&encoder(), &spans);
    let mut operations = Vec::new();
    fn walk(doc: &Value, out: &mut Vec<Option<String>>) {
        if doc.get("namespace").is_some() {
            out.push(doc["aws"]["operation"].as_str().map(str::to_owned));
        }
        for sub in doc["subsegments"].as_array().into_iter().flatten() {
            walk(sub, out);
        }
    }
    for doc in &docs {
        walk(doc, &mut operations);
    }
    operations.sort();
    assert_eq!(
        operations,
        [None, None, Some("SendMessageBatch".to_owned())],
        "{docs:#?}"
    );
}
