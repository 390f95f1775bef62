-- Attempt limits on codes (PostgreSQL): wrong codes in a row against a
-- token ('device:<id>') or a user ('user:<id>'), and the lock they cause;
-- the columns are the store's lockout's (failed_signins, locked_until).
CREATE TABLE dir_code_lock (
    subject TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES dir_tenant(id) ON DELETE CASCADE,
    failed_signins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX dir_code_lock_tenant ON dir_code_lock (tenant_id, locked_until);
-- What the directory did that an administrator must be able to look up:
-- locks engaged by wrong codes, and locks cleared by the help desk.
CREATE TABLE dir_audit (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES dir_tenant(id) ON DELETE CASCADE,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX dir_audit_tenant ON dir_audit (tenant_id, id);
