//! Trace and span ids that X-Ray accepts.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

/// An OpenTelemetry [`IdGenerator`] whose trace ids X-Ray accepts: the first 32 bits are the
/// current time in epoch seconds, the other 96 are random. Span ids are random and never zero.
///
/// X-Ray rejects trace ids whose time part lies more than 30 days in the past, so every
/// service that starts traces bound for X-Ray should install this generator.
///
/// ```
/// use baton::XrayIdGenerator;
/// use opentelemetry_sdk::trace::SdkTracerProvider;
///
/// let provider = SdkTracerProvider::builder()
///     .with_id_generator(XrayIdGenerator::default())
///     .build();
/// # drop(provider);
/// ```
#[derive(Clone)]
pub struct XrayIdGenerator {
    random: RandomIdGenerator,
    clock: fn() -> SystemTime,
}

impl Default for XrayIdGenerator {
    fn default() -> Self {
        XrayIdGenerator {
            random: RandomIdGenerator::default(),
            clock: SystemTime::now,
        }
    }
}

impl fmt::Debug for XrayIdGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XrayIdGenerator").finish_non_exhaustive()
    }
}

impl XrayIdGenerator {
    /// A generator that reads the time from `clock` instead of [`SystemTime::now`] (for tests).
    pub fn with_clock(clock: fn() -> SystemTime) -> Self {
        XrayIdGenerator {
            clock,
            ..Self::default()
        }
    }
}

impl IdGenerator for XrayIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        // Times before 1970 or after 2106 cannot be written in 32 bits: clamp rather than wrap.
        let secs = (self.clock)()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs().min(u64::from(u32::MAX)));
        let random = u128::from_be_bytes(self.random.new_trace_id().to_bytes());
        let id = (u128::from(secs as u32) << 96) | (random & ((1u128 << 96) - 1));
        TraceId::from_bytes(id.to_be_bytes())
    }

    fn new_span_id(&self) -> SpanId {
        loop {
            let id = self.random.new_span_id();
            if id != SpanId::INVALID {
                return id;
            }
        }
    }
}

/// The epoch seconds written in the first 32 bits of an X-Ray trace id.
pub fn trace_id_epoch_seconds(trace_id: TraceId) -> u32 {
    let bytes = trace_id.to_bytes();
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}
