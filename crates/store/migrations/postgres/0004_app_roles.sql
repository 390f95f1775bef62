-- Roles belong to each app: an account may sign in to the portal
-- (`portal_access` = 1, with `role` reviewer or administrator), to the
-- help desk (`desk_role` set), or both.
ALTER TABLE staff ADD COLUMN portal_access INTEGER NOT NULL DEFAULT 1;
-- Until now a desk role was only ever given by `oathvault desk operator
-- add`, which made the account a portal reviewer as a placeholder: those
-- accounts lose the portal access they were never meant to have.
UPDATE staff SET portal_access = 0 WHERE desk_role IS NOT NULL AND role = 'reviewer';
