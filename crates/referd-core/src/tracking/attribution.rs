//! The attribution rules (documented for users in `docs/tracking.md`):
//!
//! 1. A referrer given by the merchant's server (`referring_customer` / `partner` on
//!    `POST /v1/customers`) wins: the server knows best (it may have read the cookie itself,
//!    or know the referral from a coupon or an invitation).
//! 2. Otherwise the key in the visitor's cookie (`partnero_referral` / `partnero_partner`),
//!    which the snippet sent with the public sign-up.
//! 3. Which click's key the cookie holds is the program's model: *last click* (the default:
//!    a new referral link replaces the cookie) or *first click* (the first key stays until
//!    the cookie expires).
//! 4. The cookie lives `cookie_lifetime` days. Separately, a sign-up is attributed only
//!    within the *attribution window* after the click (default: the cookie lifetime), so a
//!    program can keep cookies long for analytics but pay only for recent clicks.
//! 5. Self-referral is refused: a customer is never attributed to itself (same id, key or
//!    email); the sign-up is kept, unattributed.

use crate::program::ProgramSettings;
use crate::time::Timestamp;

const DAY_MICROS: i64 = 86_400_000_000;

/// Which click a program credits when a visitor clicked several referral links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    FirstClick,
    LastClick,
}

impl Model {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstClick => "first_click",
            Self::LastClick => "last_click",
        }
    }
}

/// The program flag that turns first-click attribution on (last click when absent).
pub const FIRST_CLICK_FLAG: &str = "first_click_attribution";
/// The program flag that turns the public sign-up endpoint off (on when absent).
pub const PUBLIC_SIGNUP_DISABLED_FLAG: &str = "public_signup_disabled";

/// The tracking settings of a program, from its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub model: Model,
    pub cookie_lifetime_days: u32,
    pub window_days: u32,
    pub public_signup: bool,
}

impl Rules {
    pub fn of(settings: &ProgramSettings) -> Self {
        let flag = |name: &str| settings.program_flags.get(name).copied().unwrap_or(false);
        Self {
            model: if flag(FIRST_CLICK_FLAG) {
                Model::FirstClick
            } else {
                Model::LastClick
            },
            cookie_lifetime_days: settings.cookie_lifetime_days,
            window_days: settings
                .attribution_window_days
                .unwrap_or(settings.cookie_lifetime_days),
            public_signup: !flag(PUBLIC_SIGNUP_DISABLED_FLAG),
        }
    }

    /// The cookie's `max-age` in seconds.
    pub fn cookie_max_age_seconds(&self) -> u64 {
        u64::from(self.cookie_lifetime_days) * 86_400
    }

    /// Whether a click on `incoming` replaces the key the visitor's cookie holds (rule 3).
    /// The snippet applies the same rule; the click itself is counted either way.
    pub fn replaces_cookie(&self, existing: Option<&str>, incoming: &str) -> bool {
        match (self.model, existing) {
            (_, None) => true,
            (Model::LastClick, Some(_)) => true,
            (Model::FirstClick, Some(old)) => old == incoming,
        }
    }
}

/// The referral key in a visitor's cookie, and when the click that set it happened (absent
/// when the cookie was set by something other than referd's snippet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieClaim {
    pub key: String,
    pub clicked_at: Option<Timestamp>,
}

/// Where a sign-up's referrer came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Given by the merchant's server (rule 1).
    Server(String),
    /// From the visitor's cookie (rule 2).
    Cookie(String),
    /// Not attributed, and why.
    None(Unattributed),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unattributed {
    NoReferral,
    /// The click is older than the attribution window (rule 4).
    OutsideWindow,
    /// The click claims a time in the future (a forged or broken cookie).
    ClickInFuture,
}

