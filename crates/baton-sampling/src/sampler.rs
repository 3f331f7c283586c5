//! `XraySampler`: the OpenTelemetry sampler, its builder, and the state it shares with the
//! pollers.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};

use crate::centralized::{self, Endpoint};
use crate::clock::{Clock, SystemClock, epoch_seconds};
use crate::engine::RuleSet;
use crate::rules::{SamplingRule, SamplingRules};
use crate::service::{ServiceInfo, service_type_for_platform};

/// Where the X-Ray daemon and the ADOT collector's X-Ray proxy listen by default.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:2000";
/// How often centralized rules are fetched by default (X-Ray SDKs: every 5 minutes).
pub const DEFAULT_RULES_INTERVAL: Duration = Duration::from_secs(300);
/// How often statistics are reported and targets fetched by default (X-Ray SDKs: every 10 s).
pub const DEFAULT_TARGETS_INTERVAL: Duration = Duration::from_secs(10);
/// How long centralized rules are used without a successful refresh, by default, before the
/// sampler falls back to its local rules.
pub const DEFAULT_RULES_MAX_AGE: Duration = Duration::from_secs(3600);
/// How long one request to the endpoint may take by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Which rules decide right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleSource {
    /// The local rules (given to the builder, or X-Ray's default).
    Local,
    /// Rules fetched from the X-Ray daemon or collector.
    Centralized,
}

/// What the sampler and its pollers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) service: ServiceInfo,
    pub(crate) clock: Arc<dyn Clock>,
    /// `clock` is the system clock: read it directly, without the indirect call.
    system_clock: bool,
    local: RuleSet,
    remote: RwLock<Option<Arc<RuleSet>>>,
    /// Set once centralized rules have arrived: until then a decision skips the lock.
    has_remote: AtomicBool,
    /// Epoch second of the last successful rules fetch.
    pub(crate) remote_fetched_at: AtomicU64,
    rules_max_age: u64,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let tasks = self.tasks.get_mut().unwrap_or_else(PoisonError::into_inner);
        for task in tasks.drain(..) {
            task.abort();
        }
    }
}

impl Shared {
    pub(crate) fn now_secs(&self) -> u64 {
        epoch_seconds(self.now())
    }

    pub(crate) fn now(&self) -> SystemTime {
        if self.system_clock {
            SystemTime::now()
        } else {
            self.clock.now()
        }
    }

    /// The centralized rules, while they are fresh enough to use.
    fn fresh_remote(&self, now: u64) -> Option<Arc<RuleSet>> {
        let remote = self.remote.read().unwrap_or_else(PoisonError::into_inner);
        remote
            .as_ref()
            .filter(|_| {
                now <= self
                    .remote_fetched_at
                    .load(Relaxed)
                    .saturating_add(self.rules_max_age)
            })
            .cloned()
    }

