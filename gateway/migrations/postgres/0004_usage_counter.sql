-- Schema version 4: each user's storage use as a counter kept in the same transaction as
-- every object insert and delete, so a PUT's quota check no longer sums all the user's
-- objects.
ALTER TABLE users ADD COLUMN used_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE users SET used_bytes = (SELECT COALESCE(SUM(size), 0) FROM objects WHERE objects.owner_id = users.id);
