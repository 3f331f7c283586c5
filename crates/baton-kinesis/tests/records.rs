//! PutRecord, PutRecords and GetRecords against a stub HTTP client: the exact data the SDK
//! sends, the spans, both forms; the consumer side (context, strip).

use std::sync::Mutex;

use aws_sdk_kinesis::operation::put_records::PutRecordsInput;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_smithy_types::base64;
use baton_kinesis::{KinesisPropagation, KinesisRecord, KinesisRequest, KinesisResponse};
use baton_test_support::{Reply, Request, Responder, Shape, Spans, header_of, pairs, sdk_config};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, SpanKind, Status, TraceContextExt};
use serde_json::{Value, json};
use tower::{Service, ServiceExt};

/// Answers like Kinesis: sequence numbers `seq-0`, `seq-1`, … (record `fail` of a PutRecords
/// refused), and GetRecords with the records it was given.
#[derive(Debug, Default)]
struct Kinesis {
    fail: Mutex<Option<usize>>,
    records: Mutex<Vec<Vec<u8>>>,
}

impl Responder for Kinesis {
    fn respond(&self, request: &Request<'_>) -> Reply {
        let body: Value = serde_json::from_str(request.body()).unwrap();
        let reply = match request.operation() {
            "PutRecord" => json!({"ShardId": "shardId-000000000000", "SequenceNumber": "seq-0"}),
            "PutRecords" => {
                let fail = *self.fail.lock().unwrap();
                let count = body["Records"].as_array().map_or(0, Vec::len);
                let records: Vec<Value> = (0..count)
                    .map(|i| match Some(i) == fail {
                        true => json!({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"}),
                        false => json!({"ShardId": "shardId-000000000000", "SequenceNumber": format!("seq-{i}")}),
                    })
                    .collect();
                json!({"FailedRecordCount": usize::from(fail.is_some()), "Records": records})
            }
            "GetRecords" if body["ShardIterator"] == "expired" => {
                return Reply::new(
                    400,
                    json!({"__type": "ExpiredIteratorException", "message": "Iterator expired"})
                        .to_string(),
                );
            }
            "GetRecords" => {
                let records: Vec<Value> = self
                    .records
                    .lock()
                    .unwrap()
                    .iter()
                    .enumerate()
                    .map(|(i, data)| {
                        json!({
                            "SequenceNumber": format!("seq-{i}"),
                            "ApproximateArrivalTimestamp": 1.7e9,
                            "Data": base64::encode(data),
                            "PartitionKey": "k",
                        })
                    })
                    .collect();
                json!({"Records": records, "NextShardIterator": "it-2", "MillisBehindLatest": 0})
            }
            other => panic!("unexpected operation {other}"),
        };
        Reply::ok(reply.to_string())
    }

    fn headers(&self) -> &[(&'static str, &'static str)] {
        &[
            ("x-amzn-requestid", "req-1"),
            ("content-type", "application/x-amz-json-1.1"),
        ]
    }
}

type Stub = baton_test_support::Stub<Kinesis>;

const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

fn propagation(spans: &Spans) -> KinesisPropagation {
    KinesisPropagation::new().with_tracer(spans.handle())
}

fn intercepted(stub: &Stub, config: &KinesisPropagation) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::from_conf(
        sdk_config!(aws_sdk_kinesis, stub)
            .interceptor(config.interceptor())
            .build(),
    )
}

fn plain(stub: &Stub) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::from_conf(sdk_config!(aws_sdk_kinesis, stub).build())
}

/// The data of each record of request `index`, decoded, as sent.
fn sent_data(stub: &Stub, index: usize) -> Vec<Vec<u8>> {
    let body: Value = serde_json::from_str(stub.request(index).body()).unwrap();
    match body.get("Records") {
        Some(records) => records
            .as_array()
            .unwrap()
            .iter()
            .map(|r| base64::decode(r["Data"].as_str().unwrap()).unwrap())
            .collect(),
        None => vec![base64::decode(body["Data"].as_str().unwrap()).unwrap()],
    }
}

fn text(data: &[u8]) -> &str {
    std::str::from_utf8(data).unwrap()
}

fn entry(data: &[u8]) -> PutRecordsRequestEntry {
    PutRecordsRequestEntry::builder()
        .data(Blob::new(data))
        .partition_key("user-7")
        .build()
        .unwrap()
}

