//! Signatures of a delivery: Partnero's `Signature` (hex HMAC-SHA256 of the raw body; also
//! sent as `x-partnero-signature` for older receivers) and Standard Webhooks'
//! `webhook-signature` (base64 HMAC-SHA256 of `id.timestamp.body`), which lets receivers
//! reject replays by the timestamp.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// Partnero's `Signature` header: lowercase hex of HMAC-SHA256(secret, body).
pub fn partnero_signature(secret: &str, body: &[u8]) -> String {
    hex::encode(mac(secret, &[body]))
}

/// One Standard Webhooks signature: `v1,` + base64 HMAC-SHA256(secret, `id.timestamp.body`).
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let sig = mac(secret, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!("v1,{}", STANDARD.encode(sig))
}

/// The `webhook-signature` header: one signature per secret in force (the new one first,
/// then the previous one during a rotation's overlap), space-separated.
pub fn standard_signatures(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| standard_signature(s, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partnero_signature_is_hex_hmac_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            partnero_signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn standard_signature_covers_id_timestamp_and_body() {
        let a = standard_signature("s", "msg_1", 10, b"{}");
        assert!(a.starts_with("v1,"));
        assert_ne!(a, standard_signature("s", "msg_2", 10, b"{}"));
        assert_ne!(a, standard_signature("s", "msg_1", 11, b"{}"));
        assert_ne!(a, standard_signature("s", "msg_1", 10, b"[]"));
        let both = standard_signatures(&["s", "old"], "msg_1", 10, b"{}");
        assert_eq!(both.split(' ').count(), 2);
        assert!(both.starts_with(&a));
    }
}
