//! Webhooks (spec §9): subscriptions, the event catalogue per program type, and the
//! deliveries of the transactional outbox with their attempt log (docs/webhooks.md).

use crate::ids::ProgramType;
use crate::program::ProgramRowId;
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WebhookRowId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryRowId(pub i64);

/// The events a program of this type can subscribe to (spec §9.2). `lead.*` and
/// `subscriber.*` are accepted so existing integrations can subscribe; referd has no leads or
/// subscribers yet, so they never fire. `reward.approved` has no write of its own (a reward
/// becomes approved by the passing of its review period): the delivery worker's sweep
/// announces it (`WebhookStore::sweep_reward_approvals`).
pub fn supported_events(program_type: ProgramType) -> &'static [&'static str] {
    match program_type {
        ProgramType::Affiliate => &[
            "partner.created",
            "partner.updated",
            "partner.deleted",
            "partner.approved",
            "partner.rejected",
            "partner.archived",
            "customer.created",
            "customer.updated",
            "customer.deleted",
            "transaction.created",
            "transaction.updated",
            "transaction.deleted",
            "reward.created",
            "reward.approved",
            "reward.paid",
            "lead.submitted",
            "lead.converted",
            "lead.rejected",
        ],
        ProgramType::Referral => &[
            "customer.created",
            "customer.updated",
            "customer.deleted",
            "customer.credited",
            "customer.rewarded",
            "transaction.created",
            "transaction.updated",
            "transaction.deleted",
        ],
        ProgramType::Newsletter => &[
            "subscriber.created",
            "subscriber.updated",
            "subscriber.deleted",
            "subscriber.rewarded",
        ],
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub row_id: WebhookRowId,
    pub program_id: ProgramRowId,
    pub key: String,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub is_active: bool,
    /// The signing secret (Partnero's `signature`).
    pub secret: String,
    /// The secret before the last rotation, still signing until `previous_secret_until`.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub program_id: ProgramRowId,
    pub key: String,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub is_active: bool,
    pub secret: String,
    pub now: Timestamp,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub is_active: Option<bool>,
}

impl WebhookPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Stored form of an event list: names between commas, so one substring test in the outbox
/// triggers decides whether a webhook wants an event.
pub fn events_to_column(events: &[String]) -> String {
    format!(",{},", events.join(","))
}

pub fn events_from_column(column: &str) -> Vec<String> {
    column
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One event for one webhook: a row of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub row_id: DeliveryRowId,
    pub program_id: ProgramRowId,
    pub webhook_row_id: WebhookRowId,
    pub webhook_key: String,
    pub event: String,
    /// `customer`, `partner`, `transaction` or `entry` (a ledger entry).
    pub resource_kind: String,
    pub resource_row_id: i64,
    /// The changed row as the database trigger saw it (JSON).
    pub snapshot: String,
    /// The body as first sent (JSON), once it was.
    pub payload: Option<String>,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

/// A delivery a worker holds a lease on, with what sending it needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub delivery: Delivery,
    pub program_public_id: String,
    pub url: String,
    pub secret: String,
    /// The previous secret while its overlap lasts.
    pub previous_secret: Option<String>,
}

/// One try at sending a delivery, as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub attempted_at: Timestamp,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// The first KiB of the answer.
    pub response_excerpt: Option<String>,
    /// Why there was no answer (timeout, refused address, connection error).
    pub error: Option<String>,
}

/// What a finished attempt means for its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    RetryAt(Timestamp),
    Failed,
}
