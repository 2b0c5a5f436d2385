-- Programs, their API keys, and refer-a-friend customers.
-- Times are integers: microseconds since the Unix epoch, UTC.
-- Append-only: never edit a migration that has shipped; add a new file.

CREATE TABLE programs (
    id           INTEGER PRIMARY KEY,
    public_id    TEXT    NOT NULL UNIQUE,
    program_type TEXT    NOT NULL CHECK (program_type IN ('referral', 'affiliate', 'newsletter')),
    name         TEXT    NOT NULL,
    website      TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    key_hash   TEXT    NOT NULL UNIQUE,
    hint       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_keys_program ON api_keys (program_id);

CREATE TABLE customers (
    row_id          INTEGER PRIMARY KEY,
    program_id      INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    ext_id          TEXT,
    key             TEXT    NOT NULL,
    email           TEXT,
    name            TEXT,
    surname         TEXT,
    date_of_birth   TEXT,
    referrer_row_id INTEGER REFERENCES customers (row_id),
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived', 'deleted')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    deleted_at      INTEGER
);
-- Only live customers hold their id, key and email: a deleted customer's are free again.
CREATE UNIQUE INDEX customers_program_ext_id ON customers (program_id, ext_id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX customers_program_key    ON customers (program_id, key)    WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX customers_program_email  ON customers (program_id, email)  WHERE deleted_at IS NULL;
-- Only referred customers are in the referrer index: most customers were not referred, and
-- every index entry is written on the hot create path.
CREATE INDEX customers_referrer       ON customers (referrer_row_id)
    WHERE referrer_row_id IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX customers_program_status ON customers (program_id, status, row_id);
