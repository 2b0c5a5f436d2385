//! `POST /v1/customers:invite` (spec §6.14, seed 002): emails someone an invitation to a
//! refer-a-friend program with their own referral link, creating the customer first when the
//! program has none with that email. The email goes to the outbox; the mailer in
//! `referd serve` sends it (and retries while the SMTP server is down).

use std::collections::BTreeMap;

use crate::customer::{CustomerLookup, CustomerView};
use crate::email::{EmailRowId, NewEmail, Template};
use crate::error::{CoreError, CoreResult};
use crate::program::Program;
use crate::service::customers::{self, CustomerInput, require_referral};
use crate::store::Store;
use crate::time::Timestamp;
use crate::validate::{FieldErrors, check_text, parse_email};

#[derive(Debug, Clone, Default)]
pub struct InviteInput {
    pub email: Option<String>,
    pub name: Option<String>,
    /// Free values for the template, as `{{personalization.KEY}}`.
    pub personalization: BTreeMap<String, String>,
}

/// Creates the customer if needed and queues the invitation; answers the customer and the
/// queued email.
pub async fn invite(
    store: &dyn Store,
    program: &Program,
    input: InviteInput,
    template: &Template,
    now: Timestamp,
) -> CoreResult<(CustomerView, EmailRowId)> {
    require_referral(program)?;
    let mut e = FieldErrors::new();
    let email = match input.email.as_deref() {
        None => {
            e.add("email", "The email field is required.");
            None
        }
        Some(raw) => {
            let parsed = parse_email(raw);
            if parsed.is_none() {
                e.add("email", "The email field must be a valid email address.");
            }
            parsed
        }
    };
    if let Some(n) = &input.name {
        check_text(&mut e, "name", n);
    }
    for (k, v) in &input.personalization {
        check_text(&mut e, &format!("personalization.{k}"), v);
    }
    e.into_result()?;
    let email = email.unwrap_or_default();
    let view = match store
        .find_customer(program.id, &CustomerLookup::Email(email.clone()))
        .await?
    {
        Some(v) => v,
        None => {
            let created = customers::create(
                store,
                program,
                CustomerInput {
                    email: Some(email.clone()),
                    name: input.name.clone(),
                    ..CustomerInput::default()
                },
                now,
            )
            .await;
            match created {
                Ok(v) => v,
                // Created by a concurrent invite of the same address: use that one.
                Err(CoreError::Validation(_)) => store
                    .find_customer(program.id, &CustomerLookup::Email(email.clone()))
                    .await?
                    .ok_or(CoreError::NotFound("Customer"))?,
                Err(other) => return Err(other),
            }
        }
    };
    let c = &view.customer;
    let mut vars = BTreeMap::from([
        ("email".to_string(), email.clone()),
        (
            "name".to_string(),
            input.name.or_else(|| c.name.clone()).unwrap_or_default(),
        ),
        ("program_name".to_string(), program.name.clone()),
        (
            "referral_link".to_string(),
            program.referral_link(&c.key).unwrap_or_default(),
        ),
        ("referral_key".to_string(), c.key.clone()),
    ]);
    for (k, v) in input.personalization {
        vars.insert(format!("personalization.{k}"), v);
    }
    let (subject, body) = template.render(&vars);
    let id = store
        .enqueue_email(NewEmail {
            program_id: program.id,
            recipient: email,
            subject,
            body,
            now,
        })
        .await?;
    Ok((view, id))
}
