//! Identifiers: program types, generated ids and keys, and API keys.
//!
//! API keys are shown once and stored only as a SHA-256 hash. They carry 256 bits of
//! randomness, so a fast hash is enough: there is nothing to brute-force.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

/// The three kinds of program. The type behind an API key decides how `/v1/customers` and
/// `/v1/transactions` behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgramType {
    Referral,
    Affiliate,
    Newsletter,
}

impl ProgramType {
    /// The spelling used in storage and on the CLI (`referral`, `affiliate`, `newsletter`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Referral => "referral",
            Self::Affiliate => "affiliate",
            Self::Newsletter => "newsletter",
        }
    }

    /// The spelling Partnero answers in `program.type`.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Referral => "Referral",
            Self::Affiliate => "Affiliate",
            Self::Newsletter => "Newsletter",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "referral" | "refer-a-friend" | "raf" => Some(Self::Referral),
            "affiliate" => Some(Self::Affiliate),
            "newsletter" => Some(Self::Newsletter),
            _ => None,
        }
    }
}

fn random_string(len: usize, charset: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| charset[rng.random_range(0..charset.len())] as char)
        .collect()
}

const UPPER_ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A program's public id, as used in the PartneroJS snippet (`MOBTGEKX`): 8 upper-case
/// letters and digits, without the easily confused `0 O 1 I`.
pub fn new_public_id() -> String {
    random_string(8, UPPER_ALNUM)
}

/// A generated private customer id (`id` when the client sends none).
pub fn new_customer_id() -> String {
    format!("cus_{}", random_string(16, LOWER_ALNUM))
}

/// A generated public referral key (`key` when the client sends none). Short, because it is
/// part of every referral URL; 36^10 values and a unique index make a clash practically
/// impossible, and the create path retries if one happens.
pub fn new_referral_key() -> String {
    random_string(10, LOWER_ALNUM)
}

/// The prefix every referd API key starts with; it makes leaked keys easy to grep for.
pub const API_KEY_PREFIX: &str = "rfd_";
const API_KEY_RANDOM_LEN: usize = 43;

/// A freshly generated API key: the secret (shown once) and what is stored.
#[derive(Debug, Clone)]
pub struct GeneratedApiKey {
    pub secret: String,
    pub hash: String,
    /// The first characters of the secret, stored so operators can tell keys apart.
    pub hint: String,
}

pub fn generate_api_key() -> GeneratedApiKey {
    let random: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(API_KEY_RANDOM_LEN)
        .map(char::from)
        .collect();
    let secret = format!("{API_KEY_PREFIX}{random}");
    GeneratedApiKey {
        hash: hash_api_key(&secret),
        hint: secret[..API_KEY_PREFIX.len() + 6].to_string(),
        secret,
    }
}

/// Whether a presented key has referd's shape. Anything else is rejected before any lookup.
pub fn is_well_formed_api_key(key: &str) -> bool {
    key.strip_prefix(API_KEY_PREFIX).is_some_and(|rest| {
        rest.len() == API_KEY_RANDOM_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Lower-case hex SHA-256 of the key: what the database stores and looks up.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_and_distinct() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert!(is_well_formed_api_key(&a.secret));
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.hash, hash_api_key(&a.secret));
        assert!(a.secret.starts_with(&a.hint));
    }

    #[test]
    fn malformed_keys_are_recognised() {
        assert!(!is_well_formed_api_key(""));
        assert!(!is_well_formed_api_key("rfd_short"));
        assert!(!is_well_formed_api_key(&format!("xxx_{}", "a".repeat(43))));
        assert!(!is_well_formed_api_key(&format!("rfd_{}!", "a".repeat(42))));
    }

    #[test]
    fn program_type_round_trips() {
        for t in [
            ProgramType::Referral,
            ProgramType::Affiliate,
            ProgramType::Newsletter,
        ] {
            assert_eq!(ProgramType::parse(t.as_str()), Some(t));
        }
        assert_eq!(ProgramType::parse("other"), None);
    }
}
