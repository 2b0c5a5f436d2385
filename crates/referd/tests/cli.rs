//! The `referd` command line is a contract scripts rely on (issue #2): these tests run the
//! real binary and check its stdout, exit codes, defaults and graceful shutdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn referd(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_referd"))
        .args(args)
        .current_dir(dir)
        .env_remove("REFERD_DATABASE_URL")
        .env_remove("REFERD_BIND")
        .env_remove("REFERD_PUBLIC_URL")
        .output()
        .expect("run referd")
}

/// Stdout must be exactly one JSON object on one line.
#[track_caller]
fn one_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout: {stdout:?}");
    let v: Value = serde_json::from_str(lines[0]).expect("stdout is JSON");
    assert!(v.is_object());
    v
}

#[test]
fn programs_create_prints_exactly_one_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("x.db").display());
    let out = referd(
        dir.path(),
        &[
            "programs",
            "create",
            "--type",
            "referral",
            "--name",
            "Acme",
            "--website",
            "https://acme.test",
            "--database-url",
            &db,
        ],
    );
    let v = one_json(&out);
    let p = &v["program"];
    assert!(p["id"].is_i64());
    assert_eq!(p["public_id"].as_str().unwrap().len(), 8);
    assert_eq!(p["type"], "Referral");
    assert_eq!(p["name"], "Acme");
    assert_eq!(p["website"], "https://acme.test");
    assert!(v["api_key"].as_str().unwrap().starts_with("rfd_"));
    assert_eq!(v.as_object().unwrap().len(), 2);

    for (t, name) in [("affiliate", "Affiliate"), ("newsletter", "Newsletter")] {
        let out = referd(
            dir.path(),
            &[
                "programs",
                "create",
                "--type",
                t,
                "--name",
                "N",
                "--database-url",
                &db,
            ],
        );
        let v = one_json(&out);
        assert_eq!(v["program"]["type"], name);
        assert!(v["program"]["website"].is_null());
    }
    let out = referd(dir.path(), &["programs", "list", "--database-url", &db]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 3);

    // Bad input: a clear error on stderr, nothing on stdout, a failing exit code.
    for args in [
        vec![
            "programs",
            "create",
            "--type",
            "referral",
            "--name",
            "X",
            "--website",
            "acme.test",
            "--database-url",
            &db,
        ],
        vec![
            "programs",
            "create",
            "--type",
            "other",
            "--name",
            "X",
            "--database-url",
            &db,
        ],
        vec![
            "programs",
            "create",
            "--type",
            "referral",
            "--name",
            " ",
            "--database-url",
            &db,
        ],
    ] {
        let out = referd(dir.path(), &args);
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn keys_create_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("k.db").display());
    let created = one_json(&referd(
        dir.path(),
        &[
            "programs",
            "create",
            "--type",
            "referral",
            "--name",
            "K",
            "--database-url",
            &db,
        ],
    ));
    let public_id = created["program"]["public_id"].as_str().unwrap();
    let second = one_json(&referd(
        dir.path(),
        &[
            "keys",
            "create",
            "--program",
            public_id,
            "--database-url",
            &db,
        ],
    ));
    let key = second["api_key"].as_str().unwrap();
    assert!(key.starts_with("rfd_"));
    assert_ne!(key, created["api_key"].as_str().unwrap());

    let out = referd(
        dir.path(),
        &[
            "keys",
            "list",
            "--program",
            public_id,
            "--database-url",
            &db,
        ],
    );
    let listed: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|k| k["revoked_at"].is_null()));
    // The secret is never stored or listed, only a hint of its start.
    assert!(listed.iter().all(|k| !k.to_string().contains(key)));

    let revoked = one_json(&referd(
        dir.path(),
        &["keys", "revoke", key, "--database-url", &db],
    ));
    assert_eq!(revoked["revoked"], true);
    let again = referd(dir.path(), &["keys", "revoke", key, "--database-url", &db]);
    assert!(!again.status.success());
    let first_id = listed[0]["id"].as_i64().unwrap().to_string();
    one_json(&referd(
        dir.path(),
        &[
            "keys",
            "revoke",
            "--id",
            &first_id,
            "--program",
            public_id,
            "--database-url",
            &db,
        ],
    ));
    let out = referd(
        dir.path(),
        &[
            "keys",
            "create",
            "--program",
            "NOPE0000",
            "--database-url",
            &db,
        ],
    );
    assert!(!out.status.success());
}

