-- Wrong passwords or codes in a row, and the lock they cause (PostgreSQL).
ALTER TABLE dir_user ADD COLUMN failed_signins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dir_user ADD COLUMN locked_until BIGINT NOT NULL DEFAULT 0;
