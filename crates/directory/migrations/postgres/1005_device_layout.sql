-- Most tokens are nobody's: the user index holds assigned tokens only
-- (`user_id = $1` still uses it). See the SQLite migration for the table
-- layout there.
DROP INDEX dir_device_user;
CREATE INDEX dir_device_user ON dir_device(user_id) WHERE user_id IS NOT NULL;
