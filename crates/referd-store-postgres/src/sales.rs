//! Group commit for sales whose rewards need no history: the [`Sales`] kind of the writer
//! machinery (`writer.rs`), as customer creates have.
//!
//! Why: such a sale is one autocommit statement ([`crate::transactions`]), but still one
//! commit, hence one WAL flush, per request; measured, that held PostgreSQL sales well below
//! customer creates, which share one commit per batch. Here concurrent sales queue to one
//! writer, which writes whatever has queued (up to the writer's batch limit) as ONE statement:
//! every transaction of the batch, then every entry, joined to its transaction by the job's
//! position.
//!
//! - The key is settled by the partial unique index, as for a single sale: `ON CONFLICT DO
//!   NOTHING` skips a job whose key a live transaction holds (committed before, or earlier in
//!   the same batch), and only inserted transactions get entries. Jobs of one batch that share
//!   a key are not both sent: the later ones are left out of the statement and, like any
//!   skipped job, resolved by a lookup (they answer the transaction that holds the key).
//! - A batch that fails as a whole (a program deleted meanwhile) is retried job by job, so one
//!   bad sale never fails the others.
//! - Sales whose rewards depend on the buyer's earlier sales never come here: they hold a lock
//!   on the buyer until commit, which a batch would hold for all of its jobs.

use std::collections::HashSet;

use referd_core::StoreError;
use referd_core::ledger::{NewTransaction, Transaction};
use referd_core::program::ProgramRowId;
use referd_core::store::{StoreResult, UniqueField};
use referd_core::time::Timestamp;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::db_error;
use crate::ledger;
use crate::transactions::{transaction, transaction_columns, transaction_joins};
use crate::writer::{ConflictQuery, Kind, Query};

/// A sale queued to the writer, with the time it is recorded at.
pub(crate) struct QueuedSale {
    pub(crate) new: NewTransaction,
    pub(crate) now: Timestamp,
}

/// A recorded sale as the writer answers it: the transaction and its entries' row ids, in
/// the order of `new.entries` (the store rebuilds the entries with
/// [`ledger::inserted_entries`]).
pub(crate) struct RecordedSale {
    pub(crate) transaction: Transaction,
    pub(crate) entry_ids: Vec<i64>,
}

/// The batch: `j` the sales in queue order (`n`), `t` those inserted, `e` their entries
/// (`x.tx_n` names the sale of each entry by its `n`): each inserted transaction read back
/// through the joins, with its entries' row ids in insert order.
const RECORD_SALES: &str = concat!(
    "WITH j AS (SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], \
         $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
         $11::bool[], $12::bool[], $13::text[], $14::bigint[], $15::bigint[]) \
         WITH ORDINALITY AS j (program_id, key, customer_row_id, partner_row_id, \
             referrer_row_id, amount, currency, action, product_id, product_type, rewardable, \
             rewarded, request_hash, created_at, recorded_at, n)), \
     t AS (INSERT INTO transactions (program_id, key, customer_row_id, partner_row_id, \
         referrer_row_id, amount, currency, action, product_id, product_type, rewardable, \
         rewarded, status, request_hash, created_at, recorded_at) \
     SELECT program_id, key, customer_row_id, partner_row_id, referrer_row_id, \
         amount::numeric, currency, action, product_id, product_type, rewardable, rewarded, \
         'active', request_hash, created_at, recorded_at FROM j ORDER BY n \
     ON CONFLICT (program_id, key) WHERE deleted_at IS NULL DO NOTHING \
     RETURNING *), \
     e AS (INSERT INTO ledger_entries (program_id, holder_kind, holder_row_id, kind, \
         reward_kind, beneficiary, amount, unit, transaction_row_id, rule_version, rule_path, \
         available_at, created_at, note) \
     SELECT t.program_id, x.holder_kind, x.holder_row_id, x.kind, x.reward_kind, \
         x.beneficiary, x.amount::numeric, x.unit, t.row_id, x.rule_version, x.rule_path, \
         x.available_at, t.recorded_at, x.note \
     FROM UNNEST($16::bigint[], $17::text[], $18::bigint[], $19::text[], $20::text[], \
         $21::text[], $22::text[], $23::text[], $24::bigint[], $25::text[], $26::bigint[], \
         $27::text[]) \
         WITH ORDINALITY AS x (tx_n, holder_kind, holder_row_id, kind, reward_kind, \
             beneficiary, amount, unit, rule_version, rule_path, available_at, note, m) \
     JOIN j ON j.n = x.tx_n \
     JOIN t ON t.program_id = j.program_id AND t.key = j.key \
     ORDER BY x.m \
     RETURNING row_id, transaction_row_id) \
     SELECT ",
    transaction_columns!(),
    ", ARRAY(SELECT e.row_id FROM e WHERE e.transaction_row_id = t.row_id ORDER BY e.row_id) \
         AS entry_ids FROM t",
    transaction_joins!()
);

