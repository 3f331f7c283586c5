//! What a consumer receives, whatever delivered it: one way to read its producer's context and
//! to start its processing span.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::Context;

use crate::{LinkPolicy, MessagingSpan, MessagingSystem, TracerHandle};

/// One delivered message, as a consumer sees it: an SQS message (or Lambda SQS record), an SNS
/// notification, an EventBridge event. Implemented by the service crates for their types, and
/// open to any other (a Kinesis record, say) without a change here.
///
/// Each implementation reads the producer's context in its service's documented precedence
/// (for SQS: the SQS carriers, then an SNS or EventBridge envelope in the body); the process
/// span is then started the same way for all of them, by [`TracerHandle::start_delivery`] (or
/// the service settings' `start_process_span`, which adds the `on_process` hook).
///
/// ```
/// use baton::{Delivery, LinkPolicy, MessagingSystem, TracerHandle};
/// use opentelemetry::Context;
///
/// /// A record of some queue of one's own, carrying an X-Ray header.
/// struct Record { id: String, trace_header: String }
///
/// impl Delivery for Record {
///     fn system(&self) -> MessagingSystem {
///         MessagingSystem::Other("my_queue")
///     }
///     fn message_id(&self) -> Option<&str> {
///         Some(&self.id)
///     }
///     fn producer_context(&self) -> Context {
///         baton::extract_header(&Context::new(), &self.trace_header, "trace_header")
///     }
/// }
///
/// let record = Record {
///     id: "r-1".into(),
///     trace_header: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into(),
/// };
/// let cx = TracerHandle::global().start_delivery(&record, "jobs", LinkPolicy::Parent);
/// # drop(cx);
/// ```
pub trait Delivery {
    /// The messaging system that delivered it (`messaging.system` of its process span).
    fn system(&self) -> MessagingSystem;

    /// The id the service gave the message, if known.
    fn message_id(&self) -> Option<&str>;

    /// The producer's context (an empty context when it carries none, or none that is valid).
    fn producer_context(&self) -> Context;

    /// The size of its body in bytes, where it has one (default: unknown).
    fn body_size(&self) -> Option<usize> {
        None
    }

    /// Adds what else the delivery knows of itself (time in queue, receive count, …) to its
    /// processing span. Default: nothing.
    fn delivery_facts(&self, span: MessagingSpan) -> MessagingSpan {
        span
    }

    /// Its processing span, not started: `process {destination}` with the message id and the
    /// [delivery facts](Self::delivery_facts). The body size is opt-in in the conventions: the
    /// services' settings add it when asked to (`with_body_size`), or add it yourself with
    /// [`MessagingSpan::body_size`].
    fn process_span(&self, destination: &str) -> MessagingSpan {
        let mut span = MessagingSpan::process(self.system(), destination.to_owned());
        if let Some(id) = self.message_id() {
            span = span.message_id(id.to_owned());
        }
        self.delivery_facts(span)
    }
}

impl TracerHandle {
    /// Starts the processing span of `delivery`, handled for `destination`, under `policy`,
    /// and returns its producer's context with the new span active (see
    /// [`start_process`](Self::start_process)). The body size, opt-in in the conventions, is
    /// not recorded here: a service's settings built `with_body_size(true)` record it (their
    /// `start_process_span`, and [`Common::start_delivery`](crate::driver::Common::start_delivery)).
    pub fn start_delivery(
        &self,
        delivery: &(impl Delivery + ?Sized),
        destination: &str,
        policy: LinkPolicy,
    ) -> Context {
        self.start_process(
            delivery.process_span(destination),
            &delivery.producer_context(),
            policy,
        )
    }
}

