-- Webhooks and their transactional outbox (docs/webhooks.md).
-- A delivery row (one per event and subscribed webhook) is written by the triggers below,
-- inside the same database transaction as the change that causes it: a change without its
-- event, or an event without its change, cannot be committed. Every write path (the writer's
-- group-commit batches included) gets this without calling anything.
-- Append-only: never edit a migration that has shipped; add a new file.

CREATE TABLE webhooks (
    row_id                INTEGER PRIMARY KEY,
    program_id            INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    key                   TEXT    NOT NULL,
    name                  TEXT    NOT NULL,
    url                   TEXT    NOT NULL,
    -- Subscribed event names between commas (",customer.created,partner.created,"): one
    -- substring test in the triggers, on both databases.
    events                TEXT    NOT NULL,
    is_active             INTEGER NOT NULL DEFAULT 1,
    secret                TEXT    NOT NULL,
    -- The secret before the last rotation, still used to sign until `previous_secret_until`.
    previous_secret       TEXT,
    previous_secret_until INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE UNIQUE INDEX webhooks_program_key ON webhooks (program_id, key);

CREATE TABLE webhook_deliveries (
    row_id          INTEGER PRIMARY KEY,
    program_id      INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    webhook_row_id  INTEGER NOT NULL REFERENCES webhooks (row_id) ON DELETE CASCADE,
    event           TEXT    NOT NULL,
    -- What changed: 'customer', 'partner', 'transaction' or 'entry' (a ledger entry).
    resource_kind   TEXT    NOT NULL,
    resource_row_id INTEGER NOT NULL,
    -- The row as the trigger saw it (JSON): the payload of deletes and ledger entries, and the
    -- fallback when a resource is gone before its event is first sent.
    snapshot        TEXT    NOT NULL,
    -- The body exactly as first sent; every retry sends the same bytes.
    payload         TEXT,
    state           TEXT    NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    -- A worker's claim: nobody else sends the delivery before `lease_until`.
    lease_owner     TEXT,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, row_id)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_row_id, row_id);
CREATE INDEX webhook_deliveries_program ON webhook_deliveries (program_id, state, row_id);

CREATE TABLE webhook_attempts (
    row_id           INTEGER PRIMARY KEY,
    delivery_row_id  INTEGER NOT NULL REFERENCES webhook_deliveries (row_id) ON DELETE CASCADE,
    attempted_at     INTEGER NOT NULL,
    status_code      INTEGER,
    latency_ms       INTEGER NOT NULL,
    -- The first KiB of the answer, or why there was none.
    response_excerpt TEXT,
    error            TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_row_id, row_id);

-- The triggers. Each is skipped at once (WHEN) in a program without an active webhook, so
-- programs that use no webhooks pay one indexed probe per write. Update triggers name the
-- columns every client-visible change sets (`updated_at`, status, deletion), so bookkeeping
-- updates of other columns never emit events.

CREATE TRIGGER outbox_customers_insert AFTER INSERT ON customers
WHEN EXISTS (SELECT 1 FROM webhooks WHERE program_id = NEW.program_id AND is_active = 1)
BEGIN
    INSERT INTO webhook_deliveries
        (program_id, webhook_row_id, event, resource_kind, resource_row_id, snapshot, created_at)
    SELECT NEW.program_id, w.row_id, 'customer.created', 'customer', NEW.row_id,
           json_object('id', COALESCE(NEW.ext_id, NEW.key), 'key', NEW.key,
                       'email', NEW.email, 'name', NEW.name, 'surname', NEW.surname,
                       'status', NEW.status,
                       'created_at', strftime('%Y-%m-%dT%H:%M:%S.000000Z', NEW.created_at / 1000000, 'unixepoch')),
           NEW.created_at
    FROM webhooks w
    WHERE w.program_id = NEW.program_id AND w.is_active = 1
      AND instr(w.events, ',customer.created,') > 0;
END;