    /// The centralized rules, however old (statistics are still owed for them).
    pub(crate) fn remote(&self) -> Option<Arc<RuleSet>> {
        self.remote
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn decide(&self, trace_id: TraceId, attributes: &[KeyValue]) -> bool {
        let now = self.now_secs();
        if self.has_remote.load(Acquire)
            && now
                <= self
                    .remote_fetched_at
                    .load(Relaxed)
                    .saturating_add(self.rules_max_age)
        {
            let remote = self.remote.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(set) = remote.as_ref()
                && let Some(sampled) = set.decide(now, trace_id, attributes)
            {
                return sampled;
            }
        }
        self.local
            .decide(now, trace_id, attributes)
            .unwrap_or(false)
    }

    /// Puts freshly fetched centralized rules in place. Unchanged rules keep their state.
    pub(crate) fn install_rules(&self, mut rules: Vec<SamplingRule>) {
        rules.sort_by(|a, b| {
            a.priority
                .cmp(&b.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        let previous = self.remote();
        let unchanged = previous
            .as_ref()
            .is_some_and(|set| set.definitions().eq(rules.iter()));
        let now = self.now_secs();
        if !unchanged {
            let set = RuleSet::centralized(rules, &self.service, previous.as_deref(), now);
            *self.remote.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(set));
            self.has_remote.store(true, Release);
        }
        self.remote_fetched_at.store(now, Relaxed);
    }

    fn add_task(&self, task: tokio::task::AbortHandle) {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(task);
    }
}

/// An OpenTelemetry sampler that applies AWS X-Ray sampling rules.
///
/// Each span meets the first rule that matches it (see [`SamplingRule`]); the rule samples
/// its reservoir's worth of spans each second, then its fixed rate of the rest (by trace id, so
/// every service that uses the same rate agrees). Rules come from a local file or value
/// ([`SamplingRules`]) and, when enabled, from the X-Ray daemon or an ADOT collector, polled in
/// the background.
///
/// This sampler decides every span it is asked about. To let an upstream decision stand (a
/// `Sampled=1` or `Sampled=0` trace header), wrap it in [`baton::XrayParentBased`] (see
/// [`parent_based`](Self::parent_based)): that follows the parent, except that a parent whose
/// header said `Sampled=?` is decided here. Used bare, a deferred parent's `?` marker is
/// removed from the trace state, since a decision has now been made.
///
/// Cloning is cheap; clones share rules, reservoirs and pollers. The pollers stop when the last
/// clone is dropped.
#[derive(Clone, Debug)]
pub struct XraySampler {
    shared: Arc<Shared>,
}

impl XraySampler {
    /// Starts building a sampler: X-Ray's default rule, no centralized rules, system clock.
    pub fn builder() -> XraySamplerBuilder {
        XraySamplerBuilder::default()
    }

    /// Wraps the sampler so that an upstream decision wins and `Sampled=?` is decided by the
    /// rules; this is what most services want as their tracer provider's sampler.
    pub fn parent_based(self) -> baton::XrayParentBased {
        baton::XrayParentBased::new(self)
    }

    /// Which rules decide right now: centralized ones once fetched (and while not older than
    /// the rules' maximum age), local ones otherwise.
    pub fn source(&self) -> RuleSource {
        if self.shared.fresh_remote(self.shared.now_secs()).is_some() {
            RuleSource::Centralized
        } else {
            RuleSource::Local
        }
    }

    /// The rules that decide right now, in the order they are tried.
    pub fn rules(&self) -> Vec<SamplingRule> {
        let now = self.shared.now_secs();
        match self.shared.fresh_remote(now) {
            Some(set) => set.definitions().cloned().collect(),
            None => self.shared.local.definitions().cloned().collect(),
        }
    }

    /// The name of the rule that a span with these attributes would meet (no counting, no
    /// sampling), for checking a rule set.
    pub fn matching_rule(&self, attributes: &[KeyValue]) -> Option<String> {
        let now = self.shared.now_secs();
        if let Some(set) = self.shared.fresh_remote(now)
            && let Some(name) = set.matching_rule(attributes)
        {
            return Some(name.to_owned());
        }
        self.shared
            .local
            .matching_rule(attributes)
            .map(str::to_owned)
    }

    /// Decides one span from its trace id and attributes alone.
    pub fn sample(&self, trace_id: TraceId, attributes: &[KeyValue]) -> bool {
        self.shared.decide(trace_id, attributes)
    }
}

impl ShouldSample for XraySampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        _name: &str,
        _span_kind: &SpanKind,
        attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let decision = if self.shared.decide(trace_id, attributes) {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        };
        let trace_state = match parent_context {
            Some(cx) if cx.has_active_span() => {
                let span = cx.span();
                let parent = span.span_context();
                match baton::without_deferred_marker(parent) {
                    Some(decided) => decided.trace_state().clone(),
                    None => parent.trace_state().clone(),
                }
            }
            _ => TraceState::default(),
        };
        SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state,
        }
    }
}

/// Why a sampler could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The centralized rules endpoint is not a plain `http://host:port` URL.
    #[error("X-Ray sampling endpoint `{endpoint}`: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A polling interval or timeout of zero, which would poll the endpoint without pause.
    #[error("{setting}: must be above zero")]
    ZeroInterval {
        /// The builder method given zero.
        setting: &'static str,
    },
    /// Centralized rules need a tokio runtime to poll from, and there is none.
    #[error(
        "centralized sampling rules need a tokio runtime: build the sampler inside one, or pass \
         a handle with `with_runtime`"
    )]
    NoRuntime,
}

/// Builds an [`XraySampler`].
///
/// ```
/// use baton_sampling::{SamplingRule, SamplingRules, XraySampler};
/// use opentelemetry::KeyValue;
/// use opentelemetry_sdk::Resource;
///
/// let resource = Resource::builder_empty()
///     .with_attributes([KeyValue::new("service.name", "OrderProcessingAPI")])
///     .build();
/// let rules = SamplingRules::new([SamplingRule::new("orders", 1000, 5, 0.05)
///     .with_service_name("OrderProcessingAPI")
///     .with_http_method("POST")
///     .with_url_path("/api/v1/orders*")])?;
/// let sampler = XraySampler::builder()
///     .with_resource(&resource)
///     .with_local_rules(rules)
///     .build()?;
/// let span = [KeyValue::new("http.request.method", "POST"), KeyValue::new("url.path", "/api/v1/orders")];
/// assert_eq!(sampler.matching_rule(&span).as_deref(), Some("orders"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct XraySamplerBuilder {
    service: ServiceInfo,
    local: SamplingRules,
    endpoint: Option<String>,
    rules_interval: Duration,
    targets_interval: Duration,
    request_timeout: Duration,
    rules_max_age: Duration,
    clock: Option<Arc<dyn Clock>>,
    runtime: Option<tokio::runtime::Handle>,
}

impl Default for XraySamplerBuilder {
    fn default() -> Self {
        XraySamplerBuilder {
            service: ServiceInfo::default(),
            local: SamplingRules::default(),
            endpoint: None,
            rules_interval: DEFAULT_RULES_INTERVAL,
            targets_interval: DEFAULT_TARGETS_INTERVAL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            rules_max_age: DEFAULT_RULES_MAX_AGE,
            clock: None,
            runtime: None,
        }
    }
}

