-- +goose Up
-- The saved state of the digest (SHA-256, CRC-32C, count) of an upload's
-- bytes up to the end of each part, so that a finished upload's blob gets
-- its checksums without its bytes being read again. NULL for parts written
-- before: such uploads are hashed by reading their parts.
ALTER TABLE upload_parts ADD COLUMN digest BLOB;

-- +goose Down
ALTER TABLE upload_parts DROP COLUMN digest;
