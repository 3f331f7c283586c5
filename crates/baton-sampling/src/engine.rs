//! Compiled rules and the decision itself: the part that runs for every span, so it takes no
//! lock of its own, allocates nothing and builds no strings.

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};

use opentelemetry::trace::TraceId;
use opentelemetry::{KeyValue, Value};

use crate::glob::Glob;
use crate::rules::{SamplingRule, SamplingRules};
use crate::service::{Needs, Request, ServiceInfo};

/// How long a rule waits between statistics reports when X-Ray has not said (seconds).
pub(crate) const DEFAULT_REPORT_INTERVAL_SECS: u64 = 10;

/// The fixed rate as a bound on 63 bits of the trace id: sampled when those bits fall below it.
/// Using the trace id (not a random draw) keeps the decision the same wherever it is made.
fn rate_bound(rate: f64) -> u64 {
    if rate >= 1.0 {
        u64::MAX
    } else if rate > 0.0 {
        (rate * (1u64 << 63) as f64) as u64
    } else {
        0
    }
}

fn trace_id_in_rate(bound: u64, trace_id: TraceId) -> bool {
    let bytes = trace_id.to_bytes();
    let mut low = [0u8; 8];
    low.copy_from_slice(&bytes[8..]);
    (u64::from_be_bytes(low) >> 1) < bound
}

/// Counters reported to X-Ray through `GetSamplingTargets`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    requests: AtomicU64,
    sampled: AtomicU64,
    borrowed: AtomicU64,
    /// Has this rule ever matched a span? Only such rules are reported.
    used: AtomicBool,
}

/// One report's worth of counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) requests: u64,
    pub(crate) sampled: u64,
    pub(crate) borrowed: u64,
}

impl Stats {
    fn take(&self) -> Counts {
        // A decision counts its request, then its sample, then its borrow; taking them in the
        // opposite order keeps borrowed <= sampled <= requests in every report, even while
        // decisions run.
        let borrowed = self.borrowed.swap(0, Relaxed);
        let sampled = self.sampled.swap(0, Relaxed);
        Counts {
            requests: self.requests.swap(0, Relaxed),
            sampled,
            borrowed,
        }
    }

    fn give_back(&self, counts: Counts) {
        self.requests.fetch_add(counts.requests, Relaxed);
        self.sampled.fetch_add(counts.sampled, Relaxed);
        self.borrowed.fetch_add(counts.borrowed, Relaxed);
    }
}

/// A target from `GetSamplingTargets`, already in the clock's seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Target {
    pub(crate) fixed_rate: Option<f64>,
    pub(crate) quota: Option<u32>,
    pub(crate) quota_until: Option<u64>,
    pub(crate) interval: Option<u64>,
}

/// A rule ready to decide: patterns compiled, counters and reservoir in atomics.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub(crate) definition: SamplingRule,
    centralized: bool,
    /// ServiceName, ServiceType (and ResourceARN, when the resource gives it) match this service.
    applies_to_service: bool,
    matchers: Matchers,
    /// Second (low 32 bits of epoch seconds) in the high half, spans taken in it in the low half.
    window: AtomicU64,
    /// Local rules: the reservoir size. Centralized rules: the quota X-Ray granted.
    quota: AtomicU32,
    /// Centralized rules: the quota is good before this epoch second (0: no quota).
    quota_until: AtomicU64,
    /// Centralized rules with a reservoir borrow one span a second while they have no quota.
    may_borrow: bool,
    rate_bound: AtomicU64,
    pub(crate) stats: Stats,
    /// Epoch second from which the next statistics report is due.
    next_report_at: AtomicU64,
}

