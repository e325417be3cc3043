-- CyxCloud gateway metadata, schema version 1 (PostgreSQL).
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT UNIQUE,
    password_hash  TEXT,
    wallet_address TEXT UNIQUE,
    quota_bytes    BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    revoked    BIGINT NOT NULL DEFAULT 0
);

-- Wallet sign-in signatures already used (each is accepted once).
CREATE TABLE wallet_logins (
    signature TEXT PRIMARY KEY,
    used_at   BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    access_key_id TEXT NOT NULL UNIQUE,
    sealed_secret BYTEA NOT NULL,
    can_read      BIGINT NOT NULL,
    can_write     BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    revoked_at    BIGINT
);

-- Keys shared by every gateway on this database, sealed with the JWT secret.
CREATE TABLE gateway_keys (
    name   TEXT PRIMARY KEY,
    sealed BYTEA NOT NULL
);

CREATE TABLE buckets (
    name          TEXT PRIMARY KEY,
    owner_id      TEXT NOT NULL REFERENCES users(id),
    public        BIGINT NOT NULL,
    data_shards   BIGINT NOT NULL,
    parity_shards BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE objects (
    bucket           TEXT NOT NULL REFERENCES buckets(name),
    key              TEXT NOT NULL,
    object_id        TEXT NOT NULL UNIQUE,
    owner_id         TEXT NOT NULL,
    size             BIGINT NOT NULL,
    stored_bytes     BIGINT NOT NULL,
    content_type     TEXT NOT NULL,
    etag             TEXT NOT NULL,
    last_modified    BIGINT NOT NULL,
    user_metadata    TEXT NOT NULL,
    client_encrypted BIGINT NOT NULL,
    manifest         BYTEA,
    inline_data      BYTEA,
    PRIMARY KEY (bucket, key)
);
CREATE INDEX objects_owner ON objects(owner_id);

-- Where each shard of each chunk of a committed object lives.
CREATE TABLE shards (
    object_id   TEXT NOT NULL,
    chunk_index BIGINT NOT NULL,
    shard_index BIGINT NOT NULL,
    shard_id    BYTEA NOT NULL,
    node_id     TEXT NOT NULL,
    PRIMARY KEY (object_id, chunk_index, shard_index, node_id)
);
CREATE INDEX shards_node ON shards(node_id);
CREATE INDEX shards_shard ON shards(shard_id);

CREATE TABLE nodes (
    id                TEXT PRIMARY KEY,
    peer_id           TEXT NOT NULL,
    public_key        BYTEA NOT NULL,
    grpc_address      TEXT NOT NULL,
    node_type         TEXT NOT NULL,
    status            TEXT NOT NULL,
    capacity_bytes    BIGINT NOT NULL,
    used_bytes        BIGINT NOT NULL,
    chunk_count       BIGINT NOT NULL,
    datacenter        TEXT NOT NULL,
    rack              TEXT NOT NULL,
    region            TEXT NOT NULL,
    last_seen         BIGINT NOT NULL,
    joined_at         BIGINT NOT NULL,
    first_offline_at  BIGINT,
    status_changed_at BIGINT NOT NULL,
    auth_token_hash   TEXT NOT NULL,
    command           TEXT
);

-- In-progress uploads: S3 PUTs, multipart uploads and rich-client uploads.
CREATE TABLE uploads (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    bucket           TEXT NOT NULL,
    key              TEXT NOT NULL,
    owner_id         TEXT NOT NULL,
    object_id        TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    user_metadata    TEXT NOT NULL,
    data_shards      BIGINT NOT NULL,
    parity_shards    BIGINT NOT NULL,
    chunk_size       BIGINT NOT NULL,
    client_encrypted BIGINT NOT NULL,
    resume_token     TEXT,
    gateway_instance TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX uploads_bucket ON uploads(bucket, key);

CREATE TABLE upload_parts (
    upload_id    TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    part_number  BIGINT NOT NULL,
    size         BIGINT NOT NULL,
    etag         TEXT NOT NULL,
    chunks       BYTEA NOT NULL,
    stored_bytes BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);

-- Every shard placed for an upload before it commits: on abort or crash these become
-- pending deletions, on commit the object's own shards are dropped from here.
CREATE TABLE upload_shards (
    upload_id TEXT NOT NULL,
    shard_id  BYTEA NOT NULL,
    node_id   TEXT NOT NULL,
    PRIMARY KEY (upload_id, shard_id, node_id)
);

CREATE TABLE pending_deletions (
    shard_id        BYTEA NOT NULL,
    node_id         TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    PRIMARY KEY (shard_id, node_id)
);
