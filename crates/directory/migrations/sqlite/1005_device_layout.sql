-- The device inventory, laid out for bulk uploads and listing (SQLite).
-- Keyed by (tenant, serial) WITHOUT ROWID: the table is its own serial
-- index, so listing in serial order reads the table in order, and an
-- insert writes three B-trees instead of five (no rowid table next to a
-- separate primary-key index). Most tokens are nobody's, so the user index
-- holds assigned tokens only (`user_id = ?` still uses it).
CREATE TABLE dir_device_new (
    id TEXT NOT NULL UNIQUE,
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
    PRIMARY KEY (tenant_id, serial)
) WITHOUT ROWID;
INSERT INTO dir_device_new (id, tenant_id, serial, display_name, manufacturer, model,
    secret_sealed, interval, hash, status, user_id, assigned_at, last_used, drift,
    last_counter, created)
SELECT id, tenant_id, serial, display_name, manufacturer, model, secret_sealed,
    interval, hash, status, user_id, assigned_at, last_used, drift, last_counter, created
FROM dir_device;
DROP TABLE dir_device;
ALTER TABLE dir_device_new RENAME TO dir_device;
CREATE INDEX dir_device_user ON dir_device(user_id) WHERE user_id IS NOT NULL;
CREATE INDEX dir_device_status ON dir_device(tenant_id, status);