CREATE TRIGGER outbox_customers_update AFTER UPDATE OF updated_at, status, deleted_at ON customers
WHEN EXISTS (SELECT 1 FROM webhooks WHERE program_id = NEW.program_id AND is_active = 1)
BEGIN
    INSERT INTO webhook_deliveries
        (program_id, webhook_row_id, event, resource_kind, resource_row_id, snapshot, created_at)
    SELECT NEW.program_id, w.row_id, ev.name, 'customer', NEW.row_id,
           json_object('id', COALESCE(NEW.ext_id, NEW.key), 'key', NEW.key,
                       'email', NEW.email, 'name', NEW.name, 'surname', NEW.surname,
                       'status', NEW.status,
                       'created_at', strftime('%Y-%m-%dT%H:%M:%S.000000Z', NEW.created_at / 1000000, 'unixepoch'),
                       'updated_at', strftime('%Y-%m-%dT%H:%M:%S.000000Z', NEW.updated_at / 1000000, 'unixepoch'),
                       'deleted_at', strftime('%Y-%m-%dT%H:%M:%S.000000Z', NEW.deleted_at / 1000000, 'unixepoch')),
           COALESCE(NEW.deleted_at, NEW.updated_at)
    FROM (SELECT CASE WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL
                      THEN 'customer.deleted' ELSE 'customer.updated' END AS name) ev
    JOIN webhooks w ON w.program_id = NEW.program_id AND w.is_active = 1
                   AND instr(w.events, ',' || ev.name || ',') > 0;
END;

CREATE TRIGGER outbox_partners_insert AFTER INSERT ON partners
WHEN EXISTS (SELECT 1 FROM webhooks WHERE program_id = NEW.program_id AND is_active = 1)
BEGIN
    INSERT INTO webhook_deliveries
        (program_id, webhook_row_id, event, resource_kind, resource_row_id, snapshot, created_at)
    SELECT NEW.program_id, w.row_id, 'partner.created', 'partner', NEW.row_id,
           json_object('id', NEW.ext_id, 'email', NEW.email, 'name', NEW.name,
                       'surname', NEW.surname, 'status', NEW.status,
                       'created_at', strftime('%Y-%m-%dT%H:%M:%S.000000Z', NEW.created_at / 1000000, 'unixepoch')),
           NEW.created_at
    FROM webhooks w
    WHERE w.program_id = NEW.program_id AND w.is_active = 1
      AND instr(w.events, ',partner.created,') > 0;
END;

CREATE TRIGGER outbox_partners_update AFTER UPDATE OF updated_at, status, approved, deleted_at ON partners
WHEN EXISTS (SELECT 1 FROM webhooks WHERE program_id = NEW.program_id AND is_active = 1)
BEGIN
    INSERT INTO webhook_deliveries
        (program_id, webhook_row_id, event, resource_kind, resource_row_id, snapshot, created_at)
    SELECT NEW.program_id, w.row_id, ev.name, 'partner', NEW.row_id,
           json_object('id', NEW.ext_id, 'email', NEW.email, 'name', NEW.name,
                       'surname', NEW.surname, 'status', NEW.status,
                       'created_at', strftime('%Y-%m-%dT%H:%M:%S.000000Z', NEW.created_at / 1000000, 'unixepoch'),
                       'updated_at', strftime('%Y-%m-%dT%H:%M:%S.000000Z', NEW.updated_at / 1000000, 'unixepoch'),
                       'deleted_at', strftime('%Y-%m-%dT%H:%M:%S.000000Z', NEW.deleted_at / 1000000, 'unixepoch')),
           COALESCE(NEW.deleted_at, NEW.updated_at)
    FROM (SELECT CASE
                     WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN 'partner.deleted'
                     WHEN NEW.status = 'archived' AND OLD.status <> 'archived' THEN 'partner.archived'
                     WHEN NEW.approved = 1 AND OLD.approved = 0 THEN 'partner.approved'
                     WHEN NEW.approved = 0 AND OLD.approved = 1 THEN 'partner.rejected'
                     ELSE 'partner.updated'
                 END AS name) ev
    JOIN webhooks w ON w.program_id = NEW.program_id AND w.is_active = 1
                   AND instr(w.events, ',' || ev.name || ',') > 0;
END;

CREATE TRIGGER outbox_transactions_insert AFTER INSERT ON transactions
WHEN EXISTS (SELECT 1 FROM webhooks WHERE program_id = NEW.program_id AND is_active = 1)
BEGIN
    INSERT INTO webhook_deliveries
        (program_id, webhook_row_id, event, resource_kind, resource_row_id, snapshot, created_at)
    SELECT NEW.program_id, w.row_id, 'transaction.created', 'transaction', NEW.row_id,
           json_object('key', NEW.key, 'amount', json(NEW.amount), 'currency', NEW.currency,
                       'action', NEW.action, 'status', NEW.status,
                       'created_at', strftime('%Y-%m-%dT%H:%M:%S.000000Z', NEW.created_at / 1000000, 'unixepoch')),
           NEW.recorded_at
    FROM webhooks w
    WHERE w.program_id = NEW.program_id AND w.is_active = 1
      AND instr(w.events, ',transaction.created,') > 0;
