//! When to try again: `429` and `503` wait what `Retry-After` says; other
//! `5xx`, `408` and transport failures back off exponentially with jitter,
//! up to a cap and a number of attempts.

use std::sync::Mutex;
use std::time::Duration;

/// The retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first back-off.
    pub base: Duration,
    /// The longest back-off (and the longest `Retry-After` obeyed).
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 8,
            base: Duration::from_millis(500),
            cap: Duration::from_mins(2),
        }
    }
}

/// What an answer means for retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Done (success or an error to report).
    Done,
    /// Throttled: wait this long (from `Retry-After`, or backed off).
    Wait(Duration),
}

/// A small deterministic jitter source (xorshift64*), seeded by the caller:
/// randomness is a parameter.
#[derive(Debug)]
pub struct Jitter(Mutex<u64>);

impl Jitter {
    /// A source seeded with `seed` (0 is replaced by a constant).
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        }))
    }

    /// A fraction in `[0, 1)`.
    pub fn next_fraction(&self) -> f64 {
        let mut s = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        let x = s.wrapping_mul(0x2545_F491_4F6C_DD1D);
        #[allow(
            clippy::cast_precision_loss,
            reason = "53 bits of the value are all a fraction needs"
        )]
        let f = (x >> 11) as f64 / (1u64 << 53) as f64;
        f
    }
}

impl RetryPolicy {
    /// "Full jitter" back-off before attempt `attempt + 1` (attempt 1 is the
    /// first try): a random time up to `base · 2^(attempt-1)`, capped.
    #[must_use]
    pub fn backoff(&self, attempt: u32, jitter: &Jitter) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let ceiling = exp.min(self.cap);
        ceiling
            .mul_f64(jitter.next_fraction())
            .max(Duration::from_millis(10))
    }

    /// What an HTTP status (and its `Retry-After`) asks for.
    #[must_use]
    pub fn verdict(
        &self,
        status: u16,
        retry_after: Option<&str>,
        attempt: u32,
        jitter: &Jitter,
    ) -> Verdict {
        let retriable = matches!(status, 408 | 429 | 500 | 502 | 503 | 504);
        if !retriable || attempt >= self.attempts {
            return Verdict::Done;
        }
        match (status, retry_after.and_then(parse_retry_after)) {
            (429 | 503, Some(wait)) => Verdict::Wait(wait.min(self.cap)),
            _ => Verdict::Wait(self.backoff(attempt, jitter)),
        }
    }
}

/// `Retry-After` in seconds (Graph sends seconds; an HTTP date is not used).
fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_waits_what_the_server_says() {
        let p = RetryPolicy::default();
        let j = Jitter::new(1);
        assert_eq!(
            p.verdict(429, Some("7"), 1, &j),
            Verdict::Wait(Duration::from_secs(7))
        );
        assert_eq!(
            p.verdict(503, Some("9999"), 1, &j),
            Verdict::Wait(p.cap),
            "capped"
        );
        assert_eq!(p.verdict(404, None, 1, &j), Verdict::Done);
        assert_eq!(p.verdict(400, Some("1"), 1, &j), Verdict::Done);
        assert_eq!(p.verdict(429, Some("1"), p.attempts, &j), Verdict::Done);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            attempts: 30,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
        };
        let j = Jitter::new(42);
        for attempt in 1..30 {
            let ceiling = (Duration::from_millis(100) * (1 << (attempt - 1).min(20))).min(p.cap);
            for _ in 0..50 {
                let d = p.backoff(attempt, &j);
                assert!(
                    d <= ceiling.max(Duration::from_millis(10)),
                    "{attempt}: {d:?}"
                );
            }
        }
        // Jitter spreads the waits.
        let waits: std::collections::HashSet<_> = (0..20).map(|_| p.backoff(5, &j)).collect();
        assert!(waits.len() > 10);
        match p.verdict(500, None, 1, &j) {
            Verdict::Wait(d) => assert!(d <= Duration::from_millis(100)),
            Verdict::Done => panic!("a 500 is retried"),
        }
    }
}
