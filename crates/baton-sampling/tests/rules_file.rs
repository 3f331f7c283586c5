//! Reading rule files in both formats, and refusing bad ones with an error that says where.

use baton_sampling::{RulesError, SamplingRule, SamplingRules};

/// As `aws xray get-sampling-rules` prints it (shortened from the X-Ray documentation, plus the
/// `ProductionOptimizedRule` example).
const API_FORMAT: &str = r#"{
    "SamplingRuleRecords": [
        {
            "SamplingRule": {
                "RuleName": "Default",
                "RuleARN": "arn:aws:xray:us-east-1::sampling-rule/Default",
                "ResourceARN": "*", "Priority": 10000, "FixedRate": 0.01, "ReservoirSize": 0,
                "ServiceName": "*", "ServiceType": "*", "Host": "*", "HTTPMethod": "*",
                "URLPath": "*", "Version": 1, "Attributes": {}
            },
            "CreatedAt": 0.0, "ModifiedAt": 1530558121.0
        },
        {
            "SamplingRule": {
                "RuleName": "ProductionOptimizedRule",
                "RuleARN": "arn:aws:xray:us-east-1:123456789012:sampling-rule/ProductionOptimizedRule",
                "ResourceARN": "*", "Priority": 1000, "FixedRate": 0.05, "ReservoirSize": 5,
                "ServiceName": "OrderProcessingAPI", "ServiceType": "*", "Host": "*",
                "HTTPMethod": "POST", "URLPath": "/api/v1/orders*", "Version": 1,
                "Attributes": { "tenant": "gold*" }
            },
            "CreatedAt": 1530573954.0, "ModifiedAt": 1530920505.0
        },
        {
            "SamplingRule": {
                "RuleName": "polling-scorekeep",
                "ResourceARN": "*", "Priority": 5000, "FixedRate": 0.003, "ReservoirSize": 0,
                "ServiceName": "Scorekeep", "ServiceType": "*", "Host": "*", "HTTPMethod": "GET",
                "URLPath": "/api/state/*", "Version": 1, "Attributes": {}
            }
        }
    ]
}"#;

#[test]
fn api_format_is_read_and_ordered_by_priority() {
    let rules = SamplingRules::from_json(API_FORMAT).unwrap();
    let names: Vec<&str> = rules.rules().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["ProductionOptimizedRule", "polling-scorekeep", "Default"]
    );
    let expected = SamplingRule::new("ProductionOptimizedRule", 1000, 5, 0.05)
        .with_service_name("OrderProcessingAPI")
        .with_http_method("POST")
        .with_url_path("/api/v1/orders*")
        .with_attribute("tenant", "gold*");
    assert_eq!(rules.rules()[0], expected);
    // The service's own Default rule is kept as written (1%, no reservoir), not replaced.
    let default = &rules.rules()[2];
    assert_eq!((default.reservoir_size, default.fixed_rate), (0, 0.01));
}

#[test]
fn api_format_without_a_catch_all_gets_the_default_rule() {
    let json = r#"{"SamplingRuleRecords":[{"SamplingRule":{
        "RuleName":"only-posts","ResourceARN":"*","Priority":1,"FixedRate":1,"ReservoirSize":0,
        "ServiceName":"*","ServiceType":"*","Host":"*","HTTPMethod":"POST","URLPath":"*"}}]}"#;
    let rules = SamplingRules::from_json(json).unwrap();
    assert_eq!(rules.rules().len(), 2);
    assert_eq!(rules.rules()[1], SamplingRule::default_rule());
}

