//! Centralized rules against an in-process stand-in for the X-Ray daemon / ADOT collector.

mod support;

use std::time::{Duration, Instant, UNIX_EPOCH};

use baton_sampling::{
    BuildError, ManualClock, RuleSource, SamplingRule, SamplingRules, XraySampler,
};
use opentelemetry::KeyValue;
use opentelemetry::trace::TraceId;
use serde_json::json;
use support::stub::{Stub, rule, rules};
use tokio::net::TcpListener;

const T: u64 = 1_700_000_000;

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Local rules that never sample, so any sampling shows the centralized rules at work.
fn local_never() -> SamplingRules {
    SamplingRules::new([SamplingRule::new("local", 1, 0, 0.0)]).unwrap()
}

fn path(p: &'static str) -> [KeyValue; 1] {
    [KeyValue::new("url.path", p)]
}

/// Trace ids whose fixed-rate bits are all zero: sampled by any rate above 0.
fn low_id(n: u64) -> TraceId {
    TraceId::from((u128::from(T) << 96) | (u128::from(n) << 64))
}

#[tokio::test]
async fn rules_targets_and_statistics() {
    let stub = Stub::start(rules(vec![
        rule("orders", 10, 10, 0.5, "/orders*"),
        rule("Default", 10000, 1, 0.0, "*"),
    ]))
    .await;
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(T));
    let sampler = XraySampler::builder()
        .with_local_rules(local_never())
        .with_centralized_rules(stub.endpoint())
        .with_clock(clock.clone())
        // Rules are fetched once at start; later only when X-Ray says they changed.
        .with_rules_interval(Duration::from_secs(3600))
        .with_targets_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    eventually("centralized rules", || {
        sampler.source() == RuleSource::Centralized
    })
    .await;
    let names: Vec<String> = sampler.rules().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["orders", "Default"]);
    let rules_request = &stub.requests_to("/GetSamplingRules")[0];
    assert_eq!(rules_request, &json!({"NextToken": null}));

    // No target yet: borrow one a second, then the rule's own fixed rate (0.5; these ids
    // are always within it).
    let mut n = 0;
    let mut decide = |count: usize| {
        (0..count)
            .filter(|_| {
                n += 1;
                sampler.sample(low_id(n), &path("/orders/1"))
            })
            .count()
    };
    assert_eq!(decide(5), 5);
    clock.advance(Duration::from_secs(1));
    assert_eq!(decide(5), 5);

    // Nothing is reported before the rule's first interval is up.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(stub.requests_to("/SamplingTargets").is_empty());

    // The report: 10 requests, all sampled, one borrowed in each of the two seconds.
    stub.push_targets(json!({
        "SamplingTargetDocuments": [{
            "RuleName": "orders", "FixedRate": 0.0, "ReservoirQuota": 3,
            "ReservoirQuotaTTL": (T + 40) as f64, "Interval": 100
        }],
        "LastRuleModification": 0.0,
        "UnprocessedStatistics": []
    }));
    clock.set(UNIX_EPOCH + Duration::from_secs(T + 10));
    eventually("a statistics report", || {
        !stub.requests_to("/SamplingTargets").is_empty()
    })
    .await;
    let report = &stub.requests_to("/SamplingTargets")[0];
    let documents = report["SamplingStatisticsDocuments"].as_array().unwrap();
    assert_eq!(
        documents.len(),
        1,
        "only rules that were used are reported: {report}"
    );
    let document = &documents[0];
    assert_eq!(document["RuleName"], "orders");
    assert_eq!(document["RequestCount"], 10);
    assert_eq!(document["SampledCount"], 10);
    assert_eq!(document["BorrowCount"], 2);
    assert_eq!(document["Timestamp"].as_f64(), Some((T + 10) as f64));
    let client_id = document["ClientID"].as_str().unwrap();
    assert!(
        client_id.len() == 24 && client_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{client_id}"
    );
    // Let the answer be applied (the poller applies it as soon as it arrives; the margin is for
    // a busy machine).
    tokio::time::sleep(Duration::from_millis(1000)).await;

    // The target: quota 3 a second, fixed rate 0.
    clock.advance(Duration::from_secs(1));
    assert_eq!(decide(10), 3);
    clock.advance(Duration::from_secs(1));
    assert_eq!(decide(10), 3);

    // Past the quota's TTL: borrowing again, one a second; the target's rate stays.
    clock.set(UNIX_EPOCH + Duration::from_secs(T + 41));
    assert_eq!(decide(10), 1);

    // Second report (due at the target's interval, 100 s after the first): 30 requests,
    // 7 sampled, 1 borrowed. X-Ray says the rules changed since they were fetched: they are
    // fetched again.
    stub.set_rules(rules(vec![
        rule("health", 5, 0, 0.0, "/health"),
        rule("orders", 10, 10, 0.5, "/orders*"),
        rule("Default", 10000, 1, 0.0, "*"),
    ]));
    stub.push_targets(json!({
        "SamplingTargetDocuments": [],
        "LastRuleModification": (T + 41) as f64,
        "UnprocessedStatistics": []
    }));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        stub.requests_to("/SamplingTargets").len(),
        1,
        "not due before T+110"
    );
    clock.set(UNIX_EPOCH + Duration::from_secs(T + 110));
    eventually("a second report", || {
        stub.requests_to("/SamplingTargets").len() >= 2
    })
    .await;
    let second = &stub.requests_to("/SamplingTargets")[1]["SamplingStatisticsDocuments"][0];
    assert_eq!(second["RuleName"], "orders");
    assert_eq!(
        (
            &second["RequestCount"],
            &second["SampledCount"],
            &second["BorrowCount"]
        ),
        (&json!(30), &json!(7), &json!(1))
    );
    eventually("the changed rules", || {
        sampler.matching_rule(&path("/health")).as_deref() == Some("health")
    })
    .await;
    assert_eq!(stub.requests_to("/GetSamplingRules").len(), 2);
    assert_eq!(
        sampler.matching_rule(&path("/orders/2")).as_deref(),
        Some("orders")
    );
    // The unchanged rule kept its state: its quota ran out at T+40, so it borrows; the
    // target's fixed rate (0) still applies.
    clock.advance(Duration::from_secs(1));
    assert_eq!(decide(10), 1);
}

