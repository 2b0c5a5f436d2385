//! `POST /v1/customers:invite` (spec §6.14, seed 002) on both backends, mailed through lettre
//! to a real SMTP server started by the test (a small sink speaking SMTP on a local port):
//! recipients, subject, the referral link and personalization in the body; an SMTP server
//! that is down delays the mail and never loses it; a clear 503 without SMTP settings.

use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use referd::mailer::{Mailer, SmtpSettings, invite_template};
use referd_api::AppState;
use referd_core::ids::ProgramType;
use referd_core::time::{Clock, SystemClock};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::helpers::{PUBLIC_URL, TestApp};
use crate::webhook_delivery::TestClock;

/// One message the sink accepted.
#[derive(Debug, Clone, Default)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
}

/// A minimal SMTP server: greets, accepts EHLO/MAIL/RCPT/DATA/QUIT, keeps every message.
struct SmtpSink {
    addr: std::net::SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let m = mails.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, m.clone()));
            }
        });
        Self { addr, mails }
    }

    fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

async fn session(stream: tokio::net::TcpStream, mails: Arc<Mutex<Vec<Mail>>>) {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let _ = w.write_all(b"220 sink.test ESMTP\r\n").await;
    let mut mail = Mail::default();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if cmd.starts_with("EHLO") {
            b"250-sink.test\r\n250 8BITMIME\r\n"
        } else if cmd.starts_with("HELO") || cmd.starts_with("RSET") || cmd.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if cmd.starts_with("MAIL FROM:") {
            mail.from = line.trim_end()[10..].trim().to_owned();
            b"250 OK\r\n"
        } else if cmd.starts_with("RCPT TO:") {
            mail.to.push(line.trim_end()[8..].trim().to_owned());
            b"250 OK\r\n"
        } else if cmd == "DATA" {
            let _ = w.write_all(b"354 end with .\r\n").await;
            loop {
                line.clear();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                mail.data.push_str(&line);
            }
            mails.lock().unwrap().push(std::mem::take(&mut mail));
            b"250 OK queued\r\n"
        } else if cmd == "QUIT" {
            let _ = w.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"502 not implemented\r\n"
        };
        if w.write_all(reply).await.is_err() {
            return;
        }
    }
}

fn with_invitations(app: &mut TestApp, clock: Arc<dyn Clock>) {
    let state = AppState::new(app.store.clone(), clock, PUBLIC_URL)
        .with_invitations(invite_template(None).unwrap());
    app.router = referd_api::router(state);
}

fn mailer(app: &TestApp, url: &str, clock: Arc<dyn Clock>) -> Mailer {
    let smtp = SmtpSettings::new(url, "Acme Rewards <noreply@acme.test>").unwrap();
    Mailer::new(app.store.clone(), clock, smtp, Some(app.program.id))
}

async fn invitation_is_mailed_with_the_referral_link(app: TestApp) {
    let mut app = app;
    let sink = SmtpSink::start().await;
    with_invitations(&mut app, Arc::new(SystemClock));
    let ok = app
        .post(
            "/v1/customers:invite",
            json!({"email": "Nora@Example.com", "name": "Nora",
                   "personalization": {"message": "Bob says hi!"}}),
        )
        .await
        .ok();
    assert_eq!(ok, json!({"status": 1}));
    // The customer was created, with its own referral link.
    let nora = app.get("/v1/customers/nora@example.com").await.ok()["data"].clone();
    let link = nora["referral_link"].as_str().unwrap().to_owned();
    assert!(link.starts_with("https://partnero.com"), "{link}");
    // An existing customer is invited, not created again.
    app.customer(json!({"id": "c1", "email": "ann@example.com", "name": "Ann"}))
        .await;
    app.post("/v1/customers:invite", json!({"email": "ann@example.com"}))
        .await
        .ok();
    let list = app.get("/v1/customers").await.ok();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);

    let m = mailer(
        &app,
        &format!("smtp://{}", sink.addr),
        Arc::new(SystemClock),
    );
    assert_eq!(m.tick().await.unwrap(), 2);
    let mails = sink.mails();
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[0].to, ["<nora@example.com>"]);
    assert_eq!(mails[0].from, "<noreply@acme.test>");
    let data = &mails[0].data;
    assert!(
        data.contains(&format!(
            "Subject: Nora, you're invited to {}",
            app.program.name
        )),
        "{data}"
    );
    assert!(
        data.contains(&link),
        "the referral link is in the body: {data}"
    );
    assert!(data.contains("Bob says hi!"), "{data}");
    assert_eq!(mails[1].to, ["<ann@example.com>"]);
    assert!(
        mails[1].data.contains("Subject: Ann, you're invited"),
        "{}",
        mails[1].data
    );
    let emails = app.store.list_emails(app.program.id).await.unwrap();
    assert!(
        emails
            .iter()
            .all(|e| e.state == "sent" && e.sent_at.is_some())
    );
    // Nothing is sent twice.
    assert_eq!(m.tick().await.unwrap(), 0);
    assert_eq!(sink.mails().len(), 2);
}