#[test]
fn unknown_database_schemes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for url in ["mysql://root@localhost/x", "file:x.db", "x.db"] {
        let out = referd(dir.path(), &["migrate", "--database-url", url]);
        assert!(!out.status.success(), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("unsupported database URL"), "{url}: {err}");
    }
}

#[test]
fn the_default_database_is_created_with_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = referd(dir.path(), &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("data/referd.db").exists());
    // The environment variable is honoured too.
    let out = Command::new(env!("CARGO_BIN_EXE_referd"))
        .args(["programs", "create", "--type", "referral", "--name", "Env"])
        .current_dir(dir.path())
        .env("REFERD_DATABASE_URL", "sqlite:env.db")
        .output()
        .unwrap();
    one_json(&out);
    assert!(dir.path().join("env.db").exists());
}

/// One raw HTTP/1.1 request (no client library needed for a smoke test).
fn http_get(addr: &str, path: &str, key: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serve_logs_its_url_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let created = one_json(&referd(
        dir.path(),
        &[
            "programs",
            "create",
            "--type",
            "referral",
            "--name",
            "S",
            "--website",
            "https://s.test",
        ],
    ));
    let key = created["api_key"].as_str().unwrap().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_referd"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--public-url",
            "https://public.example",
        ])
        .current_dir(dir.path())
        .env_remove("REFERD_DATABASE_URL")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut addr = None;
    let mut line = String::new();
    while addr.is_none() && Instant::now() < deadline {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.split("listening on http://").nth(1) {
            addr = rest.split_whitespace().next().map(str::to_string);
        }
    }
    let addr = addr.expect("serve logs the URL it listens on");
    let response = http_get(&addr, "/v1/customers?limit=1", &key);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("content-type: application/json\r\n")
    );
    assert!(
        response.contains("\"path\":\"https://public.example/v1/customers\""),
        "{response}"
    );

    // Revoking with the CLI while serve runs (another process) takes effect within the
    // documented second of key caching; poll, with a bound, until it does.
    one_json(&referd(dir.path(), &["keys", "revoke", &key]));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = http_get(&addr, "/v1/test", &key);
        if response.starts_with("HTTP/1.1 401") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "revoked key still accepted: {response}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A request in flight when SIGTERM arrives still completes: send the headers and half
    // the body, signal, then the rest.
    let public_id = created["program"]["public_id"].as_str().unwrap();
    let new_key = one_json(&referd(
        dir.path(),
        &["keys", "create", "--program", public_id],
    ))["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let body = r#"{"id":"inflight","email":"inflight@x.test"}"#;
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST /v1/customers HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {new_key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&body.as_bytes()[10..]).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "in-flight request: {response}"
    );
    assert!(response.contains("\"id\":\"inflight\""), "{response}");

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "graceful shutdown exits 0, got {status}");
            break;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `referd rules set|show`: versions count up, invalid rules name their fields and change
