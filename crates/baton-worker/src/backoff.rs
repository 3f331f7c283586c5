//! Capped exponential backoff with jitter, for retrying service calls.

use std::time::Duration;

/// Delays that double from `base` up to `cap`, each with up to 25 % random jitter taken off so
/// that many workers restarting together do not retry in step.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    pub(crate) fn new(base: Duration, cap: Duration) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
            | 1;
        Backoff {
            base,
            cap: cap.max(base),
            attempt: 0,
            seed,
        }
    }

    /// The next delay; each call doubles the un-jittered delay until it reaches the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let factor = 1u32 << self.attempt.min(20);
        self.attempt = self.attempt.saturating_add(1);
        let full = self.base.saturating_mul(factor).min(self.cap);
        // xorshift64: jitter only, no need for a real random source.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jitter = (self.seed % 1000) as f64 / 4000.0; // 0 .. 0.25
        full.mul_f64(1.0 - jitter)
    }

    /// Back to the base delay (after a call succeeded).
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    /// How many delays were handed out since the last reset.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_bounded_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<_> = (0..8).map(|_| b.next_delay()).collect();
        let full = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
        for (d, f) in delays.iter().zip(full) {
            let f = Duration::from_millis(f);
            assert!(*d <= f && *d >= f.mul_f64(0.75), "{d:?} vs {f:?}");
        }
        assert_eq!(b.attempts(), 8);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
