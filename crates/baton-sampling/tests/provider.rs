//! The sampler inside a real tracer provider: spans continue upstream decisions, and a deferred
//! (`Sampled=?`) header is decided by the rules and passed on decided.

use baton_sampling::{SamplingRule, SamplingRules, XraySampler};
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

const ROOT: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8";

fn provider(rules: SamplingRules) -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let sampler = XraySampler::builder()
        .with_service_name("orders")
        .with_local_rules(rules)
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .with_sampler(sampler.parent_based())
        .build();
    (provider, exporter)
}

/// Starts a consumer span under the context of `header`; returns what the next hop would get.
fn continue_from(provider: &SdkTracerProvider, header: &str, path: &str) -> String {
    let parent = baton::extract_header(&Context::new(), header, "AWSTraceHeader");
    let tracer = provider.tracer("test");
    let span = tracer
        .span_builder("process orders")
        .with_attributes([KeyValue::new("url.path", path.to_owned())])
        .start_with_context(&tracer, &parent);
    let cx = parent.with_span(span);
    let next = baton::header_for_context(&cx).unwrap();
    cx.span().end();
    next
}

#[test]
fn deferred_headers_are_decided_by_the_rules_and_passed_on_decided() {
    let rules = SamplingRules::new([
        SamplingRule::new("keep-orders", 1, 0, 1.0).with_url_path("/orders*"),
        SamplingRule::new("drop-rest", 2, 0, 0.0),
    ])
    .unwrap();
    let (provider, exporter) = provider(rules);

    #[rustfmt::skip]
    let cases = [
        // upstream decision, path, sampled here, what the next hop gets
        ("Sampled=?", "/orders/1", true, "Sampled=1"),
        ("Sampled=?", "/health", false, "Sampled=0"),
        ("Sampled=1", "/health", true, "Sampled=1"),
        ("Sampled=0", "/orders/1", false, "Sampled=0"),
    ];
    for (upstream, path, sampled, passed_on) in cases {
        exporter.reset();
        let next = continue_from(&provider, &format!("{ROOT};{upstream}"), path);
        provider.force_flush().unwrap();
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), usize::from(sampled), "{upstream} {path}");
        assert!(next.contains(passed_on), "{upstream} {path}: {next}");
        assert!(
            next.contains("Root=1-5759e988-bd862e3fe1be46a994272793"),
            "{next}"
        );
    }
}
