//! Sampling rule definitions and the two JSON formats they come in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The priority given to the catch-all rule: after every rule a user or X-Ray can define
/// (X-Ray's own `Default` rule uses 10000; user rules are 1 to 9999).
pub const DEFAULT_RULE_PRIORITY: u32 = 10_000;

/// The name X-Ray gives its catch-all rule.
pub const DEFAULT_RULE_NAME: &str = "Default";

/// One X-Ray sampling rule: which spans it applies to, and how many of them to sample.
///
/// A span is sampled by the first rule (lowest [`priority`](Self::priority), ties broken by
/// name) whose patterns all match. That rule samples the first
/// [`reservoir_size`](Self::reservoir_size) spans each second and
/// [`fixed_rate`](Self::fixed_rate) of the rest. Patterns are [`Glob`](crate::Glob)s.
///
/// ```
/// use baton_sampling::SamplingRule;
///
/// let rule = SamplingRule::new("ProductionOptimizedRule", 1000, 5, 0.05)
///     .with_service_name("OrderProcessingAPI")
///     .with_http_method("POST")
///     .with_url_path("/api/v1/orders*");
/// assert_eq!(rule.host, "*");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SamplingRule {
    /// `RuleName`: identifies the rule in statistics sent to X-Ray and in error messages.
    pub name: String,
    /// `Priority`: lower is tried first.
    pub priority: u32,
    /// `ReservoirSize`: spans sampled each second before the fixed rate applies. For local rules
    /// this is per process; for centralized rules X-Ray shares it out between processes.
    pub reservoir_size: u32,
    /// `FixedRate`: share (0 to 1) of the spans beyond the reservoir that are sampled.
    pub fixed_rate: f64,
    /// `ServiceName`: matched against the resource's `service.name`.
    pub service_name: String,
    /// `ServiceType`: matched against the X-Ray origin derived from `cloud.platform`
    /// (`AWS::EC2::Instance`, `AWS::ECS::Container`, `AWS::Lambda::Function`, …).
    pub service_type: String,
    /// `Host`: matched against `server.address` (or the older `http.host` / `net.host.name`).
    pub host: String,
    /// `HTTPMethod`: matched against `http.request.method` (or the older `http.method`).
    pub http_method: String,
    /// `URLPath`: matched against `url.path` (or the path of `http.target`, `url.full`,
    /// `http.url`), without the query string.
    pub url_path: String,
    /// `ResourceARN`: matched against the ARN of the resource the service runs on
    /// (`aws.ecs.container.arn`, or `cloud.resource_id`).
    pub resource_arn: String,
    /// `Attributes`: span attributes that must all be present and match.
    pub attributes: BTreeMap<String, String>,
}

impl SamplingRule {
    /// A rule that matches every span (all patterns `*`), with the given name, priority,
    /// reservoir and rate.
    pub fn new(
        name: impl Into<String>,
        priority: u32,
        reservoir_size: u32,
        fixed_rate: f64,
    ) -> Self {
        SamplingRule {
            name: name.into(),
            priority,
            reservoir_size,
            fixed_rate,
            service_name: "*".into(),
            service_type: "*".into(),
            host: "*".into(),
            http_method: "*".into(),
            url_path: "*".into(),
            resource_arn: "*".into(),
            attributes: BTreeMap::new(),
        }
    }

    /// X-Ray's default: one span a second and 5% of the rest, matching everything.
    pub fn default_rule() -> Self {
        SamplingRule::new(DEFAULT_RULE_NAME, DEFAULT_RULE_PRIORITY, 1, 0.05)
    }

    /// Sets the `ServiceName` pattern.
    pub fn with_service_name(mut self, pattern: impl Into<String>) -> Self {
        self.service_name = pattern.into();
        self
    }

    /// Sets the `ServiceType` pattern.
    pub fn with_service_type(mut self, pattern: impl Into<String>) -> Self {
        self.service_type = pattern.into();
        self
    }

    /// Sets the `Host` pattern.
    pub fn with_host(mut self, pattern: impl Into<String>) -> Self {
        self.host = pattern.into();
        self
    }

