-- The help desk at a million tokens (issue 20): keyset paging by (serial,
-- id) within each filter, a word index for search (every word of a
-- token's serial, model, manufacturer, name and of its user's name and
-- UPN, matched by prefix), and the counts by status kept beside the copy
-- (counting a million rows per page view is too slow).
CREATE INDEX desk_device_order ON desk_device (serial, id);
CREATE INDEX desk_device_status_order ON desk_device (status, serial, id);
CREATE INDEX desk_device_user_order ON desk_device (user_id, serial, id);
DROP INDEX desk_device_serial;
DROP INDEX desk_device_status;
DROP INDEX desk_device_user;

CREATE TABLE desk_word (
    word TEXT NOT NULL,
    device_id TEXT NOT NULL,
    PRIMARY KEY (word, device_id)
);
CREATE INDEX desk_word_device ON desk_word (device_id);

CREATE TABLE desk_count (
    status TEXT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO desk_count (status, n) SELECT status, COUNT(*) FROM desk_device GROUP BY status;
