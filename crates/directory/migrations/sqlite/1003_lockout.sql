-- Wrong passwords or codes in a row, and the lock they cause (SQLite).
ALTER TABLE dir_user ADD COLUMN failed_signins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dir_user ADD COLUMN locked_until INTEGER NOT NULL DEFAULT 0;