/// nothing, and a section for the wrong program type is refused.
#[test]
fn rules_set_and_show_version_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("r.db").display());
    let created = one_json(&referd(
        dir.path(),
        &[
            "programs",
            "create",
            "--type",
            "affiliate",
            "--name",
            "A",
            "--database-url",
            &db,
        ],
    ));
    let id = created["program"]["public_id"]
        .as_str()
        .unwrap()
        .to_string();
    let show = |dir: &Path| {
        one_json(&referd(
            dir,
            &["rules", "show", "--program", &id, "--database-url", &db],
        ))
    };
    let none = show(dir.path());
    assert_eq!(none["version"], Value::Null);
    assert_eq!(none["rules"], Value::Null);

    let file = dir.path().join("rules.json");
    let set = |body: &str| {
        std::fs::write(&file, body).unwrap();
        referd(
            dir.path(),
            &[
                "rules",
                "set",
                "--program",
                &id,
                "--file",
                file.to_str().unwrap(),
                "--database-url",
                &db,
            ],
        )
    };
    let first = one_json(&set(
        r#"{"affiliate":{"commission":{"type":"percentage","value":30},"review_days":14}}"#,
    ));
    assert_eq!(first["version"], 1);
    assert_eq!(first["rules"]["affiliate"]["review_days"], 14);
    let second = one_json(&set(
        r#"{"affiliate":{"commission":{"type":"static","value":"12.50"}}}"#,
    ));
    assert_eq!(second["version"], 2);
    let now = show(dir.path());
    assert_eq!(now["version"], 2);
    assert_eq!(now["rules"]["affiliate"]["commission"]["value"], "12.50");

    // Invalid rules: a non-zero exit, the field named on stderr, nothing stored.
    for (body, field) in [
        (
            r#"{"affiliate":{"commission":{"type":"percentage","value":130}}}"#,
            "affiliate.commission.value",
        ),
        (r#"{"referral":{"referring":[]}}"#, "referral"),
        (r#"{"afiliate":{}}"#, "afiliate"),
        ("not json", "not valid JSON"),
    ] {
        let out = set(body);
        assert!(!out.status.success(), "{body}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(field), "{body}: {stderr}");
    }
    assert_eq!(show(dir.path())["version"], 2);
}

/// `referd admin-tokens create|list|revoke`: the secret is printed once, lists never show it,
/// and revoking by token or id works once.
#[test]
fn admin_tokens_create_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("a.db").display());
    let created = one_json(&referd(
        dir.path(),
        &["admin-tokens", "create", "--database-url", &db],
    ));
    let token = created["admin_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("rfa_") && token.len() == 47, "{token}");
    one_json(&referd(
        dir.path(),
        &["admin-tokens", "create", "--database-url", &db],
    ));
    let out = referd(dir.path(), &["admin-tokens", "list", "--database-url", &db]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 2);
    assert!(!stdout.contains(&token), "a list never shows secrets");
    assert!(stdout.contains(&token[..10]), "the hint tells tokens apart");
    let revoked = one_json(&referd(
        dir.path(),
        &["admin-tokens", "revoke", &token, "--database-url", &db],
    ));
    assert_eq!(revoked["revoked"], true);
    let again = referd(
        dir.path(),
        &["admin-tokens", "revoke", &token, "--database-url", &db],
    );
    assert!(!again.status.success());
    one_json(&referd(
        dir.path(),
        &["admin-tokens", "revoke", "--id", "2", "--database-url", &db],
    ));
}

/// `referd ledger verify`: one JSON object per program; a healthy ledger exits 0.
#[test]
fn ledger_verify_reports_per_program() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("l.db").display());
    for t in ["affiliate", "referral"] {
        one_json(&referd(
            dir.path(),
            &[
                "programs",
                "create",
                "--type",
                t,
                "--name",
                "L",
                "--database-url",
                &db,
            ],
        ));
    }
    let out = referd(dir.path(), &["ledger", "verify", "--database-url", &db]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let reports: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 2);
    for r in reports {
        assert_eq!(r["problems"], serde_json::json!([]));
        assert_eq!(r["entries"], 0);
    }
    let out = referd(
        dir.path(),
        &[
            "ledger",
            "verify",
            "--program",
            "NOPE0000",
            "--database-url",
            &db,
        ],
    );
    assert!(!out.status.success());
}

/// A `referd serve` child on a free port, killed if a test fails before stopping it.
struct Server {
    child: std::process::Child,
    addr: String,
}

