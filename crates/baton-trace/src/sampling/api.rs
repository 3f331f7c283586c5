//! The two endpoints' JSON, without any HTTP: rules out, statistics in, targets out.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use baton_sampling::{Clock, SamplingRule, SamplingRules};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{ClientCounts, RuleCounts};

/// How long a granted reservoir quota stays good, in seconds.
pub(crate) const QUOTA_TTL_SECS: u64 = 60;
/// How often samplers are asked to report, in seconds (what X-Ray asks for too).
pub(crate) const REPORT_INTERVAL_SECS: u64 = 10;
/// Processes counted one by one per rule; reports from more are still added to the rule's
/// totals. Keeps a misbehaving client that invents ids from growing the table without end.
const MAX_CLIENTS_PER_RULE: usize = 256;
/// A process shares a rule's reservoir while it has reported on the rule this recently: two
/// report intervals, so one late report does not hand its share to the others.
pub(crate) const ACTIVE_SECS: u64 = 2 * REPORT_INTERVAL_SECS;

/// The served rules and what samplers reported about them.
#[derive(Debug)]
pub(crate) struct Book {
    rules: Vec<SamplingRule>,
    clock: Arc<dyn Clock>,
    /// When the rules were put in place, in whole epoch seconds: each rule's `CreatedAt` and
    /// `ModifiedAt`, and the `LastRuleModification` of every targets answer. Whole seconds,
    /// because samplers compare it with the whole second they fetched the rules in.
    loaded_at: u64,
    /// The `GetSamplingRules` answer, written once.
    rules_answer: Bytes,
    counts: Mutex<Vec<RuleCounts>>,
    /// For each rule, the processes that reported on it lately and when they last did.
    active: Mutex<Vec<Vec<(String, u64)>>>,
}

/// One entry of a `SamplingStatisticsDocuments` list.
#[derive(Debug, PartialEq)]
struct Statistics {
    rule: String,
    client: String,
    requests: u64,
    sampled: u64,
    borrowed: u64,
}

impl Book {
    pub(crate) fn new(rules: &SamplingRules, clock: Arc<dyn Clock>) -> Self {
        let rules = rules.rules().to_vec();
        let loaded_at = epoch_seconds(clock.now());
        let records: Vec<Value> = rules.iter().map(|r| rule_record(r, loaded_at)).collect();
        let rules_answer = Bytes::from(json!({ "SamplingRuleRecords": records }).to_string());
        let counts = rules
            .iter()
            .map(|rule| RuleCounts {
                rule: rule.name.clone(),
                ..RuleCounts::default()
            })
            .collect();
        let active = Mutex::new(vec![Vec::new(); rules.len()]);
        Book {
            rules,
            clock,
            loaded_at,
            rules_answer,
            counts: Mutex::new(counts),
            active,
        }
    }

