-- Permissions as Entra grants them (SQLite). Per tenant, so that an app
-- registered in one tenant can be granted permissions in another (admin
-- consent of a multi-tenant app): the application permissions granted to
-- an app (Entra's appRoleAssignments of its service principal) and the
-- delegated scopes consented (oauth2PermissionGrants): principal_id '' for
-- every user of the tenant (admin consent, AllPrincipals), else one user's
-- consent for themselves. dir_app.permissions stays what the app asks for.
CREATE TABLE dir_app_grant (
    tenant_id TEXT NOT NULL REFERENCES dir_tenant(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES dir_app(client_id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, client_id, permission)
);
CREATE TABLE dir_consent (
    tenant_id TEXT NOT NULL REFERENCES dir_tenant(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES dir_app(client_id) ON DELETE CASCADE,
    principal_id TEXT NOT NULL DEFAULT '',
    scope TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, client_id, principal_id, scope)
);
-- Existing apps keep what they had: their permissions granted in their
-- tenant, and (as every app could ask for any scope before) every
-- delegated scope the directory knows consented for all users.
WITH RECURSIVE split(tenant_id, client_id, permission, rest, created) AS (
    SELECT tenant_id, client_id, '', permissions || ' ', created FROM dir_app
    UNION ALL
    SELECT tenant_id, client_id, substr(rest, 1, instr(rest, ' ') - 1),
           substr(rest, instr(rest, ' ') + 1), created
    FROM split WHERE rest <> ''
)
INSERT OR IGNORE INTO dir_app_grant (tenant_id, client_id, permission, created)
SELECT tenant_id, client_id, permission, created FROM split WHERE permission <> '';
INSERT INTO dir_consent (tenant_id, client_id, principal_id, scope, created)
SELECT a.tenant_id, a.client_id, '', s.scope, a.created FROM dir_app a CROSS JOIN (
    SELECT 'Policy.Read.All' AS scope UNION ALL SELECT 'Policy.ReadWrite.AuthenticationMethod'
    UNION ALL SELECT 'UserAuthenticationMethod.Read' UNION ALL SELECT 'UserAuthenticationMethod.ReadWrite'
    UNION ALL SELECT 'UserAuthenticationMethod.Read.All' UNION ALL SELECT 'UserAuthenticationMethod.ReadWrite.All'
    UNION ALL SELECT 'User.Read' UNION ALL SELECT 'User.Read.All' UNION ALL SELECT 'User.ReadBasic.All'
    UNION ALL SELECT 'Directory.Read.All'
) s;
-- Refresh tokens rotate: each is used once, its successor joins its family,
-- and a spent one used again revokes the whole family.
ALTER TABLE dir_refresh ADD COLUMN family TEXT NOT NULL DEFAULT '';
ALTER TABLE dir_refresh ADD COLUMN spent INTEGER NOT NULL DEFAULT 0;
UPDATE dir_refresh SET family = token_hash;
CREATE INDEX dir_refresh_family ON dir_refresh (family);