    /// Sets the `HTTPMethod` pattern.
    pub fn with_http_method(mut self, pattern: impl Into<String>) -> Self {
        self.http_method = pattern.into();
        self
    }

    /// Sets the `URLPath` pattern.
    pub fn with_url_path(mut self, pattern: impl Into<String>) -> Self {
        self.url_path = pattern.into();
        self
    }

    /// Sets the `ResourceARN` pattern.
    pub fn with_resource_arn(mut self, pattern: impl Into<String>) -> Self {
        self.resource_arn = pattern.into();
        self
    }

    /// Adds an `Attributes` entry: the span attribute `key` must be present and match `pattern`.
    pub fn with_attribute(mut self, key: impl Into<String>, pattern: impl Into<String>) -> Self {
        self.attributes.insert(key.into(), pattern.into());
        self
    }

    fn validate(&self) -> Result<(), RulesError> {
        if !(0.0..=1.0).contains(&self.fixed_rate) {
            return Err(RulesError::field(
                &self.name,
                "FixedRate",
                format!("must be a number from 0 to 1, found {}", self.fixed_rate),
            ));
        }
        Ok(())
    }
}

/// An ordered set of sampling rules, as the sampler uses them: sorted by priority, then name,
/// and ending with a catch-all rule.
///
/// Read one from either JSON format with [`from_json`](Self::from_json) or
/// [`from_path`](Self::from_path):
/// - the X-Ray API's documents, as `aws xray get-sampling-rules` prints them
///   (`{"SamplingRuleRecords": [{"SamplingRule": {...}}, ...]}`); if none of them matches
///   everything, X-Ray's default (1 a second, 5% beyond) is added last;
/// - the X-Ray SDKs' local rules file (`"version": 2` with `rules` and `default`, or the older
///   `"version": 1`, where `service_name` stands for the host). Its rules keep the order they
///   are written in, and `default` comes last.
///
/// ```
/// use baton_sampling::SamplingRules;
///
/// let rules = SamplingRules::from_json(r#"{
///     "version": 2,
///     "rules": [{ "description": "Player moves", "host": "*", "http_method": "*",
///                 "url_path": "/api/move/*", "fixed_target": 0, "rate": 0.05 }],
///     "default": { "fixed_target": 1, "rate": 0.1 }
/// }"#)?;
/// assert_eq!(rules.rules()[0].name, "Player moves");
/// assert_eq!(rules.rules()[1].name, "Default");
/// # Ok::<(), baton_sampling::RulesError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingRules {
    rules: Vec<SamplingRule>,
}

impl Default for SamplingRules {
    /// X-Ray's default rule alone: one span a second and 5% of the rest.
    fn default() -> Self {
        SamplingRules {
            rules: vec![SamplingRule::default_rule()],
        }
    }
}

