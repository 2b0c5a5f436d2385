-- Idempotency-Key: the first answer of each key, per program, for 24 hours (docs/ledger.md).
-- Append-only: never edit a migration that has shipped; add a new file.

CREATE TABLE idempotency_keys (
    program_id   INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    -- NULL while the first request runs.
    status       INTEGER,
    body         BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (program_id, key)
);
