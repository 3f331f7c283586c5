//! The OTLP/HTTP receiver, fed over real TCP: what arrives as OTLP must assemble into the
//! same trace as the daemon exporter's documents of the same spans.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use baton_trace::{Collector, CollectorHandle, Node, NodeKind, Trace};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use prost::Message as _;
use serde_json::{Value, json};

struct Answer {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One request on a connection of its own, as raw HTTP/1.1.
fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    request(addr, "POST", path, headers, body)
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head and a body");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    Answer {
        status: status_line.split(' ').nth(1).unwrap().parse().unwrap(),
        headers: headers.to_owned(),
        body: raw[split + 4..].to_vec(),
    }
}

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");

/// A collector receiving OTLP (and UDP, which these tests also use).
fn collector() -> CollectorHandle {
    Collector::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .with_otlp("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .spawn()
}

/// Spans of two services: `checkout` (on ECS Fargate) answers a request and sends a message
/// to SQS; `fulfilment` receives it, processes it (a child span that fails) and links to the
/// producer. Returned per service with its resource.
fn two_services() -> Vec<(Resource, Vec<SpanData>)> {
    let service = |name: &'static str, platform: Option<&'static str>| {
        let spans = InMemorySpanExporter::default();
        let mut resource = Resource::builder_empty().with_service_name(name);
        if let Some(platform) = platform {
            resource = resource.with_attributes([
                KeyValue::new("cloud.platform", platform),
                KeyValue::new("aws.ecs.launchtype", "fargate"),
            ]);
        }
        let resource = resource.build();
        let provider = SdkTracerProvider::builder()
            .with_id_generator(baton::XrayIdGenerator::default())
            .with_resource(resource.clone())
            .with_simple_exporter(spans.clone())
            .build();
        (provider, spans, resource)
    };
    let (checkout, checkout_spans, checkout_resource) = service("checkout", Some("aws_ecs"));
    let (fulfilment, fulfilment_spans, fulfilment_resource) = service("fulfilment", None);

    let tracer = checkout.tracer("test");
    let request = tracer
        .span_builder("POST /checkout")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("http.response.status_code", 200),
            KeyValue::new("aws.xray.annotation.order_id", "o-42"),
        ])
        .start(&tracer);
    let cx = Context::new().with_span(request);
    let send = tracer
        .span_builder("send orders")
        .with_kind(SpanKind::Producer)
        .with_attributes([
            KeyValue::new("messaging.system", "aws_sqs"),
            KeyValue::new("messaging.destination.name", "orders"),
            KeyValue::new("rpc.method", "SendMessage"),
        ])
        .start_with_context(&tracer, &cx);
    let send_cx = cx.with_span(send);
    let mut carrier = std::collections::HashMap::new();
    baton::XrayPropagator::new().inject_context(&send_cx, &mut carrier);
    send_cx.span().end();
    cx.span().end();

    let tracer = fulfilment.tracer("test");
    let parent = baton::XrayPropagator::new().extract(&carrier);
    let producer = parent.span().span_context().clone();
    let process = tracer
        .span_builder("process orders")
        .with_kind(SpanKind::Consumer)
        .with_links(vec![opentelemetry::trace::Link::with_context(producer)])
        .start_with_context(&tracer, &parent);
    let process_cx = parent.with_span(process);
    let mut save = tracer.start_with_context("save order", &process_cx);
    save.set_status(Status::error("disk full"));
    save.end();
    process_cx.span().end();

    vec![
        (
            checkout_resource,
            checkout_spans.get_finished_spans().unwrap(),
        ),
        (
            fulfilment_resource,
            fulfilment_spans.get_finished_spans().unwrap(),
        ),
    ]
}