    /// Names served more than once: samplers tell rules apart by name only.
    pub(crate) fn duplicate_names(&self) -> Vec<&str> {
        let mut duplicates: Vec<&str> = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            let name = rule.name.as_str();
            if self.rules[..index].iter().any(|r| r.name == name) && !duplicates.contains(&name) {
                duplicates.push(name);
            }
        }
        duplicates
    }

    fn counts(&self) -> MutexGuard<'_, Vec<RuleCounts>> {
        // Nothing panics while holding the lock; the sums stay usable if something did.
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A copy of the counts, in the order the rules are served.
    pub(crate) fn snapshot(&self) -> Vec<RuleCounts> {
        self.counts().clone()
    }

    /// Answers `POST /GetSamplingRules`: every rule on one page, whatever `NextToken` says.
    pub(crate) fn get_rules(&self, body: &[u8]) -> Result<Bytes, String> {
        // An empty body is taken as `{}`; anything else must be the request object.
        if !body.iter().all(u8::is_ascii_whitespace) {
            let request: Value = serde_json::from_slice(body)
                .map_err(|error| format!("the request body is not JSON: {error}"))?;
            let Value::Object(request) = request else {
                return Err("the request body must be a JSON object".into());
            };
            match request.get("NextToken") {
                None | Some(Value::Null | Value::String(_)) => {}
                Some(other) => return Err(format!("`NextToken` must be a string, found {other}")),
            }
        }
        Ok(self.rules_answer.clone())
    }

    /// Answers `POST /SamplingTargets`: adds the reported counts, and gives each rule that was
    /// reported a target that makes the sampler apply the rule as written, with the rule's
    /// reservoir shared out among the processes using it (see [`share`]).
    pub(crate) fn sampling_targets(&self, body: &[u8]) -> Result<Bytes, String> {
        let reports = statistics(body)?;
        let now = epoch_seconds(self.clock.now());
        let mut unprocessed: Vec<Value> = Vec::new();
        // Each reported rule once, for the first process that reported it.
        let mut answered: Vec<(usize, &str)> = Vec::new();
        let mut counts = self.counts();
        let mut active = self.active();
        for report in &reports {
            let Some(index) = self.rules.iter().position(|r| r.name == report.rule) else {
                unprocessed.push(json!({
                    "RuleName": report.rule,
                    "ErrorCode": "400",
                    "Message": "no rule of this name is served here",
                }));
                continue;
            };
            add(&mut counts[index], report);
            seen(&mut active[index], &report.client, now);
            if !answered.iter().any(|(i, _)| *i == index) {
                answered.push((index, &report.client));
            }
        }
        drop(counts);
        let targets: Vec<Value> = answered
            .iter()
            .map(|&(index, client)| {
                let rule = &self.rules[index];
                json!({
                    "RuleName": rule.name,
                    "FixedRate": rule.fixed_rate,
                    "ReservoirQuota": share(&active[index], client, rule.reservoir_size),
                    "ReservoirQuotaTTL": now.saturating_add(QUOTA_TTL_SECS) as f64,
                    "Interval": REPORT_INTERVAL_SECS,
                })
            })
            .collect();
        drop(active);
        let answer = json!({
            "SamplingTargetDocuments": targets,
            "LastRuleModification": self.loaded_at as f64,
            "UnprocessedStatistics": unprocessed,
        });
        Ok(Bytes::from(answer.to_string()))
    }

    fn active(&self) -> MutexGuard<'_, Vec<Vec<(String, u64)>>> {
        self.active
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Notes that `client` reported on a rule at `now`, and forgets the processes of that rule
/// quiet for longer than [`ACTIVE_SECS`]. Past [`MAX_CLIENTS_PER_RULE`] a newcomer is not
/// noted (and shares nothing), so the others' shares stay as they were.
fn seen(clients: &mut Vec<(String, u64)>, client: &str, now: u64) {
    // Either way: after the clock is set back, processes last seen "in the future" go too
    // (the live ones report again within an interval).
    clients.retain(|(_, last)| now.abs_diff(*last) <= ACTIVE_SECS);
    if let Some(entry) = clients.iter_mut().find(|(id, _)| id == client) {
        entry.1 = now;
    } else if clients.len() < MAX_CLIENTS_PER_RULE {
        clients.push((client.to_owned(), now));
    }
}

/// The part of a rule's `reservoir` (traces a second) that `client` may take. X-Ray shares a
/// rule's reservoir out among the processes using it, so that together they take no more than
/// the rule allows; here it is shared evenly among the processes `seen` lately, the remainder
/// going one each to the first of them in the order of their ids. (X-Ray also weighs each
/// process's traffic; an even split is enough for a developer's machine.)
fn share(clients: &[(String, u64)], client: &str, reservoir: u32) -> u64 {
    if !clients.iter().any(|(id, _)| id == client) {
        return 0;
    }
    let position = clients
        .iter()
        .filter(|(id, _)| id.as_str() < client)
        .count() as u64;
    let count = clients.len() as u64;
    let reservoir = u64::from(reservoir);
    reservoir / count + u64::from(position < reservoir % count)
}