impl Server {
    /// Starts `referd serve` on 127.0.0.1 (a free port) and waits for the URL it logs.
    fn start(dir: &Path, database_url: &str) -> Server {
        Self::start_with_env(dir, database_url, &[])
    }

    /// [`Server::start`] with extra environment variables.
    fn start_with_env(dir: &Path, database_url: &str, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_referd"))
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .current_dir(dir)
            .env_remove("REFERD_DATABASE_URL")
            .env_remove("REFERD_BIND")
            .env_remove("REFERD_PUBLIC_URL")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut addr = None;
        let mut line = String::new();
        while addr.is_none() && Instant::now() < deadline {
            line.clear();
            if stderr.read_line(&mut line).unwrap() == 0 {
                break;
            }
            if let Some(rest) = line.split("listening on http://").nth(1) {
                addr = rest.split_whitespace().next().map(str::to_string);
            }
        }
        // Keep draining the log, so that a full pipe never blocks the server.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve did not log the URL it listens on");
        };
        Server { child, addr }
    }

    /// SIGTERM, then a clean exit within 30 s.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "graceful shutdown exits 0, got {status}");
                break;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("chunk size line");
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

/// One raw HTTP/1.1 request with an optional JSON body: (status, JSON answer).
fn http_json(addr: &str, method: &str, path: &str, key: &str, body: Option<&str>) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, payload) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {response:?}"));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {head:?}"));
    let payload = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(payload)
    } else {
        payload.to_string()
    };
    let json = if payload.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&payload)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {payload:?}"))
    };
    (status, json)
}