/// Whether a live transaction holds the key: what a skipped job lost to.
const KEY_HOLDER: &str = "SELECT 1 FROM transactions \
     WHERE program_id = $1 AND key = $2 AND deleted_at IS NULL";

pub(crate) struct Sales;

impl Kind for Sales {
    type New = QueuedSale;
    type Row = RecordedSale;
    type Identity = (ProgramRowId, String);
    const NAME: &'static str = "sales";

    /// A batch of one: the same statement (a taken key skips the row, so no row back).
    fn insert_one(queued: &QueuedSale) -> Query {
        Self::insert_batch(std::iter::once(queued))
    }

    fn insert_batch<'a>(news: impl ExactSizeIterator<Item = &'a QueuedSale>) -> Query {
        let mut seen = HashSet::new();
        let mut cols = SaleColumns::default();
        let mut entry_sale = Vec::new();
        let mut entries = Vec::new();
        for queued in news {
            let new = &queued.new;
            // A later job with a key already in this batch is left out (see the module doc).
            if !seen.insert((new.program_id, new.key.as_str())) {
                continue;
            }
            cols.push(queued);
            let n = i64::try_from(cols.len()).unwrap_or(i64::MAX);
            for entry in &new.entries {
                entry_sale.push(n);
                entries.push(entry.clone());
            }
        }
        let query = cols.bind(sqlx::query(RECORD_SALES)).bind(entry_sale);
        ledger::bind_entry_arrays(query, &entries)
    }

    fn conflict(queued: &QueuedSale) -> ConflictQuery<'_> {
        sqlx::query_scalar(KEY_HOLDER)
            .bind(queued.new.program_id.0)
            .bind(&queued.new.key)
    }

    fn lost_to(_code: i32) -> StoreError {
        StoreError::Conflict(UniqueField::TransactionKey)
    }

    fn decode(row: &PgRow) -> StoreResult<RecordedSale> {
        Ok(RecordedSale {
            transaction: transaction(row)?,
            entry_ids: row.try_get("entry_ids").map_err(db_error)?,
        })
    }

    fn identity_of_new(queued: &QueuedSale) -> Self::Identity {
        (queued.new.program_id, queued.new.key.clone())
    }

    fn identity_of_row(row: &RecordedSale) -> Self::Identity {
        (row.transaction.program_id, row.transaction.key.clone())
    }
}

/// The transaction columns of a batch, one array each, in [`RECORD_SALES`]'s order.
#[derive(Default)]
struct SaleColumns {
    program: Vec<i64>,
    key: Vec<String>,
    customer: Vec<i64>,
    partner: Vec<Option<i64>>,
    referrer: Vec<Option<i64>>,
    amount: Vec<String>,
    currency: Vec<String>,
    action: Vec<Option<String>>,
    product_id: Vec<Option<String>>,
    product_type: Vec<Option<String>>,
    rewardable: Vec<bool>,
    rewarded: Vec<bool>,
    request_hash: Vec<String>,
    created_at: Vec<i64>,
    recorded_at: Vec<i64>,
}

impl SaleColumns {
    fn len(&self) -> usize {
        self.program.len()
    }

    fn push(&mut self, queued: &QueuedSale) {
        let new = &queued.new;
        self.program.push(new.program_id.0);
        self.key.push(new.key.clone());
        self.customer.push(new.customer.0);
        self.partner.push(new.partner.map(|p| p.0));
        self.referrer.push(new.referrer.map(|r| r.0));
        self.amount.push(new.amount.to_string());
        self.currency.push(new.currency.as_str().to_string());
        self.action.push(new.action.clone());
        self.product_id.push(new.product_id.clone());
        self.product_type.push(new.product_type.clone());
        self.rewardable.push(new.rewardable);
        self.rewarded.push(new.rewarded);
        self.request_hash.push(new.request_hash.clone());
        self.created_at.push(new.created_at.as_micros());
        self.recorded_at.push(queued.now.as_micros());
    }

    fn bind(self, query: Query) -> Query {
        query
            .bind(self.program)
            .bind(self.key)
            .bind(self.customer)
            .bind(self.partner)
            .bind(self.referrer)
            .bind(self.amount)
            .bind(self.currency)
            .bind(self.action)
            .bind(self.product_id)
            .bind(self.product_type)
            .bind(self.rewardable)
            .bind(self.rewarded)
            .bind(self.request_hash)
            .bind(self.created_at)
            .bind(self.recorded_at)
    }
}
