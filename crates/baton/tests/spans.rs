//! Messaging spans, link policies, the X-Ray ID generator and the deferred-aware sampler,
//! asserted on what the OpenTelemetry SDK exports.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use baton::{
    LinkPolicy, MessagingSpan, MessagingSystem, XrayIdGenerator, XrayParentBased, attr,
    extract_header, header_for_context, trace_id_epoch_seconds,
};
use opentelemetry::trace::{Span, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{
    IdGenerator, InMemorySpanExporter, InMemorySpanExporterBuilder, Sampler, SdkTracer,
    SdkTracerProvider, SpanData,
};

struct Harness {
    provider: SdkTracerProvider,
    exporter: InMemorySpanExporter,
    tracer: SdkTracer,
}

impl Harness {
    fn new(sampler: Option<XrayParentBased>) -> Self {
        let exporter = InMemorySpanExporterBuilder::new().build();
        let mut builder = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_id_generator(XrayIdGenerator::default());
        if let Some(sampler) = sampler {
            builder = builder.with_sampler(sampler);
        }
        let provider = builder.build();
        let tracer = provider.tracer("baton-test");
        Harness {
            provider,
            exporter,
            tracer,
        }
    }

    fn spans(&self) -> Vec<SpanData> {
        self.provider.force_flush().unwrap();
        self.exporter.get_finished_spans().unwrap()
    }

    fn named(&self, name: &str) -> SpanData {
        self.spans()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span named {name}"))
    }
}

#[test]
fn producer_span_has_the_messaging_attributes() {
    let h = Harness::new(None);
    let mut span = MessagingSpan::send(MessagingSystem::Sqs, "orders")
        .operation_name("SendMessageBatch")
        .batch_count(3)
        .region("eu-west-1")
        .start(&h.tracer, &Context::new());
    span.end();
    let data = h.named("send orders");
    assert_eq!(data.span_kind, SpanKind::Producer);
    assert_eq!(
        data.attributes,
        vec![
            KeyValue::new(attr::MESSAGING_SYSTEM, "aws_sqs"),
            KeyValue::new(attr::MESSAGING_OPERATION_TYPE, "send"),
            KeyValue::new(attr::MESSAGING_OPERATION_NAME, "SendMessageBatch"),
            KeyValue::new(attr::MESSAGING_DESTINATION_NAME, "orders"),
            KeyValue::new(attr::MESSAGING_BATCH_MESSAGE_COUNT, 3),
            KeyValue::new(attr::CLOUD_REGION, "eu-west-1"),
        ]
    );
    assert!(data.links.is_empty());
    assert_eq!(data.parent_span_id, opentelemetry::trace::SpanId::INVALID);
}

#[test]
fn a_system_outside_baton_s_list_is_recorded_as_given() {
    // A third-party crate describing another service needs no new core release.
    let h = Harness::new(None);
    let mut span = MessagingSpan::send(MessagingSystem::Other("aws_kinesis"), "clicks")
        .operation_name("PutRecords")
        .start(&h.tracer, &Context::new());
    span.end();
    let data = h.named("send clicks");
    assert_eq!(data.span_kind, SpanKind::Producer);
    assert_eq!(
        data.attributes[..2],
        [
            KeyValue::new(attr::MESSAGING_SYSTEM, "aws_kinesis"),
            KeyValue::new(attr::MESSAGING_OPERATION_TYPE, "send"),
        ]
    );
}

/// Producer → header → consumer, as the service crates will do it.
fn produce(h: &Harness, destination: &'static str) -> (Context, String) {
    let span =
        MessagingSpan::send(MessagingSystem::Sns, destination).start(&h.tracer, &Context::new());
    let cx = Context::new().with_span(span);
    let header = header_for_context(&cx).unwrap();
    (cx, header)
}

#[test]
fn process_span_continues_the_producer_trace_by_default() {
    let h = Harness::new(None);
    let (producer_cx, header) = produce(&h, "orders");
    let incoming = extract_header(&Context::new(), &header, "AWSTraceHeader");
    let mut process = MessagingSpan::process(MessagingSystem::Sns, "orders").start_process(
        &h.tracer,
        &incoming,
        LinkPolicy::default(),
    );
    process.end();
    producer_cx.span().end();

    let producer = h.named("send orders");
    let data = h.named("process orders");
    assert_eq!(data.span_kind, SpanKind::Consumer);
    assert_eq!(
        data.span_context.trace_id(),
        producer.span_context.trace_id()
    );
    assert_eq!(data.parent_span_id, producer.span_context.span_id());
    assert!(data.parent_span_is_remote);
    assert!(data.links.is_empty());
    assert!(
        data.attributes
            .contains(&KeyValue::new(attr::MESSAGING_OPERATION_TYPE, "process"))
    );
}

#[test]
fn link_policy_starts_a_new_trace_linked_to_the_producer() {
    let h = Harness::new(None);
    let (producer_cx, header) = produce(&h, "orders");
    let incoming = extract_header(&Context::new(), &header, "AWSTraceHeader");
    MessagingSpan::process(MessagingSystem::Sns, "orders")
        .start_process(&h.tracer, &incoming, LinkPolicy::Link)
        .end();
    producer_cx.span().end();

    let producer = h.named("send orders");
    let data = h.named("process orders");
    assert_ne!(
        data.span_context.trace_id(),
        producer.span_context.trace_id()
    );
    assert_eq!(data.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    assert_eq!(data.links.len(), 1);
    assert_eq!(
        data.links[0].span_context.trace_id(),
        producer.span_context.trace_id()
    );
    assert_eq!(
        data.links[0].span_context.span_id(),
        producer.span_context.span_id()
    );
}

#[test]
fn receive_span_links_every_producer() {
    let h = Harness::new(None);
    let producers: Vec<(Context, String)> = (0..3).map(|_| produce(&h, "orders")).collect();
    let mut receive = MessagingSpan::receive(MessagingSystem::Sqs, "orders").batch_count(3);
    for (_, header) in &producers {
        let cx = extract_header(&Context::new(), header, "AWSTraceHeader");
        receive = receive.link(cx.span().span_context());
    }
    // An invalid context is not linked.
    receive = receive.link(&opentelemetry::trace::SpanContext::empty_context());
    receive.start(&h.tracer, &Context::new()).end();

    let data = h.named("receive orders");
    // CLIENT since the conventions' v1.28 (`baton::SEMCONV_VERSION`).
    assert_eq!(data.span_kind, SpanKind::Client);
    let linked: Vec<_> = data
        .links
        .iter()
        .map(|l| l.span_context.span_id())
        .collect();
    let expected: Vec<_> = producers
        .iter()
        .map(|(cx, _)| cx.span().span_context().span_id())
        .collect();
    assert_eq!(linked, expected);
}

#[test]
fn id_generator_writes_epoch_seconds_first() {
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let id = XrayIdGenerator::default().new_trace_id();
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let epoch = trace_id_epoch_seconds(id);
    assert!(
        (before..=after).contains(&epoch),
        "{epoch} not in {before}..={after}"
    );

    let fixed = XrayIdGenerator::with_clock(|| UNIX_EPOCH + Duration::from_secs(0x5759_e988));
    let ids: Vec<_> = (0..100).map(|_| fixed.new_trace_id()).collect();
    for id in &ids {
        assert!(id.to_string().starts_with("5759e988"), "{id}");
    }
    // The other 96 bits are random.
    let mut unique = ids.clone();
    unique.sort_by_key(|id| id.to_bytes());
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
    assert_ne!(fixed.new_span_id(), opentelemetry::trace::SpanId::INVALID);

    // The ids reach exported spans, and their header form is what X-Ray accepts.
    let h = Harness::new(None);
    let (cx, header) = produce(&h, "q");
    cx.span().end();
    let trace_id = h.named("send q").span_context.trace_id().to_string();
    assert!(header.starts_with(&format!("Root=1-{}-{}", &trace_id[..8], &trace_id[8..])));
}

const DEFERRED: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?";

#[test]
fn deferred_parent_is_decided_by_the_root_sampler() {
    for (root, sampled) in [(Sampler::AlwaysOff, false), (Sampler::AlwaysOn, true)] {
        let h = Harness::new(Some(XrayParentBased::new(root)));
        let incoming = extract_header(&Context::new(), DEFERRED, "test");
        let span = h.tracer.start_with_context("work", &incoming);
        assert_eq!(span.span_context().is_sampled(), sampled);
        // The decision made here is what the next hop sees.
        let next = header_for_context(&incoming.with_span(span)).unwrap();
        assert!(
            next.ends_with(if sampled { ";Sampled=1" } else { ";Sampled=0" }),
            "{next}"
        );
    }
}

#[test]
fn explicit_decisions_are_followed() {
    // Sampled=0 stops sampling here even with an always-on root sampler; Sampled=1 forces it.
    for (flag, sampled) in [("0", false), ("1", true)] {
        let root = if sampled {
            Sampler::AlwaysOff
        } else {
            Sampler::AlwaysOn
        };
        let h = Harness::new(Some(XrayParentBased::new(root)));
        let header = format!(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled={flag}"
        );
        let incoming = extract_header(&Context::new(), &header, "test");
        let span = h.tracer.start_with_context("work", &incoming);
        assert_eq!(span.span_context().is_sampled(), sampled, "Sampled={flag}");
        let next = header_for_context(&incoming.with_span(span)).unwrap();
        assert!(next.ends_with(&format!(";Sampled={flag}")), "{next}");
    }
}

#[test]
fn without_the_xray_sampler_a_deferred_trace_is_kept_and_still_deferred() {
    // The default sampler is ParentBased(AlwaysOn); even ParentBased(AlwaysOff) must not drop
    // a trace nobody decided on.
    let exporter = InMemorySpanExporterBuilder::new().build();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
        .build();
    let tracer = provider.tracer("t");
    let incoming = extract_header(&Context::new(), DEFERRED, "test");
    let span = tracer.start_with_context("work", &incoming);
    assert!(span.span_context().is_sampled());
    let next = header_for_context(&incoming.with_span(span)).unwrap();
    assert!(next.ends_with(";Sampled=?"), "{next}");
}
