-- Schema version 3: each account's client key record (Argon2id parameters and key id, never
-- a key), opaque to the gateway, so the same passphrase opens the same data on any machine.
ALTER TABLE users ADD COLUMN key_record TEXT;
