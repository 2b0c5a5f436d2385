//! The storage port. Each backend crate (`referd-store-sqlite`, `referd-store-postgres`)
//! implements [`Store`]; handlers hold an `Arc<dyn Store>` and never name a backend.
//!
//! Rules every implementation keeps:
//! - every method is atomic (one database transaction, or one statement);
//! - every query about program data is scoped by a [`ProgramRowId`];
//! - uniqueness is decided by unique indexes, and a violation is reported by its kind as
//!   [`StoreError::Conflict`] naming the field, never by parsing error text.

use async_trait::async_trait;

use crate::affiliate::{
    AffiliateCustomer, AffiliateCustomerFilter, AffiliateCustomerPatch, NewAffiliateCustomer,
};
use crate::customer::{
    Customer, CustomerFilter, CustomerLookup, CustomerPatch, CustomerRowId, CustomerSearch,
    CustomerStatus, CustomerView, NewCustomer,
};
use rust_decimal::Decimal;

use crate::email::{Email, EmailOutcome, EmailRowId, NewEmail};
use crate::ledger::{
    Holder, LedgerEntry, NewEntry, NewTransaction, Recorded, RewardsSummary, SalesScope,
    SalesSummary, Transaction, TransactionFilter, TransactionRowId,
};
use crate::page::PageRequest;
use crate::partner::{
    LinkRowId, NewPartner, NewPartnerLink, Partner, PartnerFilter, PartnerLink, PartnerLinkSearch,
    PartnerLookup, PartnerPatch, PartnerRowId, PartnerSearch, PartnerStatus, PartnerView,
};
use crate::program::{
    AffiliateCounts, ApiKeyInfo, ApiKeySelector, NewProgram, Program, ProgramPatch, ProgramRowId,
    ReferralCounts,
};
use crate::rules::RuleVersion;
use crate::time::Timestamp;
use crate::webhook::{
    Attempt, AttemptOutcome, ClaimedDelivery, Delivery, DeliveryRowId, DeliveryState, NewWebhook,
    Webhook, WebhookPatch, WebhookRowId,
};

