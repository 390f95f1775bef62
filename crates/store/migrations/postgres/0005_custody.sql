-- Custody (issue 17).
-- The store's own secrets — the audit chain's HMAC key, the vendor's
-- OpenPGP signing key — sealed under the master keyring like every other
-- secret (each sealed value names the master key it is under).
CREATE TABLE vault_secret (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    sealed BYTEA NOT NULL
);
-- A shredded shipment: its data key and every sealed seed were destroyed
-- (the wrapped key and the token ciphertexts are empty); the serials stay.
ALTER TABLE shipment ADD COLUMN shredded_at BIGINT;
ALTER TABLE shipment ADD COLUMN shred_reason TEXT;