/// Two `referd serve` processes on one PostgreSQL database: the same sale fired 40 times at
/// once, alternating between them, makes one transaction with one reward; a refund through
/// the other instance takes it back. Needs REFERD_TEST_POSTGRES_URL (skipped otherwise); it
/// works in a fresh program, so the database may be shared with other tests.
#[test]
fn two_instances_on_one_postgres_database_make_one_transaction() {
    let Ok(db) = std::env::var("REFERD_TEST_POSTGRES_URL") else {
        println!(
            "SKIPPED: two_instances_on_one_postgres_database_make_one_transaction (set REFERD_TEST_POSTGRES_URL)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = referd(dir.path(), &["migrate", "--database-url", &db]);
    assert!(
        out.status.success(),
        "migrate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created = one_json(&referd(
        dir.path(),
        &[
            "programs",
            "create",
            "--type",
            "affiliate",
            "--name",
            "Two instances",
            "--database-url",
            &db,
        ],
    ));
    let key = created["api_key"].as_str().unwrap().to_string();
    let program = created["program"]["public_id"]
        .as_str()
        .unwrap()
        .to_string();
    let rules = dir.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"{"affiliate":{"commission":{"type":"percentage","value":30}}}"#,
    )
    .unwrap();
    let set = one_json(&referd(
        dir.path(),
        &[
            "rules",
            "set",
            "--program",
            &program,
            "--file",
            rules.to_str().unwrap(),
            "--database-url",
            &db,
        ],
    ));
    assert_eq!(set["version"], 1);

    let a = Server::start(dir.path(), &db);
    let b = Server::start(dir.path(), &db);
    assert_ne!(a.addr, b.addr);

    // Names unique to this program (link keys may be unique across programs).
    let suffix = program.to_ascii_lowercase();
    let partner = format!("two_partner_{suffix}");
    let customer = format!("two_customer_{suffix}");
    let tx = format!("two_tx_{suffix}");
    let (status, body) = http_json(
        &a.addr,
        "POST",
        "/v1/partners",
        &key,
        Some(&format!(
            r#"{{"id":"{partner}","key":"{partner}","email":"{partner}@two.test"}}"#
        )),
    );
    assert_eq!(status, 200, "create partner: {body}");
    let (status, body) = http_json(
        &a.addr,
        "POST",
        "/v1/customers",
        &key,
        Some(&format!(
            r#"{{"key":"{customer}","email":"{customer}@two.test","partner":{{"key":"{partner}"}}}}"#
        )),
    );
    assert_eq!(status, 200, "create customer: {body}");

    let sale = format!(
        r#"{{"key":"{tx}","amount":99.99,"action":"sale","product_id":"prod_1","customer":{{"key":"{customer}"}}}}"#
    );
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(40));
    let threads: Vec<_> = (0..40)
        .map(|i| {
            let addr = if i % 2 == 0 { &a.addr } else { &b.addr }.clone();
            let (key, sale, barrier) = (key.clone(), sale.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                http_json(&addr, "POST", "/v1/transactions", &key, Some(&sale))
            })
        })
        .collect();
    let answers: Vec<(u16, Value)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let first_rewards = answers[0].1["data"]["rewards"].clone();
    for (i, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "answer {i}: {body}");
        let data = &body["data"];
        assert_eq!(data["key"], tx.as_str(), "answer {i}: {body}");
        let rewards = data["rewards"].as_array().expect("rewards[]");
        assert_eq!(rewards.len(), 1, "answer {i}: one reward: {body}");
        assert_eq!(rewards[0]["amount"], serde_json::json!(29.997), "{body}");
        assert_eq!(rewards[0]["partner"], partner.as_str(), "{body}");
        assert_eq!(
            data["rewards"], first_rewards,
            "answer {i}: the same reward"
        );
    }

    for server in [&a, &b] {
        let (status, list) = http_json(
            &server.addr,
            "GET",
            "/v1/transactions?limit=250",
            &key,
            None,
        );
        assert_eq!(status, 200, "{list}");
        let data = list["data"].as_array().expect("data[]");
        assert_eq!(data.len(), 1, "exactly one transaction: {list}");
        assert_eq!(data[0]["key"], tx.as_str());
        let (status, p) = http_json(
            &server.addr,
            "GET",
            &format!("/v1/partners/{partner}"),
            &key,
            None,
        );
        assert_eq!(status, 200, "{p}");
        assert_eq!(
            p["data"]["commissions"]["not_paid"],
            serde_json::json!([{"currency":"USD","amount":29.997}]),
            "one reward, not one per instance or per request: {p}"
        );
    }

    // The refund, through the other instance than the one that created the partner.
    let (status, body) = http_json(
        &b.addr,
        "DELETE",
        &format!("/v1/transactions/{tx}"),
        &key,
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({"status":1}));
    for server in [&a, &b] {
        let (status, p) = http_json(
            &server.addr,
            "GET",
            &format!("/v1/partners/{partner}"),
            &key,
            None,
        );
        assert_eq!(status, 200, "{p}");
        assert_eq!(
            p["data"]["commissions"]["not_paid"],
            serde_json::json!([]),
            "back to zero: {p}"
        );
    }

    a.stop();
    b.stop();
}

/// A local webhook receiver on its own runtime: answers 200 after a short pause (so a killed
/// sender is caught mid-flight) and records each request's `webhook-id` and `data.id`.
struct HookReceiver {
    addr: std::net::SocketAddr,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    _rt: tokio::runtime::Runtime,
}

impl HookReceiver {
    fn start() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>> = Default::default();
        let s = seen.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let s = s.clone();
                    async move {
                        tokio::time::sleep(Duration::from_millis(3)).await;
                        let v: Value = serde_json::from_slice(&body).unwrap();
                        let id = headers["webhook-id"].to_str().unwrap().to_string();
                        let data = v["data"]["id"].as_str().unwrap_or_default().to_string();
                        s.lock().unwrap().push((id, data));
                        "ok"
                    }
                },
            ),
        );
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            seen,
            _rt: rt,
        }
    }

    fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `n` distinct events arrived (or 120 s passed); answers what arrived.
    fn wait_for(&self, n: usize) -> Vec<(String, String)> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let seen = self.seen();
            let distinct: std::collections::BTreeSet<&String> = seen.iter().map(|s| &s.0).collect();
            if distinct.len() >= n || Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Creates `ids` as customers, spread over the given instances by 8 threads.
