//! Reward rule use cases: setting a new version of a program's rules (validated, and only the
//! sections its program type uses), and reading the version in force.

use std::sync::Arc;

use serde_json::Value;

use crate::error::{CoreError, CoreResult};
use crate::ids::ProgramType;
use crate::program::Program;
use crate::rules::cache::RulesInForce;
use crate::rules::{RuleSet, RuleVersion, parse_rules};
use crate::store::Store;
use crate::time::Timestamp;
use crate::validate::FieldErrors;

/// Validates `body` and stores it as the program's next version. A section for another
/// program type (`referral` on an affiliate program) is refused: it would never pay anything,
/// and a rule that silently does nothing is a support ticket.
pub async fn set(
    store: &dyn Store,
    program: &Program,
    body: &Value,
    now: Timestamp,
) -> CoreResult<(RuleVersion, RuleSet)> {
    // Both kinds of problem are reported together: the sections that do not fit the program
    // type, and every field error inside the rules.
    let mut errors = FieldErrors::new();
    let has = |section: &str| body.get(section).is_some();
    match program.program_type {
        ProgramType::Affiliate if has("referral") => errors.add(
            "referral",
            "is for refer-a-friend programs; this is an affiliate program (use affiliate).",
        ),
        ProgramType::Referral if has("affiliate") => errors.add(
            "affiliate",
            "is for affiliate programs; this is a refer-a-friend program (use referral).",
        ),
        ProgramType::Newsletter if has("affiliate") || has("referral") => errors.add(
            "rules",
            "newsletter programs reward milestones, not sales; they take no affiliate or referral rules.",
        ),
        _ => {}
    }
    let parsed = parse_rules(body);
    if let Err(field_errors) = &parsed {
        for (field, messages) in field_errors.iter() {
            for m in messages {
                errors.add(field, m.clone());
            }
        }
    }
    errors.into_result()?;
    let rules = parsed?;
    let text = serde_json::to_string(body)
        .map_err(|e| CoreError::Internal(format!("rules serialisation: {e}")))?;
    let version = store.insert_rule_version(program.id, text, now).await?;
    Ok((version, rules))
}

/// The rules in force for a sale: the version the program row names, from the store's cache
/// when it holds that version (no query), else read and parsed once. `None` when none were
/// ever set (then nothing is rewarded).
pub async fn in_force(store: &dyn Store, program: &Program) -> CoreResult<Option<RulesInForce>> {
    if program.rules_version == 0 {
        return Ok(None);
    }
    let cache = store.rules_cache();
    if let Some(hit) = cache.get(program.id, program.rules_version) {
        return Ok(Some(hit));
    }
    let Some(read) = current(store, program).await? else {
        return Ok(None);
    };
    let read = Arc::new(read);
    cache.put(program.id, read.clone());
    Ok(Some(read))
}

/// The rules in force: the latest version, parsed. `None` when none were ever set (then
/// nothing is rewarded).
pub async fn current(
    store: &dyn Store,
    program: &Program,
) -> CoreResult<Option<(RuleVersion, RuleSet)>> {
    let Some(version) = store.current_rules(program.id).await? else {
        return Ok(None);
    };
    let value: Value = serde_json::from_str(&version.body)
        .map_err(|e| CoreError::Internal(format!("stored rules are not JSON: {e}")))?;
    // Stored versions were validated when set; a failure here means the format changed
    // incompatibly, which must be loud.
    let rules = parse_rules(&value).map_err(|e| {
        CoreError::Internal(format!(
            "stored rules version {} no longer validates: {:?}",
            version.version, e
        ))
    })?;
    Ok(Some((version, rules)))
}
