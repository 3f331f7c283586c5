//! Runs one Kinesis client variant N times against the in-memory HTTP client, for counting
//! instructions under callgrind: the raw SDK client, the same client with a hand-written
//! PRODUCER span around the call, Baton's interceptor, and the Tower form.
//!
//! `CRATE=baton-kinesis bash crates/baton-sqs/benches/instructions.sh`

use aws_sdk_kinesis::operation::put_record::PutRecordInput;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use baton::TracerHandle;
use baton_kinesis::{KinesisPropagation, KinesisRequest, KinesisService};
use baton_test_support::{Reply, Request, Stub, sdk_config};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower::{Layer, Service, ServiceExt};

const VARIANTS: &str = "put-raw put-any-client put-any-client-spans put-hand put-interceptor put-interceptor-data put-tower-bare put-tower put-records-raw put-records-raw-traced put-records-interceptor-data get-raw get-interceptor";

const DATA: &str = r#"{"page":"/cart","user":7,"at":"2026-12-06T12:00:00Z"}"#;

fn answer(request: &Request<'_>) -> Reply {
    let body = match request.operation() {
        "PutRecord" => r#"{"ShardId":"shardId-000000000000","SequenceNumber":"4959"}"#.to_owned(),
        "PutRecords" => {
            let records = [r#"{"ShardId":"shardId-000000000000","SequenceNumber":"4959"}"#; 10];
            format!(
                r#"{{"FailedRecordCount":0,"Records":[{}]}}"#,
                records.join(",")
            )
        }
        _ => {
            let data = aws_smithy_types::base64::encode(format!(
                r#"{{"traceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",{}"#,
                &DATA[1..]
            ));
            let records: Vec<String> = (0..10)
                .map(|i| format!(r#"{{"SequenceNumber":"4959{i}","ApproximateArrivalTimestamp":1.7e9,"Data":"{data}","PartitionKey":"k"}}"#))
                .collect();
            format!(
                r#"{{"Records":[{}],"NextShardIterator":"it","MillisBehindLatest":0}}"#,
                records.join(",")
            )
        }
    };
    Reply::ok(body)
        .with_header("x-amzn-requestid", "req-1")
        .with_header("content-type", "application/x-amz-json-1.1")
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    if args.get(1).map(String::as_str) == Some("variants") {
        println!("{VARIANTS}");
        return;
    }
    let (Some(variant), Some(count)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: instructions VARIANT COUNT (variants: {VARIANTS})");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Spans sampled and recorded, then dropped (no exporter).
    let provider = SdkTracerProvider::builder()
        .with_id_generator(baton::XrayIdGenerator::default())
        .build();
    let stub = Stub::unrecorded(answer as fn(&Request<'_>) -> Reply);
    let base = || sdk_config!(aws_sdk_kinesis, stub);
    let plain = KinesisPropagation::new().with_tracer(TracerHandle::new(provider.tracer("bench")));
    let data = plain.clone().with_data_field("traceHeader");
    let raw = aws_sdk_kinesis::Client::from_conf(base().build());
    let intercepted =
        aws_sdk_kinesis::Client::from_conf(base().interceptor(plain.interceptor()).build());
    let with_data =
        aws_sdk_kinesis::Client::from_conf(base().interceptor(data.interceptor()).build());
    // `baton::TraceHeaderInterceptor` (the header on any SDK client), without and with its
    // CLIENT span.
    let any_client = aws_sdk_kinesis::Client::from_conf(
        base()
            .interceptor(baton::TraceHeaderInterceptor::new())
            .build(),
    );
    let any_client_spans = aws_sdk_kinesis::Client::from_conf(
        base()
            .interceptor(
                baton::TraceHeaderInterceptor::new()
                    .with_client_spans(true)
                    .with_tracer(TracerHandle::new(provider.tracer("bench"))),
            )
            .build(),
    );
    let mut bare = KinesisService::new(raw.clone());
    let mut tower = plain.layer().layer(KinesisService::new(raw.clone()));
    let caller = Context::new().with_span(provider.tracer("app").start("request"));
    let tracer = provider.tracer("app");
    let entries: Vec<PutRecordsRequestEntry> = (0..10)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(DATA))
                .partition_key(format!("user-{i}"))
                .build()
                .unwrap()
        })
        .collect();
    let traced_data = format!(
        r#"{{"traceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",{}"#,
        &DATA[1..]
    );
    let traced_entries: Vec<PutRecordsRequestEntry> = (0..10)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(traced_data.as_bytes()))
                .partition_key(format!("user-{i}"))
                .build()
                .unwrap()
        })
        .collect();
    let input = || {
        PutRecordInput::builder()
            .stream_name("clicks")
            .partition_key("user-7")
            .data(Blob::new(DATA))
            .build()
            .unwrap()
    };
    for _ in 0..count {
        runtime.block_on(async {
            match variant.as_str() {
                "put-raw"
                | "put-interceptor"
                | "put-interceptor-data"
                | "put-any-client"
                | "put-any-client-spans" => {
                    let client = match variant.as_str() {
                        "put-raw" => &raw,
                        "put-interceptor" => &intercepted,
                        "put-any-client" => &any_client,
                        "put-any-client-spans" => &any_client_spans,
                        _ => &with_data,
                    };
                    client
                        .put_record()
                        .stream_name("clicks")
                        .partition_key("user-7")
                        .data(Blob::new(DATA))
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "put-hand" => {
                    // What any tracing must cost: a PRODUCER span started and ended by hand
                    // around the raw call.
                    let span = tracer
                        .span_builder("send clicks")
                        .with_kind(SpanKind::Producer)
                        .start_with_context(&tracer, &caller);
                    let cx = caller.with_span(span);
                    raw.put_record()
                        .stream_name("clicks")
                        .partition_key("user-7")
                        .data(Blob::new(DATA))
                        .send()
                        .with_context(cx.clone())
                        .await
                        .unwrap();
                    cx.span().end();
                }
                "put-tower-bare" => {
                    bare.ready()
                        .await
                        .unwrap()
                        .call(KinesisRequest::from(input()))
                        .await
                        .unwrap();
                }
                "put-tower" => {
                    let ready = tower.ready().await.unwrap();
                    let call = {
                        let _active = caller.clone().attach();
                        ready.call(KinesisRequest::from(input()))
                    };
                    call.await.unwrap();
                }
                "put-records-raw-traced" => {
                    // The raw client with data that already carries a trace header of the
                    // size Baton writes: what the longer records cost the SDK.
                    raw.put_records()
                        .stream_name("clicks")
                        .set_records(Some(traced_entries.clone()))
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "put-records-raw" | "put-records-interceptor-data" => {
                    let client = if variant == "put-records-raw" {
                        &raw
                    } else {
                        &with_data
                    };
                    client
                        .put_records()
                        .stream_name("clicks")
                        .set_records(Some(entries.clone()))
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                "get-raw" | "get-interceptor" => {
                    let client = if variant == "get-raw" {
                        &raw
                    } else {
                        &intercepted
                    };
                    client
                        .get_records()
                        .shard_iterator("it")
                        .stream_arn("arn:aws:kinesis:eu-west-1:123456789012:stream/clicks")
                        .send()
                        .with_context(caller.clone())
                        .await
                        .unwrap();
                }
                other => panic!("unknown variant {other}"),
            }
        });
    }
}