fn create_customers(addrs: &[String], key: &str, ids: Vec<String>) {
    let chunks: Vec<Vec<String>> = ids
        .chunks(ids.len().div_ceil(8))
        .map(<[String]>::to_vec)
        .collect();
    let threads: Vec<_> = chunks
        .into_iter()
        .enumerate()
        .map(|(t, chunk)| {
            let (addrs, key) = (addrs.to_vec(), key.to_string());
            std::thread::spawn(move || {
                for (i, id) in chunk.iter().enumerate() {
                    let addr = &addrs[(t + i) % addrs.len()];
                    let body = format!(r#"{{"id":"{id}","email":"{id}@hooks.test"}}"#);
                    let (status, answer) =
                        http_json(addr, "POST", "/v1/customers", &key, Some(&body));
                    assert_eq!(status, 200, "{answer}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Two `referd serve` processes on one PostgreSQL database deliver 1,000 events, each exactly
/// once; then one is killed (SIGKILL) while delivering 200 more, and the other takes over its
/// leases: nothing is lost (only the sends in flight at the kill may arrive twice, with the
/// same `webhook-id`). Needs REFERD_TEST_POSTGRES_URL (skipped otherwise).
#[test]
fn two_instances_deliver_each_webhook_event_once_and_survive_a_kill() {
    let Ok(db) = std::env::var("REFERD_TEST_POSTGRES_URL") else {
        println!(
            "SKIPPED: two_instances_deliver_each_webhook_event_once_and_survive_a_kill (set REFERD_TEST_POSTGRES_URL)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = referd(dir.path(), &["migrate", "--database-url", &db]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created = one_json(&referd(
        dir.path(),
        &[
            "programs",
            "create",
            "--type",
            "referral",
            "--name",
            "Hooks",
            "--database-url",
            &db,
        ],
    ));
    let key = created["api_key"].as_str().unwrap().to_string();
    let suffix = created["program"]["public_id"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase();
    let receiver = HookReceiver::start();
    let env = [
        ("REFERD_WEBHOOKS_ALLOW_PRIVATE", "true"),
        ("REFERD_WEBHOOKS_LEASE_SECS", "5"),
    ];
    let a = Server::start_with_env(dir.path(), &db, &env);
    let b = Server::start_with_env(dir.path(), &db, &env);
    let hook = format!(
        r#"{{"name":"multi","url":"http://{}/hook","events":["customer.created"]}}"#,
        receiver.addr
    );
    let (status, made) = http_json(&a.addr, "POST", "/v1/webhooks", &key, Some(&hook));
    assert_eq!(status, 200, "{made}");

    let addrs = vec![a.addr.clone(), b.addr.clone()];
    let ids: Vec<String> = (0..1000).map(|i| format!("m{i}_{suffix}")).collect();
    create_customers(&addrs, &key, ids.clone());
    let seen = receiver.wait_for(1000);
    assert_eq!(seen.len(), 1000, "every event once, no duplicates");
    let mut got: Vec<String> = seen.iter().map(|s| s.1.clone()).collect();
    got.sort();
    let mut want = ids;
    want.sort();
    assert_eq!(got, want);

    // Phase two: kill one instance while it delivers.
    let more: Vec<String> = (0..200).map(|i| format!("k{i}_{suffix}")).collect();
    create_customers(&addrs, &key, more.clone());
    std::thread::sleep(Duration::from_millis(100));
    let mut a = a;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let seen = receiver.wait_for(1200);
    let distinct: std::collections::BTreeSet<&String> = seen.iter().map(|s| &s.1).collect();
    assert_eq!(distinct.len(), 1200, "nothing lost after the kill");
    for id in &more {
        assert!(distinct.contains(id), "{id} lost");
    }
    let repeats = seen.len() - 1200;
    assert!(
        repeats <= 64,
        "only sends in flight at the kill repeat: {repeats}"
    );
    b.stop();
}
