//! Email over SMTP (lettre): the settings (`REFERD_SMTP_URL`, `REFERD_SMTP_FROM`,
//! `REFERD_TEMPLATES_DIR`), the invitation template, and the mailer that drains the email
//! outbox inside `referd serve`. A send that fails for a temporary reason (the server is
//! down, a 4xx reply) is retried on the webhook schedule; a permanent refusal (5xx) fails
//! the email at once. docs/email.md.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use referd_core::Store;
use referd_core::email::{Email, EmailOutcome, Template};
use referd_core::program::ProgramRowId;
use referd_core::time::{Clock, Timestamp};
use referd_webhooks::backoff::{self, MAX_ATTEMPTS};
use tokio::sync::watch;

const DEFAULT_SUBJECT: &str = include_str!("../templates/invite.subject.txt");
const DEFAULT_BODY: &str = include_str!("../templates/invite.txt");
/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
const LEASE: Duration = Duration::from_secs(120);

/// The invitation template: `invite.subject.txt` and `invite.txt` from `dir` when there,
/// else the built-in ones (the same files, in `crates/referd/templates/`).
pub fn invite_template(dir: Option<&Path>) -> Result<Template, String> {
    let read = |name: &str, default: &str| -> Result<String, String> {
        match dir.map(|d| d.join(name)) {
            Some(path) if path.exists() => std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read template {}: {e}", path.display())),
            _ => Ok(default.to_owned()),
        }
    };
    Ok(Template {
        subject: read("invite.subject.txt", DEFAULT_SUBJECT)?,
        body: read("invite.txt", DEFAULT_BODY)?,
    })
}

/// What sending needs: the transport and the sender.
#[derive(Clone)]
pub struct SmtpSettings {
    pub transport: AsyncSmtpTransport<Tokio1Executor>,
    pub from: Mailbox,
}

impl SmtpSettings {
    /// `smtp://host:port` (plain, for a local relay), `smtp://…?tls=required` (STARTTLS) or
    /// `smtps://user:password@host[:port]` (TLS), and the sender address.
    pub fn new(url: &str, from: &str) -> Result<Self, String> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("REFERD_SMTP_FROM is not an email address ({from}): {e}"))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("REFERD_SMTP_URL is not a usable SMTP URL: {e}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Self { transport, from })
    }

    /// From `REFERD_SMTP_URL` and `REFERD_SMTP_FROM`: `None` when no URL is set; an error
    /// when one is set wrongly or without a sender.
    pub fn from_env() -> Result<Option<Self>, String> {
        let Some(url) = std::env::var("REFERD_SMTP_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        else {
            return Ok(None);
        };
        let from = std::env::var("REFERD_SMTP_FROM")
            .ok()
            .filter(|f| !f.trim().is_empty())
            .ok_or("REFERD_SMTP_URL is set but REFERD_SMTP_FROM (the sender address) is not")?;
        Self::new(url.trim(), from.trim()).map(Some)
    }
}

pub struct Mailer {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    smtp: SmtpSettings,
    owner: String,
    only: Option<ProgramRowId>,
}

impl Mailer {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        smtp: SmtpSettings,
        only: Option<ProgramRowId>,
    ) -> Self {
        Self {
            store,
            clock,
            smtp,
            owner: format!("mail-{}-{}", std::process::id(), rand_suffix()),
            only,
        }
    }

    /// Sends what is due; answers how many emails were tried.
    pub async fn tick(&self) -> Result<usize, String> {
        let now = self.clock.now();
        let until = Timestamp::from_micros(now.as_micros() + LEASE.as_micros() as i64);
        let due = self
            .store
            .claim_emails(&self.owner, now, until, 16, self.only)
            .await
            .map_err(|e| e.to_string())?;
        let n = due.len();
        for email in due {
            let outcome = self.send(&email).await;
            if let Err(e) = self
                .store
                .finish_email(email.row_id, &self.owner, &outcome, self.clock.now())
                .await
            {
                tracing::error!(email = email.row_id.0, error = %e, "email outcome not recorded");
            }
        }
        Ok(n)
    }

    async fn send(&self, email: &Email) -> EmailOutcome {
        let message = email
            .recipient
            .parse::<Mailbox>()
            .map_err(|e| e.to_string())
            .and_then(|to| {
                Message::builder()
                    .from(self.smtp.from.clone())
                    .to(to)
                    .subject(email.subject.clone())
                    .header(ContentType::TEXT_PLAIN)
                    .body(email.body.clone())
                    .map_err(|e| e.to_string())
            });
        let message = match message {
            Ok(m) => m,
            Err(e) => return EmailOutcome::Failed(format!("cannot build the message: {e}")),
        };
        match self.smtp.transport.send(message).await {
            Ok(_) => EmailOutcome::Sent,
            Err(e) if e.is_permanent() => EmailOutcome::Failed(e.to_string()),
            Err(e) if email.attempts >= MAX_ATTEMPTS => EmailOutcome::Failed(e.to_string()),
            Err(e) => {
                let wait = backoff::delay(email.attempts);
                tracing::warn!(email = email.row_id.0, error = %e, "email not sent; will retry");
                EmailOutcome::RetryAt(
                    Timestamp::from_micros(self.clock.now().as_micros() + wait.as_micros() as i64),
                    e.to_string(),
                )
            }
        }
    }

    /// Runs until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            let worked = match self.tick().await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::error!(error = %e, "email claim failed");
                    false
                }
            };
            if !worked {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos().into())
}
