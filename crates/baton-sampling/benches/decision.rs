//! One sampling decision: `XraySampler` with 20 rules against the OpenTelemetry SDK's
//! `TraceIdRatioBased`, in the same run: heap allocations per decision, counted with a global
//! allocator that tallies every allocation (`stats_alloc`); time per decision measured
//! interleaved (all cases in turn, medians over rounds); then criterion. For callgrind, a mode
//! that makes a given number of decisions with one case and exits.
//!
//! `cargo bench -p baton-sampling --bench decision -- --warm-up-time 1 --measurement-time 3`
//! `bash crates/baton-sampling/benches/instructions.sh` (instructions per decision)

#[path = "../tests/support/stub.rs"]
mod stub;

use std::alloc::System;
use std::hint::black_box;
use std::time::{Duration, Instant, UNIX_EPOCH};

use baton_sampling::{
    ManualClock, RuleSource, SamplingRule, SamplingRules, XraySampler, XraySamplerBuilder,
};
use criterion::Criterion;
use opentelemetry::trace::{SpanKind, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, ShouldSample};
use serde_json::json;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// 19 specific rules (methods, path globs, hosts, one attribute rule) and a catch-all, all for
/// this service, so that none is skipped before the span's attributes are looked at.
fn twenty_rules() -> Vec<SamplingRule> {
    let mut rules = Vec::new();
    for i in 0..19u32 {
        let mut rule = SamplingRule::new(format!("rule-{i:02}"), 100 + i, 5, 0.05)
            .with_service_name("OrderProcessingAPI")
            .with_http_method(if i % 2 == 0 { "POST" } else { "GET" })
            .with_url_path(format!("/api/v{}/resource-{i}*", i % 3 + 1));
        if i % 5 == 0 {
            rule = rule.with_host("*.internal.example.com");
        }
        if i == 7 {
            rule = rule.with_attribute("tenant.tier", "gold*");
        }
        rules.push(rule);
    }
    rules.push(SamplingRule::new("catch-all", 9000, 1, 0.05));
    rules
}

/// The same rules as `GetSamplingRules` returns them.
fn twenty_rules_json() -> serde_json::Value {
    let records: Vec<_> = twenty_rules()
        .iter()
        .map(|r| {
            json!({"SamplingRule": {
                "RuleName": r.name, "ResourceARN": r.resource_arn, "Priority": r.priority,
                "FixedRate": r.fixed_rate, "ReservoirSize": r.reservoir_size,
                "ServiceName": r.service_name, "ServiceType": r.service_type, "Host": r.host,
                "HTTPMethod": r.http_method, "URLPath": r.url_path, "Version": 1,
                "Attributes": r.attributes,
            }})
        })
        .collect();
    json!({ "SamplingRuleRecords": records })
}

fn span_attributes(path: &'static str, host: &'static str) -> Vec<KeyValue> {
    vec![
        KeyValue::new("http.request.method", "POST"),
        KeyValue::new("url.path", path),
        KeyValue::new("url.scheme", "https"),
        KeyValue::new("server.address", host),
        KeyValue::new("server.port", 443i64),
        KeyValue::new("user_agent.original", "bench/1.0"),
    ]
}

fn builder() -> XraySamplerBuilder {
    XraySampler::builder()
        .with_service_name("OrderProcessingAPI")
        .with_local_rules(SamplingRules::new(twenty_rules()).unwrap())
}

/// A different trace id each call, as real traffic has (the fixed rate reads it).
struct Ids(u128);

impl Ids {
    fn next(&mut self) -> TraceId {
        self.0 = self
            .0
            .wrapping_mul(0x2360_ed05_1fc6_5da4_4385_df64_9fcc_f645)
            .wrapping_add(1);
        TraceId::from(self.0)
    }
}

/// One benchmarked case: a sampler and the span it decides.
struct Case {
    name: &'static str,
    sampler: Box<dyn ShouldSample>,
    attributes: Vec<KeyValue>,
}