#[tokio::test]
async fn endpoint_down_keeps_rules_then_falls_back_to_local_and_resumes() {
    let mut stub = Stub::start(rules(vec![rule("central", 1, 0, 1.0, "*")])).await;
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(T));
    let sampler = XraySampler::builder()
        .with_local_rules(local_never())
        .with_centralized_rules(stub.endpoint())
        .with_clock(clock.clone())
        .with_rules_interval(Duration::from_millis(20))
        .with_targets_interval(Duration::from_millis(20))
        .with_request_timeout(Duration::from_millis(200))
        .with_rules_max_age(Duration::from_secs(60))
        .build()
        .unwrap();
    eventually("centralized rules", || {
        sampler.source() == RuleSource::Centralized
    })
    .await;
    assert!(sampler.sample(low_id(1), &[]));

    // Down: the last rules stay in use while they are young enough...
    stub.stop().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    clock.advance(Duration::from_secs(30));
    assert_eq!(sampler.source(), RuleSource::Centralized);
    assert_eq!(sampler.matching_rule(&[]).as_deref(), Some("central"));
    assert!(sampler.sample(low_id(2), &[]));

    // ...then the local rules decide.
    clock.advance(Duration::from_secs(31));
    assert_eq!(sampler.source(), RuleSource::Local);
    assert_eq!(sampler.matching_rule(&[]).as_deref(), Some("local"));
    assert!(!sampler.sample(low_id(3), &[]));

    // Back: centralized rules again.
    stub.restart().await;
    eventually("centralized rules again", || {
        sampler.source() == RuleSource::Centralized
    })
    .await;
    assert!(sampler.sample(low_id(4), &[]));
    assert_eq!(sampler.matching_rule(&[]).as_deref(), Some("central"));
}

#[tokio::test]
async fn no_endpoint_means_local_rules() {
    // Nothing listens on this port (bound, then released).
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let sampler = XraySampler::builder()
        .with_local_rules(local_never())
        .with_centralized_rules(format!("http://{addr}"))
        .with_rules_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sampler.source(), RuleSource::Local);
    assert_eq!(sampler.matching_rule(&[]).as_deref(), Some("local"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_never_waits_for_the_network() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            sockets.push(socket);
        }
    });
    let sampler = XraySampler::builder()
        .with_centralized_rules(format!("http://{addr}"))
        .with_rules_interval(Duration::from_millis(5))
        .with_targets_interval(Duration::from_millis(5))
        .with_request_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for n in 0..100_000u64 {
        let one = Instant::now();
        std::hint::black_box(sampler.sample(low_id(n), &path("/orders")));
        slowest = slowest.max(one.elapsed());
    }
    let total = started.elapsed();
    assert_eq!(sampler.source(), RuleSource::Local);
    // Generous bounds for a debug build on a busy machine; a decision that waited for the
    // endpoint would take the request timeout (30 s).
    assert!(
        total < Duration::from_secs(5),
        "100,000 decisions took {total:?}"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "slowest decision {slowest:?}"
    );
    held.abort();
}