fn put_records(datas: &[&[u8]]) -> PutRecordsInput {
    PutRecordsInput::builder()
        .stream_name("clicks")
        .set_records(Some(datas.iter().map(|d| entry(d)).collect()))
        .build()
        .unwrap()
}

/// Sends `input` through the interceptor form, or through `service(client)`.
async fn send(
    stub: &Stub,
    config: &KinesisPropagation,
    input: KinesisRequest,
    tower: bool,
    cx: Context,
) {
    if tower {
        let mut service = config.service(plain(stub));
        let ready = service.ready().await.unwrap();
        // The Tower form takes the caller's context when `call` is made.
        let call = {
            let _caller = cx.attach();
            ready.call(input)
        };
        call.await.unwrap();
        return;
    }
    let client = intercepted(stub, config);
    match input {
        KinesisRequest::PutRecord(i) => {
            client
                .put_record()
                .set_stream_name(i.stream_name)
                .set_partition_key(i.partition_key)
                .set_data(i.data)
                .send()
                .with_context(cx)
                .await
                .unwrap();
        }
        KinesisRequest::PutRecords(i) => {
            client
                .put_records()
                .set_stream_name(i.stream_name)
                .set_records(i.records)
                .send()
                .with_context(cx)
                .await
                .unwrap();
        }
        KinesisRequest::GetRecords(i) => {
            client
                .get_records()
                .set_shard_iterator(i.shard_iterator)
                .set_stream_arn(i.stream_arn)
                .send()
                .with_context(cx)
                .await
                .unwrap();
        }
        _ => unreachable!(),
    }
}

fn put_record(data: &[u8]) -> KinesisRequest {
    aws_sdk_kinesis::operation::put_record::PutRecordInput::builder()
        .stream_name("clicks")
        .partition_key("user-7")
        .data(Blob::new(data))
        .build()
        .unwrap()
        .into()
}

#[tokio::test]
async fn put_record_carries_the_send_span_in_json_data_in_both_forms() {
    let original = br#"{ "page" : "/cart", "n": 1.50 }"#;
    let mut shapes: Vec<Vec<Shape>> = Vec::new();
    for tower in [false, true] {
        let stub = Stub::default();
        let spans = Spans::new();
        let config = propagation(&spans).with_data_field("traceHeader");
        send(
            &stub,
            &config,
            put_record(original),
            tower,
            spans.caller(true),
        )
        .await;
        let send_span = spans.one("send clicks");
        // Only the member is inserted; every other byte is the caller's.
        assert_eq!(
            text(&sent_data(&stub, 0)[0]),
            format!(
                r#"{{"traceHeader":"{}", "page" : "/cart", "n": 1.50 }}"#,
                header_of(&send_span)
            )
        );
        assert_eq!(send_span.span_kind, SpanKind::Producer);
        shapes.push(spans.shapes_except("caller"));
    }
    let expected: Shape = (
        "send clicks".into(),
        SpanKind::Producer,
        pairs(&[
            ("messaging.system", "aws_kinesis"),
            ("messaging.operation.type", "send"),
            ("messaging.operation.name", "PutRecord"),
            ("messaging.destination.name", "clicks"),
            ("cloud.region", baton_test_support::REGION),
            ("aws.kinesis.stream_name", "clicks"),
            ("server.address", "stub.invalid"),
            ("messaging.message.id", "seq-0"),
            ("aws.request_id", "req-1"),
        ]),
        0,
        Status::Unset,
        true,
    );
    assert_eq!(shapes[0], vec![expected]);
    assert_eq!(shapes[0], shapes[1], "the two forms make the same span");
}

#[tokio::test]
async fn without_the_data_field_the_data_is_never_touched() {
    for tower in [false, true] {
        let stub = Stub::default();
        let spans = Spans::new();
        let data = br#"{"page":"/cart"}"#;
        send(
            &stub,
            &propagation(&spans),
            put_record(data),
            tower,
            spans.caller(true),
        )
        .await;
        send(
            &stub,
            &propagation(&spans),
            put_records(&[data, data]).into(),
            tower,
            spans.caller(true),
        )
        .await;
        assert_eq!(sent_data(&stub, 0), vec![data.to_vec()]);
        assert_eq!(sent_data(&stub, 1), vec![data.to_vec(), data.to_vec()]);
        // Spans all the same; no `create` spans, as nothing carries their context.
        assert_eq!(spans.named("send clicks").len(), 2);
        assert!(spans.named("create clicks").is_empty());
    }
}

