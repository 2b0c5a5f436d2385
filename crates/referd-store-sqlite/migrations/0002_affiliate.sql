-- Affiliate programs: program settings, the two-step delete, partners, their referral links,
-- and affiliate customers (rows of `customers` with a partner instead of a referrer).
-- Append-only: never edit a migration that has shipped; add a new file.

ALTER TABLE programs ADD COLUMN currency TEXT NOT NULL DEFAULT 'USD';
ALTER TABLE programs ADD COLUMN cookie_lifetime INTEGER NOT NULL DEFAULT 30;
-- NULL: the type's default parameter (`ref` for refer-a-friend, `aff` for affiliate).
ALTER TABLE programs ADD COLUMN referral_param TEXT;
ALTER TABLE programs ADD COLUMN link_format TEXT NOT NULL DEFAULT 'query'
    CHECK (link_format IN ('query', 'path'));
-- JSON objects of boolean toggles by name.
ALTER TABLE programs ADD COLUMN program_flags TEXT NOT NULL DEFAULT '{}';
ALTER TABLE programs ADD COLUMN portal_flags TEXT NOT NULL DEFAULT '{}';
-- The pending confirmation code of `DELETE /v1/program`.
ALTER TABLE programs ADD COLUMN delete_code TEXT;
ALTER TABLE programs ADD COLUMN delete_code_expires_at INTEGER;

CREATE TABLE partners (
    row_id                   INTEGER PRIMARY KEY,
    program_id               INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    ext_id                   TEXT    NOT NULL,
    email                    TEXT    NOT NULL,
    name                     TEXT,
    surname                  TEXT,
    password_hash            TEXT,
    tos                      INTEGER NOT NULL DEFAULT 0,
    approved                 INTEGER NOT NULL DEFAULT 1,
    status                   TEXT    NOT NULL
        CHECK (status IN ('active', 'pending', 'archived', 'deleted')),
    -- JSON array of strings.
    tags                     TEXT    NOT NULL DEFAULT '[]',
    referring_partner_row_id INTEGER REFERENCES partners (row_id),
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL,
    deleted_at               INTEGER
);
-- Only live partners hold their id and email: a deleted partner's are free again.
CREATE UNIQUE INDEX partners_program_ext_id ON partners (program_id, ext_id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX partners_program_email  ON partners (program_id, email)  WHERE deleted_at IS NULL;
CREATE INDEX partners_program_status ON partners (program_id, status, row_id);
CREATE INDEX partners_referring      ON partners (referring_partner_row_id)
    WHERE referring_partner_row_id IS NOT NULL;

CREATE TABLE partner_links (
    row_id         INTEGER PRIMARY KEY,
    program_id     INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    partner_row_id INTEGER NOT NULL REFERENCES partners (row_id) ON DELETE CASCADE,
    key            TEXT    NOT NULL,
    is_default     INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    deleted_at     INTEGER
);
-- A key names one live link of the program (and so one partner).
CREATE UNIQUE INDEX partner_links_program_key ON partner_links (program_id, key) WHERE deleted_at IS NULL;
-- Exactly one default link per partner, kept (with `deleted_at`) when the partner is deleted.
CREATE UNIQUE INDEX partner_links_default ON partner_links (partner_row_id) WHERE is_default = 1;
CREATE INDEX partner_links_partner ON partner_links (partner_row_id, row_id);

ALTER TABLE customers ADD COLUMN partner_row_id INTEGER REFERENCES partners (row_id);
ALTER TABLE customers ADD COLUMN link_row_id INTEGER REFERENCES partner_links (row_id);
-- JSON array of strings (affiliate customers); NULL for refer-a-friend customers.
ALTER TABLE customers ADD COLUMN tags TEXT;
-- Indexes on every column that references another row, partial only on `IS NOT NULL`:
-- deleting a program deletes its rows, and for each deleted row SQLite looks for rows that
-- still reference it. `x = ?` implies `x IS NOT NULL`, so these lookups can use the
-- indexes; a `deleted_at IS NULL` condition would make each one scan the whole table
-- (quadratic deletes). Tombstones stay in them, which costs little: few rows are deleted.
CREATE INDEX customers_partner ON customers (partner_row_id, row_id)
    WHERE partner_row_id IS NOT NULL;
CREATE INDEX customers_link ON customers (link_row_id) WHERE link_row_id IS NOT NULL;
DROP INDEX customers_referrer;
CREATE INDEX customers_referrer ON customers (referrer_row_id) WHERE referrer_row_id IS NOT NULL;