impl Rules {
    /// Applies rules 1, 2 and 4. Self-referral (rule 5) needs the referrer, so the caller
    /// checks it once the key is resolved.
    pub fn decide(
        &self,
        server: Option<&str>,
        cookie: Option<&CookieClaim>,
        now: Timestamp,
    ) -> Decision {
        if let Some(key) = server.filter(|k| !k.is_empty()) {
            return Decision::Server(key.to_string());
        }
        let Some(claim) = cookie.filter(|c| !c.key.is_empty()) else {
            return Decision::None(Unattributed::NoReferral);
        };
        if let Some(at) = claim.clicked_at {
            // A minute of clock skew between the visitor's machine and ours is tolerated.
            if at.as_micros() > now.as_micros().saturating_add(60_000_000) {
                return Decision::None(Unattributed::ClickInFuture);
            }
            let window = i64::from(self.window_days).saturating_mul(DAY_MICROS);
            if now.as_micros().saturating_sub(at.as_micros()) > window {
                return Decision::None(Unattributed::OutsideWindow);
            }
        }
        Decision::Cookie(claim.key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::of(&ProgramSettings::default())
    }

    fn days_ago(now: Timestamp, days: i64) -> Timestamp {
        Timestamp::from_micros(now.as_micros() - days * DAY_MICROS)
    }

    const NOW: Timestamp = Timestamp::from_micros(1_750_000_000_000_000);

    #[test]
    fn defaults_are_last_click_thirty_days_and_public_signup_on() {
        let r = rules();
        assert_eq!(r.model, Model::LastClick);
        assert_eq!(r.cookie_lifetime_days, 30);
        assert_eq!(r.window_days, 30);
        assert!(r.public_signup);
        assert_eq!(r.cookie_max_age_seconds(), 30 * 86_400);
    }

    #[test]
    fn cookie_lifetime_and_window_follow_the_settings() {
        let mut s = ProgramSettings {
            cookie_lifetime_days: 90,
            ..ProgramSettings::default()
        };
        assert_eq!(Rules::of(&s).cookie_max_age_seconds(), 90 * 86_400);
        assert_eq!(
            Rules::of(&s).window_days,
            90,
            "the window defaults to the lifetime"
        );
        s.attribution_window_days = Some(7);
        let r = Rules::of(&s);
        assert_eq!((r.cookie_lifetime_days, r.window_days), (90, 7));
        s.program_flags.insert(FIRST_CLICK_FLAG.into(), true);
        s.program_flags
            .insert(PUBLIC_SIGNUP_DISABLED_FLAG.into(), true);
        let r = Rules::of(&s);
        assert_eq!(r.model, Model::FirstClick);
        assert!(!r.public_signup);
    }

    #[test]
    fn the_server_referrer_wins_over_the_cookie() {
        let claim = CookieClaim {
            key: "cookie-key".into(),
            clicked_at: Some(days_ago(NOW, 1)),
        };
        assert_eq!(
            rules().decide(Some("server-key"), Some(&claim), NOW),
            Decision::Server("server-key".into())
        );
        assert_eq!(
            rules().decide(None, Some(&claim), NOW),
            Decision::Cookie("cookie-key".into())
        );
        assert_eq!(
            rules().decide(Some(""), Some(&claim), NOW),
            Decision::Cookie("cookie-key".into()),
            "an empty server value is no value"
        );
        assert_eq!(
            rules().decide(None, None, NOW),
            Decision::None(Unattributed::NoReferral)
        );
    }

    #[test]
    fn the_window_is_separate_from_the_cookie_lifetime() {
        let s = ProgramSettings {
            attribution_window_days: Some(7),
            ..ProgramSettings::default()
        };
        let r = Rules::of(&s);
        let claim = |days| CookieClaim {
            key: "k".into(),
            clicked_at: Some(days_ago(NOW, days)),
        };
        assert_eq!(
            r.decide(None, Some(&claim(6)), NOW),
            Decision::Cookie("k".into())
        );
        assert_eq!(
            r.decide(None, Some(&claim(7)), NOW),
            Decision::Cookie("k".into())
        );
        assert_eq!(
            r.decide(None, Some(&claim(8)), NOW),
            Decision::None(Unattributed::OutsideWindow)
        );
        // A cookie without a click time (set by the merchant's own code) is trusted for its
        // lifetime.
        let untimed = CookieClaim {
            key: "k".into(),
            clicked_at: None,
        };
        assert_eq!(
            r.decide(None, Some(&untimed), NOW),
            Decision::Cookie("k".into())
        );
        let future = CookieClaim {
            key: "k".into(),
            clicked_at: Some(Timestamp::from_micros(NOW.as_micros() + DAY_MICROS)),
        };
        assert_eq!(
            r.decide(None, Some(&future), NOW),
            Decision::None(Unattributed::ClickInFuture)
        );
    }

    #[test]
    fn first_click_keeps_the_first_key_and_last_click_replaces_it() {
        let last = rules();
        assert!(last.replaces_cookie(None, "b"));
        assert!(last.replaces_cookie(Some("a"), "b"));
        let mut s = ProgramSettings::default();
        s.program_flags.insert(FIRST_CLICK_FLAG.into(), true);
        let first = Rules::of(&s);
        assert!(first.replaces_cookie(None, "b"));
        assert!(!first.replaces_cookie(Some("a"), "b"));
        assert!(
            first.replaces_cookie(Some("a"), "a"),
            "the same key refreshes its cookie"
        );
    }
}