impl CompiledRule {
    /// `centralized`: the epoch second a centralized rule arrived (its first report is due an
    /// interval later, once there is something to report); `None` for a local rule.
    pub(crate) fn new(
        definition: SamplingRule,
        service: &ServiceInfo,
        centralized: Option<u64>,
    ) -> Self {
        let arn = Glob::new(&definition.resource_arn);
        let applies_to_service = Glob::new(&definition.service_name).matches(&service.name)
            && Glob::new(&definition.service_type).matches(&service.service_type)
            && service
                .resource_arn
                .as_deref()
                .is_none_or(|a| arn.matches(a));
        let resource_arn = (service.resource_arn.is_none() && !arn.is_any()).then_some(arn);
        let method = Glob::new(&definition.http_method);
        CompiledRule {
            centralized: centralized.is_some(),
            applies_to_service,
            matchers: Matchers {
                method: match pack_method(&definition.http_method) {
                    _ if method.is_any() => MethodMatcher::Any,
                    Some(packed) if !definition.http_method.contains(['*', '?']) => {
                        MethodMatcher::Exact(packed)
                    }
                    _ => MethodMatcher::Glob(method),
                },
                path: Glob::new(&definition.url_path),
                host: Glob::new(&definition.host),
                resource_arn,
                attributes: definition
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.as_str().into(), Glob::new(v)))
                    .collect(),
            },
            window: AtomicU64::new(0),
            quota: AtomicU32::new(match centralized {
                Some(_) => 0,
                None => definition.reservoir_size,
            }),
            quota_until: AtomicU64::new(0),
            may_borrow: centralized.is_some() && definition.reservoir_size > 0,
            rate_bound: AtomicU64::new(rate_bound(definition.fixed_rate)),
            stats: Stats::default(),
            next_report_at: AtomicU64::new(
                centralized.map_or(0, |arrived| arrived + DEFAULT_REPORT_INTERVAL_SECS),
            ),
            definition,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.definition.name
    }

    /// Takes one span from this second's reservoir, if `limit` leaves room.
    fn take(&self, now: u64, limit: u32) -> bool {
        let second = now as u32;
        let mut current = self.window.load(Relaxed);
        loop {
            let (window_second, taken) = ((current >> 32) as u32, current as u32);
            // The window of `second`, or of the next one (another thread read the clock a
            // moment later), is current; anything else is over.
            let next = if current != 0 && window_second.wrapping_sub(second) <= 1 {
                if taken >= limit {
                    return false;
                }
                current + 1
            } else {
                (u64::from(second) << 32) | 1
            };
            match self
                .window
                .compare_exchange_weak(current, next, Relaxed, Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Reservoir first, then the fixed rate; counts everything for X-Ray.
    fn sample(&self, now: u64, trace_id: TraceId) -> bool {
        let stats = &self.stats;
        if !stats.used.load(Relaxed) {
            stats.used.store(true, Relaxed);
        }
        stats.requests.fetch_add(1, Relaxed);
        let (limit, borrowing) = if !self.centralized || now < self.quota_until.load(Relaxed) {
            (self.quota.load(Relaxed), false)
        } else if self.may_borrow {
            (1, true)
        } else {
            (0, false)
        };
        if limit > 0 && self.take(now, limit) {
            stats.sampled.fetch_add(1, Relaxed);
            if borrowing {
                stats.borrowed.fetch_add(1, Relaxed);
            }
            return true;
        }
        if trace_id_in_rate(self.rate_bound.load(Relaxed), trace_id) {
            stats.sampled.fetch_add(1, Relaxed);
            return true;
        }
        false
    }

    pub(crate) fn apply_target(&self, now: u64, target: &Target) {
        if let Some(rate) = target.fixed_rate {
            self.rate_bound
                .store(rate_bound(rate.clamp(0.0, 1.0)), Relaxed);
        }
        // A quota without an expiry cannot be trusted to end: X-Ray always sends both.
        if let (Some(quota), Some(until)) = (target.quota, target.quota_until) {
            self.quota.store(quota, Relaxed);
            self.quota_until.store(until, Relaxed);
        }
        let interval = target.interval.unwrap_or(DEFAULT_REPORT_INTERVAL_SECS);
        self.next_report_at
            .store(now.saturating_add(interval), Relaxed);
    }

    /// This rule's counts, if it has been used and a report is due; the counters restart.
    pub(crate) fn report(&self, now: u64) -> Option<Counts> {
        if !self.stats.used.load(Relaxed) || now < self.next_report_at.load(Relaxed) {
            return None;
        }
        self.next_report_at
            .store(now + DEFAULT_REPORT_INTERVAL_SECS, Relaxed);
        Some(self.stats.take())
    }

    /// Puts back counts whose report could not be delivered, and makes the rule due again.
    pub(crate) fn report_failed(&self, counts: Counts) {
        self.stats.give_back(counts);
        self.next_report_at.store(0, Relaxed);
    }
}

/// An HTTP method (at most 16 ASCII bytes) in upper case, packed into one integer so that the
/// most common method patterns compare in one instruction.
pub(crate) fn pack_method(method: &str) -> Option<u128> {
    if method.len() > 16 || !method.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (slot, b) in bytes.iter_mut().zip(method.bytes()) {
        *slot = b.to_ascii_uppercase();
    }
    Some(u128::from_le_bytes(bytes))
}

/// Never a packed method (those hold ASCII bytes only).
const CHECK_METHOD: u128 = u128::MAX;

/// What an `HTTPMethod` pattern compiles to.
#[derive(Clone, Debug)]
enum MethodMatcher {
    Any,
    /// A method without wildcards, packed.
    Exact(u128),
    Glob(Glob),
}

/// A rule's request-level patterns.
#[derive(Clone, Debug)]
struct Matchers {
    method: MethodMatcher,
    path: Glob,
    host: Glob,
    /// Checked per span only when the resource did not give the ARN.
    resource_arn: Option<Glob>,
    attributes: Box<[(Box<str>, Glob)]>,
}

impl Matchers {
    /// What the rule reads from a span's attributes.
    fn needs(&self) -> Needs {
        Needs {
            method: !matches!(self.method, MethodMatcher::Any),
            path: !self.path.is_any(),
            host: !self.host.is_any(),
            resource_arn: self.resource_arn.is_some(),
        }
    }

    #[inline]
    fn matches(&self, request: &Request<'_>) -> bool {
        (match &self.method {
            MethodMatcher::Any => true,
            MethodMatcher::Exact(packed) => *packed == request.method_key,
            MethodMatcher::Glob(glob) => glob.matches(request.method),
        }) && self.path.matches(request.path)
            && self.host.matches(request.host)
            && self
                .resource_arn
                .as_ref()
                .is_none_or(|g| g.matches(request.resource_arn))
            && self
                .attributes
                .iter()
                .all(|(key, glob)| attribute_matches(request.attributes, key, glob))
    }
}

/// A rule as the decision path walks them: patterns inline, state behind the pointer.
#[derive(Debug)]
struct ActiveRule {
    matchers: Matchers,
    rule: Arc<CompiledRule>,
}

/// Formats numbers and booleans without allocating, to match them against attribute patterns.
struct StackText {
    buf: [u8; 48],
    len: usize,
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn attribute_matches(attributes: &[KeyValue], key: &str, glob: &Glob) -> bool {
    let Some(kv) = attributes.iter().find(|kv| kv.key.as_str() == key) else {
        return false;
    };
    let mut text = StackText {
        buf: [0; 48],
        len: 0,
    };
    let written = match &kv.value {
        Value::String(s) => return glob.matches(s.as_str()),
        Value::Bool(b) => write!(text, "{b}"),
        Value::I64(i) => write!(text, "{i}"),
        Value::F64(f) => write!(text, "{f}"),
        _ => return false,
    };
    written.is_ok() && std::str::from_utf8(&text.buf[..text.len]).is_ok_and(|s| glob.matches(s))
}

/// Rules compiled for one service, in the order they are tried.
#[derive(Debug)]
pub(crate) struct RuleSet {
    /// Every rule, for statistics.
    pub(crate) all: Vec<Arc<CompiledRule>>,
    /// The rules whose service patterns match this service: the only ones a span can meet.
    active: Vec<ActiveRule>,
    /// Each active rule's packed method, or `CHECK_METHOD` when the method pattern is `*` or a
    /// glob: a dense array scanned before any rule is looked at.
    methods: Box<[u128]>,
    /// What those rules read from a span's attributes.
    needs: Needs,
}

impl RuleSet {
    pub(crate) fn local(rules: &SamplingRules, service: &ServiceInfo) -> Self {
        RuleSet::from_compiled(
            rules
                .rules()
                .iter()
                .map(|r| Arc::new(CompiledRule::new(r.clone(), service, None)))
                .collect(),
        )
    }

    /// Centralized rules; a rule whose definition did not change keeps its counters, reservoir
    /// and target from `previous`.
    pub(crate) fn centralized(
        rules: Vec<SamplingRule>,
        service: &ServiceInfo,
        previous: Option<&RuleSet>,
        now: u64,
    ) -> Self {
        let mut rules = rules;
        rules.sort_by(|a, b| {
            a.priority
                .cmp(&b.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        let compiled = rules
            .into_iter()
            .map(|definition| {
                previous
                    .and_then(|p| p.all.iter().find(|r| r.definition == definition))
                    .cloned()
                    .unwrap_or_else(|| Arc::new(CompiledRule::new(definition, service, Some(now))))
            })
            .collect();
        RuleSet::from_compiled(compiled)
    }

    fn from_compiled(all: Vec<Arc<CompiledRule>>) -> Self {
        let active: Vec<ActiveRule> = all
            .iter()
            .filter(|r| r.applies_to_service)
            .map(|r| ActiveRule {
                matchers: r.matchers.clone(),
                rule: Arc::clone(r),
            })
            .collect();
        let needs = active
            .iter()
            .fold(Needs::default(), |needs, r| needs.or(r.matchers.needs()));
        let methods = active
            .iter()
            .map(|r| match r.matchers.method {
                MethodMatcher::Exact(packed) => packed,
                _ => CHECK_METHOD,
            })
            .collect();
        RuleSet {
            all,
            active,
            methods,
            needs,
        }
    }

    pub(crate) fn definitions(&self) -> impl Iterator<Item = &SamplingRule> {
        self.all.iter().map(|r| &r.definition)
    }

    /// The first matching rule's decision, or `None` if no rule matches.
    pub(crate) fn decide(
        &self,
        now: u64,
        trace_id: TraceId,
        attributes: &[KeyValue],
    ) -> Option<bool> {
        self.first_match(&Request::from_attributes(attributes, self.needs))
            .map(|active| active.rule.sample(now, trace_id))
    }

    #[inline]
    fn first_match(&self, request: &Request<'_>) -> Option<&ActiveRule> {
        self.methods
            .iter()
            .zip(&self.active)
            .filter(|&(&method, _)| method == CHECK_METHOD || method == request.method_key)
            .map(|(_, active)| active)
            .find(|active| active.matchers.matches(request))
    }

    /// The name of the rule a span with these attributes would meet.
    pub(crate) fn matching_rule(&self, attributes: &[KeyValue]) -> Option<&str> {
        self.first_match(&Request::from_attributes(attributes, self.needs))
            .map(|active| active.rule.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(limit: u32) -> CompiledRule {
        CompiledRule::new(
            SamplingRule::new("r", 1, limit, 0.0),
            &ServiceInfo::default(),
            None,
        )
    }

    #[test]
    fn reservoir_takes_exactly_the_limit_each_second() {
        let r = rule(3);
        let id = TraceId::from_bytes([0xff; 16]);
        for second in 1_700_000_000..1_700_000_005u64 {
            let taken = (0..10).filter(|_| r.sample(second, id)).count();
            assert_eq!(taken, 3, "second {second}");
        }
        let counts = r.stats.take();
        assert_eq!(
            counts,
            Counts {
                requests: 50,
                sampled: 15,
                borrowed: 0
            }
        );
    }

    #[test]
    fn rate_bound_edges() {
        let zero = TraceId::from_bytes([0; 16]);
        let max = TraceId::from_bytes([0xff; 16]);
        assert!(!trace_id_in_rate(rate_bound(0.0), zero));
        assert!(trace_id_in_rate(rate_bound(1.0), max));
        assert!(trace_id_in_rate(rate_bound(0.5), zero));
        assert!(!trace_id_in_rate(rate_bound(0.5), max));
    }

    #[test]
    fn attributes_of_any_scalar_type_match() {
        let attrs = [
            KeyValue::new("tier", "premium"),
            KeyValue::new("retries", 3i64),
            KeyValue::new("beta", true),
            KeyValue::new("ratio", 0.5),
        ];
        assert!(attribute_matches(&attrs, "tier", &Glob::new("prem*")));
        assert!(attribute_matches(&attrs, "retries", &Glob::new("3")));
        assert!(attribute_matches(&attrs, "beta", &Glob::new("TRUE")));
        assert!(attribute_matches(&attrs, "ratio", &Glob::new("0.5")));
        assert!(!attribute_matches(&attrs, "missing", &Glob::new("*")));
        assert!(!attribute_matches(&attrs, "tier", &Glob::new("basic")));
    }
}
