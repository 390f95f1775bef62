-- The help-desk console (`oathvault desk`): operators are staff accounts
-- with a desk role; the desk keeps a copy of the tenant's hardware token
-- inventory (no secrets: Graph never gives them back) and of its users,
-- refreshed from Microsoft Graph, so its pages can search, filter, count
-- and page 100,000 tokens quickly.

ALTER TABLE staff ADD COLUMN desk_role TEXT
    CHECK (desk_role IS NULL OR desk_role IN ('viewer', 'helpdesk', 'administrator'));

CREATE TABLE desk_device (
    id TEXT PRIMARY KEY,
    serial TEXT NOT NULL,
    manufacturer TEXT NOT NULL,
    model TEXT NOT NULL,
    display_name TEXT NOT NULL,
    status TEXT NOT NULL,
    hash_function TEXT NOT NULL,
    interval_s BIGINT NOT NULL,
    user_id TEXT,
    user_name TEXT NOT NULL,
    last_used TEXT NOT NULL,
    -- Seconds ahead of the clock at the last accepted code, where the
    -- directory reports it (Microsoft Graph does not).
    drift_s BIGINT,
    -- Lower-cased serial, model, display name and user, for search.
    haystack TEXT NOT NULL,
    synced BIGINT NOT NULL
);
CREATE INDEX desk_device_serial ON desk_device (serial);
CREATE INDEX desk_device_status ON desk_device (status, serial);
CREATE INDEX desk_device_user ON desk_device (user_id);

CREATE INDEX desk_device_drift ON desk_device (drift_s);

-- A token's drift each time a code was accepted, for its chart.
CREATE TABLE desk_drift (
    serial TEXT NOT NULL,
    at BIGINT NOT NULL,
    drift_s BIGINT NOT NULL,
    PRIMARY KEY (serial, at)
);

CREATE TABLE desk_user (
    id TEXT PRIMARY KEY,
    upn TEXT NOT NULL,
    display_name TEXT NOT NULL,
    haystack TEXT NOT NULL
);
CREATE INDEX desk_user_upn ON desk_user (upn);

CREATE TABLE desk_sync (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    finished BIGINT NOT NULL,
    devices BIGINT NOT NULL,
    users BIGINT NOT NULL
);

-- Destructive actions waiting for a second administrator (when the desk
-- is run with the two-person rule).
CREATE TABLE desk_approval (
    id BIGSERIAL PRIMARY KEY,
    action TEXT NOT NULL,
    -- Graph object ids and serials, one per line, in the same order.
    device_ids TEXT NOT NULL,
    serials TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
    decided_by TEXT,
    decided_at BIGINT,
    outcome TEXT
);
CREATE INDEX desk_approval_state ON desk_approval (state, requested_at);
