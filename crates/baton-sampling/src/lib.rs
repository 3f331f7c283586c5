//! AWS X-Ray sampling rules for OpenTelemetry: decide which traces to record the way X-Ray's
//! own SDKs do, from a local rules file or from the rules you manage in the X-Ray console.
//!
//! [`XraySampler`] is an OpenTelemetry [`ShouldSample`]: each span meets the first
//! [`SamplingRule`] that matches it (lowest `Priority`, then name), matching `ServiceName`,
//! `ServiceType`, `Host`, `HTTPMethod`, `URLPath`, `ResourceARN` and `Attributes` against the
//! resource and the span's attributes. That rule samples its `ReservoirSize` spans each second,
//! then `FixedRate` of the rest. Without other rules, X-Ray's default applies: one span a
//! second and 5% beyond.
//!
//! # Example: local rules, with the upstream decision respected
//!
//! ```
//! use baton_sampling::{SamplingRules, XraySampler};
//! use opentelemetry::KeyValue;
//! use opentelemetry::trace::TraceId;
//! use opentelemetry_sdk::Resource;
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//!
//! // Either format works: `aws xray get-sampling-rules` output, or an X-Ray SDK rules file.
//! let rules = SamplingRules::from_json(r#"{
//!   "SamplingRuleRecords": [{ "SamplingRule": {
//!     "RuleName": "ProductionOptimizedRule", "Priority": 1000,
//!     "ReservoirSize": 5, "FixedRate": 0.05,
//!     "ServiceName": "OrderProcessingAPI", "ServiceType": "*", "Host": "*",
//!     "HTTPMethod": "POST", "URLPath": "/api/v1/orders*", "ResourceARN": "*",
//!     "Version": 1, "Attributes": {} } }]
//! }"#)?;
//!
//! // The SDK does not hand samplers the resource: give the sampler the provider's one.
//! let resource = Resource::builder_empty()
//!     .with_attributes([KeyValue::new("service.name", "OrderProcessingAPI")])
//!     .build();
//! let sampler = XraySampler::builder()
//!     .with_resource(&resource)
//!     .with_local_rules(rules)
//!     .build()?;
//!
//! let order = [
//!     KeyValue::new("http.request.method", "POST"),
//!     KeyValue::new("url.path", "/api/v1/orders/42"),
//! ];
//! assert_eq!(sampler.matching_rule(&order).as_deref(), Some("ProductionOptimizedRule"));
//! assert!(sampler.sample(TraceId::from(1u128), &order)); // the reservoir's first
//!
//! // `Sampled=1` / `Sampled=0` from upstream wins; `Sampled=?` is decided by the rules.
//! let provider = SdkTracerProvider::builder()
//!     .with_resource(resource)
//!     .with_sampler(sampler.parent_based())
//!     .build();
//! # drop(provider);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Centralized rules
//!
//! With [`XraySamplerBuilder::with_centralized_rules`], a tokio task fetches rules
//! (`POST /GetSamplingRules`, every 5 minutes) from the X-Ray daemon or an ADOT collector with
//! the `awsproxy` extension (default [`DEFAULT_ENDPOINT`], `http://127.0.0.1:2000`), and
//! another reports each rule's counts and fetches its target (`POST /SamplingTargets`,
//! every 10 seconds). Until X-Ray has given a rule a target, the rule borrows one span a second
//! from X-Ray's reservoir, then applies its fixed rate. Targets set the rule's fixed rate, its
//! per-second quota (`ReservoirQuota` until `ReservoirQuotaTTL`) and its reporting
//! `Interval`. If the endpoint is down, the last rules stay in use; with none yet, or once
//! they are older than [`XraySamplerBuilder::with_rules_max_age`] (one hour), the local rules
//! decide. No decision ever waits for the network.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use baton_sampling::{SamplingRules, XraySampler, DEFAULT_ENDPOINT};
//!
//! let sampler = XraySampler::builder()
//!     .with_service_name("OrderProcessingAPI")
//!     .with_cloud_platform("aws_ecs")
//!     .with_local_rules(SamplingRules::from_path("sampling-rules.json")?)
//!     .with_centralized_rules(DEFAULT_ENDPOINT)
//!     .build()?; // inside a tokio runtime
//! # drop(sampler); Ok(()) }
//! ```
//!
//! # With Baton's parent-based sampler
//!
//! [`XraySampler`] decides every span it is asked about. [`XraySampler::parent_based`] (the
//! same as `baton::XrayParentBased::new(sampler)`) lets a parent's `Sampled=1` or `Sampled=0`
//! stand, and asks the rules only for root spans and for parents whose header said
//! `Sampled=?`; the decision made then is what later hops receive.
//!
//! # Cost
//!
//! A decision reads the clock once, takes a read lock only to see which rule set is current,
//! reads the span's attributes in one pass, and tries pre-compiled patterns; counters and
//! reservoirs are atomics. It allocates nothing (a parent's non-empty trace state is cloned,
//! as every OpenTelemetry sampler does). See `docs/BENCHMARKS.md`.
//!
//! [`ShouldSample`]: opentelemetry_sdk::trace::ShouldSample

mod centralized;
mod clock;
mod engine;
mod glob;
mod rules;
mod sampler;
mod service;

pub use clock::{Clock, ManualClock, SystemClock};
pub use glob::Glob;
pub use rules::{
    DEFAULT_RULE_NAME, DEFAULT_RULE_PRIORITY, RulesError, SamplingRule, SamplingRules,
};
pub use sampler::{
    BuildError, DEFAULT_ENDPOINT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RULES_INTERVAL,
    DEFAULT_RULES_MAX_AGE, DEFAULT_TARGETS_INTERVAL, RuleSource, XraySampler, XraySamplerBuilder,
};
pub use service::service_type_for_platform;
