-- Reward rules and admin tokens.
-- Reward rules: every `rules set` stores a new version of a program's whole rule set; the
-- highest version is in force. Versions are never changed or deleted (rewards record theirs).
-- Append-only: never edit a migration that has shipped; add a new file.

CREATE TABLE rule_versions (
    program_id INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    -- The rule set as JSON, as it was set.
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (program_id, version)
);

-- Admin tokens: operator credentials for `/admin/v1/…`, not tied to a program (separate from
-- program API keys). Only the SHA-256 of the token is stored.
CREATE TABLE admin_tokens (
    id         INTEGER PRIMARY KEY,
    token_hash TEXT    NOT NULL UNIQUE,
    hint       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