END;

CREATE TRIGGER outbox_transactions_update AFTER UPDATE OF status, deleted_at ON transactions
WHEN EXISTS (SELECT 1 FROM webhooks WHERE program_id = NEW.program_id AND is_active = 1)
BEGIN
    INSERT INTO webhook_deliveries
        (program_id, webhook_row_id, event, resource_kind, resource_row_id, snapshot, created_at)
    SELECT NEW.program_id, w.row_id, ev.name, 'transaction', NEW.row_id,
           json_object('key', NEW.key, 'amount', json(NEW.amount), 'currency', NEW.currency,
                       'action', NEW.action, 'status', NEW.status,
                       'created_at', strftime('%Y-%m-%dT%H:%M:%S.000000Z', NEW.created_at / 1000000, 'unixepoch'),
                       'deleted_at', strftime('%Y-%m-%dT%H:%M:%S.000000Z', NEW.deleted_at / 1000000, 'unixepoch')),
           COALESCE(NEW.deleted_at, CAST(strftime('%s', 'now') AS INTEGER) * 1000000)
    FROM (SELECT CASE WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL
                      THEN 'transaction.deleted' ELSE 'transaction.updated' END AS name) ev
    JOIN webhooks w ON w.program_id = NEW.program_id AND w.is_active = 1
                   AND instr(w.events, ',' || ev.name || ',') > 0;
END;

-- Ledger entries are immutable, so their snapshot is their payload.
CREATE TRIGGER outbox_ledger_insert AFTER INSERT ON ledger_entries
WHEN NEW.kind IN ('reward', 'credit', 'bonus', 'payout')
 AND EXISTS (SELECT 1 FROM webhooks WHERE program_id = NEW.program_id AND is_active = 1)
BEGIN
    INSERT INTO webhook_deliveries
        (program_id, webhook_row_id, event, resource_kind, resource_row_id, snapshot, created_at)
    SELECT NEW.program_id, w.row_id, ev.name, 'entry', NEW.row_id,
           json_object('id', NEW.row_id, 'type', NEW.kind, 'reward_type', NEW.reward_kind,
                       'beneficiary', NEW.beneficiary,
                       'amount', json(NEW.amount), 'amount_units', NEW.unit,
                       'partner', CASE WHEN NEW.holder_kind = 'partner' THEN
                           (SELECT json_object('id', p.ext_id, 'email', p.email)
                            FROM partners p WHERE p.row_id = NEW.holder_row_id) END,
                       'customer', CASE WHEN NEW.holder_kind = 'customer' THEN
                           (SELECT json_object('id', COALESCE(c.ext_id, c.key), 'key', c.key, 'email', c.email)
                            FROM customers c WHERE c.row_id = NEW.holder_row_id) END,
                       'transaction', (SELECT json_object('key', t.key) FROM transactions t
                                       WHERE t.row_id = NEW.transaction_row_id),
                       'available_at', strftime('%Y-%m-%dT%H:%M:%S.000000Z', NEW.available_at / 1000000, 'unixepoch'),
                       'created_at', strftime('%Y-%m-%dT%H:%M:%S.000000Z', NEW.created_at / 1000000, 'unixepoch')),
           NEW.created_at
    FROM (SELECT CASE
                     WHEN NEW.kind = 'payout' THEN 'reward.paid'
                     WHEN NEW.kind = 'credit' AND NEW.holder_kind = 'customer' THEN 'customer.credited'
                     WHEN NEW.holder_kind = 'customer' THEN 'customer.rewarded'
                     ELSE 'reward.created'
                 END AS name) ev
    JOIN webhooks w ON w.program_id = NEW.program_id AND w.is_active = 1
                   AND instr(w.events, ',' || ev.name || ',') > 0;
END;

-- Emails (invitations) waiting for the SMTP server: the same outbox discipline as webhooks,
-- so an SMTP server that is down delays mail and never loses it.
CREATE TABLE email_outbox (
    row_id          INTEGER PRIMARY KEY,
    program_id      INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at, row_id) WHERE state = 'pending';
CREATE INDEX email_outbox_program ON email_outbox (program_id, row_id);