/// The instant an RFC 3339 timestamp names (`2026-11-25T12:00:00.123Z`, `…+01:00`): how SNS
/// (`Timestamp`) and EventBridge (`time`) date their envelopes. `None` for anything else,
/// dates before 1970 included; fractions past nanoseconds are ignored.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let at = baton::parse_rfc3339("2026-11-25T12:00:00.5Z").unwrap();
/// assert_eq!(at, UNIX_EPOCH + Duration::from_millis(1_795_608_000_500));
/// assert_eq!(baton::parse_rfc3339("2026-11-25T13:00:00+01:00"), baton::parse_rfc3339("2026-11-25T12:00:00Z"));
/// assert_eq!(baton::parse_rfc3339("yesterday"), None);
/// ```
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0u64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // 60: a leap second, read as the next one.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0u64;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|d| d.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for (i, d) in fraction[..digits].iter().take(9).enumerate() {
            nanos += u64::from(d - b'0') * 10u64.pow(8 - i as u32);
        }
        rest = &fraction[digits..];
    }
    let offset: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digit = |d: &u8| d.is_ascii_digit().then(|| i64::from(d - b'0'));
            let hours = digit(h1)? * 10 + digit(h2)?;
            let minutes = digit(m1)? * 10 + digit(m2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'+' { seconds } else { -seconds }
        }
        _ => return None,
    };
    let days = days_since_epoch(year, month, day)?;
    let local = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64;
    let utc = u64::try_from(local - offset).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(utc) + Duration::from_nanos(nanos))
}

fn is_leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given date (`None` before 1970).
fn days_since_epoch(year: u64, month: u64, day: u64) -> Option<i64> {
    if year < 1970 {
        return None;
    }
    let leap_days = |y: u64| y / 4 - y / 100 + y / 400;
    // Whole years since 1970, with the leap days of the years before `year`.
    let mut days = (year - 1970) * 365 + leap_days(year - 1) - leap_days(1969);
    for m in 1..month {
        days += days_in_month(year, m);
    }
    i64::try_from(days + day - 1).ok()
}

/// How long ago `sent` (an RFC 3339 timestamp) was, in whole milliseconds, as the
/// `baton.messaging.time_in_queue_ms` delivery fact; `None` if it does not parse. A clock
/// ahead of this one's reads as 0.
pub fn time_in_queue_ms(sent: &str, now: SystemTime) -> Option<i64> {
    let sent = parse_rfc3339(sent)?;
    let waited = now.duration_since(sent).unwrap_or_default();
    Some(i64::try_from(waited.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const CASES: &[(&str, Option<u64>)] = &[
        ("1970-01-01T00:00:00Z", Some(0)),
        ("2026-11-25T12:00:00Z", Some(1_795_608_000_000)),
        ("2026-11-25T12:00:00.123Z", Some(1_795_608_000_123)),
        ("2026-11-25T12:00:00.123456789123Z", Some(1_795_608_000_123)),
        ("2026-11-25t12:00:00z", Some(1_795_608_000_000)),
        ("2026-11-25T14:30:00+02:30", Some(1_795_608_000_000)),
        ("2026-11-25T11:00:00-01:00", Some(1_795_608_000_000)),
        ("2024-02-29T00:00:00Z", Some(1_709_164_800_000)),
        ("2000-03-01T00:00:00Z", Some(951_868_800_000)),
        ("2023-02-29T00:00:00Z", None),
        ("2026-13-01T00:00:00Z", None),
        ("2026-11-25T24:00:00Z", None),
        ("2026-11-25T12:00:00", None),
        ("2026-11-25T12:00:00.Z", None),
        ("2026-11-25T12:00:00+0100", None),
        ("1969-12-31T23:59:59Z", None),
        ("1970-01-01T00:30:00+01:00", None),
        ("2026-11-25 12:00:00Z", Some(1_795_608_000_000)),
        ("２０２６-11-25T12:00:00Z", None),
        ("", None),
    ];

    #[test]
    fn rfc3339_timestamps() {
        for (text, millis) in CASES {
            let parsed = parse_rfc3339(text)
                .map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64);
            assert_eq!(parsed, *millis, "{text}");
        }
    }

    #[test]
    fn time_in_queue_never_negative() {
        let sent = "2026-11-25T12:00:00Z";
        let at = parse_rfc3339(sent).unwrap();
        assert_eq!(
            time_in_queue_ms(sent, at + Duration::from_millis(1500)),
            Some(1500)
        );
        assert_eq!(time_in_queue_ms(sent, at - Duration::from_secs(5)), Some(0));
        assert_eq!(time_in_queue_ms("garbage", at), None);
    }
}
