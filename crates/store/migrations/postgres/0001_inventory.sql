-- Inventory, staff, sessions, rate limits and the audit chain (PostgreSQL).
-- Times are Unix seconds (BIGINT); secrets only ever as sealed BYTEAs.
CREATE TABLE customer (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL
);
CREATE TABLE contact (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customer(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    UNIQUE (customer_id, email)
);
CREATE INDEX contact_email ON contact(email);
CREATE TABLE purchase_order (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customer(id),
    po TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL
);
CREATE TABLE invoice (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES purchase_order(id) ON DELETE CASCADE,
    number TEXT NOT NULL UNIQUE
);
CREATE TABLE shipment (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES purchase_order(id),
    number TEXT NOT NULL UNIQUE,
    shipped_on TEXT,
    -- The shipment's data key, wrapped by the master key named by master_key_id.
    wrapped_key BYTEA NOT NULL,
    master_key_id TEXT NOT NULL,
    created BIGINT NOT NULL
);
CREATE TABLE token (
    id BIGSERIAL PRIMARY KEY,
    shipment_id BIGINT NOT NULL REFERENCES shipment(id),
    serial TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    hash TEXT NOT NULL,
    digits BIGINT NOT NULL,
    step BIGINT,
    t0 BIGINT,
    counter BIGINT,
    manufacturer TEXT,
    model TEXT,
    -- AES-256-GCM under the shipment's data key, bound to shipment and serial.
    sealed BYTEA NOT NULL,
    created BIGINT NOT NULL
);
CREATE INDEX token_shipment ON token(shipment_id);
CREATE TABLE staff (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('reviewer', 'administrator')),
    password_hash TEXT NOT NULL,
    -- TOTP secret sealed under the master key; NULL until enrolled.
    totp_sealed BYTEA,
    totp_last_counter BIGINT,
    failed_signins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    disabled BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL
);
CREATE TABLE session (
    -- SHA-256 of the cookie value; the value itself is never stored.
    id_hash TEXT PRIMARY KEY,
    staff_id BIGINT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    expires BIGINT NOT NULL,
    created BIGINT NOT NULL
);
CREATE TABLE rate_limit (
    bucket TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL
);
CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    source TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
-- One row: the chain's head, updated with each event (serialises writers).
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
