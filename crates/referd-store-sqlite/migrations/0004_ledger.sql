-- Transactions and the append-only ledger (docs/ledger.md).
-- Amounts are exact decimal text ("29.997"); they are summed in Rust with rust_decimal, never
-- as SQLite REAL. Append-only: never edit a migration that has shipped; add a new file.

CREATE TABLE transactions (
    row_id          INTEGER PRIMARY KEY,
    program_id      INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    key             TEXT    NOT NULL,
    customer_row_id INTEGER NOT NULL REFERENCES customers (row_id),
    partner_row_id  INTEGER REFERENCES partners (row_id),
    referrer_row_id INTEGER REFERENCES customers (row_id),
    amount          TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    action          TEXT,
    product_id      TEXT,
    product_type    TEXT,
    rewardable      INTEGER NOT NULL,
    rewarded        INTEGER NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('active', 'archived', 'deleted')),
    request_hash    TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    recorded_at     INTEGER NOT NULL,
    deleted_at      INTEGER
);
-- A key names one live transaction; a refunded (deleted) one frees it.
CREATE UNIQUE INDEX transactions_program_key ON transactions (program_id, key) WHERE deleted_at IS NULL;
CREATE INDEX transactions_program ON transactions (program_id, status, row_id);
-- Referencing columns: partial only on IS NOT NULL, so cascading deletes can use them.
CREATE INDEX transactions_customer ON transactions (customer_row_id, status);
CREATE INDEX transactions_partner  ON transactions (partner_row_id, row_id) WHERE partner_row_id IS NOT NULL;
CREATE INDEX transactions_referrer ON transactions (referrer_row_id) WHERE referrer_row_id IS NOT NULL;

CREATE TABLE ledger_entries (
    row_id             INTEGER PRIMARY KEY,
    program_id         INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    holder_kind        TEXT    NOT NULL CHECK (holder_kind IN ('partner', 'customer')),
    holder_row_id      INTEGER NOT NULL,
    kind               TEXT    NOT NULL CHECK (kind IN ('reward', 'reversal', 'credit', 'bonus', 'payout')),
    reward_kind        TEXT,
    beneficiary        TEXT,
    amount             TEXT    NOT NULL,
    unit               TEXT    NOT NULL,
    transaction_row_id INTEGER REFERENCES transactions (row_id),
    reverses_row_id    INTEGER REFERENCES ledger_entries (row_id),
    rule_version       INTEGER,
    rule_path          TEXT,
    available_at       INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    note               TEXT
);
CREATE INDEX ledger_holder      ON ledger_entries (program_id, holder_kind, holder_row_id, row_id);
CREATE INDEX ledger_transaction ON ledger_entries (transaction_row_id) WHERE transaction_row_id IS NOT NULL;
-- An entry is reversed at most once, whatever races.
CREATE UNIQUE INDEX ledger_reversed_once ON ledger_entries (reverses_row_id) WHERE reverses_row_id IS NOT NULL;
-- Append-only, enforced by the database: history is corrected by new entries, never edited.
-- (Deleting a whole program still removes its entries, by cascade.)
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;
