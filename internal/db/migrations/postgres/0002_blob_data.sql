-- +goose Up
-- Blob bytes of the "database" storage backend (internal/storage/sqlstore).
CREATE TABLE blob_data (
    key        TEXT        NOT NULL PRIMARY KEY,
    data       BYTEA       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
-- Out of line and uncompressed: substr() on the column then fetches only the
-- TOAST chunks it needs, so chunked reads of a blob cost O(size) in total.
-- Blobs are mostly compressed media already; pglz would gain little.
ALTER TABLE blob_data ALTER COLUMN data SET STORAGE EXTERNAL;

-- +goose Down
DROP TABLE blob_data;
