-- Enrolment links (issue 17): a staff member sets their own password and
-- authenticator through a one-time link — mailed when an administrator
-- adds or resets the account, or opened by the person to replace their
-- authenticator. Only the link's SHA-256 is stored; the authenticator
-- secret offered on the page waits sealed under the master keyring.
CREATE TABLE staff_enrolment (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    expires INTEGER NOT NULL,
    pending_sealed BLOB,
    created INTEGER NOT NULL
);