#[test]
fn sdk_format_version_2() {
    let json = r#"{
        "version": 2,
        "rules": [
            { "description": "Player moves.", "host": "*", "http_method": "*",
              "url_path": "/api/move/*", "fixed_target": 0, "rate": 0.05 },
            { "description": "Health", "host": "*", "http_method": "GET",
              "url_path": "/health", "fixed_target": 0, "rate": 0 },
            { "host": "admin.*", "http_method": "*", "url_path": "*",
              "fixed_target": 2, "rate": 1.0 }
        ],
        "default": { "fixed_target": 1, "rate": 0.1 }
    }"#;
    let rules = SamplingRules::from_json(json).unwrap();
    let got: Vec<(&str, u32, f64, &str, &str, &str)> = rules
        .rules()
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.reservoir_size,
                r.fixed_rate,
                r.host.as_str(),
                r.http_method.as_str(),
                r.url_path.as_str(),
            )
        })
        .collect();
    #[rustfmt::skip]
    assert_eq!(got, [
        // rules keep the order they are written in; the default comes last
        ("Player moves.", 0, 0.05, "*", "*", "/api/move/*"),
        ("Health", 0, 0.0, "*", "GET", "/health"),
        ("rules[2]", 2, 1.0, "admin.*", "*", "*"),
        ("Default", 1, 0.1, "*", "*", "*"),
    ]);
}

#[test]
fn sdk_format_version_1_calls_the_host_service_name() {
    let json = r#"{
        "version": 1,
        "rules": [{ "description": "api", "service_name": "api.example.com",
                    "http_method": "*", "url_path": "*", "fixed_target": 3, "rate": 0.5 }],
        "default": { "fixed_target": 1, "rate": 0.05 }
    }"#;
    let rules = SamplingRules::from_json(json).unwrap();
    assert_eq!(rules.rules()[0].host, "api.example.com");
    assert_eq!(rules.rules()[0].service_name, "*");
}

