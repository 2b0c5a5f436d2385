//! When to try a failed delivery again: exponential backoff with jitter over about a day.
//! Attempt n (1-based) that failed waits `BASE · 2^(n-1)`, capped at `CAP`, times a random
//! factor in [0.5, 1.0] (so many receivers failing together do not retry in lockstep).
//! After [`MAX_ATTEMPTS`] the delivery is marked failed; an operator can redeliver it.

use std::time::Duration;

use rand::Rng;

/// Attempts before a delivery is failed: with the schedule below, the last one comes about
/// 20–40 hours after the first.
pub const MAX_ATTEMPTS: u32 = 16;
const BASE: Duration = Duration::from_secs(10);
const CAP: Duration = Duration::from_secs(4 * 3600);

/// The longest wait after failed attempt `attempt` (no jitter).
pub fn ceiling(attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    BASE.saturating_mul(1 << exp).min(CAP)
}

/// The wait after failed attempt `attempt`, jittered into [ceiling/2, ceiling].
pub fn delay(attempt: u32) -> Duration {
    let c = ceiling(attempt);
    let factor: f64 = rand::rng().random_range(0.5..=1.0);
    c.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_and_spans_about_a_day() {
        assert_eq!(ceiling(1), Duration::from_secs(10));
        assert_eq!(ceiling(2), Duration::from_secs(20));
        assert_eq!(ceiling(30), CAP);
        let total: Duration = (1..MAX_ATTEMPTS).map(ceiling).sum();
        let hours = total.as_secs_f64() / 3600.0;
        assert!((20.0..=48.0).contains(&hours), "{hours} h");
        for a in 1..MAX_ATTEMPTS {
            let d = delay(a);
            assert!(d >= ceiling(a) / 2 && d <= ceiling(a));
        }
    }
}
