//! Which rule a span meets: tables of spans against rule sets.

use baton_sampling::{SamplingRule, SamplingRules, XraySampler};
use opentelemetry::KeyValue;

/// The example rule from the X-Ray documentation.
fn production_optimized() -> SamplingRule {
    SamplingRule::new("ProductionOptimizedRule", 1000, 5, 0.05)
        .with_service_name("OrderProcessingAPI")
        .with_http_method("POST")
        .with_url_path("/api/v1/orders*")
}

fn sampler(service: &str, rules: Vec<SamplingRule>) -> XraySampler {
    XraySampler::builder()
        .with_service_name(service)
        .with_local_rules(SamplingRules::new(rules).unwrap())
        .build()
        .unwrap()
}

fn span(method: &str, path: &str) -> Vec<KeyValue> {
    vec![
        KeyValue::new("http.request.method", method.to_owned()),
        KeyValue::new("url.path", path.to_owned()),
    ]
}

/// A service name, the span's attributes, and the rule the span should meet.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn production_optimized_rule_table() {
    #[rustfmt::skip]
    let cases: &[Case<'_>] = &[
        // service, attributes, expected rule
        ("OrderProcessingAPI", &[("http.request.method", "POST"), ("url.path", "/api/v1/orders")], "ProductionOptimizedRule"),
        ("OrderProcessingAPI", &[("http.request.method", "POST"), ("url.path", "/api/v1/orders/42/items")], "ProductionOptimizedRule"),
        ("OrderProcessingAPI", &[("http.request.method", "post"), ("url.path", "/api/v1/orders")], "ProductionOptimizedRule"),
        ("orderprocessingapi", &[("http.request.method", "POST"), ("url.path", "/api/v1/orders")], "ProductionOptimizedRule"),
        // older semantic-convention keys, query string ignored
        ("OrderProcessingAPI", &[("http.method", "POST"), ("http.target", "/api/v1/orders?page=2")], "ProductionOptimizedRule"),
        ("OrderProcessingAPI", &[("http.method", "POST"), ("url.full", "https://shop.example.com/api/v1/orders/7")], "ProductionOptimizedRule"),
        // wrong method, path, or service: the default rule
        ("OrderProcessingAPI", &[("http.request.method", "GET"), ("url.path", "/api/v1/orders")], "Default"),
        ("OrderProcessingAPI", &[("http.request.method", "POST"), ("url.path", "/api/v2/orders")], "Default"),
        ("OrderProcessingAPI", &[("http.request.method", "POST"), ("url.path", "/API/V1/ORDERZ")], "Default"),
        ("OrderProcessingAPI", &[("http.request.method", "POST")], "Default"),
        ("OrderProcessingAPI", &[], "Default"),
        ("InventoryAPI", &[("http.request.method", "POST"), ("url.path", "/api/v1/orders")], "Default"),
        ("", &[("http.request.method", "POST"), ("url.path", "/api/v1/orders")], "Default"),
    ];
    for &(service, attributes, expected) in cases {
        let sampler = sampler(service, vec![production_optimized()]);
        let attributes: Vec<KeyValue> = attributes
            .iter()
            .map(|&(k, v)| KeyValue::new(k, v))
            .collect();
        assert_eq!(
            sampler.matching_rule(&attributes).as_deref(),
            Some(expected),
            "service {service:?}, attributes {attributes:?}"
        );
    }
}

#[test]
fn priority_then_name_decides_the_order() {
    let rules = vec![
        SamplingRule::new("zeta", 10, 0, 0.0).with_url_path("/a*"),
        SamplingRule::new("alpha", 10, 0, 0.0).with_url_path("/a*"),
        SamplingRule::new("first", 5, 0, 0.0).with_url_path("/a/b*"),
        SamplingRule::new("late", 9999, 0, 0.0),
    ];
    let sampler = sampler("svc", rules);
    let names: Vec<String> = sampler.rules().into_iter().map(|r| r.name).collect();
    // "late" matches everything, so no default rule is added after it.
    assert_eq!(names, ["first", "alpha", "zeta", "late"]);

    #[rustfmt::skip]
    let cases = [
        ("/a/b/c", "first"),
        ("/a/x", "alpha"),
        ("/b", "late"),
    ];
    for (path, expected) in cases {
        assert_eq!(
            sampler.matching_rule(&span("GET", path)).as_deref(),
            Some(expected),
            "{path}"
        );
    }
}

