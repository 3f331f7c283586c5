//! Reservoir and fixed rate over a simulated clock, and how the sampler composes with the
//! parent-based one.

use std::time::{Duration, UNIX_EPOCH};

use baton::{Sampled, TraceHeader, XrayPropagator};
use baton_sampling::{ManualClock, SamplingRule, SamplingRules, XraySampler};
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, TraceContextExt, TraceId};
use opentelemetry_sdk::trace::{SamplingDecision, ShouldSample};

const START: u64 = 1_700_000_000;

/// Deterministic pseudo-random trace ids (splitmix64), X-Ray style: epoch seconds first.
struct Ids(u64);

impl Iterator for Ids {
    type Item = TraceId;
    fn next(&mut self) -> Option<TraceId> {
        let mut next = || {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let high = (START << 32) | (next() >> 32);
        Some(TraceId::from((u128::from(high) << 64) | u128::from(next())))
    }
}

fn sampler_with(rule: SamplingRule, clock: &ManualClock) -> XraySampler {
    XraySampler::builder()
        .with_service_name("svc")
        .with_local_rules(SamplingRules::new([rule]).unwrap())
        .with_clock(clock.clone())
        .build()
        .unwrap()
}

#[test]
fn reservoir_is_exactly_its_size_each_second() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
    // Fixed rate 0: only the reservoir samples.
    let sampler = sampler_with(SamplingRule::new("r", 1, 5, 0.0), &clock);
    let mut ids = Ids(1);
    for second in 0..20 {
        // Spread 1,000 decisions over the second.
        let sampled = (0..1000)
            .filter(|i| {
                if i % 100 == 0 && *i > 0 {
                    clock.advance(Duration::from_millis(100));
                }
                sampler.sample(ids.next().unwrap(), &[])
            })
            .count();
        assert_eq!(sampled, 5, "second {second}");
        clock.advance(Duration::from_millis(100));
    }
    // An idle second does not bank reservoir for the next.
    clock.advance(Duration::from_secs(3));
    let sampled = (0..100)
        .filter(|_| sampler.sample(ids.next().unwrap(), &[]))
        .count();
    assert_eq!(sampled, 5);
}

#[test]
fn fixed_rate_applies_beyond_the_reservoir() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
    let sampler = sampler_with(SamplingRule::new("r", 1, 10, 0.05), &clock);
    let mut ids = Ids(42);
    let (seconds, per_second) = (10u64, 10_000u64);
    let mut sampled = 0u64;
    for _ in 0..seconds {
        sampled += (0..per_second)
            .filter(|_| sampler.sample(ids.next().unwrap(), &[]))
            .count() as u64;
        clock.advance(Duration::from_secs(1));
    }
    // 100,000 decisions: 10 a second from the reservoir, then 5% of the rest.
    let reservoir = 10 * seconds;
    let beyond = seconds * per_second - reservoir;
    let expected = 0.05 * beyond as f64;
    let sd = (beyond as f64 * 0.05 * 0.95).sqrt();
    let from_rate = (sampled - reservoir) as f64;
    assert!(
        (from_rate - expected).abs() < 4.0 * sd,
        "sampled {from_rate} beyond the reservoir, expected {expected} ± {}",
        4.0 * sd
    );
}

#[test]
fn fixed_rate_is_decided_by_the_trace_id() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
    let a = sampler_with(SamplingRule::new("r", 1, 0, 0.3), &clock);
    let b = sampler_with(SamplingRule::new("r", 1, 0, 0.3), &clock);
    for id in Ids(7).take(10_000) {
        assert_eq!(a.sample(id, &[]), b.sample(id, &[]));
    }
}

#[test]
fn default_rule_is_one_a_second_and_five_percent() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
    let sampler = XraySampler::builder()
        .with_clock(clock.clone())
        .build()
        .unwrap();
    let rules = sampler.rules();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        (
            rules[0].name.as_str(),
            rules[0].reservoir_size,
            rules[0].fixed_rate
        ),
        ("Default", 1, 0.05)
    );
    let mut ids = Ids(3);
    let n = 100_000u64;
    let sampled = (0..n)
        .filter(|_| sampler.sample(ids.next().unwrap(), &[]))
        .count() as f64;
    // One second on the clock: one from the reservoir, 5% of the rest.
    let expected = 1.0 + 0.05 * (n - 1) as f64;
    let sd = ((n - 1) as f64 * 0.05 * 0.95).sqrt();
    assert!(
        (sampled - expected).abs() < 4.0 * sd,
        "{sampled} vs {expected}"
    );
}

fn context_from_header(header: &str) -> Context {
    let carrier =
        std::collections::HashMap::from([("x-amzn-trace-id".to_string(), header.to_string())]);
    XrayPropagator::new().extract_with_context(&Context::new(), &carrier)
}

#[test]
fn upstream_decision_wins_and_deferred_is_decided_by_the_rules() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
    // A rule that never samples: only an upstream decision can make a span sampled.
    let never = sampler_with(SamplingRule::new("never", 1, 0, 0.0), &clock).parent_based();
    let always = sampler_with(SamplingRule::new("always", 1, 0, 1.0), &clock).parent_based();
    let root = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8";
    let id = TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap();

    #[rustfmt::skip]
    let cases = [
        // header decision, rules sampler, expected decision
        ("Sampled=1", &never, SamplingDecision::RecordAndSample),
        ("Sampled=0", &always, SamplingDecision::Drop),
        ("Sampled=?", &never, SamplingDecision::Drop),
        ("Sampled=?", &always, SamplingDecision::RecordAndSample),
    ];
    for (sampled, sampler, expected) in cases {
        let cx = context_from_header(&format!("{root};{sampled}"));
        let result = sampler.should_sample(
            Some(&cx),
            id,
            "process orders",
            &SpanKind::Consumer,
            &[],
            &[],
        );
        assert_eq!(result.decision, expected, "{sampled}");
        // Once decided here, the deferred marker is gone from what later hops receive.
        assert_eq!(result.trace_state.get("xray-sampled"), None, "{sampled}");
    }
    // No parent: the rules decide.
    let root_span = never.should_sample(None, id, "root", &SpanKind::Server, &[], &[]);
    assert_eq!(root_span.decision, SamplingDecision::Drop);
}

#[test]
fn bare_sampler_decides_a_deferred_parent_and_clears_its_marker() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
    let sampler = sampler_with(SamplingRule::new("always", 1, 0, 1.0), &clock);
    let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?";
    let cx = context_from_header(header);
    assert_eq!(
        baton::sampled_of(cx.span().span_context()),
        Sampled::Deferred,
        "the propagator marks the deferred decision"
    );
    let id = TraceHeader::parse(header)
        .unwrap()
        .span_context()
        .unwrap()
        .trace_id();
    let result = sampler.should_sample(Some(&cx), id, "s", &SpanKind::Internal, &[], &[]);
    assert_eq!(result.decision, SamplingDecision::RecordAndSample);
    assert_eq!(result.trace_state.get("xray-sampled"), None);
    assert_eq!(result.trace_state.header(), "");
}

#[test]
fn reservoir_holds_across_threads() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
    let sampler = sampler_with(SamplingRule::new("r", 1, 7, 0.0), &clock);
    for second in 0..5u64 {
        let sampled: usize = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..4u64)
                .map(|t| {
                    let sampler = &sampler;
                    scope.spawn(move || {
                        Ids(second * 10 + t)
                            .take(5_000)
                            .filter(|&id| sampler.sample(id, &[]))
                            .count()
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).sum()
        });
        assert_eq!(sampled, 7, "second {second}");
        clock.advance(Duration::from_secs(1));
    }
}
