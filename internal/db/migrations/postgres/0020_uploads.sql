-- +goose Up
-- Resumable (tus) uploads: what the client declared and how far its bytes
-- have come. Times are Unix microseconds, integers that both engines
-- compare alike. lease_owner/lease_until are the per-upload lock that
-- holds across replicas: a writer takes it with a conditional UPDATE and
-- every write of the upload's bytes is fenced by it and by the offset.
CREATE TABLE uploads (
    upload_id     TEXT    NOT NULL PRIMARY KEY,
    blob_id       TEXT    NOT NULL,
    content_type  TEXT    NOT NULL,
    upload_length BIGINT  NOT NULL, -- -1 while deferred
    upload_offset BIGINT  NOT NULL,
    metadata      TEXT    NOT NULL,
    backend       TEXT    NOT NULL,
    finished      INTEGER NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL,
    lease_owner   TEXT    NOT NULL DEFAULT '',
    lease_until   BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX uploads_expires_at ON uploads (expires_at);
-- The bytes of each committed write, in order, stored under keys of their own.
CREATE TABLE upload_parts (
    upload_id   TEXT    NOT NULL REFERENCES uploads (upload_id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    storage_key TEXT    NOT NULL,
    size        BIGINT  NOT NULL,
    PRIMARY KEY (upload_id, seq)
);

-- +goose Down
DROP TABLE upload_parts;
DROP TABLE uploads;
