-- People's sign-in sessions and device-code grants (PostgreSQL).
CREATE TABLE dir_session (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES dir_user(id) ON DELETE CASCADE,
    -- 'password' (waiting for the token code) or 'full'.
    stage TEXT NOT NULL,
    expires BIGINT NOT NULL,
    created BIGINT NOT NULL
);
CREATE TABLE dir_device_code (
    device_code_hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL REFERENCES dir_tenant(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    -- 'pending', 'approved', 'declined', 'redeemed'.
    status TEXT NOT NULL,
    user_id TEXT REFERENCES dir_user(id) ON DELETE CASCADE,
    expires BIGINT NOT NULL,
    created BIGINT NOT NULL
);
CREATE TABLE dir_refresh (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES dir_user(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    expires BIGINT NOT NULL,
    created BIGINT NOT NULL
);
-- Entra directory roles of a user (role template ids, space-separated).
ALTER TABLE dir_user ADD COLUMN roles TEXT NOT NULL DEFAULT '';
