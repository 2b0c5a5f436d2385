//! Partner portal passwords: the documented strength rule, and Argon2id hashing. Only the
//! PHC string (`$argon2id$v=19$…`) is stored; the password never is.

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use rand::RngCore;

use crate::error::{CoreError, CoreResult};
use crate::validate::FieldErrors;

/// Longest password accepted: hashing cost grows with length, and no one types more.
const MAX_PASSWORD_LEN: usize = 255;

/// Partnero's rule: at least 8 characters, with a lower-case letter, an upper-case letter and
/// a digit.
pub fn check_password(errors: &mut FieldErrors, field: &str, password: &str) {
    let len = password.chars().count();
    if len < 8 {
        errors.add(
            field,
            format!("The {field} field must be at least 8 characters."),
        );
    } else if len > MAX_PASSWORD_LEN {
        errors.add(
            field,
            format!("The {field} field must not be greater than {MAX_PASSWORD_LEN} characters."),
        );
    }
    if !(password.chars().any(char::is_lowercase) && password.chars().any(char::is_uppercase)) {
        errors.add(
            field,
            format!(
                "The {field} field must contain at least one uppercase and one lowercase letter."
            ),
        );
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        errors.add(
            field,
            format!("The {field} field must contain at least one number."),
        );
    }
    if password.contains('\0') {
        errors.add(
            field,
            format!("The {field} field must not contain NUL characters."),
        );
    }
}

/// Hashes a password with Argon2id (the crate's recommended parameters) and a random salt.
/// Deliberately slow (tens of milliseconds): runs on a blocking thread, off the async
/// workers.
pub async fn hash_password(password: String) -> CoreResult<String> {
    tokio::task::spawn_blocking(move || hash_password_blocking(&password))
        .await
        .map_err(|e| CoreError::Internal(format!("password hashing task failed: {e}")))?
}

fn hash_password_blocking(password: &str) -> CoreResult<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| CoreError::Internal(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CoreError::Internal(format!("password hashing: {e}")))
}

/// Whether `password` matches a stored PHC string (for the partner portal).
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_for(p: &str) -> usize {
        let mut e = FieldErrors::new();
        check_password(&mut e, "password", p);
        e.iter().map(|(_, m)| m.len()).sum()
    }

    #[test]
    fn strength_rule() {
        assert_eq!(errors_for("Secret123"), 0);
        assert_eq!(errors_for("Sec1"), 1);
        assert_eq!(errors_for("secret123"), 1);
        assert_eq!(errors_for("SECRET123"), 1);
        assert_eq!(errors_for("SecretXYZ"), 1);
        assert_eq!(errors_for("short"), 3);
    }

    #[tokio::test]
    async fn hashes_verify_and_never_contain_the_password() {
        let hash = hash_password("Secret123".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("Secret123"));
        assert!(verify_password("Secret123", &hash));
        assert!(!verify_password("Secret124", &hash));
        assert_ne!(hash, hash_password("Secret123".into()).await.unwrap());
    }
}