impl XraySamplerBuilder {
    /// Takes what rules match on from the tracer provider's resource: `service.name`
    /// (`ServiceName`), `cloud.platform` (`ServiceType`: `aws_ec2` is `AWS::EC2::Instance`,
    /// `aws_lambda` is `AWS::Lambda::Function`, …) and `aws.ecs.container.arn` or
    /// `cloud.resource_id` (`ResourceARN`). The OpenTelemetry SDK does not pass the resource to
    /// samplers, so give the sampler the same one the provider gets. This replaces what earlier
    /// `with_service_name`, `with_service_type` or `with_resource_arn` calls set.
    pub fn with_resource(mut self, resource: &Resource) -> Self {
        self.service = ServiceInfo::from_resource(resource);
        self
    }

    /// Sets the name `ServiceName` patterns are matched against.
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service.name = name.into();
        self
    }

    /// Sets the X-Ray origin `ServiceType` patterns are matched against
    /// (`AWS::EC2::Instance`, …). [`with_resource`](Self::with_resource) derives it from
    /// `cloud.platform`.
    pub fn with_service_type(mut self, service_type: impl Into<String>) -> Self {
        self.service.service_type = service_type.into();
        self
    }

    /// Sets the X-Ray origin from an OpenTelemetry `cloud.platform` value (`aws_ecs`, …);
    /// unknown platforms leave the origin empty.
    pub fn with_cloud_platform(mut self, platform: &str) -> Self {
        self.service.service_type = service_type_for_platform(platform)
            .unwrap_or_default()
            .to_owned();
        self
    }

    /// Sets the ARN `ResourceARN` patterns are matched against. Without one (from here or the
    /// resource), each span's `cloud.resource_id` is used.
    pub fn with_resource_arn(mut self, arn: impl Into<String>) -> Self {
        self.service.resource_arn = Some(arn.into());
        self
    }

    /// The rules used without centralized rules (and whenever those are missing or too old).
    /// Default: X-Ray's default rule, one span a second and 5% beyond.
    pub fn with_local_rules(mut self, rules: SamplingRules) -> Self {
        self.local = rules;
        self
    }

    /// Fetches rules and targets from the X-Ray daemon or an ADOT collector at `endpoint`
    /// (an `http://host:port` URL; [`DEFAULT_ENDPOINT`] is where both listen by default).
    /// Polling runs on a tokio task; no decision ever waits for it.
    pub fn with_centralized_rules(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// How often centralized rules are fetched (default 5 minutes).
    pub fn with_rules_interval(mut self, interval: Duration) -> Self {
        self.rules_interval = interval;
        self
    }

    /// How often the statistics poller wakes to report rules that are due and fetch their
    /// targets (default 10 seconds; each rule reports at the interval X-Ray sets for it).
    pub fn with_targets_interval(mut self, interval: Duration) -> Self {
        self.targets_interval = interval;
        self
    }

    /// How long one request to the endpoint may take (default 3 seconds).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long centralized rules stay in use while the endpoint cannot be reached (default
    /// one hour); after that the local rules decide until the endpoint answers again.
    pub fn with_rules_max_age(mut self, max_age: Duration) -> Self {
        self.rules_max_age = max_age;
        self
    }

    /// The clock for reservoirs, quota expiry and rule age (default: the system clock).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The tokio runtime the pollers run on (default: the one `build` is called in).
    pub fn with_runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Builds the sampler and, with centralized rules, starts polling.
    pub fn build(self) -> Result<XraySampler, BuildError> {
        for (setting, value) in [
            ("with_rules_interval", self.rules_interval),
            ("with_targets_interval", self.targets_interval),
            ("with_request_timeout", self.request_timeout),
        ] {
            if value.is_zero() {
                return Err(BuildError::ZeroInterval { setting });
            }
        }
        let endpoint = self.endpoint.as_deref().map(Endpoint::parse).transpose()?;
        let runtime = match (&endpoint, self.runtime) {
            (None, _) => None,
            (Some(_), Some(handle)) => Some(handle),
            (Some(_), None) => {
                Some(tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?)
            }
        };
        let shared = Arc::new(Shared {
            local: RuleSet::local(&self.local, &self.service),
            service: self.service,
            system_clock: self.clock.is_none(),
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            remote: RwLock::new(None),
            has_remote: AtomicBool::new(false),
            remote_fetched_at: AtomicU64::new(0),
            rules_max_age: self.rules_max_age.as_secs(),
            tasks: Mutex::new(Vec::new()),
        });
        if let (Some(endpoint), Some(runtime)) = (endpoint, runtime) {
            let config = centralized::Config {
                endpoint,
                rules_interval: self.rules_interval,
                targets_interval: self.targets_interval,
                request_timeout: self.request_timeout,
            };
            for task in centralized::spawn(&runtime, &shared, config) {
                shared.add_task(task);
            }
        }
        Ok(XraySampler { shared })
    }
}
