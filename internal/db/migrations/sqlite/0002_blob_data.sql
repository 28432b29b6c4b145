-- +goose Up
-- Blob bytes of the "database" storage backend (internal/storage/sqlstore).
-- A rowid table, not WITHOUT ROWID: rows hold large values on overflow pages.
-- created_at is written by the application, in UTC.
CREATE TABLE blob_data (
    key        TEXT      NOT NULL PRIMARY KEY,
    data       BLOB      NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE blob_data;