#[test]
fn host_service_type_arn_and_attributes() {
    let rules = vec![
        SamplingRule::new("host", 1, 0, 0.0).with_host("*.internal.example.com"),
        SamplingRule::new("lambda-only", 2, 0, 0.0)
            .with_service_type("AWS::Lambda::Function")
            .with_url_path("/lambda"),
        SamplingRule::new("ecs-only", 3, 0, 0.0)
            .with_service_type("AWS::ECS::Container")
            .with_url_path("/ecs"),
        SamplingRule::new("arn", 4, 0, 0.0)
            .with_resource_arn("arn:aws:lambda:*:function:billing*")
            .with_url_path("/arn"),
        SamplingRule::new("premium", 5, 0, 0.0)
            .with_attribute("tenant.tier", "prem*")
            .with_attribute("retries", "0"),
    ];
    let lambda = XraySampler::builder()
        .with_service_name("billing")
        .with_cloud_platform("aws_lambda")
        .with_local_rules(SamplingRules::new(rules.clone()).unwrap())
        .build()
        .unwrap();
    let ecs = XraySampler::builder()
        .with_service_name("billing")
        .with_cloud_platform("aws_ecs")
        .with_resource_arn("arn:aws:ecs:eu-west-1:123:container/abc")
        .with_local_rules(SamplingRules::new(rules).unwrap())
        .build()
        .unwrap();

    let kv = |pairs: &[(&'static str, &'static str)]| -> Vec<KeyValue> {
        pairs.iter().map(|&(k, v)| KeyValue::new(k, v)).collect()
    };
    #[rustfmt::skip]
    let cases: Vec<(&XraySampler, Vec<KeyValue>, &str)> = vec![
        (&lambda, kv(&[("server.address", "api.internal.example.com")]), "host"),
        (&lambda, kv(&[("http.host", "API.INTERNAL.EXAMPLE.COM")]), "host"),
        (&lambda, kv(&[("server.address", "internal.example.com")]), "Default"),
        (&lambda, kv(&[("url.path", "/lambda")]), "lambda-only"),
        (&ecs, kv(&[("url.path", "/lambda")]), "Default"),
        (&ecs, kv(&[("url.path", "/ecs")]), "ecs-only"),
        (&lambda, kv(&[("url.path", "/ecs")]), "Default"),
        // Lambda: no ARN on the resource, so the span's cloud.resource_id is used.
        (&lambda, kv(&[("url.path", "/arn"), ("cloud.resource_id", "arn:aws:lambda:eu-west-1:123:function:billing-v2")]), "arn"),
        (&lambda, kv(&[("url.path", "/arn"), ("cloud.resource_id", "arn:aws:lambda:eu-west-1:123:function:orders")]), "Default"),
        (&lambda, kv(&[("url.path", "/arn")]), "Default"),
        // ECS: the resource's ARN does not match the rule, whatever the span says.
        (&ecs, kv(&[("url.path", "/arn"), ("cloud.resource_id", "arn:aws:lambda:eu-west-1:123:function:billing")]), "Default"),
        (&lambda, kv(&[("tenant.tier", "premium"), ("retries", "0")]), "premium"),
        (&lambda, kv(&[("tenant.tier", "premium")]), "Default"),
        (&lambda, kv(&[("tenant.tier", "basic"), ("retries", "0")]), "Default"),
    ];
    for (sampler, attributes, expected) in cases {
        assert_eq!(
            sampler.matching_rule(&attributes).as_deref(),
            Some(expected),
            "{attributes:?}"
        );
    }
    // Attribute values that are numbers are matched by their text.
    let typed = vec![
        KeyValue::new("tenant.tier", "premium"),
        KeyValue::new("retries", 0i64),
    ];
    assert_eq!(lambda.matching_rule(&typed).as_deref(), Some("premium"));
}

#[test]
fn service_type_from_the_resource() {
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "worker"),
            KeyValue::new("cloud.platform", "aws_ec2"),
        ])
        .build();
    let sampler = XraySampler::builder()
        .with_resource(&resource)
        .with_local_rules(
            SamplingRules::new([SamplingRule::new("ec2-workers", 1, 0, 1.0)
                .with_service_name("work*")
                .with_service_type("AWS::EC2::Instance")])
            .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(sampler.matching_rule(&[]).as_deref(), Some("ec2-workers"));
}
