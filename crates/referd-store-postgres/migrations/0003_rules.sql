-- Reward rules (PostgreSQL; mirrors crates/referd-store-sqlite/migrations/0003_rules.sql):
-- every `rules set` stores a new version of a program's whole rule set; the highest version
-- is in force. Versions are never changed or deleted (rewards record theirs).
-- Append-only: never edit a migration that has shipped; add a new file.

CREATE TABLE rule_versions (
    program_id BIGINT NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    -- The rule set as JSON text, as it was set.
    body       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT rule_versions_pkey PRIMARY KEY (program_id, version)
);