/// The unique fields a write can collide on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    CustomerId,
    CustomerKey,
    CustomerEmail,
    ProgramPublicId,
    ApiKey,
    PartnerId,
    PartnerEmail,
    /// A referral link key: unique among the program's live partner links.
    LinkKey,
    /// A transaction key: unique among the program's live transactions.
    TransactionKey,
    /// A webhook key: unique per program.
    WebhookKey,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("unique conflict on {0:?}")]
    Conflict(UniqueField),
    /// The database failed or is unreachable; the cause is logged, never shown to clients.
    #[error("storage backend error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait ProgramStore: Send + Sync {
    /// Inserts a program and its first API key together.
    async fn create_program(
        &self,
        new: NewProgram,
        key_hash: String,
        key_hint: String,
    ) -> StoreResult<(Program, i64)>;
    async fn list_programs(&self) -> StoreResult<Vec<Program>>;
    async fn find_program(&self, public_id: &str) -> StoreResult<Option<Program>>;
    async fn create_api_key(
        &self,
        program: ProgramRowId,
        key_hash: String,
        key_hint: String,
        now: Timestamp,
    ) -> StoreResult<i64>;
    async fn list_api_keys(&self, program: ProgramRowId) -> StoreResult<Vec<ApiKeyInfo>>;
    /// Marks the key revoked; `false` when no such unrevoked key exists (in that program,
    /// when one is given).
    async fn revoke_api_key(
        &self,
        program: Option<ProgramRowId>,
        key: ApiKeySelector,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// The program of an unrevoked key with this hash.
    async fn program_for_key(&self, key_hash: &str) -> StoreResult<Option<Program>>;
    /// Refer-a-friend counts over customers created before `before` (all when `None`).
    async fn referral_counts(
        &self,
        program: ProgramRowId,
        before: Option<Timestamp>,
    ) -> StoreResult<ReferralCounts>;
    /// Affiliate counts over live (not deleted) partners and customers created before
    /// `before` (all when `None`), partners counted by their current status.
    async fn affiliate_counts(
        &self,
        program: ProgramRowId,
        before: Option<Timestamp>,
    ) -> StoreResult<AffiliateCounts>;
    /// Applies a patch in one statement: fields that are `Some` replace, flag maps are merged
    /// into the stored ones, `updated_at` becomes `now`. Answers the program as stored.
    async fn update_program(
        &self,
        program: ProgramRowId,
        patch: &ProgramPatch,
        now: Timestamp,
    ) -> StoreResult<Program>;
    /// Remembers the confirmation code of a two-step delete (replacing any earlier one).
    async fn set_program_delete_code(
        &self,
        program: ProgramRowId,
        code: &str,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// Deletes the program and everything in it (keys, partners, links, customers) if `code`
    /// is its unexpired confirmation code (`expires_at >= now`); `false` otherwise. The check
    /// and the delete are one transaction. Caches of its API keys are dropped.
    async fn delete_program(
        &self,
        program: ProgramRowId,
        code: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait PartnerStore: Send + Sync {
    /// Inserts a partner and its default link (key `new.key`) in one transaction.
    /// [`StoreError::Conflict`] names the field: `PartnerId`, `PartnerEmail` or `LinkKey`.
    async fn insert_partner(&self, new: NewPartner) -> StoreResult<Partner>;
    /// A live (not deleted) partner with its links, referral count and referring partner.
    async fn find_partner(
        &self,
        program: ProgramRowId,
        lookup: &PartnerLookup,
    ) -> StoreResult<Option<PartnerView>>;
    /// The live partner a lookup names, without its counts: what attribution needs on the
    /// hot create paths (counting a partner's customers grows with them).
    async fn find_partner_row(
        &self,
        program: ProgramRowId,
        lookup: &PartnerLookup,
    ) -> StoreResult<Option<Partner>>;
    /// Partners by the filter, by row id in `page.sort` order, `page.fetch_limit()` at most.
    async fn list_partners(
        &self,
        program: ProgramRowId,
        filter: &PartnerFilter,
        page: PageRequest,
    ) -> StoreResult<Vec<Partner>>;
    /// Live partners matching every criterion of the search (see [`PartnerSearch`]).
    async fn search_partners(
        &self,
        program: ProgramRowId,
        search: &PartnerSearch,
        page: PageRequest,
    ) -> StoreResult<Vec<Partner>>;
    /// Applies a non-empty patch to a live partner in one transaction (`key` renames its
    /// default link). [`StoreError::NotFound`] when it is gone; conflicts as on insert.
    async fn update_partner(
        &self,
        program: ProgramRowId,
        partner: PartnerRowId,
        patch: &PartnerPatch,
        now: Timestamp,
    ) -> StoreResult<Partner>;
    /// Moves a partner to `to` if its status is one of `from`; `false` when it is not. Moving
    /// to `Deleted` sets `deleted_at` and deletes its links in the same transaction, which
    /// frees its id, email and keys.
    async fn set_partner_status(
        &self,
        program: ProgramRowId,
        partner: PartnerRowId,
        from: &[PartnerStatus],
        to: PartnerStatus,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Inserts an additional (not default) link. Conflict `LinkKey` when the key is taken.
    async fn insert_partner_link(&self, new: NewPartnerLink) -> StoreResult<PartnerLink>;
    /// The live link with this key, whatever its partner's status (deleted partners' links
    /// are deleted with them).
    async fn find_partner_link(
        &self,
        program: ProgramRowId,
        key: &str,
    ) -> StoreResult<Option<PartnerLink>>;
    /// Live links matching the search: the default link first, then by row id.
    async fn search_partner_links(
        &self,
        program: ProgramRowId,
        search: &PartnerLinkSearch,
        page: PageRequest,
    ) -> StoreResult<Vec<PartnerLink>>;
    /// Gives a live link a new key. Conflict `LinkKey` when it is taken; `NotFound` when the
    /// link is gone.
    async fn rename_partner_link(
        &self,
        program: ProgramRowId,
        link: LinkRowId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<PartnerLink>;
    /// Deletes a live *additional* link (sets `deleted_at`); `false` when it is gone or is a
    /// default link.
    async fn delete_partner_link(
        &self,
        program: ProgramRowId,
        link: LinkRowId,
        now: Timestamp,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait AffiliateCustomerStore: Send + Sync {
    /// Inserts an affiliate customer. Conflict `CustomerKey` or `CustomerEmail` when taken by
    /// a live customer of the program.
    async fn insert_affiliate_customer(
        &self,
        new: NewAffiliateCustomer,
    ) -> StoreResult<AffiliateCustomer>;
    /// A live affiliate customer as the buyer of a sale, with its partner's facts, in one
    /// read. Lookups as [`Self::find_affiliate_customer`].
    async fn find_affiliate_buyer(
        &self,
        program: ProgramRowId,
        lookup: &CustomerLookup,
    ) -> StoreResult<Option<crate::affiliate::AffiliateBuyer>>;
    /// A live affiliate customer. `Id` and `Key` both match the key; `AnyIdentifier` is the
    /// key, else (when it contains `@`) the email in lower case.
    async fn find_affiliate_customer(
        &self,
        program: ProgramRowId,
        lookup: &CustomerLookup,
    ) -> StoreResult<Option<AffiliateCustomer>>;
    /// Active customers (of one partner when the filter says so), by row id.
    async fn list_affiliate_customers(
        &self,
        program: ProgramRowId,
        filter: &AffiliateCustomerFilter,
        page: PageRequest,
    ) -> StoreResult<Vec<AffiliateCustomer>>;
    /// Live customers matching every criterion exactly (`id` matches the key).
    async fn search_affiliate_customers(
        &self,
        program: ProgramRowId,
        search: &CustomerSearch,
        page: PageRequest,
    ) -> StoreResult<Vec<AffiliateCustomer>>;
    /// Applies a non-empty patch to a live customer. `NotFound` when it is gone.
    async fn update_affiliate_customer(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        patch: &AffiliateCustomerPatch,
        now: Timestamp,
    ) -> StoreResult<AffiliateCustomer>;
}

#[async_trait]
pub trait CustomerStore: Send + Sync {
    /// Inserts a customer. [`StoreError::Conflict`] names the field when `id`, `key` or
    /// `email` is taken by a live (not deleted) customer of the program.
    async fn insert_customer(&self, new: NewCustomer) -> StoreResult<Customer>;
    /// A live customer with its referral count and referrer.
    async fn find_customer(
        &self,
        program: ProgramRowId,
        lookup: &CustomerLookup,
    ) -> StoreResult<Option<CustomerView>>;
    /// Active customers, oldest first (or newest first), `page.fetch_limit()` rows at most.
    async fn list_customers(
        &self,
        program: ProgramRowId,
        filter: &CustomerFilter,
        page: PageRequest,
    ) -> StoreResult<Vec<Customer>>;
    /// Live (active or archived) customers matching every criterion.
    async fn search_customers(
        &self,
        program: ProgramRowId,
        search: &CustomerSearch,
        page: PageRequest,
    ) -> StoreResult<Vec<Customer>>;
    /// Live customers referred by `referrer`, oldest first.
    async fn list_referrals(
        &self,
        program: ProgramRowId,
        referrer: CustomerRowId,
    ) -> StoreResult<Vec<Customer>>;
    /// Applies a non-empty patch to a live customer. [`StoreError::NotFound`] when it is gone.
    async fn update_customer(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        patch: &CustomerPatch,
        now: Timestamp,
    ) -> StoreResult<Customer>;
    /// Moves a customer (of either flavour) to `to` if its status is one of `from`; `false`
    /// when it is not.
    async fn set_customer_status(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        from: &[CustomerStatus],
        to: CustomerStatus,
        now: Timestamp,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait RuleStore: Send + Sync {
    /// Stores `body` as the program's next rule version (1 for the first) and answers it.
    /// Versions are assigned atomically: two concurrent sets get two versions.
    async fn insert_rule_version(
        &self,
        program: ProgramRowId,
        body: String,
        now: Timestamp,
    ) -> StoreResult<RuleVersion>;
    /// The version in force (the highest), if rules were ever set.
    async fn current_rules(&self, program: ProgramRowId) -> StoreResult<Option<RuleVersion>>;
    /// Every version, newest first.
    async fn list_rule_versions(&self, program: ProgramRowId) -> StoreResult<Vec<RuleVersion>>;
    /// This store's parsed rule sets (see [`crate::rules::cache`]).
    fn rules_cache(&self) -> &crate::rules::cache::RulesCache;
}

/// An admin token as listed to operators (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTokenInfo {
    pub id: i64,
    pub hint: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[async_trait]
pub trait AdminTokenStore: Send + Sync {
    async fn create_admin_token(
        &self,
        token_hash: String,
        hint: String,
        now: Timestamp,
    ) -> StoreResult<i64>;
    /// Whether an unrevoked token has this hash.
    async fn admin_token_valid(&self, token_hash: &str) -> StoreResult<bool>;
    async fn list_admin_tokens(&self) -> StoreResult<Vec<AdminTokenInfo>>;
    /// Revokes a token by id or by hash; `false` when no such unrevoked token exists.
    async fn revoke_admin_token(&self, token: ApiKeySelector, now: Timestamp) -> StoreResult<bool>;
}

#[async_trait]
pub trait TransactionStore: Send + Sync {
    /// In one database transaction: when a live (not deleted) transaction of the program has
    /// `new.key`, answers [`Recorded::Existing`] with it and its entries; else when
    /// `new.expected_prior_sales` is given and the buyer's active rewardable sales no longer
    /// number it (checked under a lock on the buyer's sales until commit), answers
    /// [`Recorded::Stale`]; else inserts the transaction and its entries (each entry's cause
    /// is the new transaction) and answers [`Recorded::Created`]. Two concurrent calls with one
    /// key create one transaction: the other gets `Existing`.
    async fn record_transaction(
        &self,
        new: NewTransaction,
        now: Timestamp,
    ) -> StoreResult<Recorded>;
    /// A live (active or archived) transaction by key, with all of its entries (oldest first).
    async fn find_transaction(
        &self,
        program: ProgramRowId,
        key: &str,
    ) -> StoreResult<Option<(Transaction, Vec<LedgerEntry>)>>;
    /// Active transactions matching the filter, by row id in `page.sort` order,
    /// `page.fetch_limit()` at most, each with its entries.
    async fn list_transactions(
        &self,
        program: ProgramRowId,
        filter: &TransactionFilter,
        page: PageRequest,
    ) -> StoreResult<Vec<(Transaction, Vec<LedgerEntry>)>>;
    /// The customer's active, rewardable transactions (what reward periods and first-purchase
    /// triggers count).
    async fn count_customer_sales(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
    ) -> StoreResult<u64>;
    /// The holder's reward entries from the rule at `rule_path` that are not reversed (what
    /// `max_rewards` counts).
    async fn count_holder_rewards(
        &self,
        program: ProgramRowId,
        holder: Holder,
        rule_path: &str,
    ) -> StoreResult<u64>;
    /// Refunds a live transaction in one database transaction: marks it deleted (freeing its
    /// key) and appends one reversal for each of its entries not reversed yet (opposite
    /// amount, same holder, unit, rule; `available_at` = the reversed entry's when that is
    /// still in the future, else `now`). Answers the reversals; `None` when the transaction is
    /// no longer live.
    async fn refund_transaction(
        &self,
        program: ProgramRowId,
        transaction: TransactionRowId,
        now: Timestamp,
    ) -> StoreResult<Option<Vec<LedgerEntry>>>;
    /// Appends one entry without a transaction (a manual credit, a bonus). With `floor`, only
    /// if the holder's total in the entry's unit, over entries available at `now`, plus the
    /// entry's amount stays at or above `floor` (checked and written atomically); `None` when
    /// it would not.
    async fn append_entry(
        &self,
        program: ProgramRowId,
        entry: NewEntry,
        floor: Option<Decimal>,
        now: Timestamp,
    ) -> StoreResult<Option<LedgerEntry>>;
    /// Every entry of a holder, oldest first.
    async fn holder_entries(
        &self,
        program: ProgramRowId,
        holder: Holder,
    ) -> StoreResult<Vec<LedgerEntry>>;
    /// Archives an active transaction in one database transaction: status `archived`, and one
    /// reversal (as [`TransactionStore::refund_transaction`] writes them) for each of its
    /// entries not reversed yet. Answers the reversals; `None` when it is not active.
    async fn archive_transaction(
        &self,
        program: ProgramRowId,
        transaction: TransactionRowId,
        now: Timestamp,
    ) -> StoreResult<Option<Vec<LedgerEntry>>>;
    /// Restores an archived transaction in one database transaction: status `active`, and for
    /// each reward entry that the archive reversed, a new `reward` entry copying it (holder,
    /// amount, unit, kinds, rule; `available_at` = the original's when still in the future,
    /// else `now`). Answers the new entries; `None` when it is not archived.
    async fn restore_transaction(
        &self,
        program: ProgramRowId,
        transaction: TransactionRowId,
        now: Timestamp,
    ) -> StoreResult<Option<Vec<LedgerEntry>>>;
    /// Every transaction of the program whatever its status (refunded ones included), oldest
    /// first: what `referd ledger verify` checks.
    async fn all_transactions(&self, program: ProgramRowId) -> StoreResult<Vec<Transaction>>;
    /// The program's entries created in `[from, to)`, oldest first (the ledger export).
    async fn entries_between(
        &self,
        program: ProgramRowId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<LedgerEntry>>;
    /// The scope's sales (active transactions: neither archived nor refunded), their distinct
    /// buyers and exact revenue per currency, in one read. With `before`, only sales created
    /// before it (the `*_before` statistics).
    async fn sales_summary(
        &self,
        program: ProgramRowId,
        scope: SalesScope,
        before: Option<Timestamp>,
    ) -> StoreResult<SalesSummary>;
    /// The program's rewards per unit ([`RewardsSummary`]), in one read: every entry, pending
    /// when available after `now`. With `before`, only entries created before it, pending
    /// when available after it.
    async fn rewards_summary(
        &self,
        program: ProgramRowId,
        now: Timestamp,
        before: Option<Timestamp>,
    ) -> StoreResult<RewardsSummary>;
}

/// How long a claim may stay without an answer before it counts as abandoned: its request
/// died with its process (a crash, a kill) and will never complete it. Far longer than any
/// request runs (PostgreSQL statements time out after seconds), short enough that a client's
/// retries get through the same day.
pub const IDEMPOTENCY_ABANDONED_AFTER_MICROS: i64 = 5 * 60 * 1_000_000;

/// What claiming an `Idempotency-Key` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First use: the caller runs the request, then completes the key with the answer.
    New,
    /// Used before for the same request: its answer, to send again.
    Replay { status: u16, body: Vec<u8> },
    /// Used before for a different request (another path or body).
    Mismatch,
    /// Claimed by a request still running.
    InProgress,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for a request whose fingerprint is `request_hash`, atomically: of two
    /// concurrent claims of one key, one gets `New` and the other `InProgress`. A claim older
    /// than `expire_before` (kept answers and abandoned claims alike) is forgotten first, and
    /// so is a claim without an answer older than [`IDEMPOTENCY_ABANDONED_AFTER_MICROS`]
    /// before `now`.
    async fn claim_idempotency_key(
        &self,
        program: ProgramRowId,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        expire_before: Timestamp,
    ) -> StoreResult<IdempotencyClaim>;
    /// Stores the answer of a claimed key.
    async fn complete_idempotency_key(
        &self,
        program: ProgramRowId,
        key: &str,
        status: u16,
        body: Vec<u8>,
    ) -> StoreResult<()>;
    /// Drops a claim whose request failed without an answer worth keeping (a 5xx), so a retry
    /// runs again.
    async fn release_idempotency_key(&self, program: ProgramRowId, key: &str) -> StoreResult<()>;
}

/// Webhooks and the outbox (docs/webhooks.md). Deliveries are written by database triggers
/// in the transaction of the change that causes them; these methods manage subscriptions and
/// move deliveries through their states.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Conflict `WebhookKey` when the program already has a webhook with this key.
    async fn insert_webhook(&self, new: NewWebhook) -> StoreResult<Webhook>;
    async fn find_webhook(&self, program: ProgramRowId, key: &str) -> StoreResult<Option<Webhook>>;
    /// Webhooks by row id in `page.sort` order, `page.fetch_limit()` at most.
    async fn list_webhooks(
        &self,
        program: ProgramRowId,
        page: PageRequest,
    ) -> StoreResult<Vec<Webhook>>;
    /// Applies a non-empty patch. `NotFound` when the webhook is gone.
    async fn update_webhook(
        &self,
        program: ProgramRowId,
        webhook: WebhookRowId,
        patch: &WebhookPatch,
        now: Timestamp,
    ) -> StoreResult<Webhook>;
    /// Makes `secret` the signing secret; the old one keeps signing until `overlap_until`.
    async fn rotate_webhook_secret(
        &self,
        program: ProgramRowId,
        webhook: WebhookRowId,
        secret: String,
        overlap_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Webhook>;
    /// Deletes the webhook and its deliveries; `false` when it is gone.
    async fn delete_webhook(
        &self,
        program: ProgramRowId,
        webhook: WebhookRowId,
    ) -> StoreResult<bool>;
    /// Leases up to `limit` due deliveries (pending, `next_attempt_at <= now`, no live lease,
    /// and no older pending delivery of the same webhook that is waiting for a retry or leased:
    /// each webhook's events go out in order) to `owner` until `lease_until`, oldest first,
    /// and counts the attempt. With `only`, deliveries of that program alone (a worker
    /// dedicated to one program; tests sharing a database). Two workers (two
    /// referd instances) never hold the same delivery; a crashed worker's leases expire and
    /// are claimed again.
    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        only: Option<ProgramRowId>,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Gives a leased delivery back unsent (its attempt not counted), due again at `at`:
    /// what a worker does with a webhook's later events when an earlier one failed, to keep
    /// their order. `false` when `owner` no longer holds the lease.
    async fn release_delivery(
        &self,
        delivery: DeliveryRowId,
        owner: &str,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Stores the body of a delivery's first send, unless one is stored already; answers the
    /// stored one (every retry sends the same bytes).
    async fn freeze_payload(&self, delivery: DeliveryRowId, payload: String)
    -> StoreResult<String>;
    /// Logs an attempt and applies its outcome, in one transaction, if `owner` still holds
    /// the lease; `false` (nothing written) when it does not.
    async fn finish_attempt(
        &self,
        delivery: DeliveryRowId,
        owner: &str,
        attempt: &Attempt,
        outcome: AttemptOutcome,
    ) -> StoreResult<bool>;
    /// The program's deliveries (in one state when given), newest first.
    async fn list_deliveries(
        &self,
        program: ProgramRowId,
        state: Option<DeliveryState>,
        page: PageRequest,
    ) -> StoreResult<Vec<Delivery>>;
    /// A delivery with its attempts, oldest first.
    async fn find_delivery(
        &self,
        program: ProgramRowId,
        delivery: DeliveryRowId,
    ) -> StoreResult<Option<(Delivery, Vec<Attempt>)>>;
    /// Announces the rewards whose review window ended by `now`: records each (once) in
    /// `reward_approvals`, whose trigger queues `reward.approved`, and moves each program's
    /// sweep mark to `now`, in one transaction. A reward reversed before its window ended is
    /// not announced. Of one program only, with `only`. Answers how many were announced.
    async fn sweep_reward_approvals(
        &self,
        now: Timestamp,
        only: Option<ProgramRowId>,
    ) -> StoreResult<u64>;
    /// Deletes delivered deliveries (and their attempts) delivered before `before`; failed
    /// and pending ones stay until redelivered. Of one program only, with `only`. Answers how
    /// many.
    async fn prune_deliveries(
        &self,
        before: Timestamp,
        only: Option<ProgramRowId>,
    ) -> StoreResult<u64>;
    /// Makes deliveries pending and due at `now` again, with a fresh attempt budget: one
    /// (whatever its state) or, with `None`, every failed one. Answers how many.
    async fn redeliver(
        &self,
        program: ProgramRowId,
        delivery: Option<DeliveryRowId>,
        now: Timestamp,
    ) -> StoreResult<u64>;
}

/// The email outbox (invitations): written by the API, sent by the mailer in `referd serve`
/// with the same lease discipline as webhook deliveries.
#[async_trait]
pub trait EmailStore: Send + Sync {
    async fn enqueue_email(&self, new: NewEmail) -> StoreResult<EmailRowId>;
    /// Leases up to `limit` due pending emails to `owner` until `lease_until` and counts the
    /// attempt (of one program only, with `only`).
    async fn claim_emails(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        only: Option<ProgramRowId>,
    ) -> StoreResult<Vec<Email>>;
    /// Applies an attempt's outcome if `owner` still holds the lease.
    async fn finish_email(
        &self,
        email: EmailRowId,
        owner: &str,
        outcome: &EmailOutcome,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// The program's emails, oldest first.
    async fn list_emails(&self, program: ProgramRowId) -> StoreResult<Vec<Email>>;
}

/// Everything referd stores. Implemented by each backend.
#[async_trait]
pub trait Store:
    ProgramStore
    + CustomerStore
    + PartnerStore
    + AffiliateCustomerStore
    + RuleStore
    + AdminTokenStore
    + TransactionStore
    + IdempotencyStore
    + WebhookStore
    + EmailStore
    + crate::tracking::TrackingStore
    + Send
    + Sync
    + 'static
{
    /// Applies the embedded migrations (idempotent).
    async fn migrate(&self) -> StoreResult<()>;
    /// Finishes queued writes and closes connections (graceful shutdown).
    async fn close(&self);
    /// `sqlite` or `postgres`, for logs.
    fn backend_name(&self) -> &'static str;
}
