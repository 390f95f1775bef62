-- The authorization code flow (sqlite): the redirect URIs registered on an
-- app (space-separated; a URI never holds a space), whether its ID tokens
-- carry the user's directory roles (`wids`, Entra's
-- groupMembershipClaims "DirectoryRole"), and the codes handed out
-- (stored as their SHA-256; single use, bound to the client, the
-- redirect URI and the PKCE challenge).
ALTER TABLE dir_app ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '';
ALTER TABLE dir_app ADD COLUMN role_claims INTEGER NOT NULL DEFAULT 0;
CREATE TABLE dir_auth_code (
    code_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES dir_tenant(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES dir_app(client_id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES dir_user(id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT NOT NULL,
    challenge TEXT NOT NULL,
    -- 0 until redeemed; a second redemption is refused.
    used INTEGER NOT NULL DEFAULT 0,
    expires INTEGER NOT NULL,
    created INTEGER NOT NULL
);
