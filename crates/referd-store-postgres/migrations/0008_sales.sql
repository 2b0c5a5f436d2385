-- Sales paths. The version of a program's reward rules in force, on the program row (PostgreSQL; mirrors
-- crates/referd-store-sqlite/migrations/0008_sales.sql). Every request reads its
-- program anyway (API key check), so a sale learns which rules apply without a query: each
-- referd instance keeps parsed rule sets by (program, version) and reads `rule_versions`
-- only when this number moves. Set in the same transaction as the rule version it names.
-- Append-only: never edit a migration that has shipped; add a new file.

ALTER TABLE programs ADD COLUMN rules_version BIGINT NOT NULL DEFAULT 0;

UPDATE programs SET rules_version = v.version
FROM (SELECT program_id, max(version) AS version FROM rule_versions GROUP BY program_id) v
WHERE v.program_id = programs.id;

-- The ledger export (`GET /admin/v1/ledger.csv?from&to`) reads one program's entries of a
-- period: an index on their time instead of a scan of the program's whole ledger.
CREATE INDEX ledger_program_created ON ledger_entries (program_id, created_at);