#[tokio::test]
async fn put_records_gives_each_record_its_own_context_and_keeps_what_it_cannot_extend() {
    for tower in [false, true] {
        let stub = Stub::default();
        stub.responder().fail.lock().unwrap().replace(2);
        let spans = Spans::new();
        let config = propagation(&spans).with_data_field("traceHeader");
        let theirs = format!(r#"{{"traceHeader":"{HEADER}","n":3}}"#);
        let binary: &[u8] = &[0xF3, 0x89, 0x9A, 0xC2, 0x00, 0xFF];
        let datas: [&[u8]; 6] = [
            br#"{"n":0}"#,
            b"plain text",
            br#"{"n":2}"#,
            theirs.as_bytes(),
            binary,
            b"{}",
        ];
        send(
            &stub,
            &config,
            put_records(&datas).into(),
            tower,
            spans.caller(true),
        )
        .await;
        let sent = sent_data(&stub, 0);
        let send_span = spans.one("send clicks");
        let creates = spans.named("create clicks");
        // A create span per record that carries it, in order: 0, 2, 5 (not the caller's own
        // trace, not data that cannot carry one).
        assert_eq!(creates.len(), 3);
        for create in &creates {
            assert_eq!(create.parent_span_id, send_span.span_context.span_id());
            assert_eq!(create.span_kind, SpanKind::Producer);
        }
        assert_eq!(
            text(&sent[0]),
            format!(r#"{{"traceHeader":"{}","n":0}}"#, header_of(&creates[0]))
        );
        assert_eq!(sent[1], b"plain text");
        assert_eq!(
            text(&sent[2]),
            format!(r#"{{"traceHeader":"{}","n":2}}"#, header_of(&creates[1]))
        );
        assert_eq!(text(&sent[3]), theirs, "the caller's own trace is kept");
        assert_eq!(sent[4], binary);
        assert_eq!(
            text(&sent[5]),
            format!(r#"{{"traceHeader":"{}"}}"#, header_of(&creates[2]))
        );
        // The refused record's span says why; the send span counts it.
        assert_eq!(creates[1].status, Status::error("Rate exceeded"));
        assert!(
            creates[1]
                .attributes
                .iter()
                .any(|kv| kv.key.as_str() == "error.type"
                    && kv.value.as_str() == "ProvisionedThroughputExceededException")
        );
        assert!(creates[0].attributes.iter().any(|kv| kv.key.as_str() == "messaging.message.id"
            && kv.value.as_str() == "seq-0"));
        assert_eq!(send_span.status, Status::error("1 of 6 entries failed"));
    }
}

#[tokio::test]
async fn refused_records_are_recorded_by_their_codes_without_create_spans() {
    // The data field off: no create spans, and the send span still names the refusal.
    let stub = Stub::default();
    stub.responder().fail.lock().unwrap().replace(1);
    let spans = Spans::new();
    let data: &[u8] = br#"{"n":1}"#;
    let input = put_records(&[data, data, data]);
    send(
        &stub,
        &propagation(&spans),
        input.into(),
        false,
        spans.caller(true),
    )
    .await;
    let send_span = spans.one("send clicks");
    assert_eq!(send_span.status, Status::error("1 of 3 entries failed"));
    assert!(
        send_span
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "error.type"
                && kv.value.as_str() == "ProvisionedThroughputExceededException")
    );

    // A lone refused record: the send span is its span, with the service's message.
    let stub = Stub::default();
    stub.responder().fail.lock().unwrap().replace(0);
    let spans = Spans::new();
    let config = propagation(&spans).with_data_field("traceHeader");
    send(
        &stub,
        &config,
        put_records(&[data]).into(),
        false,
        spans.caller(true),
    )
    .await;
    let send_span = spans.one("send clicks");
    assert_eq!(send_span.status, Status::error("Rate exceeded"));
    assert!(
        send_span
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "error.type"
                && kv.value.as_str() == "ProvisionedThroughputExceededException")
    );
    assert!(
        !send_span
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "messaging.message.id")
    );
}

#[tokio::test]
async fn the_partition_key_counts_against_the_record_limit() {
    let stub = Stub::default();
    let spans = Spans::new();
    let config = propagation(&spans).with_data_field("traceHeader");
    let key = "user-7".len();
    // Learn how much the field adds, from a small record.
    send(
        &stub,
        &config,
        put_record(br#"{"n":1}"#),
        false,
        spans.caller(true),
    )
    .await;
    let added = sent_data(&stub, 0)[0].len() - br#"{"n":1}"#.len();
    // Data that fits with the field but not with the field and the key, and one byte less.
    for (data_len, fits) in [
        (1024 * 1024 - added - key + 1, false),
        (1024 * 1024 - added - key, true),
    ] {
        let stub = Stub::default();
        let data = format!(r#"{{"pad":"{}"}}"#, "x".repeat(data_len - 10));
        assert_eq!(data.len(), data_len);
        send(
            &stub,
            &config,
            put_record(data.as_bytes()),
            false,
            spans.caller(true),
        )
        .await;
        let sent = &sent_data(&stub, 0)[0];
        assert_eq!(sent.len() == data_len, !fits, "{data_len}");
        if fits {
            assert_eq!(sent.len() + key, 1024 * 1024);
        }
    }
}

#[tokio::test]
async fn records_stay_within_the_record_and_request_limits() {
    let stub = Stub::default();
    let spans = Spans::new();
    let config = propagation(&spans).with_data_field("traceHeader");
    // A record one byte short of 1 MiB with its key: the field would push it over.
    let key = "user-7".len();
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(1024 * 1024 - key - 11));
    assert_eq!(big.len() + key, 1024 * 1024 - 1);
    let small = br#"{"n":1}"#;
    send(
        &stub,
        &config,
        put_records(&[big.as_bytes(), small]).into(),
        false,
        spans.caller(true),
    )
    .await;
    let sent = sent_data(&stub, 0);
    assert_eq!(sent[0], big.as_bytes(), "the record would outgrow 1 MiB");
    assert!(text(&sent[1]).starts_with(r#"{"traceHeader":"Root=1-"#));

    // 500 records that leave the request a few hundred bytes short of 5 MiB: the first few
    // get the field, the others would push the request over.
    let stub = Stub::default();
    let each = (5 * 1024 * 1024 - 300) / 500 - key;
    let near = format!(r#"{{"pad":"{}"}}"#, "x".repeat(each - 10));
    assert_eq!(near.len(), each);
    let datas: Vec<&[u8]> = vec![near.as_bytes(); 500];
    send(
        &stub,
        &config,
        put_records(&datas).into(),
        false,
        spans.caller(true),
    )
    .await;
    let sent = sent_data(&stub, 0);
    let traced = sent
        .iter()
        .filter(|d| d.starts_with(b"{\"traceHeader\""))
        .count();
    let grown: usize = sent.iter().map(|d| d.len() + key).sum();
    assert!(grown <= 5 * 1024 * 1024, "{grown}");
    assert!(
        (1..5).contains(&traced),
        "some records fit, not all: {traced}"
    );
    assert!(sent[traced..].iter().all(|d| d == near.as_bytes()));
}

#[tokio::test]
async fn get_records_inside_a_trace_links_each_producer_and_process_continues_it() {
    let stub = Stub::default();
    let spans = Spans::new();
    let producer = format!(r#"{{"traceHeader":"{HEADER}","page":"/cart"}}"#);
    *stub.responder().records.lock().unwrap() =
        vec![producer.clone().into_bytes(), b"not json".to_vec()];
    let config = propagation(&spans).with_strip_data_field(true);
    let arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/clicks";
    let get = || -> KinesisRequest {
        aws_sdk_kinesis::operation::get_records::GetRecordsInput::builder()
            .shard_iterator("it-1")
            .stream_arn(arn)
            .build()
            .unwrap()
            .into()
    };
    // Outside any trace: no span (a polling loop would make a trace per call).
    send(&stub, &config, get(), false, Context::new()).await;
    assert!(spans.finished().is_empty());

    let mut shapes = Vec::new();
    for tower in [false, true] {
        spans.reset();
        send(&stub, &config, get(), tower, spans.caller(true)).await;
        let receive = spans.one("receive clicks");
        assert_eq!(receive.span_kind, SpanKind::Client);
        assert_eq!(receive.links.len(), 1);
        assert_eq!(
            receive.links[0].span_context.span_id().to_string(),
            "53995c3f42cd8ad8"
        );
        shapes.push(spans.shapes_except("caller"));
    }
    assert_eq!(shapes[0], shapes[1], "the two forms make the same span");

    // Each record processed in its producer's trace; its data handed on without the field.
    spans.reset();
    let output = plain(&stub)
        .get_records()
        .shard_iterator("it-1")
        .send()
        .await
        .unwrap();
    let mut records = output.records;
    let cx = config.process(&mut records[0], "clicks");
    cx.span().end();
    assert_eq!(records[0].data.as_ref(), br#"{"page":"/cart"}"#);
    let cx = config.process(&mut records[1], "clicks");
    cx.span().end();
    assert_eq!(records[1].data.as_ref(), b"not json");
    let processed = spans.named("process clicks");
    assert_eq!(processed.len(), 2);
    assert_eq!(
        processed[0].span_context.trace_id().to_string(),
        "5759e988bd862e3fe1be46a994272793"
    );
    assert_eq!(processed[0].parent_span_id.to_string(), "53995c3f42cd8ad8");
    assert_eq!(processed[0].span_kind, SpanKind::Consumer);
    let attributes = pairs_of(&processed[0]);
    for expected in [
        ("messaging.system", "aws_kinesis"),
        ("messaging.message.id", "seq-0"),
        ("aws.kinesis.stream_name", "clicks"),
    ] {
        assert!(
            attributes.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} in {attributes:?}"
        );
    }
    assert!(
        attributes
            .iter()
            .any(|(k, _)| k == "baton.messaging.time_in_queue_ms")
    );
    assert_ne!(
        processed[1].span_context.trace_id(),
        processed[0].span_context.trace_id(),
        "a record without a context starts a trace"
    );
    // Without the strip option the data stays as received.
    let mut record = plain(&stub)
        .get_records()
        .shard_iterator("it-1")
        .send()
        .await
        .unwrap()
        .records
        .remove(0);
    propagation(&spans)
        .process(&mut record, "clicks")
        .span()
        .end();
    assert_eq!(record.data.as_ref(), producer.as_bytes());
}

#[tokio::test]
async fn a_failed_get_records_ends_its_receive_span_in_error() {
    let stub = Stub::default();
    let spans = Spans::new();
    let client = intercepted(&stub, &propagation(&spans));
    let error = client
        .get_records()
        .shard_iterator("expired")
        .stream_arn("arn:aws:kinesis:eu-west-1:123456789012:stream/clicks")
        .send()
        .with_context(spans.caller(true))
        .await
        .expect_err("the stub refuses an expired iterator");
    assert!(error.into_service_error().is_expired_iterator_exception());
    let receive = spans.one("receive clicks");
    assert_eq!(receive.status, Status::error("Iterator expired"));
    let attributes = pairs_of(&receive);
    for expected in [
        ("error.type", "ExpiredIteratorException"),
        ("aws.request_id", "req-1"),
    ] {
        assert!(
            attributes.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} in {attributes:?}"
        );
    }
}

fn pairs_of(span: &opentelemetry_sdk::trace::SpanData) -> Vec<(String, String)> {
    span.attributes
        .iter()
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect()
}

#[test]
fn a_record_read_with_another_field_name() {
    let data = format!(r#"{{"trace":"{HEADER}"}}"#);
    let record = KinesisRecord::new(data.as_bytes()).with_field("trace");
    assert!(record.producer_context().span().span_context().is_valid());
    assert_eq!(record.data_without_field().as_deref(), Some(&b"{}"[..]));
}

#[tokio::test]
async fn tower_responses_are_the_operations_outputs() {
    let stub = Stub::default();
    let spans = Spans::new();
    let mut service = propagation(&spans).service(plain(&stub));
    let response = service
        .ready()
        .await
        .unwrap()
        .call(put_record(b"{}"))
        .await
        .unwrap();
    assert!(matches!(response, KinesisResponse::PutRecord(ref o) if o.sequence_number == "seq-0"));
}
