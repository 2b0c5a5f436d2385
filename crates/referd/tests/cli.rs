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
