-- Inventory, staff, sessions, rate limits and the audit chain (SQLite).
-- Times are Unix seconds (INTEGER); secrets only ever as sealed BLOBs.
CREATE TABLE customer (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL
);
CREATE TABLE contact (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL REFERENCES customer(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    UNIQUE (customer_id, email)
);
CREATE INDEX contact_email ON contact(email);
CREATE TABLE purchase_order (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL REFERENCES customer(id),
    po TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL
);
CREATE TABLE invoice (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES purchase_order(id) ON DELETE CASCADE,
    number TEXT NOT NULL UNIQUE
);
CREATE TABLE shipment (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES purchase_order(id),
    number TEXT NOT NULL UNIQUE,
    shipped_on TEXT,
    -- The shipment's data key, wrapped by the master key named by master_key_id.
    wrapped_key BLOB NOT NULL,
    master_key_id TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE token (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    shipment_id INTEGER NOT NULL REFERENCES shipment(id),
    serial TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    hash TEXT NOT NULL,
    digits INTEGER NOT NULL,
    step INTEGER,
    t0 INTEGER,
    counter INTEGER,
    manufacturer TEXT,
    model TEXT,
    -- AES-256-GCM under the shipment's data key, bound to shipment and serial.
    sealed BLOB NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX token_shipment ON token(shipment_id);
CREATE TABLE staff (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('reviewer', 'administrator')),
    password_hash TEXT NOT NULL,
    -- TOTP secret sealed under the master key; NULL until enrolled.
    totp_sealed BLOB,
    totp_last_counter INTEGER,
    failed_signins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL
);
CREATE TABLE session (
    -- SHA-256 of the cookie value; the value itself is never stored.
    id_hash TEXT PRIMARY KEY,
    staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    expires INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE rate_limit (
    bucket TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    hits INTEGER NOT NULL
);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
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
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
