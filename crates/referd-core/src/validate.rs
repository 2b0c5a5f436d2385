//! Field-level validation errors, in the order they were found, and the small parsers that
//! produce them (email, date, identifier length).

use chrono::NaiveDate;

/// Validation failures keyed by field path (`email`, `referring_customer.id`), each with its
/// messages. Answered as a 422 with Laravel's `errors` shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(String, Vec<String>)>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.add(field, message);
        e
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let field = field.into();
        let message = message.into();
        match self.0.iter_mut().find(|(f, _)| *f == field) {
            Some((_, msgs)) => msgs.push(message),
            None => self.0.push((field, vec![message])),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(f, m)| (f.as_str(), m.as_slice()))
    }

    /// `Ok(())` when nothing was added, else the errors.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

/// Longest identifier, key, name or email we store (Laravel's default string column).
pub const MAX_STRING_LEN: usize = 255;

/// Normalises an email address (trimmed, lower-case) and checks its shape: one `@`, a
/// non-empty local part, a dotted domain, no spaces. Deliberately simple; the only real
/// test of an address is mail reaching it.
pub fn parse_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    if email.len() > MAX_STRING_LEN || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = email.split_once('@')?;
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    (!local.is_empty() && domain_ok).then_some(email)
}

/// A calendar date written `YYYY-MM-DD` (and a real date: no February 30th).
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    if raw.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()
}

/// Identifiers (ids, keys) are non-empty, at most 255 characters, with no whitespace or
/// control characters, so they survive being put in a URL path or query.
pub fn check_identifier(errors: &mut FieldErrors, field: &str, value: &str) {
    if value.is_empty() {
        errors.add(field, format!("The {field} field must not be empty."));
    } else if value.chars().count() > MAX_STRING_LEN {
        errors.add(
            field,
            format!("The {field} field must not be greater than {MAX_STRING_LEN} characters."),
        );
    } else if value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '?' || c == '#')
    {
        errors.add(
            field,
            format!("The {field} field must not contain spaces, '/', '?' or '#'."),
        );
    }
}

/// Free text (names) is at most 255 characters, with no NUL (PostgreSQL cannot store it,
/// and SQLite must not accept what PostgreSQL refuses).
pub fn check_text(errors: &mut FieldErrors, field: &str, value: &str) {
    if value.chars().count() > MAX_STRING_LEN {
        errors.add(
            field,
            format!("The {field} field must not be greater than {MAX_STRING_LEN} characters."),
        );
    } else if value.contains('\0') {
        errors.add(
            field,
            format!("The {field} field must not contain NUL characters."),
        );
    }
}

/// A public referral key goes into URLs (`?ref=KEY`) and cookies unencoded, so it may only
/// hold letters, digits and `-_.~` (RFC 3986's unreserved characters), 1–255 of them.
pub fn check_referral_key(errors: &mut FieldErrors, field: &str, value: &str) {
    check_identifier(errors, field, value);
    let unreserved = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~');
    if !value.is_empty() && !value.chars().all(unreserved) {
        errors.add(
            field,
            format!("The {field} field may only contain letters, digits, '-', '_', '.' and '~'."),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            parse_email(" Alice.Brown@Partnero.com ").as_deref(),
            Some("alice.brown@partnero.com")
        );
        for bad in [
            "",
            "a",
            "a@b",
            "@b.com",
            "a@@b.com",
            "a b@c.com",
            "a@b..com",
            "a@.b",
        ] {
            assert_eq!(parse_email(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert!(parse_date("1990-02-28").is_some());
        for bad in ["1990-02-30", "1990-2-3", "28-02-1990", "1990/02/28", "x"] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn identifiers() {
        let mut e = FieldErrors::new();
        check_identifier(&mut e, "id", "ok_id-1.x");
        assert!(e.is_empty());
        for bad in ["", "a b", "a/b", &"x".repeat(256)] {
            let mut e = FieldErrors::new();
            check_identifier(&mut e, "id", bad);
            assert!(!e.is_empty(), "{bad}");
        }
    }

    #[test]
    fn referral_keys_are_url_safe() {
        for ok in ["ref_123", "A-b.c~d"] {
            let mut e = FieldErrors::new();
            check_referral_key(&mut e, "key", ok);
            assert!(e.is_empty(), "{ok}");
        }
        for bad in ["a&b", "a=b", "a+b", "a%20", "ключ", "a b"] {
            let mut e = FieldErrors::new();
            check_referral_key(&mut e, "key", bad);
            assert!(!e.is_empty(), "{bad}");
        }
        let mut e = FieldErrors::new();
        check_text(&mut e, "name", "a\0b");
        assert!(!e.is_empty());
        assert_eq!(parse_email("a\u{0}@x.co"), None);
    }

    #[test]
    fn field_errors_group_by_field_in_order() {
        let mut e = FieldErrors::new();
        e.add("b", "1");
        e.add("a", "2");
        e.add("b", "3");
        let v: Vec<_> = e.iter().map(|(f, m)| (f.to_string(), m.to_vec())).collect();
        assert_eq!(
            v,
            vec![
                ("b".to_string(), vec!["1".to_string(), "3".to_string()]),
                ("a".to_string(), vec!["2".to_string()])
            ]
        );
    }
}
