-- Sales paths. The version of a program's reward rules in force, on the program row (mirrors
-- crates/referd-store-postgres/migrations/0008_sales.sql). Every request reads its
-- program anyway (API key check, cached), so a sale learns which rules apply without a query:
-- the store keeps parsed rule sets by (program, version) and reads `rule_versions` only when
-- this number moves. Set in the same transaction as the rule version it names.
-- Append-only: never edit a migration that has shipped; add a new file.

ALTER TABLE programs ADD COLUMN rules_version INTEGER NOT NULL DEFAULT 0;

UPDATE programs SET rules_version =
    coalesce((SELECT max(version) FROM rule_versions WHERE program_id = programs.id), 0);

-- The ledger export (`GET /admin/v1/ledger.csv?from&to`) reads one program's entries of a
-- period: an index on their time instead of a scan of the program's whole ledger.
CREATE INDEX ledger_program_created ON ledger_entries (program_id, created_at);
