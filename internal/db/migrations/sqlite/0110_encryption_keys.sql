-- +goose Up
-- Encryption at rest (ENCRYPTION_KEYS): the data key that sealed a blob's
-- bytes, wrapped under the master key key_id names. Both NULL for bytes
-- stored in clear. The partial index answers which master keys rows still
-- reference (the startup check, rekey).
ALTER TABLE blob_metadata ADD COLUMN key_id TEXT;
ALTER TABLE blob_metadata ADD COLUMN wrapped_key BLOB;
CREATE INDEX blob_metadata_key_id ON blob_metadata (key_id) WHERE key_id IS NOT NULL;

-- +goose Down
DROP INDEX blob_metadata_key_id;
ALTER TABLE blob_metadata DROP COLUMN wrapped_key;
ALTER TABLE blob_metadata DROP COLUMN key_id;
