//! Per-visitor rate limits for public endpoints (the sign-up). Fixed windows per address,
//! in memory: each referd instance limits on its own, which bounds abuse per instance and
//! needs no shared state. Keys are salted hashes, never addresses.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    max: u32,
    window: Duration,
    seen: Mutex<HashMap<[u8; 16], (Instant, u32)>>,
}

/// Sign-ups one address may make per window: generous for an office behind one address,
/// small for a script.
const SIGNUPS_PER_WINDOW: u32 = 20;
const SIGNUP_WINDOW: Duration = Duration::from_secs(600);

impl RateLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    pub fn signups() -> Self {
        Self::new(SIGNUPS_PER_WINDOW, SIGNUP_WINDOW)
    }

    /// `Ok` when the visitor may go on; else the seconds until it may.
    pub fn check(&self, visitor: [u8; 16], now: Instant) -> Result<(), u64> {
        let Ok(mut seen) = self.seen.lock() else {
            return Ok(());
        };
        if seen.len() > 100_000 {
            let window = self.window;
            seen.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = seen.entry(visitor).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visitor_is_limited_per_window() {
        let l = RateLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let (a, b) = ([1; 16], [2; 16]);
        for _ in 0..3 {
            assert!(l.check(a, t0).is_ok());
        }
        assert_eq!(l.check(a, t0 + Duration::from_secs(10)), Err(50));
        assert!(l.check(b, t0).is_ok(), "another visitor has its own budget");
        assert!(
            l.check(a, t0 + Duration::from_secs(60)).is_ok(),
            "a new window"
        );
    }
}