/// The OTLP request an OTLP exporter would send for these services' spans (the SDK's own
/// conversion, as `opentelemetry-otlp` uses it).
fn otlp_request(services: &[(Resource, Vec<SpanData>)]) -> ExportTraceServiceRequest {
    let resource_spans: Vec<ResourceSpans> = services
        .iter()
        .flat_map(|(resource, spans)| {
            group_spans_by_resource_and_scope(
                spans.clone(),
                &ResourceAttributesWithSchema::from(resource),
            )
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

/// The same spans through the daemon exporter's conversion, assembled.
async fn via_daemon_documents(services: &[(Resource, Vec<SpanData>)]) -> Trace {
    let mut handle = collector();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for (resource, spans) in services {
        baton_xray::SegmentEncoder::new()
            .with_resource(resource)
            .encode(spans, |datagram| {
                socket
                    .send_to(datagram.as_bytes(), handle.local_addr())
                    .unwrap();
            });
    }
    let trace = handle
        .wait_for(|t| t.len() >= 4, Duration::from_secs(10))
        .await
        .expect("the trace over udp");
    handle.shutdown().await;
    trace
}

fn trace_id(services: &[(Resource, Vec<SpanData>)]) -> String {
    baton_trace::xray_trace_id(services[0].1[0].span_context.trace_id())
}

/// What the comparison looks at: every node's place and content.
fn nodes(trace: &Trace) -> Vec<Node> {
    trace.nodes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_json_and_gzip_assemble_into_the_daemon_path_s_trace() {
    let services = two_services();
    let id = trace_id(&services);
    let expected = via_daemon_documents(&services).await;
    assert_eq!(expected.id(), id);
    // 4 nodes: checkout's segment, its SQS call, fulfilment's segment, its save subsegment.
    assert_eq!(expected.len(), 4);
    let names: Vec<&str> = expected.nodes().iter().map(|n| n.name.as_str()).collect();
    assert!(
        names.contains(&"checkout") && names.contains(&"fulfilment"),
        "{names:?}"
    );

    let request = otlp_request(&services);
    let protobuf = request.encode_to_vec();
    let json = serde_json::to_vec(&request).unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&protobuf).unwrap();
    let gzip = gzip.finish().unwrap();

    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a [u8]);
    let cases: [Case<'_>; 4] = [
        ("protobuf", vec![PROTOBUF], &protobuf),
        ("json", vec![JSON], &json),
        (
            "gzip protobuf",
            vec![PROTOBUF, ("content-encoding", "gzip")],
            &gzip,
        ),
        (
            "protobuf with parameters",
            vec![("content-type", "application/x-protobuf; charset=binary")],
            &protobuf,
        ),
    ];
    for (what, headers, body) in cases {
        let mut handle = collector();
        let otlp = handle.otlp_addr().unwrap();
        let answer = post(otlp, "/v1/traces", &headers, body);
        assert_eq!(
            answer.status,
            200,
            "{what}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let content_type = answer.header("content-type").unwrap().to_owned();
        if what == "json" {
            assert_eq!(content_type, "application/json");
            assert_eq!(answer.json(), json!({}), "{what}: nothing rejected");
        } else {
            assert_eq!(content_type, "application/x-protobuf");
            // An ExportTraceServiceResponse with nothing in it.
            assert!(answer.body.is_empty(), "{what}: {:?}", answer.body);
        }
        let trace = handle
            .wait_for_nodes(&id, expected.len(), Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{what}: the trace"));
        assert_eq!(nodes(&trace), nodes(&expected), "{what}");
        handle.shutdown().await;
    }

    // What the comparison covered, spelled out once.
    let checkout = expected
        .nodes()
        .iter()
        .find(|n| n.name == "checkout")
        .unwrap();
    assert_eq!(checkout.kind, NodeKind::Segment);
    assert_eq!(checkout.origin.as_deref(), Some("AWS::ECS::Fargate"));
    assert_eq!(checkout.annotations["order_id"], json!("o-42"));
    let sqs = expected.nodes().iter().find(|n| n.name == "SQS").unwrap();
    assert_eq!(sqs.namespace.as_deref(), Some("aws"));
    let fulfilment = expected
        .nodes()
        .iter()
        .find(|n| n.name == "fulfilment")
        .unwrap();
    assert_eq!(fulfilment.parent_id.as_deref(), Some(sqs.id.as_str()));
    assert_eq!(fulfilment.origin, None);
    assert_eq!(fulfilment.links.len(), 1);
    let save = expected
        .nodes()
        .iter()
        .find(|n| n.name == "save order")
        .unwrap();
    assert!(save.fault);
}

/// OTLP/JSON as the specification writes it, by hand: hex ids, times as strings, the kind
/// as a number, and fields left out where empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_otlp_json_is_understood() {
    let mut handle = collector();
    let otlp = handle.otlp_addr().unwrap();
    let body = json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "billing"}},
                {"key": "cloud.platform", "value": {"stringValue": "aws_lambda"}}
            ]},
            "scopeSpans": [{
                "scope": {"name": "hand"},
                "spans": [{
                    "traceId": "5f84c7a11f0a3c1e9d2b7c6a5e4f3a2b",
                    "spanId": "1000000000000001",
                    "parentSpanId": "2000000000000001",
                    "flags": 0x300,
                    "name": "charge",
                    "kind": 2,
                    "startTimeUnixNano": "1602537377000000000",
                    "endTimeUnixNano": "1602537377250000000",
                    "attributes": [
                        {"key": "aws.xray.annotation.amount", "value": {"intValue": "125"}},
                        {"key": "tags", "value": {"arrayValue": {"values": [
                            {"stringValue": "a"}, {"stringValue": "b"}
                        ]}}},
                        {"key": "mixed", "value": {"arrayValue": {"values": [
                            {"stringValue": "a"}, {"intValue": 1}
                        ]}}},
                        {"key": "blob", "value": {"bytesValue": "AQI="}}
                    ],
                    "status": {"code": 2, "message": "card declined"}
                }, {
                    "traceId": "5f84c7a11f0a3c1e9d2b7c6a5e4f3a2b",
                    "spanId": "1000000000000002",
                    "parentSpanId": "1000000000000001",
                    "name": "lookup",
                    "kind": 1,
                    "startTimeUnixNano": 1602537377100000000u64,
                    "endTimeUnixNano": 1602537377200000000u64
                }]
            }]
        }]
    });
    let answer = post(otlp, "/v1/traces", &[JSON], body.to_string().as_bytes());
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let trace = handle
        .wait_for_nodes(
            "1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2b",
            2,
            Duration::from_secs(10),
        )
        .await
        .expect("the trace");
    let charge = trace.node("1000000000000001").unwrap();
    // Its parent is remote (flags say so): a segment, named after the service.
    assert_eq!(charge.kind, NodeKind::Segment);
    assert_eq!(charge.name, "billing");
    assert_eq!(charge.parent_id.as_deref(), Some("2000000000000001"));
    assert_eq!(charge.origin.as_deref(), Some("AWS::Lambda::Function"));
    assert_eq!(charge.start, 1_602_537_377.0);
    assert_eq!(charge.end, Some(1_602_537_377.25));
    assert!(charge.fault);
    assert_eq!(charge.annotations["amount"], json!(125));
    let metadata = &charge.metadata["default"];
    assert_eq!(metadata["tags"], json!(["a", "b"]), "{metadata:?}");
    assert_eq!(metadata["mixed"], json!(r#"["a",1]"#));
    assert_eq!(metadata["blob"], json!("0102"));
    assert_eq!(metadata["otel.span.name"], json!("charge"));
    let lookup = trace.node("1000000000000002").unwrap();
    assert_eq!(lookup.kind, NodeKind::Subsegment);
    assert_eq!(lookup.parent_id.as_deref(), Some("1000000000000001"));
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_remote_flag_server_and_consumer_spans_start_segments() {
    let mut handle = collector();
    let otlp = handle.otlp_addr().unwrap();
    let span = |id: &str, kind: u8| {
        json!({
            "traceId": "5f84c7a11f0a3c1e9d2b7c6a5e4f3a2c",
            "spanId": id,
            "parentSpanId": "2000000000000001",
            "name": format!("kind {kind}"),
            "kind": kind,
            "startTimeUnixNano": "1602537377000000000",
            "endTimeUnixNano": "1602537377250000000"
        })
    };
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"spans": [
            span("1000000000000001", 2), // server
            span("1000000000000002", 5), // consumer
            span("1000000000000003", 1), // internal
        ]}]
    }]});
    assert_eq!(
        post(otlp, "/v1/traces", &[JSON], body.to_string().as_bytes()).status,
        200
    );
    let trace = handle
        .wait_for_nodes(
            "1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2c",
            3,
            Duration::from_secs(10),
        )
        .await
        .expect("the trace");
    let kind = |id: &str| trace.node(id).unwrap().kind;
    assert_eq!(kind("1000000000000001"), NodeKind::Segment);
    assert_eq!(kind("1000000000000002"), NodeKind::Segment);
    assert_eq!(kind("1000000000000003"), NodeKind::Subsegment);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_with_invalid_ids_are_rejected_and_the_rest_kept() {
    let mut handle = collector();
    let otlp = handle.otlp_addr().unwrap();
    let span = |trace: &str, id: &str| {
        json!({
            "traceId": trace, "spanId": id, "name": "s", "kind": 2,
            "startTimeUnixNano": "1602537377000000000", "endTimeUnixNano": "1602537377250000000"
        })
    };
    let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        span("5f84c7a11f0a3c1e9d2b7c6a5e4f3a2d", "1000000000000001"),
        span("00000000000000000000000000000000", "1000000000000002"),
        span("5f84c7a11f0a3c1e9d2b7c6a5e4f3a2d", "0000000000000000"),
        span("5f84c7a1", "1000000000000003"),
    ]}]}]});
    let answer = post(otlp, "/v1/traces", &[JSON], body.to_string().as_bytes());
    assert_eq!(answer.status, 200);
    let partial = &answer.json()["partialSuccess"];
    // int64 is a decimal string in proto3's JSON mapping.
    assert_eq!(partial["rejectedSpans"], json!("3"), "{partial}");
    assert!(
        partial["errorMessage"]
            .as_str()
            .unwrap()
            .contains("3 span(s) rejected"),
        "{partial}"
    );
    let trace = handle
        .wait_for_nodes(
            "1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2d",
            1,
            Duration::from_secs(10),
        )
        .await
        .expect("the valid span");
    assert_eq!(trace.len(), 1);
    assert_eq!(handle.traces().len(), 1);

    // Protobuf answers carry the same partial success, encoded.
    let request: ExportTraceServiceRequest = serde_json::from_value(body).unwrap();
    let answer = post(otlp, "/v1/traces", &[PROTOBUF], &request.encode_to_vec());
    assert_eq!(answer.status, 200);
    let response =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(
            &answer.body[..],
        )
        .unwrap();
    assert_eq!(response.partial_success.unwrap().rejected_spans, 3);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_status_saying_why() {
    let mut handle = collector();
    let otlp = handle.otlp_addr().unwrap();

    let answer = post(otlp, "/v1/traces", &[JSON], b"{\"resourceSpans\": 7}");
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["code"], json!(3));
    let message = answer.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("not OTLP/JSON"), "{message}");

    let answer = post(otlp, "/v1/traces", &[PROTOBUF], b"\xff\xff\xff\xff");
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.header("content-type"),
        Some("application/x-protobuf")
    );
    // google.rpc.Status: code 3, then the message.
    assert_eq!(&answer.body[..3], &[0x08, 3, 0x12]);
    let text = String::from_utf8_lossy(&answer.body[4..]).into_owned();
    assert!(
        text.contains("not an OTLP ExportTraceServiceRequest"),
        "{text}"
    );

    let answer = post(otlp, "/v1/traces", &[("content-type", "text/plain")], b"hi");
    assert_eq!(answer.status, 415);
    assert!(
        answer.json()["message"]
            .as_str()
            .unwrap()
            .contains("application/x-protobuf")
    );
    assert_eq!(post(otlp, "/v1/traces", &[], b"").status, 415);

    let answer = post(
        otlp,
        "/v1/traces",
        &[PROTOBUF, ("content-encoding", "br")],
        b"",
    );
    assert_eq!(answer.status, 415);
    let answer = post(
        otlp,
        "/v1/traces",
        &[JSON, ("content-encoding", "gzip")],
        b"not gzip",
    );
    assert_eq!(answer.status, 400);
    assert!(answer.json()["message"].as_str().unwrap().contains("gzip"));

    let answer = post(otlp, "/v1/metrics", &[PROTOBUF], b"");
    assert_eq!(answer.status, 404);
    let answer = request(otlp, "GET", "/v1/traces", &[JSON], b"");
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("POST"));

    // A declared length over the limit is refused before the body is read.
    let mut stream = TcpStream::connect(otlp).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        64u64 << 20
    )
    .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");

    // A gzip bomb: 40 MiB of zeros in a small body, cut off at the limit.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![0u8; 40 << 20]).unwrap();
    let bomb = bomb.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let answer = post(
        otlp,
        "/v1/traces",
        &[PROTOBUF, ("content-encoding", "gzip")],
        &bomb,
    );
    assert_eq!(answer.status, 413);

    assert!(handle.traces().is_empty());
    let stats = handle.shutdown().await;
    assert_eq!(stats.malformed, 0);
}

