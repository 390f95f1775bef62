//! The one place oathvault reads the system clock, and the one place it
//! turns Unix seconds into dates and back ([`rfc3339`], [`unix_of`],
//! [`parse_date`], [`display`]). Everything else takes the
//! time as a parameter (clippy's `disallowed-methods` enforces it).

mod dates;

pub use dates::{Civil, civil, display, parse_date, rfc3339, unix_of};

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> u64;
}

/// The system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods, reason = "this is the one clock module")]
    fn now_unix(&self) -> u64 {
        // A clock before 1970 is a broken machine; treat it as the epoch.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that says what it is told (tests, replays).
#[derive(Debug, Default)]
pub struct FixedClock(AtomicU64);

impl FixedClock {
    /// A clock stopped at `unix` seconds.
    #[must_use]
    pub fn new(unix: u64) -> Self {
        Self(AtomicU64::new(unix))
    }

    /// Moves the clock to `unix` seconds.
    pub fn set(&self, unix: u64) {
        self.0.store(unix, Ordering::SeqCst);
    }

    /// Moves the clock forward.
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_unix(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A monotonic stopwatch for progress and timing output (never for logic).
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts now.
    #[must_use]
    #[allow(clippy::disallowed_methods, reason = "this is the one clock module")]
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// Time since start.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let c = FixedClock::new(59);
        assert_eq!(c.now_unix(), 59);
        c.advance(30);
        assert_eq!(c.now_unix(), 89);
        c.set(1);
        assert_eq!(c.now_unix(), 1);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_unix() > 1_577_836_800);
    }
}
