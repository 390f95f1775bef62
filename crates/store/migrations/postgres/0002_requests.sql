-- Seed requests and delivery files (PostgreSQL). States and their transitions
-- are checked in one place (crates/store/src/requests.rs); link tokens and
-- wizard cookies are kept only as SHA-256 hashes; file content is sealed
-- under a per-file data key wrapped by the master key, and both are set to
-- NULL (destroyed) on confirmation, rejection or expiry.
CREATE TABLE seed_request (
    id BIGSERIAL PRIMARY KEY,
    -- Shown to the customer and staff (R-XXXX-XXXX).
    reference TEXT NOT NULL UNIQUE,
    -- SHA-256 of the wizard cookie; NULL once submitted.
    wizard_hash TEXT UNIQUE,
    order_id BIGINT NOT NULL REFERENCES purchase_order(id),
    email TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('draft', 'submitted', 'approved', 'delivered',
        'confirmed', 'rejected', 'locked', 'expired')),
    -- 'one' file, or one 'per-shipment'.
    split TEXT NOT NULL DEFAULT 'one' CHECK (split IN ('one', 'per-shipment')),
    -- 'password', 'pgp' or 'both'; NULL until chosen.
    protection TEXT CHECK (protection IN ('password', 'pgp', 'both')),
    -- The wizard's password, sealed under the master key, until submission
    -- (then NULL: only password_hash remains).
    password_sealed BYTEA,
    password_hash TEXT,
    pgp_key TEXT,
    pgp_fingerprint TEXT,
    -- Format name and its options (JSON, never secrets).
    format TEXT,
    format_options TEXT,
    wrong_answers BIGINT NOT NULL DEFAULT 0,
    reviewer TEXT,
    reason TEXT,
    created BIGINT NOT NULL,
    submitted BIGINT,
    decided BIGINT,
    updated BIGINT NOT NULL,
    -- A draft is forgotten after this; a submitted request is not.
    expires BIGINT NOT NULL
);
CREATE INDEX seed_request_state ON seed_request(state, updated);
CREATE INDEX seed_request_order ON seed_request(order_id);
CREATE TABLE request_shipment (
    request_id BIGINT NOT NULL REFERENCES seed_request(id) ON DELETE CASCADE,
    shipment_id BIGINT NOT NULL REFERENCES shipment(id),
    -- What the customer proved, in words (serial given, code checked).
    evidence TEXT NOT NULL,
    PRIMARY KEY (request_id, shipment_id)
);
CREATE INDEX request_shipment_shipment ON request_shipment(shipment_id);
CREATE TABLE delivery_file (
    id BIGSERIAL PRIMARY KEY,
    request_id BIGINT NOT NULL REFERENCES seed_request(id) ON DELETE CASCADE,
    -- Shipment numbers covered, comma-separated.
    shipments TEXT NOT NULL,
    name TEXT NOT NULL,
    tokens BIGINT NOT NULL,
    content_sealed BYTEA,
    key_wrapped BYTEA,
    master_key_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    download_hash TEXT UNIQUE,
    confirm_hash TEXT UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('ready', 'downloaded', 'confirmed', 'expired', 'withdrawn')),
    downloads BIGINT NOT NULL DEFAULT 0,
    expires BIGINT,
    created BIGINT NOT NULL,
    destroyed BIGINT
);
CREATE INDEX delivery_file_request ON delivery_file(request_id);
CREATE INDEX delivery_file_expiry ON delivery_file(state, expires);
-- Mail waiting for the SMTP server, sealed under the master key (it can hold
-- link tokens); removed once sent.
CREATE TABLE mail_outbox (
    id BIGSERIAL PRIMARY KEY,
    sealed BYTEA NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL,
    last_error TEXT,
    created BIGINT NOT NULL
);
