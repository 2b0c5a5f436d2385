//! Programs: the tenant every row belongs to. Each has a type, a public id (for the
//! JavaScript snippet), a website (the base of referral links) and API keys.

use std::collections::BTreeMap;

use crate::ids::ProgramType;
use crate::time::Timestamp;

/// The database's row id of a program. Every store query is scoped by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProgramRowId(pub i64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub id: ProgramRowId,
    pub public_id: String,
    pub program_type: ProgramType,
    pub name: String,
    pub website: Option<String>,
    pub settings: ProgramSettings,
    /// The version of the reward rules in force (0: none ever set). Read with the program on
    /// every request, so a sale knows whether its cached rules are current without a query.
    pub rules_version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// How referral links carry the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkFormat {
    /// `https://site.com?aff=KEY` (the default).
    Query,
    /// `https://site.com/aff/KEY`.
    Path,
}

impl LinkFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Path => "path",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "query" => Some(Self::Query),
            "path" => Some(Self::Path),
            _ => None,
        }
    }
}

/// Default cookie lifetime in days, as Partnero documents it.
pub const DEFAULT_COOKIE_LIFETIME_DAYS: u32 = 30;
pub const DEFAULT_CURRENCY: &str = "USD";

/// A program's settings (`program_settings` and `portal_settings` of `GET/PUT /v1/program`).
/// The typed fields drive behaviour; the flags are stored and shown as given, and become
/// behaviour as the features they switch land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSettings {
    /// ISO 4217 code in upper case.
    pub currency: String,
    pub cookie_lifetime_days: u32,
    /// The query parameter (or path segment) of referral links; `None` is the type's
    /// default, `ref` for refer-a-friend and `aff` for affiliate programs.
    pub referral_param: Option<String>,
    pub link_format: LinkFormat,
    /// Boolean toggles of `program_settings` by name.
    pub program_flags: BTreeMap<String, bool>,
    /// Boolean toggles of `portal_settings` by name.
    pub portal_flags: BTreeMap<String, bool>,
    /// Days after a click within which a sign-up is attributed; `None` is the cookie
    /// lifetime (`docs/tracking.md`).
    pub attribution_window_days: Option<u32>,
}

impl Default for ProgramSettings {
    fn default() -> Self {
        Self {
            currency: DEFAULT_CURRENCY.into(),
            cookie_lifetime_days: DEFAULT_COOKIE_LIFETIME_DAYS,
            referral_param: None,
            link_format: LinkFormat::Query,
            program_flags: BTreeMap::new(),
            portal_flags: BTreeMap::new(),
            attribution_window_days: None,
        }
    }
}

/// Changes to a program (`PUT /v1/program`); `None` leaves a field as it is, and the flag maps
/// are merged into the stored ones (a flag not named keeps its value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgramPatch {
    pub name: Option<String>,
    pub website: Option<String>,
    pub currency: Option<String>,
    pub cookie_lifetime_days: Option<u32>,
    pub referral_param: Option<String>,
    pub link_format: Option<LinkFormat>,
    pub program_flags: BTreeMap<String, bool>,
    pub portal_flags: BTreeMap<String, bool>,
    pub attribution_window_days: Option<u32>,
}

impl ProgramPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl Program {
    /// `initial`: the upper-case first letters of the first two words of the name ("Api
    /// Test" → "AT"), the avatar text Partnero's dashboard shows.
    pub fn initial(&self) -> String {
        self.name
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .take(2)
            .flat_map(char::to_uppercase)
            .collect()
    }

    /// The parameter of this program's referral links: the configured one, else `ref` for
    /// refer-a-friend and `aff` for affiliate (and newsletter) programs.
    pub fn referral_param(&self) -> &str {
        match (&self.settings.referral_param, self.program_type) {
            (Some(p), _) => p,
            (None, ProgramType::Referral) => "ref",
            (None, _) => "aff",
        }
    }

    /// The referral link for a key, built on the website:
    /// - query format: the program's parameter added to the website's query
    ///   (`https://site.com?aff=KEY`, `https://site.com/?utm=x&aff=KEY`);
    /// - path format: `/aff/KEY` added to the website's path, its query kept after it
    ///   (`https://site.com/shop/aff/KEY?utm=x`).
    ///
    /// A fragment (`#pricing`) stays last, where browsers expect it: a parameter inside a
    /// fragment would never reach the server. `None` when the program has no website.
    pub fn referral_link(&self, key: &str) -> Option<String> {
        let website = self.website.as_deref()?;
        let (rest, fragment) = match website.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (website, None),
        };
        let (base, query) = match rest.split_once('?') {
            Some((b, q)) if !q.is_empty() => (b, Some(q)),
            Some((b, _)) => (b, None),
            None => (rest, None),
        };
        let param = self.referral_param();
        let mut link = match (self.settings.link_format, query) {
            (LinkFormat::Query, Some(q)) => format!("{base}?{q}&{param}={key}"),
            (LinkFormat::Query, None) => format!("{base}?{param}={key}"),
            (LinkFormat::Path, q) => {
                let mut l = format!("{}/{param}/{key}", base.trim_end_matches('/'));
                if let Some(q) = q {
                    l.push('?');
                    l.push_str(q);
                }
                l
            }
        };
        if let Some(f) = fragment {
            link.push('#');
            link.push_str(f);
        }
        Some(link)
    }

    /// A link without its key (`https://site.com?aff=`), as `:domains` shows the base its
    /// links are built on.
    pub fn link_base(&self) -> Option<String> {
        self.referral_link("")
    }
}

