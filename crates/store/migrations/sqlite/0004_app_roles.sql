-- Roles belong to each app: an account may sign in to the portal
-- (`portal_access` = 1, with `role` reviewer or administrator), to the
-- help desk (`desk_role` set), or both. Accounts made before this had
-- portal access; desk operators made from now on have none.
ALTER TABLE staff ADD COLUMN portal_access INTEGER NOT NULL DEFAULT 1;