impl SamplingRules {
    /// Sorts and checks `rules`; adds X-Ray's default rule last unless one of them already
    /// matches everything.
    pub fn new(rules: impl IntoIterator<Item = SamplingRule>) -> Result<Self, RulesError> {
        let mut rules: Vec<SamplingRule> = rules.into_iter().collect();
        for rule in &rules {
            rule.validate()?;
        }
        rules.sort_by(|a, b| {
            a.priority
                .cmp(&b.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        if !rules.iter().any(is_catch_all) {
            rules.push(SamplingRule::default_rule());
        }
        Ok(SamplingRules { rules })
    }

    /// Reads rules from JSON in either format (see the type's documentation).
    pub fn from_json(json: &str) -> Result<Self, RulesError> {
        let document: Value = serde_json::from_str(json).map_err(RulesError::Json)?;
        let Value::Object(top) = &document else {
            return Err(RulesError::Format(
                "expected a JSON object with `SamplingRuleRecords` or `version`".into(),
            ));
        };
        if top.contains_key("SamplingRuleRecords") {
            let (rules, mut errors) = api_rules(&document);
            match errors.drain(..).next() {
                Some(error) => Err(error),
                None => SamplingRules::new(rules),
            }
        } else if top.contains_key("version") {
            SamplingRules::new(sdk_rules(top)?)
        } else {
            Err(RulesError::Format(
                "expected `SamplingRuleRecords` (X-Ray API format) or `version` (X-Ray SDK \
                 local rules format) at the top level"
                    .into(),
            ))
        }
    }

    /// Reads rules from a JSON file in either format.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, RulesError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|source| RulesError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        SamplingRules::from_json(&json)
    }

    /// The rules in the order they are tried.
    pub fn rules(&self) -> &[SamplingRule] {
        &self.rules
    }
}

fn is_catch_all(rule: &SamplingRule) -> bool {
    [
        &rule.service_name,
        &rule.service_type,
        &rule.host,
        &rule.http_method,
        &rule.url_path,
        &rule.resource_arn,
    ]
    .iter()
    .all(|p| !p.is_empty() && p.bytes().all(|b| b == b'*'))
        && rule.attributes.is_empty()
}

/// Why sampling rules could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// The file could not be read.
    #[error("sampling rules: cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The text is not JSON.
    #[error("sampling rules: not valid JSON: {0}")]
    Json(serde_json::Error),
    /// The JSON is not one of the two rule formats, or names a version this crate does not read.
    #[error("sampling rules: {0}")]
    Format(String),
    /// One field of one rule is missing or wrong.
    #[error("sampling rule `{rule}`: field `{field}` {problem}")]
    Field {
        /// The rule's name (or, if it has none, where it is: `SamplingRuleRecords[2]`).
        rule: String,
        /// The field, as the file spells it.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl RulesError {
    fn field(rule: &str, field: &str, problem: impl Into<String>) -> Self {
        RulesError::Field {
            rule: rule.into(),
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The rule at fault, if the error is about one rule.
    pub fn rule(&self) -> Option<&str> {
        match self {
            RulesError::Field { rule, .. } => Some(rule),
            _ => None,
        }
    }

    /// The field at fault, if the error is about one field.
    pub fn field_name(&self) -> Option<&str> {
        match self {
            RulesError::Field { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Reads one field of one rule, with errors that name both.
struct Fields<'a> {
    rule: String,
    map: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn err(&self, field: &str, problem: impl Into<String>) -> RulesError {
        RulesError::field(&self.rule, field, problem)
    }

    fn string(&self, field: &str) -> Result<Option<String>, RulesError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.err(field, format!("must be a string, found {other}"))),
        }
    }

    fn required_string(&self, field: &str) -> Result<String, RulesError> {
        self.string(field)?
            .ok_or_else(|| self.err(field, "is missing (use \"*\" to match anything)"))
    }

    fn count(&self, field: &str) -> Result<Option<u32>, RulesError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => Ok(Some(n)),
                None => Err(self.err(field, format!("must be a whole number from 0, found {n}"))),
            },
            Some(other) => Err(self.err(
                field,
                format!("must be a whole number from 0, found {other}"),
            )),
        }
    }

    fn required_count(&self, field: &str) -> Result<u32, RulesError> {
        self.count(field)?
            .ok_or_else(|| self.err(field, "is missing"))
    }

    fn rate(&self, field: &str) -> Result<f64, RulesError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Err(self.err(field, "is missing")),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
                _ => Err(self.err(field, format!("must be a number from 0 to 1, found {n}"))),
            },
            Some(other) => Err(self.err(
                field,
                format!("must be a number from 0 to 1, found {other}"),
            )),
        }
    }

    fn attributes(&self, field: &str) -> Result<BTreeMap<String, String>, RulesError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(key, value)| match value {
                    Value::String(pattern) => Ok((key.clone(), pattern.clone())),
                    other => Err(self.err(
                        field,
                        format!("entry `{key}` must be a string, found {other}"),
                    )),
                })
                .collect(),
            Some(other) => Err(self.err(
                field,
                format!("must be an object of strings, found {other}"),
            )),
        }
    }
}