/// Hostile or odd spans: times at the ends of the range, an end before the start, maps nested
/// as deep as the decoders allow, links with ids of the wrong length, a megabyte of string.
/// Each is taken or refused with a status; the receiver never falls over and keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_spans_are_taken_or_refused_without_harm() {
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, KeyValue as ProtoKeyValue, KeyValueList, any_value,
    };
    use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Span as ProtoSpan, span};

    let mut handle = collector();
    let otlp = handle.otlp_addr().unwrap();

    // A map nested `depth` levels deep.
    let nested = |depth: usize| {
        let mut value = AnyValue {
            value: Some(any_value::Value::StringValue("bottom".into())),
        };
        for _ in 0..depth {
            value = AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![ProtoKeyValue {
                        key_strindex: 0,
                        key: "k".into(),
                        value: Some(value),
                    }],
                })),
            };
        }
        value
    };
    let span = |id: u8, start: u64, end: u64, attributes: Vec<ProtoKeyValue>| ProtoSpan {
        trace_id: vec![
            0x5f, 0x84, 0xc7, 0xa1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ],
        span_id: vec![0x10, 0, 0, 0, 0, 0, 0, id],
        name: format!("span {id}"),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes,
        links: vec![span::Link {
            trace_id: vec![1, 2, 3],
            span_id: vec![4; 9],
            ..Default::default()
        }],
        ..Default::default()
    };
    let spans = vec![
        span(1, u64::MAX, u64::MAX, vec![]),
        span(2, 1_602_537_377_000_000_000, 0, vec![]),
        span(
            3,
            1_602_537_377_000_000_000,
            1_602_537_378_000_000_000,
            vec![
                ProtoKeyValue {
                    key_strindex: 0,
                    key: "deep".into(),
                    value: Some(nested(25)),
                },
                ProtoKeyValue {
                    key_strindex: 0,
                    key: "big".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("x".repeat(1 << 20))),
                    }),
                },
            ],
        ),
    ];
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let answer = post(otlp, "/v1/traces", &[PROTOBUF], &request.encode_to_vec());
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let trace = handle
        .wait_for(|t| t.len() >= 2, Duration::from_secs(10))
        .await
        .expect("the spans that fit a datagram");
    for node in trace.nodes() {
        assert!(node.links.is_empty(), "links with bad ids are left out");
        if let Some(end) = node.end {
            assert!(end >= node.start, "{node:?}");
        }
    }

    // Nested deeper than the decoders go: refused, not a crash.
    let too_deep = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span(
                    4,
                    1,
                    2,
                    vec![ProtoKeyValue {
                        key_strindex: 0,
                        key: "deeper".into(),
                        value: Some(nested(200)),
                    }],
                )],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let answer = post(otlp, "/v1/traces", &[PROTOBUF], &too_deep.encode_to_vec());
    assert_eq!(answer.status, 400);
    let deep_json = format!(
        "{{\"resourceSpans\":[{}]}}",
        "[".repeat(500) + &"]".repeat(500)
    );
    assert_eq!(
        post(otlp, "/v1/traces", &[JSON], deep_json.as_bytes()).status,
        400
    );
    assert_eq!(request_to(otlp, "/").status, 404);

    // Still answering.
    let answer = post(otlp, "/v1/traces", &[JSON], b"{}");
    assert_eq!(answer.status, 200);
    handle.shutdown().await;
}

fn request_to(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, &[], b"")
}
