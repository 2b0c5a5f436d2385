-- Tracking (docs/tracking.md): extra customer referral links, the link a referred customer
-- signed up through, clicks, and the attribution window setting.
-- Append-only: never edit a migration that has shipped; add a new file.

-- Days after a click within which a sign-up is attributed; NULL: the cookie lifetime.
ALTER TABLE programs ADD COLUMN attribution_window INTEGER;

-- Extra referral links of refer-a-friend customers (a customer's default link is its key).
CREATE TABLE customer_links (
    row_id          INTEGER PRIMARY KEY,
    program_id      INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    customer_row_id INTEGER NOT NULL REFERENCES customers (row_id) ON DELETE CASCADE,
    key             TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    deleted_at      INTEGER
);
CREATE UNIQUE INDEX customer_links_program_key ON customer_links (program_id, key) WHERE deleted_at IS NULL;
CREATE INDEX customer_links_customer ON customer_links (customer_row_id, row_id);

-- The extra link a referred customer signed up through (NULL: its referrer's default link).
ALTER TABLE customers ADD COLUMN ref_link_row_id INTEGER;
CREATE INDEX customers_ref_link ON customers (ref_link_row_id) WHERE ref_link_row_id IS NOT NULL;

-- Counted clicks (bots and repeats within the hour are never written). One owner per row:
-- a partner and its link, or a customer and (NULL for the default) its extra link. No
-- foreign keys but the program's: clicks are written in large batches on the hot path, and
-- partners, customers and links are never removed while their program lives (tombstones).
-- `visitor` is a salted hash of address and user agent, never an address.
CREATE TABLE clicks (
    row_id               INTEGER PRIMARY KEY,
    program_id           INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    partner_row_id       INTEGER,
    partner_link_row_id  INTEGER,
    customer_row_id      INTEGER,
    customer_link_row_id INTEGER,
    visitor              TEXT    NOT NULL,
    source               TEXT    NOT NULL CHECK (source IN ('redirect', 'beacon')),
    created_at           INTEGER NOT NULL
);
CREATE INDEX clicks_program ON clicks (program_id, created_at);
CREATE INDEX clicks_partner ON clicks (partner_row_id, partner_link_row_id) WHERE partner_row_id IS NOT NULL;
CREATE INDEX clicks_customer ON clicks (customer_row_id, customer_link_row_id) WHERE customer_row_id IS NOT NULL;