/// The rules of an X-Ray API document (`GetSamplingRules` output), each either read or refused.
/// The caller decides whether one bad rule spoils the lot (a file) or is skipped (the service).
pub(crate) fn api_rules(document: &Value) -> (Vec<SamplingRule>, Vec<RulesError>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    let records = match document.get("SamplingRuleRecords") {
        Some(Value::Array(records)) => records,
        Some(Value::Null) | None => return (rules, errors),
        Some(other) => {
            errors.push(RulesError::Format(format!(
                "`SamplingRuleRecords` must be an array, found {other}"
            )));
            return (rules, errors);
        }
    };
    for (index, record) in records.iter().enumerate() {
        match api_rule(index, record) {
            Ok(rule) => rules.push(rule),
            Err(error) => errors.push(error),
        }
    }
    (rules, errors)
}

fn api_rule(index: usize, record: &Value) -> Result<SamplingRule, RulesError> {
    let place = format!("SamplingRuleRecords[{index}]");
    let Some(Value::Object(map)) = record.get("SamplingRule") else {
        return Err(RulesError::field(
            &place,
            "SamplingRule",
            "is missing or not an object",
        ));
    };
    let mut fields = Fields { rule: place, map };
    let name = fields.required_string("RuleName")?;
    fields.rule = name.clone();
    if let Some(version) = map.get("Version")
        && version.as_u64() != Some(1)
    {
        return Err(fields.err(
            "Version",
            format!("must be 1 (the only rule version X-Ray defines), found {version}"),
        ));
    }
    Ok(SamplingRule {
        name,
        priority: fields.required_count("Priority")?,
        reservoir_size: fields.required_count("ReservoirSize")?,
        fixed_rate: fields.rate("FixedRate")?,
        service_name: fields.required_string("ServiceName")?,
        service_type: fields.required_string("ServiceType")?,
        host: fields.required_string("Host")?,
        http_method: fields.required_string("HTTPMethod")?,
        url_path: fields.required_string("URLPath")?,
        resource_arn: fields.required_string("ResourceARN")?,
        attributes: fields.attributes("Attributes")?,
    })
}

/// The X-Ray SDKs' local rules file.
fn sdk_rules(top: &Map<String, Value>) -> Result<Vec<SamplingRule>, RulesError> {
    let version = match top.get("version").and_then(Value::as_u64) {
        Some(v @ (1 | 2)) => v,
        _ => {
            return Err(RulesError::Format(format!(
                "`version` must be 1 or 2, found {}",
                top.get("version").unwrap_or(&Value::Null)
            )));
        }
    };
    // Version 1 called the host pattern `service_name`.
    let host_field = if version == 2 { "host" } else { "service_name" };
    let mut rules = Vec::new();
    match top.get("rules") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (index, value) in list.iter().enumerate() {
                let place = format!("rules[{index}]");
                let Value::Object(map) = value else {
                    return Err(RulesError::Format(format!("`{place}` must be an object")));
                };
                let mut fields = Fields { rule: place, map };
                let name = match fields.string("description")? {
                    Some(description) if !description.is_empty() => description,
                    _ => fields.rule.clone(),
                };
                fields.rule = name.clone();
                let priority = u32::try_from(index + 1).unwrap_or(u32::MAX);
                let mut rule = SamplingRule::new(
                    name,
                    priority,
                    fields.required_count("fixed_target")?,
                    fields.rate("rate")?,
                );
                rule.host = fields.required_string(host_field)?;
                rule.http_method = fields.required_string("http_method")?;
                rule.url_path = fields.required_string("url_path")?;
                rules.push(rule);
            }
        }
        Some(other) => {
            return Err(RulesError::Format(format!(
                "`rules` must be an array, found {other}"
            )));
        }
    }
    let Some(Value::Object(map)) = top.get("default") else {
        return Err(RulesError::field(
            DEFAULT_RULE_NAME,
            "default",
            "is missing or not an object: the local rules file must give a default rule",
        ));
    };
    let fields = Fields {
        rule: DEFAULT_RULE_NAME.into(),
        map,
    };
    for field in [host_field, "http_method", "url_path"] {
        if map.contains_key(field) {
            return Err(fields.err(field, "is not allowed in the default rule"));
        }
    }
    rules.push(SamplingRule::new(
        DEFAULT_RULE_NAME,
        DEFAULT_RULE_PRIORITY,
        fields.required_count("fixed_target")?,
        fields.rate("rate")?,
    ));
    Ok(rules)
}
