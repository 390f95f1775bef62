-- Permissions as Entra grants them (PostgreSQL). Per tenant, so that an
-- app registered in one tenant can be granted permissions in another
-- (admin consent of a multi-tenant app): the application permissions
-- granted to an app (Entra's appRoleAssignments of its service principal)
-- and the delegated scopes consented (oauth2PermissionGrants):
-- principal_id '' for every user of the tenant (admin consent,
-- AllPrincipals), else one user's consent for themselves.
-- dir_app.permissions stays what the app asks for.
CREATE TABLE dir_app_grant (
    tenant_id TEXT NOT NULL REFERENCES dir_tenant(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES dir_app(client_id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, client_id, permission)
);
CREATE TABLE dir_consent (
    tenant_id TEXT NOT NULL REFERENCES dir_tenant(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES dir_app(client_id) ON DELETE CASCADE,
    principal_id TEXT NOT NULL DEFAULT '',
    scope TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, client_id, principal_id, scope)
);
-- Existing apps keep what they had: their permissions granted in their
-- tenant, and (as every app could ask for any scope before) every
-- delegated scope the directory knows consented for all users.
INSERT INTO dir_app_grant (tenant_id, client_id, permission, created)
SELECT DISTINCT a.tenant_id, a.client_id, p, a.created
FROM dir_app a, unnest(string_to_array(a.permissions, ' ')) AS p WHERE p <> '';
INSERT INTO dir_consent (tenant_id, client_id, principal_id, scope, created)
SELECT a.tenant_id, a.client_id, '', s, a.created FROM dir_app a, unnest(ARRAY[
    'Policy.Read.All', 'Policy.ReadWrite.AuthenticationMethod',
    'UserAuthenticationMethod.Read', 'UserAuthenticationMethod.ReadWrite',
    'UserAuthenticationMethod.Read.All', 'UserAuthenticationMethod.ReadWrite.All',
    'User.Read', 'User.Read.All', 'User.ReadBasic.All', 'Directory.Read.All'
]) AS s;
-- Refresh tokens rotate: each is used once, its successor joins its family,
-- and a spent one used again revokes the whole family.
ALTER TABLE dir_refresh ADD COLUMN family TEXT NOT NULL DEFAULT '';
ALTER TABLE dir_refresh ADD COLUMN spent BIGINT NOT NULL DEFAULT 0;
UPDATE dir_refresh SET family = token_hash;
CREATE INDEX dir_refresh_family ON dir_refresh (family);
