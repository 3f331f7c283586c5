//! Centralized rules: `GetSamplingRules` and `GetSamplingTargets` through the X-Ray daemon or an
//! ADOT collector, which sign and forward them to X-Ray. Runs on tokio tasks that share nothing
//! with a decision but the rule set and its atomics.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;

use crate::clock::{epoch_seconds, epoch_seconds_f64};
use crate::engine::{CompiledRule, Counts, Target};
use crate::rules::{SamplingRule, api_rules};
use crate::sampler::{BuildError, Shared};

/// Paths the daemon and the collector's X-Ray proxy serve.
const RULES_PATH: &str = "/GetSamplingRules";
const TARGETS_PATH: &str = "/SamplingTargets";
/// Pages of rules read at most in one refresh (X-Ray pages rules in hundreds).
const MAX_RULE_PAGES: usize = 20;

/// The endpoint's two URLs, checked when the sampler is built.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    rules: Uri,
    targets: Uri,
}

impl Endpoint {
    pub(crate) fn parse(endpoint: &str) -> Result<Self, BuildError> {
        let invalid = |reason: &str| BuildError::InvalidEndpoint {
            endpoint: endpoint.to_owned(),
            reason: reason.to_owned(),
        };
        let base = endpoint.trim_end_matches('/');
        let uri: Uri = base
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        if uri.scheme_str() != Some("http") {
            return Err(invalid(
                "must start with http:// (the daemon and the collector serve plain HTTP)",
            ));
        }
        if uri.host().is_none() {
            return Err(invalid("has no host"));
        }
        let join = |path: &str| {
            format!("{base}{path}")
                .parse::<Uri>()
                .map_err(|e| invalid(&e.to_string()))
        };
        Ok(Endpoint {
            rules: join(RULES_PATH)?,
            targets: join(TARGETS_PATH)?,
        })
    }
}

/// Polling settings.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) endpoint: Endpoint,
    pub(crate) rules_interval: Duration,
    pub(crate) targets_interval: Duration,
    pub(crate) request_timeout: Duration,
}

/// Starts the two pollers; they hold the sampler weakly and end when it is gone.
pub(crate) fn spawn(
    runtime: &tokio::runtime::Handle,
    shared: &Arc<Shared>,
    config: Config,
) -> Vec<tokio::task::AbortHandle> {
    let client = Arc::new(XrayClient {
        http: Client::builder(TokioExecutor::new()).build_http(),
        endpoint: config.endpoint,
        timeout: config.request_timeout,
    });
    let rules_changed = Arc::new(Notify::new());
    let rules = runtime.spawn(poll_rules(
        Arc::clone(&client),
        Arc::downgrade(shared),
        config.rules_interval,
        Arc::clone(&rules_changed),
    ));
    let targets = runtime.spawn(poll_targets(
        client,
        Arc::downgrade(shared),
        config.targets_interval,
        client_id(),
        rules_changed,
    ));
    vec![rules.abort_handle(), targets.abort_handle()]
}

/// 24 random hexadecimal digits naming this process to X-Ray.
pub(crate) fn client_id() -> String {
    let mut id = String::with_capacity(24);
    let state = std::collections::hash_map::RandomState::new();
    for part in 0..2u64 {
        let mut hasher = state.build_hasher();
        hasher.write_u64(part);
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        hasher.write_u32(std::process::id());
        let bits = hasher.finish();
        let digits = if part == 0 { 16 } else { 8 };
        for shift in (0..digits).rev() {
            let nibble = (bits >> (shift * 4)) & 0xf;
            id.push(char::from_digit(nibble as u32, 16).unwrap_or('0'));
        }
    }
    id
}