/// Every case. Centralized rules come from an in-process stand-in for the X-Ray daemon, kept
/// alive with the runtime that polls it.
fn cases() -> (Vec<Case>, tokio::runtime::Runtime, stub::Stub) {
    let catch_all = || span_attributes("/checkout", "shop.example.com");
    let first = || span_attributes("/api/v1/resource-0/items", "api.internal.example.com");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let stub = runtime.block_on(stub::Stub::start(twenty_rules_json()));
    let centralized = builder()
        .with_local_rules(SamplingRules::default())
        .with_centralized_rules(stub.endpoint())
        .with_runtime(runtime.handle().clone())
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while centralized.source() != RuleSource::Centralized {
        assert!(Instant::now() < deadline, "no rules from the stub");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(centralized.rules().len(), 20);

    let local = builder().build().unwrap();
    assert_eq!(local.rules().len(), 20);
    assert_eq!(local.matching_rule(&first()).as_deref(), Some("rule-00"));
    assert_eq!(
        local.matching_rule(&catch_all()).as_deref(),
        Some("catch-all")
    );
    // A clock that never moves: the clock read costs nothing, to show the rest of the path.
    let frozen = builder()
        .with_clock(ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        ))
        .build()
        .unwrap();

    let cases = vec![
        Case {
            name: "XraySampler 20 rules, catch-all matches",
            sampler: Box::new(local.clone()),
            attributes: catch_all(),
        },
        Case {
            name: "XraySampler 20 rules, first rule matches",
            sampler: Box::new(local.clone()),
            attributes: first(),
        },
        Case {
            name: "XraySampler 20 centralized rules, catch-all",
            sampler: Box::new(centralized),
            attributes: catch_all(),
        },
        Case {
            name: "XraySampler 20 rules, catch-all, manual clock",
            sampler: Box::new(frozen),
            attributes: catch_all(),
        },
        Case {
            name: "XrayParentBased(XraySampler) 20 rules, catch-all",
            sampler: Box::new(local.parent_based()),
            attributes: catch_all(),
        },
        Case {
            name: "opentelemetry_sdk TraceIdRatioBased(0.05)",
            sampler: Box::new(Sampler::TraceIdRatioBased(0.05)),
            attributes: catch_all(),
        },
    ];
    (cases, runtime, stub)
}

/// A root span's decision, as the SDK's tracer asks for it.
#[inline]
fn decide(case: &Case, cx: &Context, id: TraceId) {
    black_box(case.sampler.should_sample(
        Some(cx),
        id,
        "POST /checkout",
        &SpanKind::Server,
        black_box(&case.attributes),
        &[],
    ));
}

fn allocations(cases: &[Case]) {
    const ROUNDS: usize = 10_000;
    let cx = Context::new();
    let mut ids = Ids(1);
    println!("heap allocations per decision (root span, 6 attributes):");
    for case in cases {
        decide(case, &cx, ids.next()); // warm lazily initialised state
        let region = Region::new(GLOBAL);
        for _ in 0..ROUNDS {
            decide(case, &cx, ids.next());
        }
        let stats = region.change();
        println!(
            "  {:<52} {:>5.2} allocations/decision {:>6.1} bytes/decision",
            case.name,
            stats.allocations as f64 / ROUNDS as f64,
            stats.bytes_allocated as f64 / ROUNDS as f64
        );
    }
}

/// Every case in turn, round after round, so that a busy machine slows all of them alike; the
/// median over rounds of each case's time per decision.
fn interleaved(cases: &[Case]) {
    const ROUNDS: usize = 41;
    const DECISIONS: u32 = 20_000;
    let cx = Context::new();
    let mut ids = Ids(5);
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); cases.len()];
    for _ in 0..ROUNDS {
        for (case, times) in cases.iter().zip(&mut times) {
            let started = Instant::now();
            for _ in 0..DECISIONS {
                decide(case, &cx, ids.next());
            }
            times.push(started.elapsed().as_nanos() as f64 / f64::from(DECISIONS));
        }
    }
    println!("interleaved, median of {ROUNDS} rounds of {DECISIONS} decisions:");
    for (case, mut times) in cases.iter().zip(times) {
        times.sort_by(f64::total_cmp);
        println!(
            "  {:<52} {:>7.1} ns/decision (quartiles {:.1} to {:.1})",
            case.name,
            times[ROUNDS / 2],
            times[ROUNDS / 4],
            times[3 * ROUNDS / 4]
        );
    }
}

fn timings(cases: &[Case]) {
    let mut criterion = Criterion::default().configure_from_args();
    let cx = Context::new();
    let mut ids = Ids(7);
    let mut group = criterion.benchmark_group("sampling decision");
    for case in cases {
        group.bench_function(case.name, |b| b.iter(|| decide(case, &cx, ids.next())));
    }
    group.finish();
    criterion.final_summary();
}

fn main() {
    let (cases, _runtime, _stub) = cases();
    // `BATON_SAMPLING_DECISIONS=<case number>:<count>`: make that many decisions and stop
    // (for callgrind; see instructions.sh).
    if let Ok(spec) = std::env::var("BATON_SAMPLING_DECISIONS") {
        let (case, count) = spec.split_once(':').expect("CASE:COUNT");
        let case = &cases[case.parse::<usize>().expect("case number")];
        let count: u64 = count.parse().expect("count");
        let cx = Context::new();
        let mut ids = Ids(11);
        for _ in 0..count {
            decide(case, &cx, ids.next());
        }
        println!("{}", case.name);
        return;
    }
    allocations(&cases);
    interleaved(&cases);
    timings(&cases);
}
