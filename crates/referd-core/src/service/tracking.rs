//! The public sign-up (`po('customers','signup',…)` and the no-code form integration): a
//! visitor's browser creates the customer, attributed by the rules of
//! [`crate::tracking::attribution`]. The server-side API stays the recommended path: a
//! browser can be made to send anything, so a public sign-up only ever creates a new
//! customer (never changes one) and takes its referrer only from a referral key.

use crate::customer::CustomerLookup;
use crate::error::{CoreError, CoreResult};
use crate::ids::{ProgramType, new_customer_id};
use crate::program::Program;
use crate::service::affiliate_customers::{self, AffiliateCustomerInput};
use crate::service::customers::{self, CustomerInput, ReferrerRef};
use crate::service::partners::PartnerRef;
use crate::store::Store;
use crate::time::Timestamp;
use crate::tracking::attribution::{CookieClaim, Decision, Rules};

/// What the snippet sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicSignup {
    /// The merchant's id for the new customer (`data.key` of `po('customers','signup')`).
    pub key: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub surname: Option<String>,
    pub tags: Option<Vec<String>>,
    /// The referral key in the visitor's cookie and when it was clicked.
    pub cookie: Option<CookieClaim>,
}

/// How a public sign-up ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignupOutcome {
    /// Created; `referred` says whether it was attributed.
    Created { referred: bool },
    /// A customer with this key or email exists already: nothing changed. Not an error to the
    /// visitor (a returning user's form submit), and not a way to learn who is a customer.
    AlreadyKnown,
    /// Nothing to record: an affiliate sign-up without a usable referral (an affiliate
    /// program's customers are its partners' referrals only).
    NotReferred,
}

fn is_conflict(e: &CoreError) -> bool {
    matches!(e, CoreError::Validation(f) if f.iter().any(|(_, msgs)| msgs.iter().any(|m| m.contains("already been taken"))))
}

/// Whether the error is the refusal of a referrer (unknown, archived, self-referral): the
/// sign-up is then kept, unattributed.
fn is_referrer_refusal(e: &CoreError) -> bool {
    match e {
        CoreError::Validation(f) => f
            .iter()
            .any(|(field, _)| field.starts_with("referring_customer")),
        CoreError::BadRequest(_) => true,
        _ => false,
    }
}

pub async fn signup(
    store: &dyn Store,
    program: &Program,
    input: PublicSignup,
    now: Timestamp,
) -> CoreResult<SignupOutcome> {
    let rules = Rules::of(&program.settings);
    let key = match rules.decide(None, input.cookie.as_ref(), now) {
        Decision::Server(k) | Decision::Cookie(k) => Some(k),
        Decision::None(_) => None,
    };
    match program.program_type {
        ProgramType::Referral => {
            // A key that is also an existing customer's id or email would make the create
            // fail; the snippet's `key` is the merchant's id for the customer.
            let make = |referrer: Option<String>| CustomerInput {
                id: input.key.clone(),
                key: None,
                email: input.email.clone(),
                name: input.name.clone(),
                surname: input.surname.clone(),
                date_of_birth: None,
                referring_customer: referrer.map(|k| ReferrerRef {
                    key: Some(k),
                    ..ReferrerRef::default()
                }),
            };
            let first = customers::create(store, program, make(key.clone()), now).await;
            let result = match first {
                Err(e) if key.is_some() && is_referrer_refusal(&e) => {
                    customers::create(store, program, make(None), now).await
                }
                other => other,
            };
            match result {
                Ok(view) => Ok(SignupOutcome::Created {
                    referred: view.customer.referrer.is_some(),
                }),
                Err(e) if is_conflict(&e) => Ok(SignupOutcome::AlreadyKnown),
                Err(e) => Err(e),
            }
        }
        ProgramType::Affiliate => {
            // An affiliate customer exists only with a partner: without a referral there is
            // nothing to record (the merchant's own sign-ups are not the program's).
            let Some(link_key) = key else {
                return Ok(SignupOutcome::NotReferred);
            };
            let customer_key = input.key.clone().unwrap_or_else(|| new_customer_id(now));
            if let Some(email) = &input.email
                && store
                    .find_affiliate_customer(
                        program.id,
                        &CustomerLookup::Email(email.trim().to_ascii_lowercase()),
                    )
                    .await?
                    .is_some()
            {
                return Ok(SignupOutcome::AlreadyKnown);
            }
            let new = AffiliateCustomerInput {
                key: Some(customer_key),
                email: input.email,
                name: input.name,
                surname: input.surname,
                tags: input.tags,
                partner: PartnerRef {
                    key: Some(link_key.clone()),
                    ..PartnerRef::default()
                },
                referral_url: program.referral_link(&link_key),
            };
            match affiliate_customers::create(store, program, new, now).await {
                Ok(_) => Ok(SignupOutcome::Created { referred: true }),
                Err(e) if is_conflict(&e) => Ok(SignupOutcome::AlreadyKnown),
                // An unknown or archived partner: nothing to attribute to.
                Err(CoreError::BadRequest(_)) => Ok(SignupOutcome::NotReferred),
                Err(e) => Err(e),
            }
        }
        ProgramType::Newsletter => Err(CoreError::WrongProgramType("newsletter")),
    }
}