#[test]
fn from_path_reads_a_file_and_names_a_missing_one() {
    let dir = std::env::temp_dir().join(format!("baton-sampling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rules.json");
    std::fs::write(&path, API_FORMAT).unwrap();
    assert_eq!(SamplingRules::from_path(&path).unwrap().rules().len(), 3);
    let missing = dir.join("missing.json");
    let error = SamplingRules::from_path(&missing).unwrap_err();
    assert!(matches!(error, RulesError::Io { .. }));
    assert!(error.to_string().contains("missing.json"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn api_rule(fields: &str) -> String {
    format!(r#"{{"SamplingRuleRecords":[{{"SamplingRule":{{{fields}}}}}]}}"#)
}

const GOOD: &str = r#""ResourceARN":"*","ServiceName":"*","ServiceType":"*","Host":"*","HTTPMethod":"*","URLPath":"*""#;

#[test]
fn bad_files_name_the_field_and_the_rule() {
    #[rustfmt::skip]
    let cases: Vec<(String, Option<&str>, Option<&str>, &str)> = vec![
        // document, rule, field, words in the message
        (api_rule(&format!(r#""RuleName":"r1","Priority":1,"FixedRate":1.5,"ReservoirSize":1,{GOOD}"#)),
            Some("r1"), Some("FixedRate"), "from 0 to 1"),
        (api_rule(&format!(r#""RuleName":"r2","Priority":1,"FixedRate":"half","ReservoirSize":1,{GOOD}"#)),
            Some("r2"), Some("FixedRate"), "\"half\""),
        (api_rule(&format!(r#""RuleName":"r3","Priority":1,"FixedRate":0.1,"ReservoirSize":-1,{GOOD}"#)),
            Some("r3"), Some("ReservoirSize"), "whole number"),
        (api_rule(&format!(r#""RuleName":"r4","FixedRate":0.1,"ReservoirSize":1,{GOOD}"#)),
            Some("r4"), Some("Priority"), "missing"),
        (api_rule(r#""RuleName":"r5","Priority":1,"FixedRate":0.1,"ReservoirSize":1,"ServiceName":"*""#),
            Some("r5"), Some("ServiceType"), "missing"),
        (api_rule(&format!(r#""RuleName":"r6","Priority":1,"FixedRate":0.1,"ReservoirSize":1,"Attributes":{{"k":1}},{GOOD}"#)),
            Some("r6"), Some("Attributes"), "`k`"),
        (api_rule(&format!(r#""RuleName":"r7","Priority":1,"FixedRate":0.1,"ReservoirSize":1,"Version":2,{GOOD}"#)),
            Some("r7"), Some("Version"), "must be 1"),
        (api_rule(&format!(r#""Priority":1,"FixedRate":0.1,"ReservoirSize":1,{GOOD}"#)),
            Some("SamplingRuleRecords[0]"), Some("RuleName"), "missing"),
        (r#"{"SamplingRuleRecords":[{"NotARule":{}}]}"#.into(),
            Some("SamplingRuleRecords[0]"), Some("SamplingRule"), "missing"),
        (r#"{"version":2,"rules":[{"description":"moves","host":"*","http_method":"*","fixed_target":1,"rate":0.1}],"default":{"fixed_target":1,"rate":0.1}}"#.into(),
            Some("moves"), Some("url_path"), "missing"),
        (r#"{"version":2,"rules":[{"host":"*","http_method":"*","url_path":"*","fixed_target":1.5,"rate":0.1}],"default":{"fixed_target":1,"rate":0.1}}"#.into(),
            Some("rules[0]"), Some("fixed_target"), "whole number"),
        (r#"{"version":2,"rules":[],"default":{"fixed_target":1,"rate":2}}"#.into(),
            Some("Default"), Some("rate"), "from 0 to 1"),
        (r#"{"version":2,"rules":[],"default":{"fixed_target":1,"rate":0.1,"url_path":"/x"}}"#.into(),
            Some("Default"), Some("url_path"), "not allowed"),
        (r#"{"version":2,"rules":[]}"#.into(),
            Some("Default"), Some("default"), "missing"),
        (r#"{"version":3,"rules":[],"default":{"fixed_target":1,"rate":0.1}}"#.into(),
            None, None, "`version` must be 1 or 2"),
        (r#"{"rules":[]}"#.into(), None, None, "SamplingRuleRecords"),
        (r#"[1,2,3]"#.into(), None, None, "JSON object"),
        (r#"{"SamplingRuleRecords": "#.into(), None, None, "not valid JSON"),
        (String::new(), None, None, "not valid JSON"),
    ];
    for (document, rule, field, words) in cases {
        let error = SamplingRules::from_json(&document).unwrap_err();
        let message = error.to_string();
        assert_eq!(error.rule(), rule, "{message}");
        assert_eq!(error.field_name(), field, "{message}");
        assert!(message.contains(words), "{message:?} should say {words:?}");
        if let (Some(rule), Some(field)) = (rule, field) {
            assert!(
                message.contains(rule) && message.contains(field),
                "{message}"
            );
        }
    }
}

#[test]
fn rules_built_in_code_are_checked_too() {
    let error = SamplingRules::new([SamplingRule::new("negative", 1, 0, -0.1)]).unwrap_err();
    assert_eq!(error.rule(), Some("negative"));
    assert_eq!(error.field_name(), Some("FixedRate"));
}

#[test]
fn no_input_panics() {
    // Truncations and byte flips of valid documents: errors or rules, never a panic.
    for document in [
        API_FORMAT,
        r#"{"version":2,"rules":[{"description":"d","host":"*","http_method":"*","url_path":"*","fixed_target":1,"rate":0.1}],"default":{"fixed_target":1,"rate":0.1}}"#,
    ] {
        for end in 0..document.len() {
            if document.is_char_boundary(end) {
                let _ = SamplingRules::from_json(&document[..end]);
            }
        }
        let bytes = document.as_bytes();
        for at in 0..bytes.len() {
            for replacement in [b'"', b'1', b'-', b'{', b']', b'x'] {
                let mut changed = bytes.to_vec();
                changed[at] = replacement;
                if let Ok(text) = std::str::from_utf8(&changed) {
                    let _ = SamplingRules::from_json(text);
                }
            }
        }
    }
}
