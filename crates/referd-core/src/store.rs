//! The storage port. Each backend crate (`referd-store-sqlite`, `referd-store-postgres`)
//! implements [`Store`]; handlers hold an `Arc<dyn Store>` and never name a backend.
//!
//! Rules every implementation keeps:
//! - every method is atomic (one database transaction, or one statement);
//! - every query about program data is scoped by a [`ProgramRowId`];
//! - uniqueness is decided by unique indexes, and a violation is reported by its kind as
//!   [`StoreError::Conflict`] naming the field, never by parsing error text.

use async_trait::async_trait;

use crate::customer::{
    Customer, CustomerFilter, CustomerLookup, CustomerPatch, CustomerRowId, CustomerSearch,
    CustomerStatus, CustomerView, NewCustomer,
};
use crate::page::PageRequest;
use crate::program::{
    ApiKeyInfo, ApiKeySelector, NewProgram, Program, ProgramRowId, ReferralCounts,
};
use crate::time::Timestamp;

/// The unique fields a write can collide on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    CustomerId,
    CustomerKey,
    CustomerEmail,
    ProgramPublicId,
    ApiKey,
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
    /// Moves a customer to `to` if its status is one of `from`; `false` when it is not.
    async fn set_customer_status(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        from: &[CustomerStatus],
        to: CustomerStatus,
        now: Timestamp,
    ) -> StoreResult<bool>;
}

/// Everything referd stores. Implemented by each backend.
#[async_trait]
pub trait Store: ProgramStore + CustomerStore + Send + Sync + 'static {
    /// Applies the embedded migrations (idempotent).
    async fn migrate(&self) -> StoreResult<()>;
    /// Finishes queued writes and closes connections (graceful shutdown).
    async fn close(&self);
    /// `sqlite` or `postgres`, for logs.
    fn backend_name(&self) -> &'static str;
}
