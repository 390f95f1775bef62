-- Enrolment links (issue 17): a staff member sets their own password and
-- authenticator through a one-time link — mailed when an administrator
-- adds or resets the account, or opened by the person to replace their
-- authenticator. Only the link's SHA-256 is stored; the authenticator
-- secret offered on the page waits sealed under the master keyring.
CREATE TABLE staff_enrolment (
    id BIGSERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    staff_id BIGINT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    expires BIGINT NOT NULL,
    pending_sealed BYTEA,
    created BIGINT NOT NULL
);
