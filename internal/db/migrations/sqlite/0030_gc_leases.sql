-- +goose Up
-- Garbage collection asks, one page of backend keys at a time, which keys
-- a metadata row references (meta.Store.Referenced).
CREATE INDEX blob_metadata_backend_key ON blob_metadata (backend, storage_key);
-- Leases, so that of several replicas only one runs a periodic task (the
-- garbage collector) at a time. expires_at is Unix time in microseconds, an
-- integer so that both engines compare it alike.
CREATE TABLE leases (
    name       TEXT   NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE leases;
DROP INDEX blob_metadata_backend_key;
