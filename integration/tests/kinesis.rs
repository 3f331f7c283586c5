//! Kinesis end to end against LocalStack (kinesis-mock): records put with the data field in
//! both forms come back from GetRecords carrying their producers' contexts; each record's
//! process span continues its own producer; data that cannot carry a field comes back byte
//! for byte; the strip option hands the handler the data as the application wrote it.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_kinesis::operation::put_records::PutRecordsInput;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType, StreamStatus};
use baton::TracerHandle;
use baton_integration::{TestTracer, sdk_config, unique_name};
use baton_kinesis::{KinesisPropagation, KinesisRequest};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, SpanKind, TraceContextExt, Tracer};
use tower::{Service, ServiceExt};

/// A one-shard stream, deleted when the test is done with it.
struct Stream {
    client: aws_sdk_kinesis::Client,
    name: String,
    arn: String,
}

impl Stream {
    async fn create(client: aws_sdk_kinesis::Client) -> Stream {
        let name = unique_name("baton-stream");
        client
            .create_stream()
            .stream_name(&name)
            .shard_count(1)
            .send()
            .await
            .expect("CreateStream");
        for _ in 0..100 {
            let description = client
                .describe_stream_summary()
                .stream_name(&name)
                .send()
                .await
                .expect("DescribeStreamSummary");
            let summary = description.stream_description_summary.unwrap();
            if summary.stream_status == StreamStatus::Active {
                return Stream {
                    client,
                    name,
                    arn: summary.stream_arn,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("stream {name} did not become active");
    }

    /// Every record of the stream's shard, from the start.
    async fn records(
        &self,
        propagation: Option<&KinesisPropagation>,
        cx: Context,
    ) -> Vec<aws_sdk_kinesis::types::Record> {
        let shards = self
            .client
            .list_shards()
            .stream_name(&self.name)
            .send()
            .await
            .unwrap();
        let shard = shards.shards()[0].shard_id.clone();
        let iterator = self
            .client
            .get_shard_iterator()
            .stream_name(&self.name)
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        let client = match propagation {
            Some(propagation) => aws_sdk_kinesis::Client::from_conf(
                self.client
                    .config()
                    .to_builder()
                    .interceptor(propagation.interceptor())
                    .build(),
            ),
            None => self.client.clone(),
        };
        client
            .get_records()
            .shard_iterator(iterator)
            .stream_arn(&self.arn)
            .send()
            .with_context(cx)
            .await
            .expect("GetRecords")
            .records
    }

    async fn delete(self) {
        let _ = self
            .client
            .delete_stream()
            .stream_name(&self.name)
            .enforce_consumer_deletion(true)
            .send()
            .await;
    }
}

async fn kinesis() -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::new(&sdk_config().await)
}

fn entries(datas: &[Vec<u8>]) -> Vec<PutRecordsRequestEntry> {
    datas
        .iter()
        .enumerate()
        .map(|(i, data)| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(data.clone()))
                .partition_key(format!("user-{i}"))
                .build()
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn ten_records_each_continue_their_producer_in_both_forms() {
    for tower in [false, true] {
        let stream = Stream::create(kinesis().await).await;
        let tracer = TestTracer::new();
        let handle = TracerHandle::new(tracer.tracer());
        let producer = KinesisPropagation::new()
            .with_tracer(handle.clone())
            .with_data_field("traceHeader");
        let originals: Vec<Vec<u8>> = (0..10)
            .map(|i| format!(r#"{{ "click" : {i}, "page": "/cart" }}"#).into_bytes())
            .collect();
        let checkout = Context::new().with_span(tracer.tracer().start("checkout"));
        if tower {
            let mut service = producer.service(kinesis().await);
            let input = PutRecordsInput::builder()
                .stream_name(&stream.name)
                .set_records(Some(entries(&originals)))
                .build()
                .unwrap();
            let call = {
                let _caller = checkout.clone().attach();
                service
                    .ready()
                    .await
                    .unwrap()
                    .call(KinesisRequest::from(input))
            };
            call.await.expect("PutRecords (Tower)");
        } else {
            let client = aws_sdk_kinesis::Client::from_conf(
                aws_sdk_kinesis::config::Builder::from(&sdk_config().await)
                    .interceptor(producer.interceptor())
                    .build(),
            );
            let output = client
                .put_records()
                .stream_name(&stream.name)
                .set_records(Some(entries(&originals)))
                .send()
                .with_context(checkout.clone())
                .await
                .expect("PutRecords");
            assert_eq!(output.failed_record_count, Some(0));
        }
        checkout.span().end();
        let creates = tracer
            .finished_spans()
            .into_iter()
            .filter(|s| s.name == format!("create {}", stream.name))
            .collect::<Vec<_>>();
        assert_eq!(creates.len(), 10, "a create span per record");

        // The consumer: a receive span inside its poll, a process span per record.
        let consumer = KinesisPropagation::new()
            .with_tracer(handle.clone())
            .with_strip_data_field(true);
        let poll = Context::new().with_span(tracer.tracer().start("poll"));
        let mut records = stream.records(Some(&consumer), poll.clone()).await;
        poll.span().end();
        assert_eq!(records.len(), 10);
        let mut processed = HashMap::new();
        for (i, record) in records.iter_mut().enumerate() {
            let cx = consumer.process(record, &stream.name);
            processed.insert(cx.span().span_context().span_id(), i);
            cx.span().end();
            // The handler sees the data exactly as the application put it.
            assert_eq!(record.data.as_ref(), originals[i].as_slice(), "record {i}");
        }
        let spans = tracer.finished_spans();
        let receive = spans
            .iter()
            .find(|s| s.name == format!("receive {}", stream.name))
            .expect("a receive span");
        assert_eq!(receive.span_kind, SpanKind::Client);
        assert_eq!(receive.links.len(), 10, "linked to every producer");
        for span in spans
            .iter()
            .filter(|s| s.name == format!("process {}", stream.name))
        {
            let i = processed[&span.span_context.span_id()];
            let create = &creates[i];
            assert_eq!(span.span_context.trace_id(), create.span_context.trace_id());
            assert_eq!(
                span.parent_span_id,
                create.span_context.span_id(),
                "record {i} continues its own create span (tower: {tower})"
            );
            assert_eq!(span.span_kind, SpanKind::Consumer);
            assert_eq!(
                receive.links[i].span_context.span_id(),
                create.span_context.span_id()
            );
        }
        stream.delete().await;
    }
}

#[tokio::test]
async fn data_that_cannot_carry_the_field_comes_back_untouched() {
    let stream = Stream::create(kinesis().await).await;
    let tracer = TestTracer::new();
    let producer = KinesisPropagation::new()
        .with_tracer(TracerHandle::new(tracer.tracer()))
        .with_data_field("traceHeader");
    let client = aws_sdk_kinesis::Client::from_conf(
        aws_sdk_kinesis::config::Builder::from(&sdk_config().await)
            .interceptor(producer.interceptor())
            .build(),
    );
    let binary: Vec<u8> = vec![0xF3, 0x89, 0x9A, 0xC2, 0x00, 0xFF, b'{'];
    let datas = [
        binary.clone(),
        b"plain text".to_vec(),
        b"[1,2,3]".to_vec(),
        br#"{"broken":"#.to_vec(),
    ];
    let cx = Context::new().with_span(tracer.tracer().start("send"));
    for data in &datas {
        client
            .put_record()
            .stream_name(&stream.name)
            .partition_key("k")
            .data(Blob::new(data.clone()))
            .send()
            .with_context(cx.clone())
            .await
            .expect("PutRecord");
    }
    let records = stream.records(None, Context::new()).await;
    let got: Vec<&[u8]> = records.iter().map(|r| r.data.as_ref()).collect();
    let want: Vec<&[u8]> = datas.iter().map(Vec::as_slice).collect();
    assert_eq!(got, want);
    // Each send still has its span, and the consumer starts a new trace for each.
    assert_eq!(
        tracer
            .finished_spans()
            .iter()
            .filter(|s| s.name == format!("send {}", stream.name))
            .count(),
        4
    );
    let consumer = KinesisPropagation::new()
        .with_tracer(TracerHandle::new(tracer.tracer()))
        .with_strip_data_field(true);
    for record in records {
        let mut record = record;
        let before = record.data.clone();
        let cx = consumer.process(&mut record, &stream.name);
        cx.span().end();
        assert_eq!(record.data, before, "nothing to strip");
    }
    let processed: Vec<_> = tracer
        .finished_spans()
        .into_iter()
        .filter(|s| s.name == format!("process {}", stream.name))
        .collect();
    assert_eq!(processed.len(), 4);
    assert!(
        processed
            .iter()
            .all(|s| s.parent_span_id == opentelemetry::trace::SpanId::INVALID),
        "no producer context: each record starts a trace"
    );
    stream.delete().await;
}
