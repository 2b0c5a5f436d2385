//! Timestamps and the clock.
//!
//! Every stored time is a [`Timestamp`]: microseconds since the Unix epoch, UTC. Integers store
//! identically on SQLite and PostgreSQL and sort correctly; the wire format
//! (`2025-05-09T17:42:13.000000Z`, Laravel's) is produced by [`Timestamp::to_rfc3339_micros`].

use chrono::{DateTime, SecondsFormat, Utc};

/// Microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// `2025-05-09T17:42:13.123456Z`: six fractional digits and a `Z`.
    pub fn to_rfc3339_micros(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    /// `2025-05-09T17:42:13.000000Z`: Laravel's serialisation of a second-precision column,
    /// exactly as Partnero answers (the fraction is always zeros). Stored times keep their
    /// microseconds; only the wire drops them.
    pub fn to_laravel(self) -> String {
        Self(self.0 - self.0.rem_euclid(1_000_000)).to_rfc3339_micros()
    }

    /// `2025-05-09`, the date-only form Partnero uses for program `created_at`.
    pub fn to_date(self) -> String {
        self.to_datetime().format("%Y-%m-%d").to_string()
    }

    /// This instant plus whole days (review periods).
    pub fn plus_days(self, days: i64) -> Self {
        Self(self.0.saturating_add(days.saturating_mul(86_400_000_000)))
    }

    /// This instant minus whole days (for "before"/"growth" statistics).
    pub fn minus_days(self, days: i64) -> Self {
        Self(self.0 - days * 86_400_000_000)
    }

    fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or(DateTime::UNIX_EPOCH)
    }
}

/// Where "now" comes from. Production uses [`SystemClock`]; tests may freeze time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(Utc::now().timestamp_micros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_laravel() {
        let t = Timestamp::from_micros(1_746_812_533_000_000);
        assert_eq!(t.to_rfc3339_micros(), "2025-05-09T17:42:13.000000Z");
        assert_eq!(t.to_date(), "2025-05-09");
        let t = Timestamp::from_micros(1_746_812_533_123_456);
        assert_eq!(t.to_rfc3339_micros(), "2025-05-09T17:42:13.123456Z");
        assert_eq!(t.to_laravel(), "2025-05-09T17:42:13.000000Z");
    }
}
