-- Idempotency-Key (PostgreSQL; mirrors the SQLite migration 0005): the first answer of each
-- key, per program, for 24 hours. Append-only: never edit a migration that has shipped.

CREATE TABLE idempotency_keys (
    program_id   BIGINT NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    key          TEXT   NOT NULL,
    request_hash TEXT   NOT NULL,
    -- NULL while the first request runs.
    status       INTEGER,
    body         BYTEA,
    created_at   BIGINT NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (program_id, key)
);
