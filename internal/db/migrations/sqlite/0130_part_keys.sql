-- +goose Up
-- Encryption at rest of upload parts (ENCRYPTION_KEYS): the data key that
-- sealed a tus or S3 multipart part's bytes, wrapped under the master key
-- key_id names. Both NULL for parts stored in clear.
ALTER TABLE upload_parts ADD COLUMN key_id TEXT;
ALTER TABLE upload_parts ADD COLUMN wrapped_key BLOB;
ALTER TABLE multipart_parts ADD COLUMN key_id TEXT;
ALTER TABLE multipart_parts ADD COLUMN wrapped_key BLOB;

-- +goose Down
ALTER TABLE multipart_parts DROP COLUMN wrapped_key;
ALTER TABLE multipart_parts DROP COLUMN key_id;
ALTER TABLE upload_parts DROP COLUMN wrapped_key;
ALTER TABLE upload_parts DROP COLUMN key_id;
