-- +goose Up
-- The bytes of a small blob kept in its row (INLINE_MAX_BYTES): such a
-- row's backend is 'inline', and no backend holds bytes under its
-- storage_key. NULL for every blob whose bytes are on a backend.
ALTER TABLE blob_metadata ADD COLUMN data BYTEA;
ALTER TABLE blob_metadata ADD CONSTRAINT blob_metadata_data_inline CHECK (data IS NULL OR backend = 'inline');

-- +goose Down
ALTER TABLE blob_metadata DROP CONSTRAINT blob_metadata_data_inline;
ALTER TABLE blob_metadata DROP COLUMN data;