async fn poll_rules(
    client: Arc<XrayClient>,
    shared: Weak<Shared>,
    interval: Duration,
    rules_changed: Arc<Notify>,
) {
    // Whether the last fetch failed: said once per outage at info, then at debug.
    let mut failing = false;
    loop {
        let fetched = client.get_rules().await;
        let Some(sampler) = shared.upgrade() else {
            return;
        };
        match fetched {
            Ok(rules) => {
                failing = false;
                sampler.install_rules(rules);
            }
            // Keep the rules we have; they give way to the local ones once too old.
            Err(error) if !failing => {
                failing = true;
                tracing::info!(
                    %error,
                    "cannot fetch X-Ray sampling rules; sampling by the local rules until it can"
                );
            }
            Err(error) => tracing::debug!(%error, "X-Ray sampling rules not refreshed"),
        }
        drop(sampler);
        // Wake early when X-Ray says the rules changed.
        let _ = tokio::time::timeout(interval, rules_changed.notified()).await;
    }
}

async fn poll_targets(
    client: Arc<XrayClient>,
    shared: Weak<Shared>,
    interval: Duration,
    client_id: String,
    rules_changed: Arc<Notify>,
) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(sampler) = shared.upgrade() else {
            return;
        };
        let Some(rules) = sampler.remote() else {
            continue;
        };
        let now_time = sampler.now();
        let now = epoch_seconds(now_time);
        let rules_fetched_at = sampler.remote_fetched_at.load(Relaxed);
        let clock = Arc::clone(&sampler.clock);
        drop(sampler);

        let reports: Vec<(&Arc<CompiledRule>, Counts)> = rules
            .all
            .iter()
            .filter_map(|rule| rule.report(now).map(|counts| (rule, counts)))
            .collect();
        if reports.is_empty() {
            continue;
        }
        let timestamp = epoch_seconds_f64(now_time);
        let request = TargetsRequest {
            sampling_statistics_documents: reports
                .iter()
                .map(|(rule, counts)| StatisticsDocument {
                    rule_name: rule.name(),
                    client_id: &client_id,
                    request_count: counts.requests,
                    sampled_count: counts.sampled,
                    borrow_count: counts.borrowed,
                    timestamp,
                })
                .collect(),
        };
        match client.get_targets(&request).await {
            Ok(response) => {
                let now = epoch_seconds(clock.now());
                for document in &response.sampling_target_documents {
                    let Some(name) = document.rule_name.as_deref() else {
                        continue;
                    };
                    if let Some(rule) = rules.all.iter().find(|r| r.name() == name) {
                        rule.apply_target(now, &document.target());
                    }
                }
                for unprocessed in &response.unprocessed_statistics {
                    tracing::debug!(?unprocessed, "X-Ray did not process sampling statistics");
                }
                if response
                    .last_rule_modification
                    .is_some_and(|modified| modified > rules_fetched_at as f64)
                {
                    rules_changed.notify_one();
                }
            }
            Err(error) => {
                tracing::debug!(%error, "X-Ray sampling targets not fetched");
                for (rule, counts) in reports {
                    rule.report_failed(counts);
                }
            }
        }
    }
}

/// The most either X-Ray call may answer. A real answer is a few KiB (X-Ray keeps at most 25
/// rules per account); a larger one is refused as an error rather than held in memory.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The two X-Ray calls over plain HTTP/1.
#[derive(Debug)]
struct XrayClient {
    http: Client<HttpConnector, Full<Bytes>>,
    endpoint: Endpoint,
    timeout: Duration,
}