/// One rule as a `SamplingRuleRecords` entry of the X-Ray API.
fn rule_record(rule: &SamplingRule, loaded_at: u64) -> Value {
    let attributes: Map<String, Value> = rule
        .attributes
        .iter()
        .map(|(key, pattern)| (key.clone(), Value::String(pattern.clone())))
        .collect();
    json!({
        "SamplingRule": {
            "RuleName": rule.name,
            "Priority": rule.priority,
            "FixedRate": rule.fixed_rate,
            "ReservoirSize": rule.reservoir_size,
            "ServiceName": rule.service_name,
            "ServiceType": rule.service_type,
            "Host": rule.host,
            "HTTPMethod": rule.http_method,
            "URLPath": rule.url_path,
            "ResourceARN": rule.resource_arn,
            "Version": 1,
            "Attributes": attributes,
        },
        "CreatedAt": loaded_at as f64,
        "ModifiedAt": loaded_at as f64,
    })
}

/// Reads a `SamplingTargets` request. One malformed document refuses the whole request, as
/// the X-Ray API's validation does.
fn statistics(body: &[u8]) -> Result<Vec<Statistics>, String> {
    let request: Value = serde_json::from_slice(body)
        .map_err(|error| format!("the request body is not JSON: {error}"))?;
    let Some(documents) = request
        .get("SamplingStatisticsDocuments")
        .and_then(Value::as_array)
    else {
        return Err(
            "the request body must be an object with a `SamplingStatisticsDocuments` \
                    array"
                .into(),
        );
    };
    documents
        .iter()
        .enumerate()
        .map(|(index, document)| {
            let text = |field: &str| {
                document
                    .get(field)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        format!("`SamplingStatisticsDocuments[{index}].{field}` must be a string")
                    })
            };
            let count = |field: &str| {
                document.get(field).and_then(Value::as_u64).ok_or_else(|| {
                    format!(
                        "`SamplingStatisticsDocuments[{index}].{field}` must be a whole number \
                         from 0"
                    )
                })
            };
            Ok(Statistics {
                rule: text("RuleName")?,
                client: text("ClientID")?,
                requests: count("RequestCount")?,
                sampled: count("SampledCount")?,
                borrowed: count("BorrowCount")?,
            })
        })
        .collect()
}

fn add(rule: &mut RuleCounts, report: &Statistics) {
    rule.requests = rule.requests.saturating_add(report.requests);
    rule.sampled = rule.sampled.saturating_add(report.sampled);
    rule.borrowed = rule.borrowed.saturating_add(report.borrowed);
    let client = match rule
        .clients
        .iter()
        .position(|c| c.client_id == report.client)
    {
        Some(index) => &mut rule.clients[index],
        None if rule.clients.len() < MAX_CLIENTS_PER_RULE => {
            rule.clients.push(ClientCounts {
                client_id: report.client.clone(),
                ..ClientCounts::default()
            });
            rule.clients.last_mut().expect("just pushed")
        }
        None => return,
    };
    client.requests = client.requests.saturating_add(report.requests);
    client.sampled = client.sampled.saturating_add(report.sampled);
    client.borrowed = client.borrowed.saturating_add(report.borrowed);
}

