//! Programs: the tenant every row belongs to. Each has a type, a public id (for the
//! JavaScript snippet), a website (the base of referral links) and API keys.

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
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
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

    /// The referral link for a key: the website, then `?ref=` (or `&ref=` when the website
    /// already has a query), then the key. `None` when the program has no website.
    pub fn referral_link(&self, param: &str, key: &str) -> Option<String> {
        let website = self.website.as_deref()?;
        let sep = if website.contains('?') { '&' } else { '?' };
        Some(format!("{website}{sep}{param}={key}"))
    }
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
            created_at: Timestamp::from_micros(0),
            updated_at: Timestamp::from_micros(0),
        }
    }

    #[test]
    fn referral_link_follows_the_seed() {
        let p = program(Some("https://partnero.com"), "Api Test 001");
        assert_eq!(
            p.referral_link("ref", "ref_123").as_deref(),
            Some("https://partnero.com?ref=ref_123")
        );
        let p = program(Some("https://x.com/?utm=1"), "x");
        assert_eq!(
            p.referral_link("ref", "k").as_deref(),
            Some("https://x.com/?utm=1&ref=k")
        );
        assert_eq!(program(None, "x").referral_link("ref", "k"), None);
    }

    #[test]
    fn initial_takes_two_words() {
        assert_eq!(program(None, "Api Test 001").initial(), "AT");
        assert_eq!(program(None, "acme").initial(), "A");
        assert_eq!(program(None, "").initial(), "");
    }
}
