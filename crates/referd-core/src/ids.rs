//! Identifiers: program types, generated ids and keys, and API keys.
//!
//! API keys are shown once and stored only as a SHA-256 hash. They carry 256 bits of
//! randomness, so a fast hash is enough: there is nothing to brute-force.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

use crate::time::Timestamp;

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

/// Seconds are counted from 2020-01-01T00:00:00Z in generated identifiers.
const ID_EPOCH_SECS: i64 = 1_577_836_800;
const TIME_PREFIX_LEN: usize = 6;

/// The time prefix of generated identifiers: whole seconds since 2020 in fixed-width
/// lower-case base 36 (6 characters last until 2089), so identifiers generated later sort
/// later. Why: a unique index over random values takes every insert on a random page, and
/// each of those pages is written again at every commit; measured on the create path, random
/// keys cost ~30% of the throughput of ordered ones (the UUIDv7 argument).
fn time_prefix(now: Timestamp) -> String {
    let max = 36_i64.pow(TIME_PREFIX_LEN as u32) - 1;
    let mut secs = (now.as_micros() / 1_000_000 - ID_EPOCH_SECS).clamp(0, max);
    let mut digits = [b'0'; TIME_PREFIX_LEN];
    for d in digits.iter_mut().rev() {
        *d = LOWER_ALNUM_SORTED[(secs % 36) as usize];
        secs /= 36;
    }
    digits.iter().map(|&b| b as char).collect()
}

/// Base-36 digits in ASCII order, so fixed-width numbers sort as text.
const LOWER_ALNUM_SORTED: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A generated private customer id (`id` when the client sends none): `cus_`, the time
/// prefix, 10 random characters.
pub fn new_customer_id(now: Timestamp) -> String {
    format!("cus_{}{}", time_prefix(now), random_string(10, LOWER_ALNUM))
}

/// A generated partner id (`id` when the client sends none): `par_`, the time prefix, 10
/// random characters.
pub fn new_partner_id(now: Timestamp) -> String {
    format!("par_{}{}", time_prefix(now), random_string(10, LOWER_ALNUM))
}

/// The 8-character code that confirms `DELETE /v1/program` (`aB3xK9mQ`).
pub fn new_confirmation_code() -> String {
    const MIXED_ALNUM: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    random_string(8, MIXED_ALNUM)
}

/// A generated public referral key (`key` when the client sends none): the time prefix and
/// 6 random characters (2.2 billion values per second; the unique index and a retry on the
/// create path handle the rare clash). Short, because it is part of every referral URL.
pub fn new_referral_key(now: Timestamp) -> String {
    format!("{}{}", time_prefix(now), random_string(6, LOWER_ALNUM))
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

/// The prefix of admin tokens (`/admin/v1/…`): distinct from program API keys, so neither can
/// be mistaken for the other, in a request or in a leak.
pub const ADMIN_TOKEN_PREFIX: &str = "rfa_";

pub fn generate_api_key() -> GeneratedApiKey {
    generate_secret(API_KEY_PREFIX)
}

/// An admin token, generated and stored like an API key (secret shown once, SHA-256 kept).
pub fn generate_admin_token() -> GeneratedApiKey {
    generate_secret(ADMIN_TOKEN_PREFIX)
}

fn generate_secret(prefix: &str) -> GeneratedApiKey {
    let random: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(API_KEY_RANDOM_LEN)
        .map(char::from)
        .collect();
    let secret = format!("{prefix}{random}");
    GeneratedApiKey {
        hash: hash_api_key(&secret),
        hint: secret[..prefix.len() + 6].to_string(),
        secret,
    }
}

/// Whether a presented key has referd's shape. Anything else is rejected before any lookup.
pub fn is_well_formed_api_key(key: &str) -> bool {
    is_well_formed(key, API_KEY_PREFIX)
}

/// Whether a presented admin token has referd's shape.
pub fn is_well_formed_admin_token(token: &str) -> bool {
    is_well_formed(token, ADMIN_TOKEN_PREFIX)
}

fn is_well_formed(secret: &str, prefix: &str) -> bool {
    secret.strip_prefix(prefix).is_some_and(|rest| {
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
    fn admin_tokens_and_api_keys_never_pass_for_each_other() {
        let t = generate_admin_token();
        assert!(is_well_formed_admin_token(&t.secret));
        assert!(!is_well_formed_api_key(&t.secret));
        assert!(!is_well_formed_admin_token(&generate_api_key().secret));
        assert!(t.hint.starts_with("rfa_"));
    }

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
    fn generated_identifiers_sort_by_time() {
        let t1 = Timestamp::from_micros(1_746_812_533_000_000);
        let t2 = Timestamp::from_micros(1_746_812_534_000_000);
        let (k1, k2) = (new_referral_key(t1), new_referral_key(t2));
        assert_eq!(k1.len(), 12);
        assert!(k1 < k2, "{k1} < {k2}");
        assert_eq!(k1[..6], new_referral_key(t1)[..6]);
        assert_ne!(new_referral_key(t1), new_referral_key(t1));
        let (i1, i2) = (new_customer_id(t1), new_customer_id(t2));
        assert!(i1.starts_with("cus_") && i1.len() == 20 && i1 < i2);
        // Before 2020 clamps to zero rather than wrapping.
        assert_eq!(&new_referral_key(Timestamp::from_micros(0))[..6], "000000");
        assert!(
            time_prefix(Timestamp::from_micros(1_746_812_533_000_000))
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        );
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