/// Counts behind `GET /v1/program` for an affiliate program.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AffiliateCounts {
    /// Partners that are not deleted.
    pub partners: u64,
    pub active_partners: u64,
    pub pending_partners: u64,
    pub archived_partners: u64,
    /// Customers (sign-ups) that are not deleted.
    pub customers: u64,
}

#[derive(Debug, Clone)]
pub struct NewProgram {
    pub public_id: String,
    pub program_type: ProgramType,
    pub name: String,
    pub website: Option<String>,
    pub created_at: Timestamp,
}

/// An API key as listed to operators (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub program_public_id: String,
    pub hint: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// How an operator names a key to revoke.
#[derive(Debug, Clone)]
pub enum ApiKeySelector {
    /// The key's numeric id, as `referd keys list` prints it.
    Id(i64),
    /// The SHA-256 hash of the full secret.
    Hash(String),
}

/// Customer counts behind `GET /v1/program` for a refer-a-friend program.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReferralCounts {
    /// Customers that are not deleted.
    pub customers: u64,
    /// Customers that referred at least one (not deleted) customer.
    pub referring: u64,
    /// Customers that were referred by someone.
    pub referred: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(website: Option<&str>, name: &str) -> Program {
        Program {
            id: ProgramRowId(1),
            public_id: "ABCDEFGH".into(),
            program_type: ProgramType::Referral,
            name: name.into(),
            website: website.map(Into::into),
            settings: ProgramSettings::default(),
            rules_version: 0,
            created_at: Timestamp::from_micros(0),
            updated_at: Timestamp::from_micros(0),
        }
    }

    #[test]
    fn referral_link_follows_the_seed() {
        let p = program(Some("https://partnero.com"), "Api Test 001");
        assert_eq!(
            p.referral_link("ref_123").as_deref(),
            Some("https://partnero.com?ref=ref_123")
        );
        let p = program(Some("https://x.com/?utm=1"), "x");
        assert_eq!(
            p.referral_link("k").as_deref(),
            Some("https://x.com/?utm=1&ref=k")
        );
        assert_eq!(program(None, "x").referral_link("k"), None);
    }

    #[test]
    fn affiliate_links_use_the_configured_parameter_and_format() {
        let mut p = program(Some("https://shop.test/"), "Shop");
        p.program_type = ProgramType::Affiliate;
        assert_eq!(
            p.referral_link("k1").as_deref(),
            Some("https://shop.test/?aff=k1")
        );
        p.settings.referral_param = Some("via".into());
        assert_eq!(
            p.referral_link("k1").as_deref(),
            Some("https://shop.test/?via=k1")
        );
        p.settings.link_format = LinkFormat::Path;
        assert_eq!(
            p.referral_link("k1").as_deref(),
            Some("https://shop.test/via/k1")
        );
    }

    #[test]
    fn links_keep_the_website_query_and_fragment_in_place() {
        let mut p = program(Some("https://shop.test/p/?utm=x#top"), "Shop");
        p.program_type = ProgramType::Affiliate;
        assert_eq!(
            p.referral_link("k").as_deref(),
            Some("https://shop.test/p/?utm=x&aff=k#top")
        );
        p.settings.link_format = LinkFormat::Path;
        assert_eq!(
            p.referral_link("k").as_deref(),
            Some("https://shop.test/p/aff/k?utm=x#top")
        );
        let mut p = program(Some("https://shop.test?"), "Shop");
        p.program_type = ProgramType::Affiliate;
        assert_eq!(
            p.referral_link("k").as_deref(),
            Some("https://shop.test?aff=k")
        );
        assert_eq!(p.link_base().as_deref(), Some("https://shop.test?aff="));
    }

    #[test]
    fn initial_takes_two_words() {
        assert_eq!(program(None, "Api Test 001").initial(), "AT");
        assert_eq!(program(None, "acme").initial(), "A");
        assert_eq!(program(None, "").initial(), "");
    }
}
