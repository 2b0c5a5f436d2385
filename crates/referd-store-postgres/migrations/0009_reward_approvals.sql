-- `reward.approved`: a pending reward (one with a review window) becomes approved by time
-- passing, with no write of its own, so no trigger can see it happen. The delivery worker
-- sweeps instead (`sweep_reward_approvals`): it records each reward whose window has passed,
-- once, in `reward_approvals`, and the trigger below queues the event in the same
-- transaction. Mirrors crates/referd-store-sqlite/migrations/0009_reward_approvals.sql.
-- Append-only: never edit a migration that has shipped; add a new file.

CREATE TABLE reward_approvals (
    entry_row_id BIGINT PRIMARY KEY REFERENCES ledger_entries (row_id) ON DELETE CASCADE,
    program_id   BIGINT NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    -- When the review window ended (the entry's `available_at`).
    approved_at  BIGINT NOT NULL
);

-- How far each program's approvals have been swept: rewards approved after this are due.
-- Starts now, so rewards approved before this migration are not announced all at once.
ALTER TABLE programs ADD COLUMN rewards_swept_to BIGINT NOT NULL DEFAULT 0;
UPDATE programs SET rewards_swept_to = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;

-- Rewards with a review window, by when it ends: what a sweep reads.
CREATE INDEX ledger_pending_rewards ON ledger_entries (program_id, available_at)
    WHERE kind = 'reward' AND available_at > created_at;

CREATE FUNCTION referd_outbox_reward_approvals() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhooks WHERE program_id = NEW.program_id AND is_active) THEN
        RETURN NULL;
    END IF;
    PERFORM referd_outbox_enqueue(NEW.program_id, 'reward.approved', 'entry', e.row_id,
        json_build_object('id', e.row_id, 'type', e.kind, 'reward_type', e.reward_kind,
            'beneficiary', e.beneficiary, 'amount', e.amount, 'amount_units', e.unit,
            'status', 'approved',
            'partner', CASE WHEN e.holder_kind = 'partner' THEN
                (SELECT json_build_object('id', p.ext_id, 'email', p.email)
                 FROM partners p WHERE p.row_id = e.holder_row_id) END,
            'customer', CASE WHEN e.holder_kind = 'customer' THEN
                (SELECT json_build_object('id', COALESCE(c.ext_id, c.key), 'key', c.key, 'email', c.email)
                 FROM customers c WHERE c.row_id = e.holder_row_id) END,
            'transaction', (SELECT json_build_object('key', t.key) FROM transactions t
                            WHERE t.row_id = e.transaction_row_id),
            'available_at', referd_laravel_time(e.available_at),
            'created_at', referd_laravel_time(e.created_at)),
        NEW.approved_at)
    FROM ledger_entries e WHERE e.row_id = NEW.entry_row_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_reward_approvals AFTER INSERT ON reward_approvals
    FOR EACH ROW EXECUTE FUNCTION referd_outbox_reward_approvals();
