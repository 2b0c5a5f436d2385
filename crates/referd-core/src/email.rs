//! Outgoing email (invitations): the outbox rows, and the plain-text templates operators can
//! change (`{{name}}`-style placeholders, nothing else).

use std::collections::BTreeMap;

use crate::program::ProgramRowId;
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EmailRowId(pub i64);

#[derive(Debug, Clone)]
pub struct NewEmail {
    pub program_id: ProgramRowId,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub row_id: EmailRowId,
    pub program_id: ProgramRowId,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

/// What a send attempt means for its email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailOutcome {
    Sent,
    RetryAt(Timestamp, String),
    Failed(String),
}

/// A subject and a body with `{{placeholder}}`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub subject: String,
    pub body: String,
}

impl Template {
    /// Fills the placeholders; unknown ones become empty. The subject is one line (a value
    /// with a line break must not add mail headers).
    pub fn render(&self, vars: &BTreeMap<String, String>) -> (String, String) {
        let subject = fill(&self.subject, vars)
            .replace(['\r', '\n'], " ")
            .trim()
            .to_owned();
        (subject, fill(&self.body, vars))
    }
}

fn fill(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = after[..end].trim();
                if let Some(v) = vars.get(name) {
                    out.push_str(v);
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders_and_keeps_the_subject_on_one_line() {
        let t = Template {
            subject: "Hi {{ name }}\r\nBcc: x@y".into(),
            body: "Join: {{referral_link}} {{missing}}{{personalization.note}} {{open".into(),
        };
        let vars = BTreeMap::from([
            ("name".to_string(), "Ann".to_string()),
            (
                "referral_link".to_string(),
                "https://a.test?ref=k".to_string(),
            ),
            ("personalization.note".to_string(), "hey".to_string()),
        ]);
        let (s, b) = t.render(&vars);
        assert_eq!(s, "Hi Ann  Bcc: x@y");
        assert_eq!(b, "Join: https://a.test?ref=k hey {{open");
    }
}