fn epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use baton_sampling::ManualClock;
    use proptest::prelude::*;

    use super::*;

    const T: u64 = 1_700_000_000;

    fn book() -> Book {
        let rules = SamplingRules::new([
            SamplingRule::new("checkout", 1, 2, 1.0)
                .with_http_method("POST")
                .with_url_path("/checkout")
                .with_attribute("tenant", "gold*"),
            SamplingRule::new("health", 2, 0, 0.0).with_url_path("/health"),
        ])
        .unwrap();
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_millis(T * 1000 + 700));
        Book::new(&rules, Arc::new(clock))
    }

    fn json(bytes: &Bytes) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn the_rules_answer_reads_back_as_the_same_rules() {
        let book = book();
        let answer = book.get_rules(br#"{"NextToken":null}"#).unwrap();
        let read = SamplingRules::from_json(std::str::from_utf8(&answer).unwrap()).unwrap();
        assert_eq!(read.rules(), book.rules.as_slice());
        let record = &json(&answer)["SamplingRuleRecords"][0];
        assert_eq!(
            record["SamplingRule"]["Attributes"],
            json!({"tenant": "gold*"})
        );
        assert_eq!(record["SamplingRule"]["Version"], 1);
        assert_eq!(record["ModifiedAt"], json!(T as f64));
        // The default was added after the two rules.
        assert_eq!(
            json(&answer)["SamplingRuleRecords"][2]["SamplingRule"]["RuleName"],
            "Default"
        );
    }

    #[rustfmt::skip]
    const BAD_RULES_REQUESTS: &[&[u8]] = &[
        b"{", b"[]", b"\"x\"", b"{\"NextToken\": 3}", b"\xff\xfe", b"null",
    ];

    #[test]
    fn rules_requests_are_checked() {
        let book = book();
        for body in [&b""[..], b"  ", b"{}", br#"{"NextToken":"abc"}"#] {
            assert!(book.get_rules(body).is_ok(), "{body:?}");
        }
        for body in BAD_RULES_REQUESTS {
            assert!(book.get_rules(body).is_err(), "{body:?}");
        }
    }

    fn report(rule: &str, client: &str, counts: [u64; 3]) -> Value {
        json!({"RuleName": rule, "ClientID": client, "RequestCount": counts[0],
               "SampledCount": counts[1], "BorrowCount": counts[2], "Timestamp": T as f64})
    }

    #[test]
    fn targets_repeat_the_rule_and_counts_add_up_per_rule_and_client() {
        let book = book();
        let body = json!({"SamplingStatisticsDocuments": [
            report("checkout", "a", [10, 4, 1]),
            report("checkout", "b", [3, 3, 0]),
            report("nosuchrule", "a", [1, 1, 1]),
        ]});
        let answer = json(&book.sampling_targets(body.to_string().as_bytes()).unwrap());
        assert_eq!(
            answer,
            json!({
                // Two processes use the rule: each gets half of its reservoir of 2.
                "SamplingTargetDocuments": [{
                    "RuleName": "checkout", "FixedRate": 1.0, "ReservoirQuota": 1,
                    "ReservoirQuotaTTL": (T + 60) as f64, "Interval": 10
                }],
                "LastRuleModification": T as f64,
                "UnprocessedStatistics": [{
                    "RuleName": "nosuchrule", "ErrorCode": "400",
                    "Message": "no rule of this name is served here"
                }]
            })
        );
        let body = json!({"SamplingStatisticsDocuments": [report("checkout", "a", [1, 1, 0])]});
        book.sampling_targets(body.to_string().as_bytes()).unwrap();

        let client = |id: &str, requests, sampled, borrowed| ClientCounts {
            client_id: id.into(),
            requests,
            sampled,
            borrowed,
        };
        let counts = book.snapshot();
        assert_eq!(
            counts[0],
            RuleCounts {
                rule: "checkout".into(),
                requests: 14,
                sampled: 8,
                borrowed: 1,
                clients: vec![client("a", 11, 5, 1), client("b", 3, 3, 0)],
            }
        );
        assert_eq!(
            counts[1..]
                .iter()
                .map(|c| (c.rule.as_str(), c.requests))
                .collect::<Vec<_>>(),
            [("health", 0), ("Default", 0)]
        );
    }

    /// The quota the target for `rule` gives `client` when it reports now.
    fn quota(book: &Book, rule: &str, client: &str) -> u64 {
        let body = json!({"SamplingStatisticsDocuments": [report(rule, client, [1, 1, 0])]});
        let answer = json(&book.sampling_targets(body.to_string().as_bytes()).unwrap());
        answer["SamplingTargetDocuments"][0]["ReservoirQuota"]
            .as_u64()
            .unwrap()
    }

    #[test]
    fn the_reservoir_is_shared_among_the_processes_using_a_rule() {
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(T)));
        let rules = SamplingRules::new([
            SamplingRule::new("checkout", 1, 5, 0.1).with_url_path("/checkout")
        ])
        .unwrap();
        let book = Book::new(&rules, clock.clone());
        // Alone, a process gets the whole reservoir.
        assert_eq!(quota(&book, "checkout", "b"), 5);
        assert_eq!(quota(&book, "checkout", "c"), 2, "b and c: 3 + 2");
        // Three processes: 5 = 2 + 2 + 1, the odd ones to the first ids.
        assert_eq!(quota(&book, "checkout", "a"), 2);
        assert_eq!(quota(&book, "checkout", "b"), 2);
        assert_eq!(quota(&book, "checkout", "c"), 1);
        // `c` stops reporting; once it has been quiet for two intervals, its share is gone.
        clock.advance(Duration::from_secs(ACTIVE_SECS));
        assert_eq!(quota(&book, "checkout", "a"), 2);
        assert_eq!(quota(&book, "checkout", "b"), 2);
        clock.advance(Duration::from_secs(1));
        assert_eq!(quota(&book, "checkout", "a"), 3);
        assert_eq!(quota(&book, "checkout", "b"), 2);
        // The Default rule's reservoir (1) goes to one process of two, never to both.
        let shares = [quota(&book, "Default", "a"), quota(&book, "Default", "b")];
        assert_eq!(shares.iter().sum::<u64>(), 1, "{shares:?}");
    }

    #[test]
    fn a_malformed_statistics_document_refuses_the_request_and_counts_nothing() {
        let book = book();
        let mut negative = report("checkout", "a", [1, 1, 0]);
        negative["RequestCount"] = json!(-1);
        let mut nameless = report("checkout", "a", [1, 1, 0]);
        nameless.as_object_mut().unwrap().remove("RuleName");
        #[rustfmt::skip]
        let bad: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"{}".to_vec(),
            b"{\"SamplingStatisticsDocuments\": {}}".to_vec(),
            json!({"SamplingStatisticsDocuments": [report("checkout", "a", [1, 1, 0]), negative]})
                .to_string().into_bytes(),
            json!({"SamplingStatisticsDocuments": [nameless]}).to_string().into_bytes(),
            json!({"SamplingStatisticsDocuments": [1]}).to_string().into_bytes(),
        ];
        for body in &bad {
            assert!(
                book.sampling_targets(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(
            book.snapshot()
                .iter()
                .all(|c| c.requests == 0 && c.clients.is_empty())
        );
    }

    #[test]
    fn clients_beyond_the_limit_still_count_in_the_totals() {
        let book = book();
        let documents: Vec<Value> = (0..MAX_CLIENTS_PER_RULE + 10)
            .map(|n| report("health", &n.to_string(), [1, 0, 0]))
            .collect();
        let body = json!({ "SamplingStatisticsDocuments": documents });
        book.sampling_targets(body.to_string().as_bytes()).unwrap();
        let health = &book.snapshot()[1];
        assert_eq!(health.requests, MAX_CLIENTS_PER_RULE as u64 + 10);
        assert_eq!(health.clients.len(), MAX_CLIENTS_PER_RULE);
    }

    #[test]
    fn duplicate_names_are_found() {
        let rules = SamplingRules::new([
            SamplingRule::new("same", 1, 0, 1.0).with_url_path("/a"),
            SamplingRule::new("same", 2, 0, 1.0).with_url_path("/b"),
        ])
        .unwrap();
        let book = Book::new(&rules, Arc::new(baton_sampling::SystemClock::default()));
        assert_eq!(book.duplicate_names(), ["same"]);
        assert!(self::book().duplicate_names().is_empty());
    }

    proptest! {
        #[test]
        fn no_body_makes_either_endpoint_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let book = book();
            let _ = book.get_rules(&body);
            let _ = book.sampling_targets(&body);
        }

        #[test]
        fn no_json_document_makes_the_targets_endpoint_panic(
            rule in "[a-z]{0,8}", requests in any::<i64>(), extra in any::<f64>()
        ) {
            let body = json!({"SamplingStatisticsDocuments": [{
                "RuleName": rule, "ClientID": "c", "RequestCount": requests,
                "SampledCount": extra, "BorrowCount": 0
            }]});
            let _ = book().sampling_targets(body.to_string().as_bytes());
        }
    }
}
