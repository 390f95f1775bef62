-- The vendor API (issue 22): keys for the vendor's order system, and
-- webhooks that tell it when a request is submitted, approved, confirmed
-- or locked. Only a key's SHA-256 is stored (keys are 256-bit random, so
-- a fast hash is enough); a webhook's signing secret is one of the store's
-- secrets (`vault_secret`, sealed under the master keyring). Webhook
-- deliveries are made from the audit log: `audit_cursor` is the last audit event
-- a webhook has been given.
CREATE TABLE api_key (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    last_used INTEGER,
    revoked INTEGER
);

CREATE TABLE webhook (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    created INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    audit_cursor INTEGER NOT NULL
);

CREATE TABLE webhook_delivery (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INTEGER NOT NULL REFERENCES webhook(id) ON DELETE CASCADE,
    audit_seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt INTEGER NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    created INTEGER NOT NULL,
    delivered INTEGER,
    UNIQUE (webhook_id, audit_seq)
);
CREATE INDEX webhook_delivery_due ON webhook_delivery (state, next_attempt);
