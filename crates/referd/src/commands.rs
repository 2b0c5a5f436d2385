//! The operator commands. Each prints JSON on stdout and nothing else (logs go to stderr),
//! so scripts can parse the output.

use referd_core::Store;
use referd_core::ids::{ProgramType, generate_admin_token, generate_api_key, hash_api_key};
use referd_core::program::{ApiKeySelector, Program};
use referd_core::service::{programs, rules};
use referd_core::time::{Clock, SystemClock};
use serde_json::{Value, json};

use crate::cli::ProgramTypeArg;

pub fn program_json(p: &Program) -> Value {
    json!({
        "id": p.id.0,
        "public_id": p.public_id,
        "type": p.program_type.display_name(),
        "name": p.name,
        "website": p.website,
    })
}

pub async fn create_program(
    store: &dyn Store,
    program_type: ProgramTypeArg,
    name: &str,
    website: Option<&str>,
) -> Result<Value, String> {
    let program_type = match program_type {
        ProgramTypeArg::Referral => ProgramType::Referral,
        ProgramTypeArg::Affiliate => ProgramType::Affiliate,
        ProgramTypeArg::Newsletter => ProgramType::Newsletter,
    };
    let (program, api_key) =
        programs::create(store, program_type, name, website, SystemClock.now())
            .await
            .map_err(|e| describe(&e))?;
    Ok(json!({ "program": program_json(&program), "api_key": api_key }))
}

pub async fn list_programs(store: &dyn Store) -> Result<Vec<Value>, String> {
    let programs = store.list_programs().await.map_err(|e| e.to_string())?;
    Ok(programs.iter().map(program_json).collect())
}

async fn program(store: &dyn Store, public_id: &str) -> Result<Program, String> {
    store
        .find_program(public_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no program with public id {public_id}"))
}

pub async fn create_key(store: &dyn Store, public_id: &str) -> Result<Value, String> {
    let program = program(store, public_id).await?;
    let key = generate_api_key();
    store
        .create_api_key(program.id, key.hash, key.hint, SystemClock.now())
        .await
        .map_err(|e| e.to_string())?;
    Ok(json!({ "api_key": key.secret }))
}

pub async fn list_keys(store: &dyn Store, public_id: &str) -> Result<Vec<Value>, String> {
    let program = program(store, public_id).await?;
    let keys = store
        .list_api_keys(program.id)
        .await
        .map_err(|e| e.to_string())?;
    Ok(keys
        .iter()
        .map(|k| {
            json!({
                "id": k.id,
                "program": k.program_public_id,
                "hint": k.hint,
                "created_at": k.created_at.to_rfc3339_micros(),
                "revoked_at": k.revoked_at.map(|t| t.to_rfc3339_micros()),
            })
        })
        .collect())
}

pub async fn revoke_key(
    store: &dyn Store,
    key: Option<&str>,
    id: Option<i64>,
    public_id: Option<&str>,
) -> Result<Value, String> {
    let program_id = match public_id {
        Some(p) => Some(program(store, p).await?.id),
        None => None,
    };
    let selector = match (key, id) {
        (_, Some(id)) => ApiKeySelector::Id(id),
        (Some(k), None) => ApiKeySelector::Hash(hash_api_key(k.trim())),
        (None, None) => return Err("give the key or --id".into()),
    };
    let revoked = store
        .revoke_api_key(program_id, selector, SystemClock.now())
        .await
        .map_err(|e| e.to_string())?;
    if revoked {
        Ok(json!({ "revoked": true }))
    } else {
        Err("no such active key".into())
    }
}

pub async fn create_admin_token(store: &dyn Store) -> Result<Value, String> {
    let token = generate_admin_token();
    store
        .create_admin_token(token.hash, token.hint, SystemClock.now())
        .await
        .map_err(|e| e.to_string())?;
    Ok(json!({ "admin_token": token.secret }))
}

pub async fn list_admin_tokens(store: &dyn Store) -> Result<Vec<Value>, String> {
    let tokens = store.list_admin_tokens().await.map_err(|e| e.to_string())?;
    Ok(tokens
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "hint": t.hint,
                "created_at": t.created_at.to_rfc3339_micros(),
                "revoked_at": t.revoked_at.map(|r| r.to_rfc3339_micros()),
            })
        })
        .collect())
}

pub async fn revoke_admin_token(
    store: &dyn Store,
    token: Option<&str>,
    id: Option<i64>,
) -> Result<Value, String> {
    let selector = match (token, id) {
        (_, Some(id)) => ApiKeySelector::Id(id),
        (Some(t), None) => ApiKeySelector::Hash(hash_api_key(t.trim())),
        (None, None) => return Err("give the token or --id".into()),
    };
    let revoked = store
        .revoke_admin_token(selector, SystemClock.now())
        .await
        .map_err(|e| e.to_string())?;
    if revoked {
        Ok(json!({ "revoked": true }))
    } else {
        Err("no such active admin token".into())
    }
}

/// `referd rules set`: reads the file (or stdin for `-`), validates, stores the next version.
pub async fn set_rules(
    store: &dyn Store,
    public_id: &str,
    file: &std::path::Path,
) -> Result<Value, String> {
    let program = program(store, public_id).await?;
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("reading stdin: {e}"))?
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("reading {}: {e}", file.display()))?
    };
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", file.display()))?;
    let (version, _) = rules::set(store, &program, &body, SystemClock.now())
        .await
        .map_err(|e| format!("invalid rules: {}", describe(&e)))?;
    Ok(json!({
        "program": program.public_id,
        "version": version.version,
        "created_at": version.created_at.to_rfc3339_micros(),
        "rules": body,
    }))
}

/// `referd rules show`.
pub async fn show_rules(store: &dyn Store, public_id: &str) -> Result<Value, String> {
    let program = program(store, public_id).await?;
    let current = rules::current(store, &program)
        .await
        .map_err(|e| describe(&e))?;
    Ok(match current {
        None => {
            json!({ "program": program.public_id, "version": null, "created_at": null, "rules": null })
        }
        Some((version, _)) => {
            let body: Value = serde_json::from_str(&version.body).map_err(|e| e.to_string())?;
            json!({
                "program": program.public_id,
                "version": version.version,
                "created_at": version.created_at.to_rfc3339_micros(),
                "rules": body,
            })
        }
    })
}

/// `referd ledger verify`: one JSON object per program, and whether all were healthy.
pub async fn verify_ledger(
    store: &dyn Store,
    public_id: Option<&str>,
) -> Result<(Vec<Value>, bool), String> {
    let programs = match public_id {
        Some(id) => vec![program(store, id).await?],
        None => store.list_programs().await.map_err(|e| e.to_string())?,
    };
    let mut out = Vec::new();
    let mut healthy = true;
    for p in programs {
        let audit = referd_core::service::audit::verify(store, &p, SystemClock.now())
            .await
            .map_err(|e| describe(&e))?;
        healthy &= audit.problems.is_empty();
        let problems: Vec<Value> = audit
            .problems
            .iter()
            .map(|pr| json!({"entry": pr.entry, "transaction": pr.transaction, "problem": pr.message}))
            .collect();
        out.push(json!({
            "program": p.public_id,
            "transactions": audit.transactions,
            "entries": audit.entries,
            "holders": audit.totals.len(),
            "problems": problems,
        }));
    }
    Ok((out, healthy))
}

fn describe(e: &referd_core::CoreError) -> String {
    match e {
        referd_core::CoreError::Validation(errors) => errors
            .iter()
            .map(|(f, m)| format!("{f}: {}", m.join(" ")))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