async fn a_down_smtp_server_delays_mail_and_never_loses_it(app: TestApp) {
    let mut app = app;
    let clock = Arc::new(TestClock(AtomicI64::new(SystemClock.now().as_micros())));
    with_invitations(&mut app, clock.clone());
    app.post("/v1/customers:invite", json!({"email": "late@example.com"}))
        .await
        .ok();
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let down = mailer(&app, &format!("smtp://{closed}"), clock.clone());
    assert_eq!(down.tick().await.unwrap(), 1);
    let emails = app.store.list_emails(app.program.id).await.unwrap();
    assert_eq!(emails[0].state, "pending");
    assert!(emails[0].last_error.is_some());

    let sink = SmtpSink::start().await;
    let up = mailer(&app, &format!("smtp://{}", sink.addr), clock.clone());
    assert_eq!(up.tick().await.unwrap(), 0, "waits for its retry time");
    clock.advance(Duration::from_secs(3600));
    assert_eq!(up.tick().await.unwrap(), 1);
    assert_eq!(sink.mails().len(), 1);
    assert_eq!(sink.mails()[0].to, ["<late@example.com>"]);
    let emails = app.store.list_emails(app.program.id).await.unwrap();
    assert_eq!(emails[0].state, "sent");
    assert_eq!(emails[0].attempts, 2);
}

async fn invitations_refuse_bad_input_and_say_how_to_configure(app: TestApp) {
    // Without SMTP settings (the default router): 503 with the variables to set.
    let r = app
        .post("/v1/customers:invite", json!({"email": "x@example.com"}))
        .await;
    assert_eq!(r.status, 503);
    let msg = r.body["message"].as_str().unwrap();
    assert!(
        msg.contains("REFERD_SMTP_URL") && msg.contains("REFERD_SMTP_FROM"),
        "{msg}"
    );
    assert!(
        app.store
            .list_emails(app.program.id)
            .await
            .unwrap()
            .is_empty()
    );

    let mut app = app;
    with_invitations(&mut app, Arc::new(SystemClock));
    let e = app.post("/v1/customers:invite", json!({})).await.invalid();
    assert_eq!(e["email"][0], "The email field is required.");
    let e = app
        .post("/v1/customers:invite", json!({"email": "not-an-email"}))
        .await
        .invalid();
    assert!(e["email"].is_array(), "{e}");
    let e = app
        .post(
            "/v1/customers:invite",
            json!({"email": "a@example.com", "personalization": "x"}),
        )
        .await
        .invalid();
    assert!(e["personalization"].is_array(), "{e}");
    let e = app
        .post(
            "/v1/customers:invite",
            json!({"email": "a@example.com", "personalization": {"deep": {"x": 1}}}),
        )
        .await
        .invalid();
    assert!(e["personalization.deep"].is_array(), "{e}");
    assert!(
        app.store
            .list_emails(app.program.id)
            .await
            .unwrap()
            .is_empty()
    );
    // Not for affiliate programs.
    let (_, key) = app.other_program(ProgramType::Affiliate).await;
    let r = app
        .call_as(
            &key,
            axum::http::Method::POST,
            "/v1/customers:invite",
            Some(json!({"email": "a@example.com"})),
        )
        .await;
    assert_eq!(r.status, 404);
}

crate::backend_tests!(
    invitation_is_mailed_with_the_referral_link,
    a_down_smtp_server_delays_mail_and_never_loses_it,
    invitations_refuse_bad_input_and_say_how_to_configure,
);
