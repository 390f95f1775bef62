-- The Entra-compatible directory (SQLite). Ids are GUID strings as in
-- Entra; times are Unix seconds; token secrets only ever sealed.
CREATE TABLE dir_tenant (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL
);
CREATE TABLE dir_user (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES dir_tenant(id) ON DELETE CASCADE,
    upn TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX dir_user_tenant ON dir_user(tenant_id);
CREATE TABLE dir_app (
    client_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES dir_tenant(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    -- Application permissions granted (space-separated).
    permissions TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE dir_device (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES dir_tenant(id) ON DELETE CASCADE,
    serial TEXT NOT NULL,
    display_name TEXT,
    manufacturer TEXT NOT NULL,
    model TEXT NOT NULL,
    secret_sealed BLOB NOT NULL,
    interval INTEGER NOT NULL,
    hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('available', 'assigned', 'activated', 'failedActivation')),
    user_id TEXT REFERENCES dir_user(id) ON DELETE SET NULL,
    assigned_at INTEGER,
    last_used INTEGER,
    -- Measured clock drift, in time steps, and the last accepted step.
    drift INTEGER NOT NULL DEFAULT 0,
    last_counter INTEGER,
    created INTEGER NOT NULL,
    UNIQUE (tenant_id, serial)
);
CREATE INDEX dir_device_user ON dir_device(user_id);
CREATE INDEX dir_device_status ON dir_device(tenant_id, status);
-- Signing keys for access tokens, sealed under the master key.
CREATE TABLE dir_signing_key (
    kid TEXT PRIMARY KEY,
    sealed BLOB NOT NULL,
    created INTEGER NOT NULL
);