impl XrayClient {
    async fn post(&self, uri: &Uri, body: Vec<u8>) -> Result<Bytes, String> {
        let request = http::Request::post(uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            if status.is_success() {
                Ok(body)
            } else {
                Err(format!("{uri} answered {status}"))
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("{uri} did not answer within {:?}", self.timeout))?
    }

    /// All pages of `GetSamplingRules`. Rules X-Ray sends that this crate cannot read are
    /// skipped (logged), the rest are used.
    async fn get_rules(&self) -> Result<Vec<SamplingRule>, String> {
        let mut rules = Vec::new();
        let mut next_token: Option<String> = None;
        for _ in 0..MAX_RULE_PAGES {
            let body = serde_json::to_vec(&RulesRequest {
                next_token: next_token.as_deref(),
            })
            .map_err(|e| e.to_string())?;
            let response = self.post(&self.endpoint.rules, body).await?;
            let document: Value = serde_json::from_slice(&response)
                .map_err(|e| format!("GetSamplingRules answer is not JSON: {e}"))?;
            if !document
                .get("SamplingRuleRecords")
                .is_some_and(Value::is_array)
            {
                return Err("GetSamplingRules answer has no `SamplingRuleRecords`".into());
            }
            let (page, errors) = api_rules(&document);
            for error in errors {
                tracing::warn!(%error, "X-Ray sampling rule skipped");
            }
            rules.extend(page);
            next_token = document
                .get("NextToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if next_token.is_none() {
                break;
            }
        }
        Ok(rules)
    }

    async fn get_targets(&self, request: &TargetsRequest<'_>) -> Result<TargetsResponse, String> {
        let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        let response = self.post(&self.endpoint.targets, body).await?;
        serde_json::from_slice(&response)
            .map_err(|e| format!("GetSamplingTargets answer is not understood: {e}"))
    }
}

#[derive(Serialize)]
struct RulesRequest<'a> {
    #[serde(rename = "NextToken")]
    next_token: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TargetsRequest<'a> {
    sampling_statistics_documents: Vec<StatisticsDocument<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StatisticsDocument<'a> {
    rule_name: &'a str,
    #[serde(rename = "ClientID")]
    client_id: &'a str,
    request_count: u64,
    sampled_count: u64,
    borrow_count: u64,
    /// Epoch seconds, as the X-Ray API's JSON writes timestamps.
    timestamp: f64,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
struct TargetsResponse {
    sampling_target_documents: Vec<TargetDocument>,
    last_rule_modification: Option<f64>,
    unprocessed_statistics: Vec<Value>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
struct TargetDocument {
    rule_name: Option<String>,
    fixed_rate: Option<f64>,
    reservoir_quota: Option<f64>,
    #[serde(rename = "ReservoirQuotaTTL")]
    reservoir_quota_ttl: Option<f64>,
    interval: Option<f64>,
}

impl TargetDocument {
    fn target(&self) -> Target {
        Target {
            fixed_rate: self.fixed_rate.filter(|r| r.is_finite()),
            quota: self
                .reservoir_quota
                .filter(|q| q.is_finite() && *q >= 0.0)
                .map(|q| q.min(f64::from(u32::MAX)) as u32),
            quota_until: self
                .reservoir_quota_ttl
                .filter(|t| t.is_finite() && *t >= 0.0)
                .map(|t| t as u64),
            interval: self
                .interval
                .filter(|i| i.is_finite() && *i >= 0.0)
                // No sane interval is longer than a day.
                .map(|i| i.min(86_400.0) as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_is_24_hex_digits() {
        let id = client_id();
        assert_eq!(id.len(), 24);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(id, client_id());
    }

    #[test]
    fn endpoint_urls() {
        let e = Endpoint::parse("http://127.0.0.1:2000/").unwrap();
        assert_eq!(
            e.rules.to_string(),
            "http://127.0.0.1:2000/GetSamplingRules"
        );
        assert_eq!(
            e.targets.to_string(),
            "http://127.0.0.1:2000/SamplingTargets"
        );
        assert!(Endpoint::parse("https://xray.example.com").is_err());
        assert!(Endpoint::parse("127.0.0.1:2000").is_err());
        assert!(Endpoint::parse("not a url").is_err());
    }

    #[test]
    fn target_document_reads_the_wire_format() {
        let doc: TargetsResponse = serde_json::from_str(
            r#"{"SamplingTargetDocuments":[{"RuleName":"r","FixedRate":0.1,
                "ReservoirQuota":7,"ReservoirQuotaTTL":1700000060.5,"Interval":10}],
                "LastRuleModification":1700000000.0,"UnprocessedStatistics":[]}"#,
        )
        .unwrap();
        let target = doc.sampling_target_documents[0].target();
        assert_eq!(
            target,
            Target {
                fixed_rate: Some(0.1),
                quota: Some(7),
                quota_until: Some(1_700_000_060),
                interval: Some(10),
            }
        );
        assert_eq!(doc.last_rule_modification, Some(1_700_000_000.0));
    }
}
