-- Schema version 2: resumable rich-client uploads.
-- The client's wrapped data key record, opaque to the gateway.
ALTER TABLE uploads ADD COLUMN encryption BYTEA;

-- Manifest entries of chunks placed by a rich-client upload, for resuming.
CREATE TABLE upload_chunks (
    upload_id   TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    chunk_index BIGINT NOT NULL,
    entry       BYTEA NOT NULL,
    PRIMARY KEY (upload_id, chunk_index)
);
