-- Certificates registered on an app (Entra's keyCredentials, PostgreSQL).
-- A client assertion names one by its SHA-1 (x5t) or SHA-256 (x5t#S256)
-- thumbprint, both base64url of a digest over the DER.
CREATE TABLE dir_app_certificate (
    client_id TEXT NOT NULL REFERENCES dir_app(client_id) ON DELETE CASCADE,
    thumbprint_sha1 TEXT NOT NULL,
    thumbprint_sha256 TEXT NOT NULL,
    der BYTEA NOT NULL,
    subject TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (client_id, thumbprint_sha1)
);
-- Client assertion ids (jti) already used, kept until the assertion expires:
-- an assertion is good for one token request.
CREATE TABLE dir_assertion_jti (
    client_id TEXT NOT NULL REFERENCES dir_app(client_id) ON DELETE CASCADE,
    jti TEXT NOT NULL,
    expires BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX dir_assertion_jti_expires ON dir_assertion_jti (expires);