#[test]
fn centralized_rules_need_a_runtime() {
    let error = XraySampler::builder()
        .with_centralized_rules("http://127.0.0.1:2000")
        .build()
        .unwrap_err();
    assert!(matches!(error, BuildError::NoRuntime), "{error}");
    let error = XraySampler::builder()
        .with_centralized_rules("https://xray.example.com")
        .build()
        .unwrap_err();
    assert!(
        matches!(error, BuildError::InvalidEndpoint { .. }),
        "{error}"
    );
    // Local rules need no runtime.
    assert!(XraySampler::builder().build().is_ok());
}

#[test]
fn a_zero_interval_is_refused_rather_than_polled_without_pause() {
    for (builder, setting) in [
        (
            XraySampler::builder().with_rules_interval(Duration::ZERO),
            "with_rules_interval",
        ),
        (
            XraySampler::builder().with_targets_interval(Duration::ZERO),
            "with_targets_interval",
        ),
        (
            XraySampler::builder().with_request_timeout(Duration::ZERO),
            "with_request_timeout",
        ),
    ] {
        let error = builder.build().unwrap_err();
        assert!(
            matches!(error, BuildError::ZeroInterval { setting: s } if s == setting),
            "{error}"
        );
    }
}

#[tokio::test]
async fn pollers_stop_when_the_sampler_is_dropped() {
    let stub = Stub::start(rules(vec![rule("central", 1, 0, 1.0, "*")])).await;
    let sampler = XraySampler::builder()
        .with_centralized_rules(stub.endpoint())
        .with_rules_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    eventually("centralized rules", || {
        sampler.source() == RuleSource::Centralized
    })
    .await;
    drop(sampler);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let fetches = stub.requests_to("/GetSamplingRules").len();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(stub.requests_to("/GetSamplingRules").len(), fetches);
}

#[tokio::test]
async fn a_rule_the_sampler_cannot_read_is_skipped_not_fatal() {
    let mut broken = rule("broken", 1, 0, 1.0, "*");
    broken["SamplingRule"]["FixedRate"] = json!(2.5);
    let stub = Stub::start(rules(vec![broken, rule("good", 2, 0, 1.0, "*")])).await;
    let sampler = XraySampler::builder()
        .with_local_rules(local_never())
        .with_centralized_rules(stub.endpoint())
        .build()
        .unwrap();
    eventually("centralized rules", || {
        sampler.source() == RuleSource::Centralized
    })
    .await;
    let names: Vec<String> = sampler.rules().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["good"]);

    // An answer that is not a rules document leaves the rules as they are.
    stub.set_rules(json!({"message": "throttled"}));
    let asked_before = stub.requests_to("/GetSamplingRules").len();
    let sampler_with_garbage = XraySampler::builder()
        .with_local_rules(local_never())
        .with_centralized_rules(stub.endpoint())
        .build()
        .unwrap();
    // Only once the garbage has been fetched does "still local" mean something.
    eventually("a fetch of the garbage", || {
        stub.requests_to("/GetSamplingRules").len() > asked_before
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(sampler_with_garbage.source(), RuleSource::Local);
}

#[tokio::test]
async fn an_answer_larger_than_a_mebibyte_is_refused_not_held() {
    // Well-formed rules, padded past 1 MiB: read whole, they would be taken.
    let mut document = rules(vec![rule("good", 1, 0, 1.0, "*")]);
    document["Padding"] = json!("x".repeat(1024 * 1024));
    let stub = Stub::start(document).await;
    let sampler = XraySampler::builder()
        .with_local_rules(local_never())
        .with_centralized_rules(stub.endpoint())
        .build()
        .unwrap();
    eventually("a fetch of the rules", || {
        !stub.requests_to("/GetSamplingRules").is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sampler.source(), RuleSource::Local);

    // The same rules without the padding are taken.
    stub.set_rules(rules(vec![rule("good", 1, 0, 1.0, "*")]));
    let sampler = XraySampler::builder()
        .with_local_rules(local_never())
        .with_centralized_rules(stub.endpoint())
        .build()
        .unwrap();
    eventually("centralized rules", || {
        sampler.source() == RuleSource::Centralized
    })
    .await;
}
